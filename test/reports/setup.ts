/**
 * Shared set-up of the reports tests: an org with a Sentry integration (alerts in) and a Slack
 * integration pointed at the fake Slack Web API (reports out), signed Sentry alerts, Slack-signed
 * interaction callbacks, and a ReportsDeps for driving the scans the workers run on a timer.
 */
import { createHmac, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import pino from "pino";
import { expect } from "vitest";
import { withOrg } from "../../db/client.ts";
import { anomalies, attributions, incidents } from "../../db/schema/index.ts";
import { createSlackClient } from "../../integrations/slack/client.ts";
import { parseMasterKeys } from "../../src/credentials/keyring.ts";
import { CredentialStore } from "../../src/credentials/store.ts";
import type { ReportsDeps } from "../../src/reports/deps.ts";
import type { FakeSlack } from "../fakes/slack.ts";
import { jsonOf, type TestApp } from "../harness/app.ts";
import { makeOrg } from "../harness/factories.ts";

const fixture = (name: string) =>
  readFileSync(new URL(`../../integrations/sentry/fixtures/${name}`, import.meta.url), "utf8");
const hmacHex = (secret: string, body: string) => createHmac("sha256", secret).update(body).digest("hex");

export const BOT_TOKEN = `xoxb-${randomBytes(12).toString("hex")}`;
export const PUBLIC_BASE = "https://causeway.example.test";

export interface ReportsSetup {
  orgId: string;
  ownerKey: string;
  sentrySecret: string;
  sentryId: string;
  slackId: string;
  signingSecret: string;
}

export async function setupOrg(
  t: TestApp,
  fake: FakeSlack,
  slackConfig: Record<string, unknown> = {},
): Promise<ReportsSetup> {
  const owner = await makeOrg(t.database.db);
  const sentrySecret = randomBytes(24).toString("hex");
  const sentry = await t.request("/api/v1/integrations", {
    method: "POST",
    apiKey: owner.apiKey,
    json: { provider: "sentry", name: "Sentry", secrets: { webhookSecret: sentrySecret } },
  });
  expect(sentry.status).toBe(201);
  const signingSecret = randomBytes(16).toString("hex");
  const slack = await t.request("/api/v1/integrations", {
    method: "POST",
    apiKey: owner.apiKey,
    json: {
      provider: "slack",
      name: "Slack",
      config: { apiBaseUrl: fake.apiBaseUrl, defaultChannel: "C0INCIDENT1", ...slackConfig },
      secrets: { webhookSecret: signingSecret, botToken: BOT_TOKEN },
    },
  });
  expect(slack.status, await slack.clone().text()).toBe(201);
  return {
    orgId: owner.org.id,
    ownerKey: owner.apiKey,
    sentrySecret,
    sentryId: (await jsonOf(sentry)).id,
    slackId: (await jsonOf(slack)).id,
    signingSecret,
  };
}

export interface AlertOptions {
  title?: string;
  firstSeen?: Date;
  issueId?: string;
}

/** A Sentry event alert (the fixture) with its own issue id, title and first-seen time. */
export function eventAlert(options: AlertOptions = {}): { body: string; issueId: string } {
  const payload = JSON.parse(fixture("event-alert-triggered.json"));
  const event = payload.data.event;
  const issueId = options.issueId ?? String(Math.floor(Math.random() * 1e9));
  event.issue_id = issueId;
  if (options.title) event.title = options.title;
  if (options.firstSeen) {
    event.datetime = options.firstSeen.toISOString();
    event.timestamp = options.firstSeen.getTime() / 1000;
  }
  return { body: JSON.stringify(payload), issueId };
}

/** Sentry's issue-resolved webhook for the same issue id (closes the anomaly and so the incident). */
export function issueResolved(issueId: string): string {
  const payload = JSON.parse(fixture("issue-resolved.json"));
  payload.data.issue.id = issueId;
  return JSON.stringify(payload);
}

/** Posts a signed Sentry webhook and (unless `process: false`) runs the delivery processor after it. */
export async function postSentry(
  t: TestApp,
  s: ReportsSetup,
  resource: string,
  body: string,
  options: { process?: boolean } = {},
): Promise<void> {
  const res = await t.request(`/webhooks/sentry/${s.sentryId}`, {
    method: "POST",
    body,
    headers: {
      "content-type": "application/json",
      "sentry-hook-resource": resource,
      "sentry-hook-signature": hmacHex(s.sentrySecret, body),
      "sentry-hook-timestamp": String(Math.floor(Date.now() / 1000)),
      "request-id": `req-${randomBytes(4).toString("hex")}`,
    },
  });
  expect(res.status).toBe(202);
  if (options.process !== false) await t.processDeliveries();
}

/** The org's only incident (tests make one per org unless they say otherwise). */
export async function incidentOf(t: TestApp, s: ReportsSetup) {
  const rows = await withOrg(t.database.db, s.orgId, (tx) => tx.select().from(incidents));
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

/** Waits until the real attribution job has finished with the anomaly (no repository: no_suspect). */
export async function settledAttribution(t: TestApp, s: ReportsSetup, incidentId: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const rows = await withOrg(t.database.db, s.orgId, (tx) =>
      tx
        .select({ a: attributions })
        .from(attributions)
        .innerJoin(anomalies, eq(anomalies.id, attributions.anomalyId))
        .where(eq(anomalies.incidentId, incidentId)),
    );
    const a = rows[0]?.a;
    if (a?.finishedAt && !["pending", "running"].includes(a.status)) return a;
    if (Date.now() > deadline) throw new Error(`attribution did not settle: ${JSON.stringify(a)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface SuspectInput {
  candidateId: string;
  prNumber: number;
  title: string;
  login: string;
  mergedAt: string;
  score: number;
  ticket?: { key: string; summary: string; status: string | null; linkSource: "explicit" | "inferred" };
}

/** Stores an attribution result in the shape the attribution stage writes (StoredSuspect). */
export async function storeAttribution(
  t: TestApp,
  s: ReportsSetup,
  attributionId: string,
  input: {
    suspects: SuspectInput[];
    confidence: { level: "high" | "medium" | "low"; score: number };
    reasoning: string;
    finishedAt: Date;
  },
): Promise<void> {
  const suspects = input.suspects.map((x, i) => ({
    rank: i + 1,
    changeId: null,
    candidateId: x.candidateId,
    prNumber: x.prNumber,
    title: x.title,
    author: { login: x.login },
    mergedAt: x.mergedAt,
    mergeSha: null,
    htmlUrl: `https://github.com/acme/shop/pull/${x.prNumber}`,
    score: x.score,
    facts: [],
    ticket: x.ticket ?? null,
  }));
  await withOrg(t.database.db, s.orgId, (tx) =>
    tx
      .update(attributions)
      .set({
        status: "done",
        suspects,
        ticket: suspects[0]?.ticket ?? null,
        confidence: input.confidence,
        reasoning: input.reasoning,
        reasoningSource: "deterministic",
        finishedAt: input.finishedAt,
      })
      .where(eq(attributions.id, attributionId)),
  );
}

