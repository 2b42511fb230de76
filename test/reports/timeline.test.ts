/**
 * The incident timeline and the human actions on an incident: a full incident (deploys and merged PRs in
 * the window, the alert, attribution, Slack posts, acknowledge, resolve, reopen) read back from
 * GET /api/v1/incidents/{id}/timeline in order with its durations; the actions' role checks and audit
 * entries; GET /api/v1/incidents filters and cursor pages; /docs.
 */
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import {
  anomalies,
  attributions,
  auditLog,
  changes,
  deploys,
  incidents,
  notifications,
  repositories,
} from "../../db/schema/index.ts";
import { refreshAttributed } from "../../src/reports/scan.ts";
import { startFakeSlack } from "../fakes/slack.ts";
import { jsonOf, useTestApp } from "../harness/app.ts";
import { makeApiKey, makeOrg } from "../harness/factories.ts";
import {
  BOT_TOKEN,
  eventAlert,
  incidentOf,
  postSentry,
  type ReportsSetup,
  scanDeps,
  settledAttribution,
  setupOrg,
  storeAttribution,
} from "./setup.ts";

const fake = await startFakeSlack({ botToken: BOT_TOKEN });
const HOUR = 3_600_000;
const seconds = (from: Date, to: Date) => Math.round((to.getTime() - from.getTime()) / 1000);

