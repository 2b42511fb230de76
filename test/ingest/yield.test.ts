/**
 * The in-process normalizer steps aside while the webhook front door is busy (acknowledgements first),
 * and never for longer than its bound.
 */
import { randomUUID } from "node:crypto";
import pino from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { withOrg } from "../../db/client.ts";
import { anomalies, deliveries, integrations, signals } from "../../db/schema/index.ts";
import { PROVIDERS } from "../../integrations/core/registry.ts";
import type { Provider, Signal } from "../../integrations/core/types.ts";
import { DeliveryWriter } from "../../src/ingest/delivery-writer.ts";
import {
  DeliveryProcessor,
  type DeliveryProcessorOptions,
  type ProcessOutcome,
} from "../../src/ingest/process-deliveries.ts";
import { useTestDatabase } from "../harness/db.ts";
import { makeOrg } from "../harness/factories.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("delivery processor yields to the front door", async () => {
  const { db } = await useTestDatabase();
  const processors: DeliveryProcessor[] = [];
  afterEach(async () => {
    await Promise.all(processors.splice(0).map((p) => p.stop()));
  });

  async function stored(receivedAt: Date, body = "{}", existing?: { orgId: string; integrationId: string }) {
    const org = existing ? { id: existing.orgId } : (await makeOrg(db)).org;
    const integration = existing
      ? { id: existing.integrationId }
      : (
          await withOrg(db, org.id, (tx) =>
            tx.insert(integrations).values({ orgId: org.id, provider: "sentry", name: "s" }).returning(),
          )
        )[0];
    const writer = new DeliveryWriter(db.ownerSql, { maxBatch: 10, maxDelayMs: 1 });
    const { deliveryId } = await writer.write({
      id: randomUUID(),
      orgId: org.id,
      integrationId: integration!.id,
      provider: "sentry",
      deliveryKey: randomUUID(),
      receivedAt,
      headers: {},
      contentType: "application/json",
      body: Buffer.from(body),
    });
    await writer.close();
    const row = async () =>
      (await withOrg(db, org.id, (tx) => tx.select().from(deliveries))).find((d) => d.id === deliveryId)!;
    const status = async () => (await row()).status;
    return { deliveryId, status, row, orgId: org.id, integrationId: integration!.id };
  }

  /** A processor over the test database, stopped after the test. */
  function makeProcessor(options: Partial<DeliveryProcessorOptions>) {
    const processor = new DeliveryProcessor(
      { db, providers: PROVIDERS, logger: pino({ level: "silent" }) },
      options,
    );
    processors.push(processor);
    return processor;
  }

  /** Waits (up to `deadline`) until each delivery has been processed; "{}" is not a Sentry payload, so each is dead-lettered. */
  async function untilDead(list: { status(): Promise<string> }[], deadline: number) {
    for (const d of list) {
      while ((await d.status()) === "received" && Date.now() < deadline) await sleep(25);
      expect(await d.status()).toBe("dead");
    }
  }

  function start(busy: { value: boolean }, maxDeferMs: number) {
    const processor = makeProcessor({
      pollMs: 50,
      batch: 10,
      yieldTo: { busy: () => busy.value },
      maxDeferMs,
      deferCheckMs: 20,
    });
    processor.start();
    return processor;
  }

  it("waits while busy and processes as soon as the front door calms down", async () => {
    const delivery = await stored(new Date());
    const busy = { value: true };
    start(busy, 60_000);
    await sleep(400);
    expect(await delivery.status()).toBe("received");
    busy.value = false;
    const deadline = Date.now() + 5_000;
    while ((await delivery.status()) === "received" && Date.now() < deadline) await sleep(25);
    // An empty object is not a Sentry payload: it is processed into a dead letter, not left waiting.
    expect(await delivery.status()).toBe("dead");
  });

  it("does not look again at every nudge while it waits out a burst", async () => {
    await stored(new Date());
    const processor = new DeliveryProcessor(
      { db, providers: PROVIDERS, logger: pino({ level: "silent" }) },
      { pollMs: 50, batch: 10, yieldTo: { busy: () => true }, maxDeferMs: 60_000, deferCheckMs: 1_000 },
    );
    processors.push(processor);
    const drains = vi.spyOn(processor, "drain");
    processor.start();
    await sleep(200);
    expect(drains).toHaveBeenCalledTimes(1);
    // A burst stores a delivery (and nudges) every few milliseconds.
    for (let i = 0; i < 50; i++) {
      processor.nudge();
      await sleep(4);
    }
    expect(drains).toHaveBeenCalledTimes(1);
    await sleep(1_000);
    // The deferral timer looked again (and stepped aside again: still busy).
    expect(drains).toHaveBeenCalledTimes(2);
  });

  it("processes a delivery that has waited its bound even while busy", async () => {
    const delivery = await stored(new Date(Date.now() - 2_000));
    start({ value: true }, 1_000);
    const deadline = Date.now() + 5_000;
    while ((await delivery.status()) === "received" && Date.now() < deadline) await sleep(25);
    expect(await delivery.status()).toBe("dead");
  });

  it("past its bound under a busy front door, it keeps its share: processes everything and pauses between runs", async () => {
    const first = await stored(new Date(Date.now() - 5_000));
    const same = { orgId: first.orgId, integrationId: first.integrationId };
    const rest = [];
    for (let i = 0; i < 11; i++) rest.push(await stored(new Date(Date.now() - 4_000), "{}", same));
    const paced = (busyShare: number, busy: boolean) =>
      makeProcessor({
        pollMs: 50,
        batch: 12,
        perTransaction: 3,
        yieldTo: { busy: () => busy },
        maxDeferMs: 1_000,
        busyShare,
      });
    const processor = paced(0.25, true);
    processor.start();
    const deadline = Date.now() + 10_000;
    await untilDead([first, ...rest], deadline);
    // Four runs of three, each followed by a pause of three times its length.
    expect(processor.pausedForIngestMs).toBeGreaterThan(0);
    await processor.stop();

    // With the front door calm, or with pacing off, there is no pause.
    for (const [share, busy] of [
      [0.25, false],
      [1, true],
    ] as const) {
      const more = [];
      for (let i = 0; i < 6; i++) more.push(await stored(new Date(Date.now() - 4_000), "{}", same));
      const other = paced(share, busy);
      other.start();
      await untilDead(more, deadline);
      expect(other.pausedForIngestMs).toBe(0);
      await other.stop();
    }
  });

  it("under a busy front door it takes its share in runs sized to its slice, and in whole batches when calm", async () => {
    const first = await stored(new Date(Date.now() - 5_000));
    const same = { orgId: first.orgId, integrationId: first.integrationId };
    // Nine deliveries per case, all past the deferral: runs of at most four when not sliced.
    const runsFor = async (busySliceMs: number, busy: boolean, pending: { status(): Promise<string> }[]) => {
      const processor = makeProcessor({
        pollMs: 50,
        batch: 20,
        perTransaction: 4,
        yieldTo: { busy: () => busy },
        maxDeferMs: 1_000,
        busyShare: 0.5,
        busySliceMs,
      });
      processor.start();
      await untilDead(pending, Date.now() + 10_000);
      await processor.stop();
      return processor.runs;
    };
    const nine = async (withFirst = false) => {
      const list = withFirst ? [first] : [];
      while (list.length < 9) list.push(await stored(new Date(Date.now() - 4_000), "{}", same));
      return list;
    };
    // A slice shorter than any transaction: one delivery per run.
    expect(await runsFor(0.01, true, await nine(true))).toBe(9);
    // Slicing off: 4 + 4 + 1.
    expect(await runsFor(0, true, await nine())).toBe(3);
    // A calm front door is never sliced.
    expect(await runsFor(0.01, false, await nine())).toBe(3);
    // A slice longer than a whole run: one delivery to time it, then whole runs (1 + 4 + 4).
    expect(await runsFor(60_000, true, await nine())).toBe(3);
  });

  it("rejects a share outside (0, 1]", () => {
    for (const busyShare of [0, -0.5, 1.5, Number.NaN]) {
      expect(
        () =>
          new DeliveryProcessor(
            { db, providers: PROVIDERS, logger: pino({ level: "silent" }) },
            { busyShare },
          ),
      ).toThrow(RangeError);
    }
  });

  it("drain() called directly (tests, replay) never yields", async () => {
    const delivery = await stored(new Date());
    const processor = new DeliveryProcessor(
      { db, providers: PROVIDERS, logger: pino({ level: "silent" }) },
      { yieldTo: { busy: () => true }, maxDeferMs: 60_000 },
    );
    expect(await processor.drain()).toBeGreaterThanOrEqual(1);
    expect(await delivery.status()).toBe("dead");
  });

  it("processes a burst of one org in one transaction; a delivery that fails is undone alone and retried", async () => {
    // A provider whose signal time comes from the body: Postgres refuses the earliest time JavaScript
    // has (year -271821), so writing that delivery fails in Postgres, inside its savepoint.
    const provider: Provider = {
      ...PROVIDERS.sentry,
      normalize: ({ body }) => {
        const { title, ancient } = body as { title: string; ancient?: boolean };
        const signal: Signal = {
          kind: "metric",
          source: "sentry",
          fingerprint: `fp-${title}`,
          title,
          severity: "high",
          status: "firing",
          occurredAt: ancient ? new Date(-8.64e15) : new Date(),
          frames: [],
          labels: {},
          links: [],
        };
        return { ok: true, eventType: "test", signals: [signal] };
      },
    };
    const first = await stored(new Date(Date.now() - 3_000), JSON.stringify({ title: "one" }));
    const same = { orgId: first.orgId, integrationId: first.integrationId };
    const broken = await stored(
      new Date(Date.now() - 2_000),
      JSON.stringify({ title: "bad", ancient: true }),
      same,
    );
    const third = await stored(new Date(Date.now() - 1_000), JSON.stringify({ title: "three" }), same);
    const processor = new DeliveryProcessor(
      { db, providers: { ...PROVIDERS, sentry: provider }, logger: pino({ level: "silent" }) },
      { perTransaction: 25 },
    );
    await processor.drain();
    expect(await first.status()).toBe("processed");
    expect(await third.status()).toBe("processed");
    // Rolled back to its savepoint: still waiting, nothing of it stored, one attempt counted per pass
    // (the pass that committed the others, and the pass that found nothing else to do).
    expect(await broken.status()).toBe("received");
    expect((await broken.row()).attempts).toBe(2);
    const titles = await withOrg(db, first.orgId, (tx) =>
      tx.select({ title: anomalies.title }).from(anomalies),
    );
    expect(titles.map((t) => t.title).sort()).toEqual(["one", "three"]);
  });

  it("applies a run together: one hook call with every outcome in order, a storm folded into one anomaly", async () => {
    // The body says which fingerprint and status the one signal of each delivery has.
    const provider: Provider = {
      ...PROVIDERS.sentry,
      normalize: ({ body }) => {
        const { fp, status } = body as { fp: string; status: Signal["status"] };
        const signal: Signal = {
          kind: "error",
          source: "sentry",
          fingerprint: fp,
          title: `boom ${fp}`,
          severity: "high",
          status,
          service: "checkout",
          occurredAt: new Date(),
          frames: [],
          labels: {},
          links: [],
        };
        return { ok: true, eventType: "test", signals: [signal] };
      },
    };
    const first = await stored(
      new Date(Date.now() - 60_000),
      JSON.stringify({ fp: "storm", status: "firing" }),
    );
    const same = { orgId: first.orgId, integrationId: first.integrationId };
    const rest = [];
    for (let i = 1; i < 30; i++) {
      const body =
        i === 10
          ? { fp: "storm", status: "resolved" }
          : i === 20
            ? { fp: "other", status: "firing" }
            : { fp: "storm", status: "firing" };
      rest.push(await stored(new Date(Date.now() - 60_000 + i * 100), JSON.stringify(body), same));
    }
    const calls: ProcessOutcome[][] = [];
    const processor = new DeliveryProcessor(
      {
        db,
        providers: { ...PROVIDERS, sentry: provider },
        logger: pino({ level: "silent" }),
        onCommitted: async (orgId, outcomes) => {
          if (orgId === first.orgId) calls.push([...outcomes]);
        },
      },
      { perTransaction: 100 },
    );
    // (Other tests of this file may leave a delivery of their own org waiting.)
    expect(await processor.drain()).toBeGreaterThanOrEqual(30);
    expect(calls).toHaveLength(1);
    const changes = calls[0]!.map((o) => o.applied.map((a) => a.change).join());
    expect(changes).toEqual([
      "created",
      ...Array(9).fill("updated"),
      "resolved",
      "reopened",
      ...Array(8).fill("updated"),
      "created",
      ...Array(9).fill("updated"),
    ]);
    expect(calls[0]!.map((o) => o.deliveryId)).toEqual([first, ...rest].map((d) => d.deliveryId));
    for (const d of [first, ...rest]) {
      expect(await d.row()).toMatchObject({
        status: "processed",
        attempts: 1,
        signalCount: 1,
        eventType: "test",
      });
    }
    const rows = await withOrg(db, first.orgId, (tx) =>
      tx.select().from(anomalies).orderBy(anomalies.fingerprint),
    );
    expect(rows.map((a) => [a.fingerprint, a.count, a.status, a.regressions])).toEqual([
      ["other", 1, "open", 0],
      ["storm", 28, "open", 1],
    ]);
    const stored_ = await withOrg(db, first.orgId, (tx) => tx.select().from(signals));
    expect(stored_).toHaveLength(30);
    expect(stored_.filter((s) => s.anomalyId === rows[1]!.id)).toHaveLength(29);
  });
});
