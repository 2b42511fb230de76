/**
 * Slack investigation reports end to end: signed Sentry alerts through ingest, the `reports.deliver` job on
 * the real job runner, the real @slack/web-api client pointed at the fake Slack Web API, and what the
 * fake received (blocks, channel, ts, thread replies) checked against the incident's rows.
 */
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { incidentReports, notifications } from "../../db/schema/index.ts";
import { REPORT_ACTIONS } from "../../src/reports/blocks.ts";
import { escalateDue, refreshAttributed } from "../../src/reports/scan.ts";
import { startFakeSlack } from "../fakes/slack.ts";
import { jsonOf, useTestApp } from "../harness/app.ts";
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
  storeAttribution,
} from "./setup.ts";

const fake = await startFakeSlack({ botToken: BOT_TOKEN });

describe("Slack investigation reports", async () => {
  const t = await useTestApp();
  const db = t.database.db;
  beforeAll(async () => {
    await t.jobs.work();
  });
  afterAll(() => fake.close());

  /** Calls of `method` whose channel argument is one of `channels` (each test uses its own channels). */
  const callsIn = (method: string, ...channels: string[]) =>
    fake.callsOf(method).filter((c) => channels.includes(String(c.args["channel"])));
  async function waitIn(method: string, channels: string[], count = 1, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    while (callsIn(method, ...channels).length < count) {
      if (Date.now() > deadline)
        throw new Error(
          `${count} × ${method} in ${channels.join(",")} not received: ${JSON.stringify(fake.calls.map((c) => [c.method, c.args["channel"], c.error]))}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
    return callsIn(method, ...channels);
  }
  const reportOf = async (s: ReportsSetup, incidentId: string) =>
    (
      await withOrg(db, s.orgId, (tx) =>
        tx.select().from(incidentReports).where(eq(incidentReports.incidentId, incidentId)),
      )
    )[0];
  /** The report row once `check` holds: the fake answers before the delivery's transaction commits. */
  async function reportWhen(
    s: ReportsSetup,
    incidentId: string,
    check: (r: Awaited<ReturnType<typeof reportOf>>) => boolean,
  ) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await reportOf(s, incidentId);
      if (check(r) || Date.now() > deadline) return r;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  const notificationsOf = (s: ReportsSetup, incidentId: string) =>
    withOrg(db, s.orgId, (tx) =>
      tx.select().from(notifications).where(eq(notifications.incidentId, incidentId)),
    );

  it("posts the report when the incident opens, then updates the same ts and replies in its thread when attribution completes", async () => {
    const s = await setupOrg(t, fake, { defaultChannel: "C0REPORTS01" });
    const firstSeen = new Date(Date.now() - 120_000);
    await postSentry(t, s, "event_alert", eventAlert({ firstSeen }).body);
    const incident = await incidentOf(t, s);

    const [post] = await waitIn("chat.postMessage", ["C0REPORTS01"]);
    expect(post!.authorization).toBe(`Bearer ${BOT_TOKEN}`);
    const blocks = post!.args["blocks"] as Array<Record<string, unknown>>;
    const text = blockText(blocks);
    // What broke.
    expect(text).toContain(`*Incident: ${incident.title}*`);
    expect(text).toContain("*Service*\ncheckout-api");
    expect(text).toContain("*Environment*\nproduction");
    expect(text).toContain("*Status:* open");
    expect(text).toContain(`*Severity:* ${incident.severity}`);
    expect(text).toContain(`|${firstSeen.toISOString()}>`);
    expect(text).toContain("*Occurrences*\n1 in 1 anomaly");
    // The attribution job runs beside the report job: still looking, or (no repository) none found.
    expect(text).toMatch(/Looking for the change that caused this|\*Suspect:\* none found/);
    // Links: the timeline and the Sentry event the alert pointed at.
    expect(blockText([blockById(blocks, "links")!])).toMatch(
      new RegExp(`/api/v1/incidents/${incident.id}/timeline\\|Timeline>`),
    );
    expect(text).toContain("<https://acme-shop.sentry.io/issues/5123456789/events/");
    expect(String(post!.args["text"])).toContain("checkout-api");

    const report = await reportWhen(s, incident.id, (r) => r?.status === "posted");
    const posted = fake.messages.find((m) => m.channel === "C0REPORTS01" && m.threadTs === null)!;
    expect(report).toMatchObject({
      status: "posted",
      channel: "C0REPORTS01",
      ts: posted.ts,
      lastError: null,
    });

    // Attribution completes (the stage's stored result), and the worker's scan brings the report up to date.
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
          score: 0.31,
        },
      ],
      confidence: { level: "high", score: 0.82 },
      reasoning: "PR #11 last changed src/pricing/discount.ts line 31, the crash line.",
      finishedAt: new Date(),
    });
    expect(await refreshAttributed(scanDeps(t))).toContain(incident.id);

    const [update] = await waitIn("chat.update", ["C0REPORTS01"]);
    expect(update!.args["ts"]).toBe(posted.ts);
    const updated = update!.args["blocks"] as Array<Record<string, unknown>>;
    const suspect = blockText([blockById(updated, "suspect")!]);
    expect(suspect).toContain(
      "*Suspect:* <https://github.com/acme/shop/pull/11|#11 Look up discount rates by code>",
    );
    expect(suspect).toContain("by grace");
    expect(suspect).toContain("merged <!date^");
    expect(suspect).toContain("|2026-03-01T10:00:00.000Z>");
    expect(suspect).toContain("*Ticket:* PAY-7 Discount rates table (Done) · linked explicitly");
    expect(suspect).toContain("*Confidence:* high (0.82)");
    expect(blockText([blockById(updated, "reasoning")!])).toContain(
      "PR #11 last changed src/pricing/discount.ts line 31",
    );
    expect(blockText([blockById(updated, "runners_up")!])).toContain(
      "<https://github.com/acme/shop/pull/10|#10 Add loyalty points to checkout> (0.31)",
    );
    const actions = blockById(updated, "suspect_actions")!["elements"] as Array<Record<string, unknown>>;
    expect(actions.map((a) => [a["action_id"], (a["text"] as { text: string }).text, a["value"]])).toEqual([
      [REPORT_ACTIONS.confirm, "Confirm suspect", `${incident.id}:pr-11`],
      [REPORT_ACTIONS.reject, "Not this PR", `${incident.id}:pr-11`],
      [REPORT_ACTIONS.intended, "Intended change", `${incident.id}:pr-11`],
    ]);
    // The change is said in the report's thread.
    const replies = fake.messages.filter((m) => m.threadTs === posted.ts);
    expect(replies).toHaveLength(1);
    expect(replies[0]!.text).toContain(
      "Attribution finished: suspect <https://github.com/acme/shop/pull/11|#11",
    );
    expect(posted.edits).toBe(1);
    // Once per finished attribution.
    expect(await refreshAttributed(scanDeps(t))).not.toContain(incident.id);
    const kinds = (await notificationsOf(s, incident.id)).map((n) => [n.kind, n.reason, n.status]);
    expect(kinds).toEqual(
      expect.arrayContaining([
        ["post", "opened", "sent"],
        ["update", "attribution", "sent"],
        ["thread_reply", "attribution", "sent"],
      ]),
    );
  });

  it("asks for one report per incident and reason when a burst of alerts is processed in one run", async () => {
    const s = await setupOrg(t, fake, { defaultChannel: "C0REPORTS09" });
    // Three distinct errors and a repeat of the first arrive before the processor runs: one run.
    const first = eventAlert({ title: "TypeError: a" });
    for (const body of [first.body, eventAlert({ title: "TypeError: b" }).body, first.body]) {
      await postSentry(t, s, "event_alert", body, { process: false });
    }
    await postSentry(t, s, "event_alert", eventAlert({ title: "TypeError: c" }).body, { process: false });
    await t.processDeliveries();
    const incident = await incidentOf(t, s);
    // "opened" covers the anomalies that joined in the same run: one post, no update per alert.
    expect((await notificationsOf(s, incident.id)).map((n) => [n.kind, n.reason])).toEqual([
      ["post", "opened"],
    ]);
    await waitIn("chat.postMessage", ["C0REPORTS09"]);
    await reportWhen(s, incident.id, (r) => !!r?.ts);

    // A later burst of two new anomalies: one update for the run.
    await postSentry(t, s, "event_alert", eventAlert({ title: "TypeError: d" }).body, { process: false });
    await postSentry(t, s, "event_alert", eventAlert({ title: "TypeError: e" }).body, { process: false });
    await t.processDeliveries();
    const kinds = (await notificationsOf(s, incident.id)).map((n) => [n.kind, n.reason]).sort();
    expect(kinds).toEqual([
      ["post", "opened"],
      ["update", "anomaly"],
    ]);
  });

  it("a new anomaly, resolve and reopen update the same message and add a thread reply each", async () => {
    const s = await setupOrg(t, fake, { defaultChannel: "C0REPORTS02" });
    await postSentry(t, s, "event_alert", eventAlert().body);
    const incident = await incidentOf(t, s);
    await waitIn("chat.postMessage", ["C0REPORTS02"]);
    const { ts } = (await reportWhen(s, incident.id, (r) => !!r?.ts))!;

    // A second error of the same service joins the incident.
    await postSentry(t, s, "event_alert", eventAlert({ title: "RangeError: rate out of range" }).body);
    await waitIn("chat.update", ["C0REPORTS02"], 1);
    expect(blockText(callsIn("chat.update", "C0REPORTS02")[0]!.args["blocks"] as never)).toContain(
      "*Occurrences*\n2 in 2 anomalies",
    );

    const resolved = await t.request(`/api/v1/incidents/${incident.id}/resolve`, {
      method: "POST",
      apiKey: s.ownerKey,
      json: { reason: "fix_pr", prUrl: "https://github.com/acme/shop/pull/14" },
    });
    expect(resolved.status).toBe(200);
    await waitIn("chat.update", ["C0REPORTS02"], 2);
    const afterResolve = callsIn("chat.update", "C0REPORTS02")[1]!;
    expect(blockText(afterResolve.args["blocks"] as never)).toContain(
      "*Status:* :large_green_circle: resolved",
    );

    const reopened = await t.request(`/api/v1/incidents/${incident.id}/reopen`, {
      method: "POST",
      apiKey: s.ownerKey,
    });
    expect(reopened.status).toBe(200);
    await waitIn("chat.update", ["C0REPORTS02"], 3);
    const afterReopen = callsIn("chat.update", "C0REPORTS02")[2]!;
    expect(blockText(afterReopen.args["blocks"] as never)).toContain("reopened 1×");

    // Every update edited the one report; one reply per change, in order, in its thread.
    expect(callsIn("chat.update", "C0REPORTS02").map((c) => c.args["ts"])).toEqual([ts, ts, ts]);
    expect(callsIn("chat.postMessage", "C0REPORTS02").filter((c) => !c.args["thread_ts"])).toHaveLength(1);
    await waitIn("chat.postMessage", ["C0REPORTS02"], 4);
    const replies = fake.messages.filter((m) => m.channel === "C0REPORTS02" && m.threadTs === ts);
    expect(replies.map((r) => r.text)).toEqual([
      "New activity: 2 occurrences in 2 anomalies",
      ":large_green_circle: Resolved (fix_pr)",
      ":warning: Reopened",
    ]);
  });

  it("neutralises mentions, links and broadcasts in alert text", async () => {
    const s = await setupOrg(t, fake, { defaultChannel: "C0REPORTS03" });
    const title = "Boom <!channel> <@U123> <http://x|y> <#C999> @here & more";
    await postSentry(t, s, "event_alert", eventAlert({ title }).body);
    const [post] = await waitIn("chat.postMessage", ["C0REPORTS03"]);
    const blocks = post!.args["blocks"] as Array<Record<string, unknown>>;
    const text = `${blockText(blocks)}\n${String(post!.args["text"])}`;
    for (const raw of ["<!channel>", "<@U123>", "<http://x|y>", "<#C999>", "@here"])
      expect(text).not.toContain(raw);
    expect(blockText([blockById(blocks, "incident")!])).toContain(
      "Boom &lt;!channel&gt; &lt;@U123&gt; &lt;http://x|y&gt; &lt;#C999&gt; @\u2060here &amp; more",
    );
    expect(String(post!.args["text"])).toContain("&lt;!channel&gt;");
    // Slack does not auto-link plain text in verbatim mrkdwn either.
    const mrkdwn: Array<Record<string, unknown>> = [];
    const visit = (n: unknown) => {
      if (Array.isArray(n)) n.forEach(visit);
      else if (n && typeof n === "object") {
        const o = n as Record<string, unknown>;
        if (o["type"] === "mrkdwn") mrkdwn.push(o);
        Object.values(o).forEach(visit);
      }
    };
    visit(blocks);
    expect(mrkdwn.length).toBeGreaterThan(5);
    expect(mrkdwn.every((m) => m["verbatim"] === true)).toBe(true);
  });

  it("routes by service, joins a channel it is not in, and honours 429 Retry-After", async () => {
    const s = await setupOrg(t, fake, {
      defaultChannel: "C0REPORTS04",
      serviceChannels: { "checkout-api": "C0CHECKOUT4" },
    });
    fake.notInChannel.add("C0CHECKOUT4");
    fake.rateLimitNext("chat.postMessage", 2);
    await postSentry(t, s, "event_alert", eventAlert().body);
    const incident = await incidentOf(t, s);
    const calls = await waitIn("chat.postMessage", ["C0CHECKOUT4"], 3);
    // 429 → waited Retry-After → not_in_channel → conversations.join → posted.
    expect(calls.map((c) => [c.status, c.error ?? "ok"])).toEqual([
      [429, "ratelimited"],
      [200, "not_in_channel"],
      [200, "ok"],
    ]);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(2_000);
    expect(fake.callsOf("conversations.join").some((c) => c.args["channel"] === "C0CHECKOUT4")).toBe(true);
    expect(callsIn("chat.postMessage", "C0REPORTS04")).toHaveLength(0);
    expect(await reportWhen(s, incident.id, (r) => r?.status === "posted")).toMatchObject({
      status: "posted",
      channel: "C0CHECKOUT4",
    });
  });

  it("a post Slack refuses is visible on the incident and in its timeline, and is not retried", async () => {
    const s = await setupOrg(t, fake, { defaultChannel: "C0REPORTS05" });
    fake.failNext("chat.postMessage", "channel_not_found");
    await postSentry(t, s, "event_alert", eventAlert().body);
    const incident = await incidentOf(t, s);
    await waitIn("chat.postMessage", ["C0REPORTS05"]);
    // biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary JSON
    let body: any;
    const deadline = Date.now() + 10_000;
    do {
      const res = await t.request(`/api/v1/incidents/${incident.id}`, { apiKey: s.ownerKey });
      expect(res.status).toBe(200);
      body = await jsonOf(res);
      if (body.report?.status === "failed") break;
      await new Promise((r) => setTimeout(r, 100));
    } while (Date.now() < deadline);
    expect(body.report).toMatchObject({ status: "failed", lastError: "channel_not_found", ts: null });
    expect(body.report.failedDispatches).toEqual([
      expect.objectContaining({ kind: "post", reason: "opened", error: "channel_not_found", attempts: 1 }),
    ]);
    const timeline = await jsonOf(
      await t.request(`/api/v1/incidents/${incident.id}/timeline`, { apiKey: s.ownerKey }),
    );
    const slackEvent = timeline.events.find((e: { kind: string }) => e.kind === "slack.post");
    expect(slackEvent).toMatchObject({
      source: "slack",
      data: { status: "failed", error: "channel_not_found" },
    });
    // A final Slack error is not retried.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(callsIn("chat.postMessage", "C0REPORTS05")).toHaveLength(1);
  });

  it("a transient Slack failure is retried by the job and then posts", async () => {
    const s = await setupOrg(t, fake, { defaultChannel: "C0REPORTS06" });
    fake.failNext("chat.postMessage", "internal_error");
    await postSentry(t, s, "event_alert", eventAlert().body);
    const incident = await incidentOf(t, s);
    await waitIn("chat.postMessage", ["C0REPORTS06"]);
    let pending = (await notificationsOf(s, incident.id))[0]!;
    for (let i = 0; i < 50 && pending.attempts === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      pending = (await notificationsOf(s, incident.id))[0]!;
    }
    expect(pending).toMatchObject({ kind: "post", status: "pending", error: "internal_error", attempts: 1 });
    const calls = await waitIn("chat.postMessage", ["C0REPORTS06"], 2, 45_000);
    expect(calls.map((c) => c.error ?? "ok")).toEqual(["internal_error", "ok"]);
    expect(await reportWhen(s, incident.id, (r) => r?.status === "posted")).toMatchObject({
      status: "posted",
      lastError: null,
    });
    expect((await notificationsOf(s, incident.id))[0]).toMatchObject({
      status: "sent",
      attempts: 2,
      error: null,
    });
  }, 60_000);

  it("escalates an open, unacknowledged incident once after the configured time, and never an acknowledged one", async () => {
    const s = await setupOrg(t, fake, {
      defaultChannel: "C0REPORTS07",
      escalationChannel: "C0ESCALATE7",
      escalateAfterMinutes: 15,
    });
    await postSentry(t, s, "event_alert", eventAlert().body);
    const incident = await incidentOf(t, s);
    await waitIn("chat.postMessage", ["C0REPORTS07"]);
    const acked = await setupOrg(t, fake, {
      defaultChannel: "C0REPORTS08",
      escalationChannel: "C0ESCALATE8",
      escalateAfterMinutes: 15,
    });
    await postSentry(t, acked, "event_alert", eventAlert().body);
    const ackedIncident = await incidentOf(t, acked);
    await waitIn("chat.postMessage", ["C0REPORTS08"]);
    const ack = await t.request(`/api/v1/incidents/${ackedIncident.id}/acknowledge`, {
      method: "POST",
      apiKey: acked.ownerKey,
    });
    expect(ack.status).toBe(200);

    const deps = scanDeps(t);
    const minutes = (m: number) => new Date(Date.now() + m * 60_000);
    expect(await escalateDue(deps, minutes(10))).not.toContain(incident.id);
    expect(callsIn("chat.postMessage", "C0ESCALATE7")).toHaveLength(0);
    const escalated = await escalateDue(deps, minutes(16));
    expect(escalated).toContain(incident.id);
    expect(escalated).not.toContain(ackedIncident.id);
    expect(await escalateDue(deps, minutes(30))).not.toContain(incident.id);
    expect(await escalateDue(deps, minutes(60))).not.toContain(incident.id);

    const posts = callsIn("chat.postMessage", "C0ESCALATE7");
    expect(posts).toHaveLength(1);
    expect(blockText(posts[0]!.args["blocks"] as never)).toMatch(
      /\*Escalated:\* open and unacknowledged for 1[56] minutes \(first reported in C0REPORTS07\)/,
    );
    expect(callsIn("chat.postMessage", "C0ESCALATE8")).toHaveLength(0);
    const detail = await jsonOf(await t.request(`/api/v1/incidents/${incident.id}`, { apiKey: s.ownerKey }));
    expect(detail.report.escalation).toMatchObject({ status: "sent", channel: "C0ESCALATE7" });
    const escalations = (await notificationsOf(s, incident.id)).filter((n) => n.kind === "escalation");
    expect(escalations).toEqual([expect.objectContaining({ status: "sent", channel: "C0ESCALATE7" })]);
  });
});