describe("incident timeline and actions", async () => {
  const t = await useTestApp();
  const db = t.database.db;
  beforeAll(async () => {
    await t.jobs.work();
  });
  afterAll(() => fake.close());

  const auditOf = (s: ReportsSetup, action: string) =>
    withOrg(db, s.orgId, (tx) =>
      tx
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.orgId, s.orgId), eq(auditLog.action, action))),
    );
  async function until(check: () => Promise<boolean>, what: string) {
    const deadline = Date.now() + 20_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const sentNotifications = async (s: ReportsSetup, incidentId: string) =>
    (
      await withOrg(db, s.orgId, (tx) =>
        tx.select().from(notifications).where(eq(notifications.incidentId, incidentId)),
      )
    ).filter((n) => n.status === "sent");

  it("lists every event of a full incident in time order with time-to-detect/attribute/acknowledge/resolve", async () => {
    const s = await setupOrg(t, fake, { defaultChannel: "C0TIMELINE1" });
    const member = await makeApiKey(db, s.orgId, "member");
    const firstSeen = new Date(Date.now() - 120_000);
    await postSentry(t, s, "event_alert", eventAlert({ firstSeen }).body);
    const incident = await incidentOf(t, s);
    await until(async () => (await sentNotifications(s, incident.id)).length >= 1, "the first post");
    const attribution = await settledAttribution(t, s, incident.id);

    // The service's history: what is in the 24 h window before first-seen, and what is not.
    await withOrg(db, s.orgId, async (tx) => {
      const [repo] = await tx
        .insert(repositories)
        .values({
          orgId: s.orgId,
          name: "shop",
          url: "https://github.com/acme/shop.git",
          provider: "github",
          services: ["checkout-api"],
        })
        .returning();
      const change = (prNumber: number, mergedAt: Date, state: "merged" | "open" = "merged") => ({
        orgId: s.orgId,
        repositoryId: repo!.id,
        kind: "pull_request" as const,
        prNumber,
        title: `PR ${prNumber}`,
        authorLogin: "grace",
        state,
        mergedAt,
        mergeSha: `${prNumber}`.padStart(40, "a"),
        htmlUrl: `https://github.com/acme/shop/pull/${prNumber}`,
      });
      await tx
        .insert(changes)
        .values([
          change(11, new Date(firstSeen.getTime() - HOUR)),
          change(9, new Date(firstSeen.getTime() - 30 * HOUR)),
          change(14, new Date(firstSeen.getTime() + 30_000)),
        ]);
      const deploy = (service: string, at: Date, sha: string) => ({
        orgId: s.orgId,
        repositoryId: repo!.id,
        service,
        environment: "production",
        sha,
        version: sha.slice(0, 7),
        deployedAt: at,
        source: "api" as const,
      });
      await tx
        .insert(deploys)
        .values([
          deploy("checkout-api", new Date(firstSeen.getTime() - 20 * 60_000), "b".repeat(40)),
          deploy("checkout-api", new Date(firstSeen.getTime() - 48 * HOUR), "c".repeat(40)),
          deploy("billing", new Date(firstSeen.getTime() - 10 * 60_000), "d".repeat(40)),
        ]);
    });

    await storeAttribution(t, s, attribution.id, {
      suspects: [
        {
          candidateId: "pr-11",
          prNumber: 11,
          title: "PR 11",
          login: "grace",
          mergedAt: new Date(firstSeen.getTime() - HOUR).toISOString(),
          score: 0.8,
        },
      ],
      confidence: { level: "high", score: 0.8 },
      reasoning: "PR #11 changed the crash line.",
      finishedAt: new Date(),
    });
    await refreshAttributed(scanDeps(t));

    // Acknowledge: admins only, once.
    const denied = await t.request(`/api/v1/incidents/${incident.id}/acknowledge`, {
      method: "POST",
      apiKey: member.key,
    });
    expect(denied.status).toBe(403);
    expect(denied.headers.get("content-type")).toContain("application/problem+json");
    expect((await jsonOf(denied)).code).toBe("forbidden");
    const ack = await t.request(`/api/v1/incidents/${incident.id}/acknowledge`, {
      method: "POST",
      apiKey: s.ownerKey,
    });
    expect(ack.status).toBe(200);
    expect((await jsonOf(ack)).status).toBe("acknowledged");
    const again = await t.request(`/api/v1/incidents/${incident.id}/acknowledge`, {
      method: "POST",
      apiKey: s.ownerKey,
    });
    expect(again.status).toBe(200);
    expect(await auditOf(s, "incident.acknowledge")).toHaveLength(1);

    // Resolve: admins only, with a valid reason, once.
    const resolveAs = (apiKey: string, json: unknown) =>
      t.request(`/api/v1/incidents/${incident.id}/resolve`, { method: "POST", apiKey, json });
    expect((await resolveAs(member.key, { reason: "revert" })).status).toBe(403);
    const invalid = await resolveAs(s.ownerKey, { reason: "intended_change" });
    expect(invalid.status).toBe(400);
    expect((await jsonOf(invalid)).code).toBe("validation_failed");
    expect((await resolveAs(s.ownerKey, { reason: "nope" })).status).toBe(400);
    const resolved = await resolveAs(s.ownerKey, {
      reason: "fix_pr",
      prUrl: "https://github.com/acme/shop/pull/15",
    });
    expect(resolved.status).toBe(200);
    expect((await resolveAs(s.ownerKey, { reason: "revert" })).status).toBe(409);
    const [resolveEntry] = await auditOf(s, "incident.resolve");
    expect(resolveEntry).toMatchObject({
      actorKind: "api_key",
      subjectId: incident.id,
      data: expect.objectContaining({ reason: "fix_pr", previousStatus: "acknowledged" }),
    });
    // post, attribution update + reply, acknowledged update + reply, resolved update + reply.
    await until(async () => (await sentNotifications(s, incident.id)).length >= 7, "the Slack updates");

    const res = await t.request(`/api/v1/incidents/${incident.id}/timeline`, { apiKey: member.key });
    expect(res.status).toBe(200);
    const timeline = await jsonOf(res);
    const events = timeline.events as Array<{
      at: string;
      kind: string;
      title: string;
      actor: { kind: string; id: string } | null;
      source: string | null;
      link: string | null;
      data: Record<string, unknown>;
    }>;
    const times = events.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    for (const e of events) {
      expect(e.actor ?? e.source, e.kind).toBeTruthy();
    }

    // The window: PR #11 and the checkout-api deploy; not PR #9 (too early), #14 (after first-seen), billing.
    const merged = events.filter((e) => e.kind === "change.merged");
    expect(merged.map((e) => e.data["prNumber"])).toEqual([11]);
    expect(merged[0]).toMatchObject({ source: "shop", link: "https://github.com/acme/shop/pull/11" });
    const deployEvents = events.filter((e) => e.kind === "deploy");
    // The alert's own release is on record as a deploy too (the changes stage learns it from the event).
    const shas = deployEvents.map((e) => e.data["sha"]);
    expect(shas).toContain("b".repeat(40));
    expect(shas).not.toContain("c".repeat(40));
    expect(shas).not.toContain("d".repeat(40));

    const order = [
      "change.merged",
      "deploy",
      "anomaly.first_seen",
      "signal.firing",
      "incident.opened",
      "attribution.requested",
      "slack.post",
      "attribution.completed",
      "incident.resolved",
    ];
    const index = (kind: string) => events.findIndex((e) => e.kind === kind);
    for (const kind of order) expect(index(kind), kind).toBeGreaterThanOrEqual(0);
    const indexes = order.map(index);
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    const actions = events.filter((e) => e.kind === "action").map((e) => e.title);
    expect(actions).toEqual(["incident.acknowledge", "incident.resolve"]);
    // Each event links to its object: the action's link lists exactly its audit entry.
    const ackEvent = events.find((e) => e.title === "incident.acknowledge")!;
    expect(ackEvent.actor).toMatchObject({ kind: "api_key" });
    const entries = await jsonOf(await t.request(ackEvent.link!, { apiKey: s.ownerKey }));
    expect(
      entries.items.map((x: { action: string; subject: { id: string } }) => [x.action, x.subject.id]),
    ).toEqual([["incident.acknowledge", incident.id]]);
    expect(events.find((e) => e.kind === "slack.post")!.link).toBe(`/api/v1/incidents/${incident.id}`);
    expect(events.find((e) => e.kind === "anomaly.first_seen")!.link).toMatch(/^\/api\/v1\/anomalies\//);
    const ackIndex = events.findIndex((e) => e.title === "incident.acknowledge");
    expect(ackIndex).toBeGreaterThan(index("attribution.completed"));
    expect(ackIndex).toBeLessThan(index("incident.resolved"));
    expect(events.find((e) => e.kind === "attribution.completed")).toMatchObject({
      title: "Suspect #11: PR 11",
      source: "attribution",
      data: { status: "done", confidence: { level: "high", score: 0.8 } },
    });
    expect(events.find((e) => e.kind === "incident.resolved")).toMatchObject({
      title: "Resolved (fix_pr)",
      actor: { kind: "api_key" },
    });
    expect(events.find((e) => e.kind === "signal.firing")!.link).toMatch(/^\/api\/v1\/deliveries\//);
    expect(events.find((e) => e.kind === "slack.post")).toMatchObject({
      source: "slack",
      data: { status: "sent", reason: "opened", channel: "C0TIMELINE1" },
    });
    const updateReasons = events.filter((e) => e.kind === "slack.update").map((e) => e.data["reason"]);
    expect(updateReasons).toEqual(["attribution", "acknowledged", "resolved"]);
    expect(events.filter((e) => e.kind === "slack.thread_reply")).toHaveLength(3);

    // Durations from the stored times.
    const [anomaly] = await withOrg(db, s.orgId, (tx) =>
      tx.select().from(anomalies).where(eq(anomalies.incidentId, incident.id)),
    );
    const [attributed] = await withOrg(db, s.orgId, (tx) =>
      tx.select().from(attributions).where(eq(attributions.id, attribution.id)),
    );
    const [row] = await withOrg(db, s.orgId, (tx) =>
      tx.select().from(incidents).where(eq(incidents.id, incident.id)),
    );
    const detected = anomaly!.detectedAt;
    expect(anomaly!.firstSeenAt.toISOString()).toBe(firstSeen.toISOString());
    expect(timeline.summary).toEqual({
      firstSeenAt: firstSeen.toISOString(),
      detectedAt: detected.toISOString(),
      attributedAt: attributed!.finishedAt!.toISOString(),
      acknowledgedAt: row!.acknowledgedAt!.toISOString(),
      resolvedAt: row!.resolvedAt!.toISOString(),
      timeToDetectSeconds: seconds(firstSeen, detected),
      timeToAttributeSeconds: seconds(detected, attributed!.finishedAt!),
      timeToAcknowledgeSeconds: seconds(detected, row!.acknowledgedAt!),
      timeToResolveSeconds: seconds(detected, row!.resolvedAt!),
    });
    expect(timeline.summary.timeToDetectSeconds).toBeGreaterThanOrEqual(119);
    expect(timeline.summary.timeToDetectSeconds).toBeLessThan(180);

    // Reopen: admins only, audited, and the timeline says it is open again.
    const reopenAs = (apiKey: string) =>
      t.request(`/api/v1/incidents/${incident.id}/reopen`, {
        method: "POST",
        apiKey,
        json: { note: "still failing" },
      });
    expect((await reopenAs(member.key)).status).toBe(403);
    const reopened = await reopenAs(s.ownerKey);
    expect(reopened.status).toBe(200);
    expect(await jsonOf(reopened)).toMatchObject({ status: "open", resolvedAt: null, reopenCount: 1 });
    expect((await reopenAs(s.ownerKey)).status).toBe(409);
    expect(await auditOf(s, "incident.reopen")).toEqual([
      expect.objectContaining({
        actorKind: "api_key",
        data: expect.objectContaining({
          note: "still failing",
          previousResolution: expect.objectContaining({ reason: "fix_pr" }),
        }),
      }),
    ]);
    const after = await jsonOf(
      await t.request(`/api/v1/incidents/${incident.id}/timeline`, { apiKey: member.key }),
    );
    expect(
      after.events
        .filter((e: { kind: string }) => e.kind === "action")
        .map((e: { title: string }) => e.title),
    ).toEqual(["incident.acknowledge", "incident.resolve", "incident.reopen"]);
    expect(after.events.some((e: { kind: string }) => e.kind === "incident.resolved")).toBe(false);
    expect(after.summary).toMatchObject({ resolvedAt: null, timeToResolveSeconds: null });

    // Another org cannot see it.
    const other = await makeOrg(db);
    const foreign = await t.request(`/api/v1/incidents/${incident.id}/timeline`, { apiKey: other.apiKey });
    expect(foreign.status).toBe(404);
    expect((await jsonOf(foreign)).code).toBe("not_found");
  });

  it("GET /api/v1/incidents filters by status, service, environment, severity, time and suspect, in cursor pages", async () => {
    const owner = await makeOrg(db);
    const orgId = owner.org.id;
    const base = Date.now() - 10 * HOUR;
    const spec = [
      ["i1", "open", "checkout-api", "production", "high", 5],
      ["i2", "acknowledged", "checkout-api", "staging", "critical", 4],
      ["i3", "resolved", "billing", "production", "low", 3],
      ["i4", "open", "billing", "production", "high", 2],
      ["i5", "open", "checkout-api", "production", "medium", 1],
    ] as const;
    const ids: Record<string, string> = {};
    const openedAt: Record<string, Date> = {};
    await withOrg(db, orgId, async (tx) => {
      for (const [name, status, service, environment, severity, hoursAgo] of spec) {
        const at = new Date(base + (10 - hoursAgo) * HOUR);
        openedAt[name] = at;
        const [row] = await tx
          .insert(incidents)
          .values({
            orgId,
            title: name,
            status,
            service,
            environment,
            severity,
            openedAt: at,
            lastActivityAt: at,
          })
          .returning();
        ids[name] = row!.id;
        const [a] = await tx
          .insert(anomalies)
          .values({
            orgId,
            fingerprint: `fp-${name}`,
            kind: "error",
            source: "sentry",
            title: name,
            severity,
            service,
            environment,
            firstSeenAt: at,
            detectedAt: at,
            lastSeenAt: at,
            incidentId: row!.id,
          })
          .returning();
        // i4 has a suspect; i5's attribution found none.
        if (name === "i4" || name === "i5")
          await tx.insert(attributions).values({
            orgId,
            anomalyId: a!.id,
            status: name === "i4" ? "done" : "no_suspect",
            suspects: name === "i4" ? [{ candidateId: "pr-1", prNumber: 1, title: "x" }] : [],
            finishedAt: at,
          });
      }
    });
    const list = async (query: string) => {
      const res = await t.request(`/api/v1/incidents?${query}`, { apiKey: owner.apiKey });
      expect(res.status, query).toBe(200);
      const body = await jsonOf(res);
      return { names: body.items.map((i: { title: string }) => i.title), nextCursor: body.nextCursor };
    };
    expect((await list("")).names).toEqual(["i5", "i4", "i3", "i2", "i1"]);
    expect((await list("status=open")).names).toEqual(["i5", "i4", "i1"]);
    expect((await list("service=billing")).names).toEqual(["i4", "i3"]);
    expect((await list("environment=staging")).names).toEqual(["i2"]);
    expect((await list("severity=high")).names).toEqual(["i4", "i1"]);
    expect((await list("status=open&service=checkout-api")).names).toEqual(["i5", "i1"]);
    const from = new Date(openedAt["i3"]!.getTime() - 60_000).toISOString();
    const to = new Date(openedAt["i4"]!.getTime() + 60_000).toISOString();
    expect((await list(`from=${from}&to=${to}`)).names).toEqual(["i4", "i3"]);
    expect((await list("has_suspect=true")).names).toEqual(["i4"]);
    expect((await list("has_suspect=false")).names).toEqual(["i5", "i3", "i2", "i1"]);

    // Cursor pages: every incident once, newest first, and the last page says so.
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { names: string[]; nextCursor: string | null } = await list(
        `limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      seen.push(...page.names);
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(seen).toEqual(["i5", "i4", "i3", "i2", "i1"]);
    expect(pages).toBe(3);
    const filteredPage = await list("status=open&limit=2");
    expect(filteredPage.names).toEqual(["i5", "i4"]);
    expect((await list(`status=open&limit=2&cursor=${filteredPage.nextCursor}`)).names).toEqual(["i1"]);

    // Bounded and validated: bad input is a problem+json 400, never a 500.
    for (const query of [
      "limit=500",
      "limit=0",
      "cursor=not-a-cursor",
      "status=bogus",
      "has_suspect=maybe",
      "from=yesterday",
    ]) {
      const res = await t.request(`/api/v1/incidents?${query}`, { apiKey: owner.apiKey });
      expect(res.status, query).toBe(400);
      expect(res.headers.get("content-type"), query).toContain("application/problem+json");
      expect((await jsonOf(res)).code, query).toBe("validation_failed");
    }
    // Another org sees none of them.
    const other = await makeOrg(db);
    const theirs = await jsonOf(await t.request("/api/v1/incidents", { apiKey: other.apiKey }));
    expect(theirs.items).toEqual([]);
    expect(ids["i1"]).toBeDefined();
  });

  it("serves the OpenAPI reference at /docs as HTML over /openapi.json", async () => {
    const docs = await t.request("/docs");
    expect(docs.status).toBe(200);
    expect(docs.headers.get("content-type")).toContain("text/html");
    const html = await docs.text();
    expect(html).toContain("<html");
    expect(html).toContain("/openapi.json");
    expect(html).toContain("Causeway API");
    const spec = await jsonOf(await t.request("/openapi.json"));
    for (const path of [
      "/api/v1/incidents/{id}/timeline",
      "/api/v1/incidents/{id}/acknowledge",
      "/api/v1/incidents/{id}/resolve",
      "/api/v1/incidents/{id}/reopen",
      "/webhooks/slack/{integrationId}/interactions",
    ])
      expect(spec.paths[path], path).toBeDefined();
    const params = spec.paths["/api/v1/incidents"].get.parameters.map((p: { name: string }) => p.name);
    expect(params).toEqual(
      expect.arrayContaining([
        "status",
        "service",
        "environment",
        "severity",
        "from",
        "to",
        "has_suspect",
        "cursor",
        "limit",
      ]),
    );
  });
});
