import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog } from "../../db/schema/index.ts";
import { systemContext } from "../../src/context.ts";
import { BundleVerificationError, verifyBundle } from "../../src/evidence/bundles/verify.ts";
import { parseCheckpointKey } from "../../src/evidence/signer.ts";
import { acknowledgeIncident } from "../../src/incidents/actions.ts";
import { generateKeys } from "../../src/keys.ts";
import { useAccountsApp } from "../accounts/app.ts";
import { jsonOf } from "../harness/app.ts";
import { makeApiKey, makeOrg } from "../harness/factories.ts";
import { EvidenceSeed } from "./seed.ts";

const day = (d: string, time = "12:00:00") => new Date(`${d}T${time}.000Z`);

// biome-ignore lint/suspicious/noExplicitAny: bundles are mutated freely to tamper with them
type AnyBundle = any;

function failure(bundle: AnyBundle, keys?: string[]): BundleVerificationError {
  try {
    verifyBundle(bundle, keys ? { keys } : {});
  } catch (error) {
    if (error instanceof BundleVerificationError) return error;
    throw error;
  }
  throw new Error("the bundle verified");
}

describe("compliance evidence bundles", async () => {
  const t = await useAccountsApp({ rateLimits: { export: { limit: 6 } } });
  const db = t.database.db;
  const vkey = parseCheckpointKey(t.keys.checkpointKey).verifierKey;

  async function orgWithAnomalies() {
    const created = await makeOrg(db);
    const admin = await makeApiKey(db, created.org.id, "admin");
    const seed = new EvidenceSeed(db, created.org.id);
    const incident = await seed.incident({
      title: "Checkout errors",
      openedAt: day("2026-03-02"),
      resolvedAt: day("2026-03-02", "13:00:00"),
      resolution: {
        reason: "revert",
        prUrl: "https://github.example/acme/shop/pull/9",
        by: { kind: "user", id: "u1" },
        at: day("2026-03-02", "13:00:00").toISOString(),
      },
    });
    const resolved = await seed.anomaly({
      title: "TypeError in charge()",
      detectedAt: day("2026-03-02"),
      resolvedAt: day("2026-03-02", "13:00:00"),
      incidentId: incident.id,
    });
    await seed.attribution(resolved.id, {
      title: "Speed up charge",
      prNumber: 8,
      login: "dev1",
      mergedAt: day("2026-03-01"),
      file: "src/internal/payments/charge.ts",
    });
    const monitored = await seed.anomaly({
      title: "p99 latency high",
      detectedAt: day("2026-03-05"),
      source: "datadog",
    });
    await seed.detectionContext(monitored.id, {
      rule: {
        name: "Checkout p99",
        query: "avg(last_5m):p99:checkout > 2",
        threshold: 2,
        window: "5m",
        targets: ["@pagerduty"],
      },
      series: {
        from: "2026-03-05T11:45:00Z",
        to: "2026-03-05T12:15:00Z",
        points: [
          [1, 1.2],
          [2, 2.5],
        ],
        max: 2.5,
      },
    });
    await seed.anomaly({ title: "Disk full", detectedAt: day("2026-03-10") });
    await seed.anomaly({ title: "Outside the period", detectedAt: day("2026-04-02") });
    return { ...created, admin, seed, resolved, monitored };
  }

  async function exportBundle(apiKey: string, query: string, criterion = "cc7.1") {
    const res = await t.request(`/api/v1/compliance/${criterion}?${query}`, { apiKey });
    return res;
  }

  it("exports every CC7.1 anomaly of the period with its facts, and the bundle verifies offline", async () => {
    const o = await orgWithAnomalies();
    const res = await exportBundle(o.admin.key, "from=2026-03-01&to=2026-03-31");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    const bundle = await jsonOf(res);
    expect(bundle.rows).toHaveLength(3);
    expect(bundle.period).toEqual({ from: "2026-03-01T00:00:00.000Z", to: "2026-03-31T23:59:59.999Z" });
    const [first, second, third] = bundle.rows.map((r: AnyBundle) => r.entry.data.facts);
    expect(first.anomaly.title).toBe("TypeError in charge()");
    expect(first.attribution.suspect).toMatchObject({ prNumber: 8, author: { login: "dev1" } });
    expect(first.attribution.authorizingTicket.key).toBe("PAY-7");
    expect(first.attribution.confidence).toEqual({ level: "high", score: 0.82 });
    expect(first.ttdSeconds).toBe(90);
    expect(first.ttrSeconds).toBe(3600);
    expect(first.resolution).toMatchObject({
      reason: "revert",
      prUrl: "https://github.example/acme/shop/pull/9",
    });
    expect(second.rule.detectionContext).toMatchObject({
      status: "ok",
      context: { rule: { name: "Checkout p99" } },
    });
    expect(third.resolution).toEqual({ reason: "open" });
    expect(bundle.summary).toMatchObject({
      anomalies: 3,
      attributed: 1,
      resolved: 1,
      openAtPeriodEnd: 2,
      ttdSeconds: { median: 90, p90: 90 },
      ttrSeconds: { median: 3600, p90: 3600 },
    });
    expect(bundle.previousCheckpoint).toBeNull();

    const report = verifyBundle(bundle, { keys: [vkey] });
    expect(report).toMatchObject({ rows: 3, criterion: "cc7.1", keyPinned: true, consistency: null });

    // The export is audited: its manifest entry, by the admin's key.
    const entries = await withOrg(db, o.org.id, (tx) => tx.select().from(auditLog));
    const exported = entries.filter((e) => e.action === "evidence.exported");
    expect(exported).toHaveLength(1);
    expect(exported[0]!.actorKind).toBe("api_key");
    expect(exported[0]!.actorId).toBe(o.admin.id);
    expect(exported[0]!.data).toMatchObject({ rowCount: 3, criterion: "cc7.1" });
  });

  it("catches a tampered, dropped or reordered row and an altered checkpoint", async () => {
    const o = await orgWithAnomalies();
    const bundle = await jsonOf(await exportBundle(o.admin.key, "from=2026-03-01&to=2026-03-31"));
    const copy = () => structuredClone(bundle);

    const tampered = copy();
    tampered.rows[1].entry.data.facts.severity = "low";
    const e1 = failure(tampered, [vkey]);
    expect(e1.where).toBe(`row 2 (audit index ${bundle.rows[1].auditIndex})`);
    expect(e1.message).toContain("inclusion proof does not verify");

    const dropped = copy();
    dropped.rows.splice(1, 1);
    const e2 = failure(dropped, [vkey]);
    expect(e2.where).toBe("manifest");
    expect(e2.message).toContain("rows were dropped");

    const reordered = copy();
    [reordered.rows[0], reordered.rows[1]] = [reordered.rows[1], reordered.rows[0]];
    const e3 = failure(reordered, [vkey]);
    expect(e3.where).toBe(`row 2 (audit index ${bundle.rows[0].auditIndex})`);
    expect(e3.message).toContain("reordered");

    const altered = copy();
    altered.checkpoint.note = altered.checkpoint.note.replace(
      /\n(\d+)\n/,
      (_: string, n: string) => `\n${Number(n) + 1}\n`,
    );
    expect(failure(altered, [vkey]).where).toBe("checkpoint");

    const otherKey = parseCheckpointKey(generateKeys().checkpointKey).verifierKey;
    expect(failure(copy(), [otherKey]).where).toBe("checkpoint");

    const summary = copy();
    summary.summary.resolved = 3;
    expect(failure(summary, [vkey]).message).toContain("summary");
  });

  it("chains each export to the previous one with a consistency proof and reuses unchanged rows", async () => {
    const o = await orgWithAnomalies();
    const first = await jsonOf(await exportBundle(o.admin.key, "from=2026-03-01&to=2026-03-31"));
    // The open anomaly resolves in between: its row gets a new entry, the others keep theirs.
    await withOrg(db, o.org.id, (tx) =>
      tx.execute(
        sql`update anomalies set status = 'resolved', resolved_at = '2026-03-05T14:00:00Z' where id = ${o.monitored.id}`,
      ),
    );
    const second = await jsonOf(await exportBundle(o.admin.key, "from=2026-03-01&to=2026-03-31"));
    expect(second.previousCheckpoint.size).toBe(first.checkpoint.size);
    expect(second.consistencyProof.length).toBeGreaterThan(0);
    expect(second.rows[0].auditIndex).toBe(first.rows[0].auditIndex);
    expect(second.rows[2].auditIndex).toBe(first.rows[2].auditIndex);
    expect(BigInt(second.rows[1].auditIndex)).toBeGreaterThanOrEqual(BigInt(first.checkpoint.size));
    expect(second.summary.resolved).toBe(2);
    expect(verifyBundle(second, { keys: [vkey] }).consistency).toEqual({ fromSize: first.checkpoint.size });

    const forged = structuredClone(second);
    forged.consistencyProof[0] = Buffer.alloc(32, 7).toString("base64");
    expect(failure(forged, [vkey]).where).toBe("consistency proof");
  });

  it("keeps the first remembered entry when another export remembered the same facts meanwhile", async () => {
    const o = await orgWithAnomalies();
    const first = await jsonOf(await exportBundle(o.admin.key, "from=2026-03-01&to=2026-03-31"));
    // As if a concurrent export had remembered these facts after this one looked them up: the lookup
    // finds no usable entry (the remembered seqs lead nowhere), so the rows are appended again and
    // remembering them meets the existing facts hashes.
    await db.owner.execute(sql`update evidence_rows set seq = seq + 1000000 where org_id = ${o.org.id}`);
    const res = await exportBundle(o.admin.key, "from=2026-03-01&to=2026-03-31");
    expect(res.status).toBe(200);
    const second = await jsonOf(res);
    expect(second.rows).toHaveLength(3);
    for (const row of second.rows) {
      expect(BigInt(row.auditIndex)).toBeGreaterThanOrEqual(BigInt(first.checkpoint.size));
    }
    expect(verifyBundle(second, { keys: [vkey] }).rows).toBe(3);
    const remembered = await db.owner.execute<{ seq: string }>(
      sql`select seq::text as seq from evidence_rows where org_id = ${o.org.id}`,
    );
    expect(remembered).toHaveLength(3);
    expect(remembered.every((r) => BigInt(r.seq) >= 1000000n)).toBe(true);
    // The log stays gap-free, and the second export added its 3 rows and its manifest.
    const [log] = await db.owner.execute<{ n: string; top: string; size: string }>(sql`
      select count(*)::text as n, max(l.seq)::text as top, h.size::text as size
      from audit_log l join audit_heads h on h.org_id = l.org_id where l.org_id = ${o.org.id} group by h.size`);
    const size = Number(first.checkpoint.size) + 4;
    expect(log).toEqual({ n: String(size), top: String(size - 1), size: String(size) });
  });

  it("renders Markdown for auditors and strips internal paths when asked, in both formats", async () => {
    const o = await orgWithAnomalies();
    const res = await exportBundle(o.admin.key, "from=2026-03-01&to=2026-03-31&format=markdown");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/markdown");
    const text = await res.text();
    expect(text).toContain("# SOC 2 CC7.1 evidence");
    expect(text).toContain("| Anomalies detected | 3 |");
    expect(text).toContain("## Integrity statement");
    expect(text).toContain(vkey);
    expect(text.match(/^## \d+\. /gm)).toHaveLength(3);
    expect(text).toContain("Checkout p99");
    expect(text).toContain("src/internal/payments/charge.ts");

    const redacted = await jsonOf(
      await exportBundle(o.admin.key, "from=2026-03-01&to=2026-03-31&redactPaths=true"),
    );
    const serialized = JSON.stringify(redacted.rows);
    expect(serialized).not.toContain("src/internal/payments");
    expect(redacted.rows[0].entry.data.facts.attribution.evidence[0].pointers[0].file).toBe("[path]");
    expect(redacted.rows[0].entry.data.facts.attribution.suspect.url).toContain("https://github.example");
    expect(verifyBundle(redacted, { keys: [vkey] }).rows).toBe(3);
    const md = await (
      await exportBundle(o.admin.key, "from=2026-03-01&to=2026-03-31&format=markdown&redactPaths=true")
    ).text();
    expect(md).not.toContain("src/internal/payments");
  });

  it("exports CC8.1 changes with tickets, reviewers and deploys, then the decisions with actor and time", async () => {
    const created = await makeOrg(db);
    const admin = await makeApiKey(db, created.org.id, "admin");
    const seed = new EvidenceSeed(db, created.org.id);
    const repo = await seed.repository();
    await seed.change({
      repositoryId: repo.id,
      title: "PAY-1 add refunds",
      prNumber: 1,
      mergedAt: day("2026-03-03"),
      reviewers: ["rev1"],
      ticket: { key: "PAY-1", linkType: "explicit" },
      deployedAt: day("2026-03-04"),
    });
    // Merged before the period, deployed in it: in the population.
    await seed.change({
      repositoryId: repo.id,
      title: "tweak",
      prNumber: 2,
      mergedAt: day("2026-02-20"),
      deployedAt: day("2026-03-06"),
    });
    await seed.change({
      repositoryId: repo.id,
      title: "not in period",
      prNumber: 3,
      mergedAt: day("2026-02-01"),
    });
    const incident = await seed.incident({ title: "x", openedAt: new Date() });
    await acknowledgeIncident(
      { db },
      { ...systemContext(created.org.id, "oncall"), role: "admin" },
      incident.id,
    );
    const now = new Date();
    // A custom range covering the seeded merges (March 2026) and today's acknowledgement.
    const res = await exportBundle(
      admin.key,
      `from=2026-03-01&to=${now.toISOString().slice(0, 10)}`,
      "cc8.1",
    );
    expect(res.status).toBe(200);
    const bundle = await jsonOf(res);
    const kinds = bundle.rows.map((r: AnyBundle) =>
      r.entry.action === "evidence.row" ? r.entry.data.facts.change.prNumber : r.entry.action,
    );
    // Population order: merge time (PR 2 merged in February, deployed in the period), then decisions.
    expect(kinds).toEqual([2, 1, "incident.acknowledge"]);
    const refunds = bundle.rows[1].entry.data.facts;
    expect(refunds.ticket).toMatchObject({ key: "PAY-1", linkType: "explicit", approvers: ["Ada Approver"] });
    expect(refunds.reviewers).toEqual(["rev1"]);
    expect(refunds.deploys).toHaveLength(1);
    expect(refunds.deploys[0]).toMatchObject({ environment: "production", version: "v1.2.3" });
    expect(bundle.rows[2].entry.actor).toEqual({ kind: "system", id: "oncall" });
    expect(bundle.summary).toMatchObject({
      changes: 2,
      withExplicitTicket: 1,
      withoutTicket: 1,
      reviewed: 1,
      deployed: 2,
      decisions: 1,
    });
    expect(verifyBundle(bundle, { keys: [vkey] }).rows).toBe(3);

    const moved = structuredClone(bundle);
    moved.rows = [moved.rows[2], moved.rows[0], moved.rows[1]];
    expect(failure(moved, [vkey]).message).toContain("reordered");
  });

  it("is for admins only, validates the period, and is rate limited in the export class", async () => {
    const o = await orgWithAnomalies();
    const member = await makeApiKey(db, o.org.id, "member");
    const forbidden = await exportBundle(member.key, "period=30");
    expect(forbidden.status).toBe(403);
    expect((await jsonOf(forbidden)).code).toBe("forbidden");
    const v = await makeOrg(db);
    const vAdmin = await makeApiKey(db, v.org.id, "admin");

    for (const bad of [
      "period=30&from=2026-03-01&to=2026-03-02",
      "from=2026-03-05&to=2026-03-01",
      "from=2026-03-01",
      "period=14",
      "from=yesterday&to=today",
      "format=pdf",
    ]) {
      const res = await exportBundle(vAdmin.key, bad);
      expect(res.status, bad).toBe(400);
      expect((await jsonOf(res)).code, bad).toBe("validation_failed");
    }
    for (const orgId of [o.org.id, v.org.id]) {
      const entries = await withOrg(db, orgId, (tx) => tx.select().from(auditLog));
      expect(entries.filter((e) => e.action.startsWith("evidence."))).toHaveLength(0);
    }

    // A fresh org: the export class allows 6 here (the test app's policy), then answers 429.
    const p = await makeOrg(db);
    const admin = await makeApiKey(db, p.org.id, "admin");
    for (let i = 0; i < 6; i++) expect((await exportBundle(admin.key, "period=7")).status).toBe(200);
    const limited = await exportBundle(admin.key, "period=7");
    expect(limited.status).toBe(429);
    expect((await jsonOf(limited)).code).toBe("rate_limited");
    expect(limited.headers.get("retry-after")).toBeTruthy();
  });
});
