import { eq } from "drizzle-orm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { anomalies, incidents } from "../../db/schema/index.ts";
import type { Signal } from "../../integrations/core/types.ts";
import { applyAlertSignal, SignalFolder } from "../../src/incidents/correlate.ts";
import { useTestDatabase } from "../harness/db.ts";
import { makeOrg } from "../harness/factories.ts";

const T0 = new Date("2026-11-01T10:00:00.000Z");
const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);

function signal(overrides: Partial<Signal> = {}): Signal {
  return {
    kind: "error",
    source: "sentry",
    fingerprint: "fp-1",
    title: "TypeError: cart is undefined",
    severity: "high",
    status: "firing",
    service: "checkout",
    environment: "production",
    occurredAt: T0,
    frames: [],
    labels: {},
    links: [],
    ...overrides,
  };
}

describe("anomaly and incident correlation", async () => {
  const { db } = await useTestDatabase();

  it("creates, deduplicates, resolves and reopens an anomaly", async () => {
    const { org } = await makeOrg(db);
    const apply = (s: Signal, at: Date) => withOrg(db, org.id, (tx) => applyAlertSignal(tx, org.id, s, at));
    const first = await apply(signal(), minutes(1));
    expect(first?.change).toBe("created");
    expect(first?.incidentChange).toBe("opened");
    expect(first?.anomaly.detectedAt.toISOString()).toBe(minutes(1).toISOString());
    expect(first?.anomaly.firstSeenAt.toISOString()).toBe(T0.toISOString());

    const again = await apply(signal({ occurredAt: minutes(2), severity: "critical" }), minutes(2));
    expect(again?.change).toBe("updated");
    expect(again?.anomaly.count).toBe(2);
    expect(again?.anomaly.severity).toBe("critical");
    expect(again?.anomaly.id).toBe(first?.anomaly.id);

    const resolved = await apply(signal({ status: "resolved", occurredAt: minutes(5) }), minutes(5));
    expect(resolved?.change).toBe("resolved");
    expect(resolved?.anomaly.resolvedAt?.toISOString()).toBe(minutes(5).toISOString());
    expect(resolved?.incident?.status).toBe("resolved");

    const reopened = await apply(signal({ occurredAt: minutes(9) }), minutes(9));
    expect(reopened?.change).toBe("reopened");
    expect(reopened?.anomaly).toMatchObject({ status: "open", regressions: 1, resolvedAt: null, count: 3 });
    expect(reopened?.incident).toMatchObject({ status: "open", reopenCount: 1 });
    // Detection time stays the first receipt.
    expect(reopened?.anomaly.detectedAt.toISOString()).toBe(minutes(1).toISOString());
  });

  it("ignores a recovery for an anomaly it never saw firing", async () => {
    const { org } = await makeOrg(db);
    const result = await withOrg(db, org.id, (tx) =>
      applyAlertSignal(tx, org.id, signal({ fingerprint: "never", status: "resolved" }), T0),
    );
    expect(result).toBeUndefined();
    const rows = await withOrg(db, org.id, (tx) => tx.select().from(anomalies));
    expect(rows).toEqual([]);
  });

  it("groups by service and environment inside the window, or by shared release", async () => {
    const { org } = await makeOrg(db);
    const apply = (s: Signal, at: Date) => withOrg(db, org.id, (tx) => applyAlertSignal(tx, org.id, s, at));
    const a = await apply(signal({ fingerprint: "a" }), minutes(0));
    const b = await apply(signal({ fingerprint: "b" }), minutes(20));
    expect(b?.incident?.id).toBe(a?.incident?.id);
    expect(b?.incidentChange).toBe("joined");
    // Same scope but past the window since the incident's last activity (minute 20): a new incident.
    const c = await apply(signal({ fingerprint: "c" }), minutes(51));
    expect(c?.incident?.id).not.toBe(a?.incident?.id);
    // Another service, same environment: separate.
    const d = await apply(signal({ fingerprint: "d", service: "search" }), minutes(52));
    expect(d?.incident?.id).not.toBe(c?.incident?.id);
    // Another service but the same release as d: joins d's incident.
    await withOrg(db, org.id, (tx) =>
      tx.update(incidents).set({ release: "web@1.2.3" }).where(eq(incidents.id, d!.incident!.id)),
    );
    const e = await apply(
      signal({ fingerprint: "e", service: "payments", release: "web@1.2.3" }),
      minutes(53),
    );
    expect(e?.incident?.id).toBe(d?.incident?.id);
  });

  it("resolves an incident only when all its anomalies are resolved", async () => {
    const { org } = await makeOrg(db);
    const apply = (s: Signal, at: Date) => withOrg(db, org.id, (tx) => applyAlertSignal(tx, org.id, s, at));
    const a = await apply(signal({ fingerprint: "x1" }), minutes(0));
    await apply(signal({ fingerprint: "x2" }), minutes(1));
    const r1 = await apply(
      signal({ fingerprint: "x1", status: "resolved", occurredAt: minutes(3) }),
      minutes(3),
    );
    expect(r1?.incident).toBeUndefined();
    const [still] = await withOrg(db, org.id, (tx) =>
      tx.select().from(incidents).where(eq(incidents.id, a!.incident!.id)),
    );
    expect(still?.status).toBe("open");
    const r2 = await apply(
      signal({ fingerprint: "x2", status: "resolved", occurredAt: minutes(4) }),
      minutes(4),
    );
    expect(r2?.incident?.status).toBe("resolved");
    expect(r2?.incident?.resolvedAt?.toISOString()).toBe(minutes(4).toISOString());
  });
});