/** The deps the worker's report scans run with; without `enqueue`, deliveries run inline. */
export function scanDeps(t: TestApp): ReportsDeps {
  return {
    db: t.database.db,
    logger: pino({ level: "silent" }),
    credentials: new CredentialStore(parseMasterKeys(t.keys.masterKeys)),
    publicBaseUrl: PUBLIC_BASE,
    slackClient: createSlackClient,
    maxAttempts: 1,
  };
}

/** A Slack interactivity request for one button, signed like Slack signs it. */
export function slackInteraction(
  s: ReportsSetup,
  input: { userId: string; actionId: string; value: string; messageTs?: string; channel?: string },
  options: { timestamp?: number; secret?: string } = {},
): { body: string; headers: Record<string, string> } {
  const payload = {
    type: "block_actions",
    user: { id: input.userId, username: "someone", name: "someone", team_id: "T0FAKE" },
    team: { id: "T0FAKE", domain: "acme" },
    api_app_id: "A0FAKE",
    container: {
      type: "message",
      message_ts: input.messageTs ?? "1.000001",
      channel_id: input.channel ?? "C0INCIDENT1",
    },
    channel: { id: input.channel ?? "C0INCIDENT1", name: "incidents" },
    trigger_id: "1.2.3",
    response_url: "https://hooks.slack.com/actions/T0FAKE/1/abc",
    actions: [
      {
        action_id: input.actionId,
        block_id: "suspect_actions",
        value: input.value,
        type: "button",
        action_ts: "2.1",
      },
    ],
  };
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const signature = `v0=${hmacHex(options.secret ?? s.signingSecret, `v0:${timestamp}:${body}`)}`;
  return {
    body,
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-slack-request-timestamp": timestamp,
      "x-slack-signature": signature,
    },
  };
}

/** All text of a Block Kit message (section text, fields, context elements), for content assertions. */
export function blockText(blocks: Array<Record<string, unknown>>): string {
  const out: string[] = [];
  const visit = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === "object") {
      const o = node as Record<string, unknown>;
      if (typeof o["text"] === "string") out.push(o["text"]);
      for (const [k, v] of Object.entries(o)) if (k !== "text" || typeof v !== "string") visit(v);
    }
  };
  visit(blocks);
  return out.join("\n");
}

export function blockById(
  blocks: Array<Record<string, unknown>>,
  id: string,
): Record<string, unknown> | undefined {
  return blocks.find((b) => b["block_id"] === id);
}
