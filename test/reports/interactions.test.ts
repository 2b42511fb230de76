/**
 * The report's buttons: Slack-signed interactivity callbacks to POST /webhooks/slack/{id}/interactions,
 * the Slack user mapped to a Causeway user through users.info on the fake Slack, the role check, the audit
 * entry, and the report updated in place (same ts) with a thread reply.
 */
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog, deliveries, incidentReports, incidents } from "../../db/schema/index.ts";
import { REPORT_ACTIONS } from "../../src/reports/blocks.ts";
import { refreshAttributed } from "../../src/reports/scan.ts";
import { startFakeSlack } from "../fakes/slack.ts";
import { jsonOf, useTestApp } from "../harness/app.ts";
import { makeUser } from "../harness/factories.ts";
import {
  BOT_TOKEN,
  blockById,
  blockText,
  eventAlert,
  incidentOf,
  postSentry,
  type ReportsSetup,
  scanDeps,
  settledAttribution,
  setupOrg,
  slackInteraction,
  storeAttribution,
} from "./setup.ts";

const fake = await startFakeSlack({ botToken: BOT_TOKEN });

describe("Slack report buttons", async () => {
  const t = await useTestApp();
  const db = t.database.db;
  beforeAll(async () => {
    await t.jobs.work();
  });
  afterAll(() => fake.close());

  const updatesIn = (channel: string) =>
    fake.callsOf("chat.update").filter((c) => c.args["channel"] === channel);
  async function waitUpdates(channel: string, count: number) {
    const deadline = Date.now() + 20_000;
    while (updatesIn(channel).length < count) {
      if (Date.now() > deadline) throw new Error(`${count} updates in ${channel} not received`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return updatesIn(channel);
  }
  const repliesTo = (ts: string) => fake.messages.filter((m) => m.threadTs === ts).map((m) => m.text);
  const auditOf = (s: ReportsSetup, action: string) =>
    withOrg(db, s.orgId, (tx) =>
      tx
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.orgId, s.orgId), eq(auditLog.action, action))),
    );

  async function click(
    s: ReportsSetup,
    input: Parameters<typeof slackInteraction>[1],
    options: Parameters<typeof slackInteraction>[2] = {},
  ) {
    const { body, headers } = slackInteraction(s, input, options);
    const res = await t.request(`/webhooks/slack/${s.slackId}/interactions`, {
      method: "POST",
      body,
      headers,
    });
    if (res.status === 200) await t.processDeliveries();
    return res;
  }

  /** An org whose report shows suspect #11 (PAY-7, explicit) with runner-up #10 (PAY-3, inferred). */
  async function attributedReport(channel: string) {
    const s = await setupOrg(t, fake, { defaultChannel: channel });
    signingSecrets.push(s.signingSecret);
    await postSentry(t, s, "event_alert", eventAlert().body);
    const incident = await incidentOf(t, s);
    // The report is posted (the job), then brought up to date with the attribution (the scan).
    const deadline = Date.now() + 20_000;
    for (;;) {
      const [report] = await withOrg(db, s.orgId, (tx) =>
        tx.select().from(incidentReports).where(eq(incidentReports.incidentId, incident.id)),
      );
      if (report?.ts) break;
      if (Date.now() > deadline) throw new Error("report not posted");
      await new Promise((r) => setTimeout(r, 100));
    }
    const attribution = await settledAttribution(t, s, incident.id);
    await storeAttribution(t, s, attribution.id, {
      suspects: [
        {
          candidateId: "pr-11",
          prNumber: 11,
          title: "Look up discount rates by code",
          login: "grace",
          mergedAt: "2026-03-01T10:00:00.000Z",
          score: 0.82,
          ticket: { key: "PAY-7", summary: "Discount rates table", status: "Done", linkSource: "explicit" },
        },
        {
          candidateId: "pr-10",
          prNumber: 10,
          title: "Add loyalty points to checkout",
          login: "alan",
          mergedAt: "2026-02-28T10:00:00.000Z",
          score: 0.41,
          ticket: { key: "PAY-3", summary: "Loyalty points", status: "In Progress", linkSource: "inferred" },
        },
      ],
      confidence: { level: "medium", score: 0.55 },
      reasoning: "PR #11 last changed the crash line.",
      finishedAt: new Date(),
    });
    expect(await refreshAttributed(scanDeps(t))).toContain(incident.id);
    await waitUpdates(channel, 1);
    const [report] = await withOrg(db, s.orgId, (tx) =>
      tx.select().from(incidentReports).where(eq(incidentReports.incidentId, incident.id)),
    );
    return { s, incident, ts: report!.ts! };
  }

  const signingSecrets: string[] = [];

  it("refuses a bad signature and a timestamp outside five minutes with 401 problem+json, storing nothing", async () => {
    const s = await setupOrg(t, fake, { defaultChannel: "C0INTERAC01" });
    signingSecrets.push(s.signingSecret);
    const input = { userId: "U0NOBODY01", actionId: REPORT_ACTIONS.confirm, value: "x:y" };
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[Parameters<typeof slackInteraction>[2], string]> = [
      [{ secret: "not-the-signing-secret" }, "invalid_signature"],
      [{ timestamp: now - 301 }, "stale_timestamp"],
      [{ timestamp: now + 400 }, "stale_timestamp"],
    ];
    for (const [options, code] of cases) {
      const res = await click(s, input, options);
      expect(res.status).toBe(401);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      const problem = await jsonOf(res);
      expect(problem).toMatchObject({ status: 401, code });
      expect(JSON.stringify(problem)).not.toContain(s.signingSecret);
    }
    // A tampered body with a signature made for another body.
    const signed = slackInteraction(s, input);
    const tampered = await t.request(`/webhooks/slack/${s.slackId}/interactions`, {
      method: "POST",
      body: signed.body.replace("x%3Ay", "x%3Az"),
      headers: signed.headers,
    });
    expect(tampered.status).toBe(401);
    expect((await jsonOf(tampered)).code).toBe("invalid_signature");
    const stored = await withOrg(db, s.orgId, (tx) =>
      tx.select().from(deliveries).where(eq(deliveries.integrationId, s.slackId)),
    );
    expect(stored).toHaveLength(0);
    const rejected = await auditOf(s, "webhook.rejected");
    expect(rejected.map((e) => e.data["reason"]).sort()).toEqual([
      "bad_signature",
      "bad_signature",
      "stale_timestamp",
      "stale_timestamp",
    ]);
    // A correctly signed, fresh callback is answered 200 (what Slack expects).
    expect((await click(s, input)).status).toBe(200);
  });

  it("members and unknown Slack users are refused, audited and told in the thread; nothing changes", async () => {
    const { s, incident, ts } = await attributedReport("C0INTERAC02");
    const member = await makeUser(db, s.orgId, "member");
    fake.users.set("U0MEMBER02", member.email);
    const value = `${incident.id}:pr-11`;

    expect((await click(s, { userId: "U0MEMBER02", actionId: REPORT_ACTIONS.confirm, value })).status).toBe(
      200,
    );
    expect((await click(s, { userId: "U0STRANGE2", actionId: REPORT_ACTIONS.reject, value })).status).toBe(
      200,
    );

    const refused = await auditOf(s, "incident.suspect.refused");
    expect(refused.map((e) => [e.actorKind, e.actorId, e.data["reason"], e.data["button"]])).toEqual([
      ["slack", "U0MEMBER02", "forbidden", "confirm"],
      ["slack", "U0STRANGE2", "unknown_user", "reject"],
    ]);
    expect(refused.every((e) => e.subjectId === incident.id)).toBe(true);
    expect(await auditOf(s, "incident.suspect.confirm")).toHaveLength(0);
    expect(await auditOf(s, "incident.suspect.reject")).toHaveLength(0);
    const [report] = await withOrg(db, s.orgId, (tx) =>
      tx.select().from(incidentReports).where(eq(incidentReports.incidentId, incident.id)),
    );
    expect(report!.verdict).toBeNull();
    expect(report!.rejectedCandidates).toEqual([]);
    const replies = repliesTo(ts);
    expect(replies).toContain(
      "Only Causeway admins and owners can decide about the suspect; the click was ignored.",
    );
    expect(replies).toContain(
      "A button click from a Slack user who is not a member of this Causeway org was ignored.",
    );
    expect(fake.callsOf("users.info").map((c) => c.args["user"])).toEqual(
      expect.arrayContaining(["U0MEMBER02", "U0STRANGE2"]),
    );
  });

  it("Not this PR, Confirm suspect and Intended change are audited and reflected in the same message", async () => {
    const { s, incident, ts } = await attributedReport("C0INTERAC03");
    const admin = await makeUser(db, s.orgId, "admin");
    fake.users.set("U0ADMIN003", admin.email);

    // Not this PR: the report moves on to the next suspect.
    await click(s, { userId: "U0ADMIN003", actionId: REPORT_ACTIONS.reject, value: `${incident.id}:pr-11` });
    const [rejectEntry] = await auditOf(s, "incident.suspect.reject");
    expect(rejectEntry).toMatchObject({
      actorKind: "slack",
      actorId: "U0ADMIN003",
      subjectType: "incident",
      subjectId: incident.id,
      data: expect.objectContaining({
        candidateId: "pr-11",
        prNumber: 11,
        ticketKey: "PAY-7",
        slackUserId: "U0ADMIN003",
      }),
    });
    let updates = await waitUpdates("C0INTERAC03", 2);
    let blocks = updates[1]!.args["blocks"] as Array<Record<string, unknown>>;
    expect(updates[1]!.args["ts"]).toBe(ts);
    const suspect = blockText([blockById(blocks, "suspect")!]);
    expect(suspect).toContain("#10 Add loyalty points to checkout");
    expect(suspect).toContain("*Ticket:* PAY-3 Loyalty points (In Progress) · inferred link");
    expect(blockText([blockById(blocks, "verdict")!])).toBe(
      `:x: ${admin.email} said it was not #11; showing the next suspect`,
    );
    const values = (blockById(blocks, "suspect_actions")!["elements"] as Array<{ value: string }>).map(
      (e) => e.value,
    );
    expect(new Set(values)).toEqual(new Set([`${incident.id}:pr-10`]));

    // A click on the old suspect's button is refused: the message no longer shows it.
    await click(s, { userId: "U0ADMIN003", actionId: REPORT_ACTIONS.confirm, value: `${incident.id}:pr-11` });
    expect((await auditOf(s, "incident.suspect.refused")).map((e) => e.data["reason"])).toEqual([
      "stale_suspect",
    ]);

    // Confirm suspect.
    await click(s, { userId: "U0ADMIN003", actionId: REPORT_ACTIONS.confirm, value: `${incident.id}:pr-10` });
    expect(await auditOf(s, "incident.suspect.confirm")).toEqual([
      expect.objectContaining({
        actorId: "U0ADMIN003",
        data: expect.objectContaining({ candidateId: "pr-10", prNumber: 10 }),
      }),
    ]);
    updates = await waitUpdates("C0INTERAC03", 3);
    blocks = updates[2]!.args["blocks"] as Array<Record<string, unknown>>;
    expect(blockText([blockById(blocks, "verdict")!])).toBe(
      `:white_check_mark: Suspect #10 confirmed by ${admin.email}`,
    );

    // Intended change: recorded with the ticket, and the incident is resolved as authorized.
    await click(s, {
      userId: "U0ADMIN003",
      actionId: REPORT_ACTIONS.intended,
      value: `${incident.id}:pr-10`,
    });
    expect(await auditOf(s, "incident.suspect.intended")).toEqual([
      expect.objectContaining({
        actorId: "U0ADMIN003",
        data: expect.objectContaining({ ticketKey: "PAY-3" }),
      }),
    ]);
    const [resolveEntry] = await auditOf(s, "incident.resolve");
    expect(resolveEntry).toMatchObject({
      actorKind: "slack",
      actorId: "U0ADMIN003",
      data: expect.objectContaining({ reason: "intended_change", ticketKey: "PAY-3" }),
    });
    const [row] = await withOrg(db, s.orgId, (tx) =>
      tx.select().from(incidents).where(eq(incidents.id, incident.id)),
    );
    expect(row!.status).toBe("resolved");
    expect(row!.resolution).toMatchObject({ reason: "intended_change", ticketKey: "PAY-3" });
    updates = await waitUpdates("C0INTERAC03", 4);
    blocks = updates[3]!.args["blocks"] as Array<Record<string, unknown>>;
    expect(updates.map((u) => u.args["ts"])).toEqual([ts, ts, ts, ts]);
    expect(blockText([blockById(blocks, "incident")!])).toContain("*Status:* :large_green_circle: resolved");
    expect(blockText([blockById(blocks, "verdict")!])).toBe(
      `:memo: ${admin.email} marked the change as intended (PAY-3)`,
    );
    // A resolved incident's report has no buttons left.
    expect(blockById(blocks, "suspect_actions")).toBeUndefined();
    // Each decision was said in the thread.
    const deadline = Date.now() + 10_000;
    while (repliesTo(ts).filter((r) => r.includes(admin.email)).length < 3 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(repliesTo(ts)).toEqual(
      expect.arrayContaining([
        `:x: ${admin.email} said it was not #11; showing the next suspect`,
        `:white_check_mark: Suspect #10 confirmed by ${admin.email}`,
        `:memo: ${admin.email} marked the change as intended (PAY-3)`,
      ]),
    );
  });

  it("never writes the bot token or a signing secret to the logs", () => {
    const logs = t.logs.text();
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(BOT_TOKEN);
    expect(signingSecrets.length).toBeGreaterThanOrEqual(3);
    for (const secret of signingSecrets) expect(logs).not.toContain(secret);
  });
});