describe("a run of signals folded in one transaction (SignalFolder)", async () => {
  const { db } = await useTestDatabase();

  /** What a signal sequence leaves in an org: anomalies and incidents without ids and bookkeeping times. */
  async function stateOf(orgId: string) {
    return withOrg(db, orgId, async (tx) => {
      const incidentRows = await tx.select().from(incidents).orderBy(incidents.openedAt);
      const incidentIndex = new Map(incidentRows.map((row, i) => [row.id, i]));
      const anomalyRows = await tx.select().from(anomalies).orderBy(anomalies.fingerprint);
      return {
        anomalies: anomalyRows.map((a) => ({
          fingerprint: a.fingerprint,
          status: a.status,
          count: a.count,
          regressions: a.regressions,
          severity: a.severity,
          release: a.release,
          firstSeenAt: a.firstSeenAt.toISOString(),
          lastSeenAt: a.lastSeenAt.toISOString(),
          resolvedAt: a.resolvedAt?.toISOString() ?? null,
          incident: a.incidentId ? incidentIndex.get(a.incidentId) : null,
        })),
        incidents: incidentRows.map((i) => ({
          status: i.status,
          severity: i.severity,
          service: i.service,
          lastActivityAt: i.lastActivityAt.toISOString(),
          resolvedAt: i.resolvedAt?.toISOString() ?? null,
          reopenCount: i.reopenCount,
        })),
      };
    });
  }

  const step = fc.record({
    fingerprint: fc.constantFrom("f1", "f2", "f3", "f4"),
    service: fc.constantFrom("checkout", "search"),
    resolved: fc.boolean(),
    severity: fc.constantFrom("low", "high", "critical") as fc.Arbitrary<Signal["severity"]>,
    release: fc.option(fc.constantFrom("web@1", "web@2"), { nil: undefined }),
    gapMinutes: fc.integer({ min: 0, max: 40 }),
  });

  it("leaves the same anomalies and incidents as applying each signal on its own", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 10 }),
        async (steps, runLength) => {
          let at = T0.getTime();
          const sequence = steps.map((s) => {
            at += s.gapMinutes * 60_000;
            return {
              signal: signal({
                fingerprint: s.fingerprint,
                service: s.service,
                status: s.resolved ? "resolved" : "firing",
                severity: s.severity,
                release: s.release,
                occurredAt: new Date(at),
              }),
              receivedAt: new Date(at + 1_000),
            };
          });
          const one = (await makeOrg(db)).org;
          for (const { signal: s, receivedAt } of sequence) {
            await withOrg(db, one.id, (tx) => applyAlertSignal(tx, one.id, s, receivedAt));
          }
          const folded = (await makeOrg(db)).org;
          const changes: string[][] = [[], []];
          for (let i = 0; i < sequence.length; i += runLength) {
            const run = sequence.slice(i, i + runLength);
            await withOrg(db, folded.id, async (tx) => {
              const folder = new SignalFolder(tx, folded.id);
              await folder.prefetch(run.map((r) => r.signal.fingerprint));
              for (const { signal: s, receivedAt } of run) {
                const applied = await folder.apply(s, receivedAt);
                changes[1]!.push(`${applied?.change}/${applied?.incidentChange}/${applied?.anomaly.count}`);
              }
              await folder.flush();
            });
          }
          const other = (await makeOrg(db)).org;
          for (const { signal: s, receivedAt } of sequence) {
            const applied = await withOrg(db, other.id, (tx) =>
              applyAlertSignal(tx, other.id, s, receivedAt),
            );
            changes[0]!.push(`${applied?.change}/${applied?.incidentChange}/${applied?.anomaly.count}`);
          }
          expect(await stateOf(folded.id)).toEqual(await stateOf(one.id));
          // Each signal reports the same change as it would alone (what the after-commit hooks act on).
          expect(changes[1]).toEqual(changes[0]);
        },
      ),
      { numRuns: 25, seed: 20261202 },
    );
  });

  it("writes a storm of one alert as one anomaly update and one incident update", async () => {
    const { org } = await makeOrg(db);
    await withOrg(db, org.id, (tx) => applyAlertSignal(tx, org.id, signal({ fingerprint: "storm" }), T0));
    const statements: string[] = [];
    await withOrg(db, org.id, async (tx) => {
      const folder = new SignalFolder(tx, org.id);
      await folder.prefetch(["storm"]);
      const counting = new Proxy(tx, {
        get: (target, key, receiver) => {
          if (key === "update") statements.push("update");
          return Reflect.get(target, key, receiver);
        },
      });
      Object.assign(folder, { tx: counting });
      for (let i = 1; i <= 50; i++) {
        const applied = await folder.apply(
          signal({ fingerprint: "storm", occurredAt: minutes(i), severity: i === 7 ? "critical" : "high" }),
          minutes(i),
        );
        expect(applied).toMatchObject({ change: "updated", anomaly: { count: i + 1 } });
      }
      await folder.flush();
    });
    expect(statements).toEqual(["update", "update"]);
    const [row] = await withOrg(db, org.id, (tx) => tx.select().from(anomalies));
    expect(row).toMatchObject({ count: 51, severity: "critical" });
    expect(row?.lastSeenAt.toISOString()).toBe(minutes(50).toISOString());
    const [incident] = await withOrg(db, org.id, (tx) => tx.select().from(incidents));
    expect(incident?.lastActivityAt.toISOString()).toBe(minutes(50).toISOString());
  });
});
