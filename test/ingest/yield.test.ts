/**
 * The in-process normalizer steps aside while the webhook front door is busy (acknowledgements first),
 * and never for longer than its bound.
 */
import { randomUUID } from "node:crypto";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { deliveries, integrations } from "../../db/schema/index.ts";
import { PROVIDERS } from "../../integrations/core/registry.ts";
import { DeliveryWriter } from "../../src/ingest/delivery-writer.ts";
import { DeliveryProcessor } from "../../src/ingest/process-deliveries.ts";
import { useTestDatabase } from "../harness/db.ts";
import { makeOrg } from "../harness/factories.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("delivery processor yields to the front door", async () => {
  const { db } = await useTestDatabase();
  const processors: DeliveryProcessor[] = [];
  afterEach(async () => {
    await Promise.all(processors.splice(0).map((p) => p.stop()));
  });

  async function stored(receivedAt: Date) {
    const { org } = await makeOrg(db);
    const [integration] = await withOrg(db, org.id, (tx) =>
      tx.insert(integrations).values({ orgId: org.id, provider: "sentry", name: "s" }).returning(),
    );
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
      body: Buffer.from("{}"),
    });
    await writer.close();
    const status = async () =>
      (await withOrg(db, org.id, (tx) => tx.select().from(deliveries))).find((d) => d.id === deliveryId)!
        .status;
    return { status };
  }

  function start(busy: { value: boolean }, maxDeferMs: number) {
    const processor = new DeliveryProcessor(
      { db, providers: PROVIDERS, logger: pino({ level: "silent" }) },
      { pollMs: 50, batch: 10, yieldTo: { busy: () => busy.value }, maxDeferMs, deferCheckMs: 20 },
    );
    processors.push(processor);
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

  it("processes a delivery that has waited its bound even while busy", async () => {
    const delivery = await stored(new Date(Date.now() - 2_000));
    start({ value: true }, 1_000);
    const deadline = Date.now() + 5_000;
    while ((await delivery.status()) === "received" && Date.now() < deadline) await sleep(25);
    expect(await delivery.status()).toBe("dead");
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
});
