import { and, asc, eq, isNull, sql } from "drizzle-orm";
import { type OrgTx, withOrg } from "../../db/client.ts";
import { integrations } from "../../db/schema/integrations.ts";
import { incidentReports, type NotificationKind, notifications } from "../../db/schema/reports.ts";
import { CONFIG_SCHEMAS, type ProviderConfig } from "../../integrations/core/config-schemas.ts";
import { SlackApiError, type SlackClient } from "../../integrations/slack/client.ts";
import { systemContext } from "../context.ts";
import { INTEGRATION_OWNER, KIND_BY_FIELD } from "../credentials/kinds.ts";
import { IntegrationError } from "../errors.ts";
import { buildReportMessage, changeSummary } from "./blocks.ts";
import type { DeliverReportPayload, ReportsDeps } from "./deps.ts";
import { escapeMrkdwn } from "./escape.ts";
import { loadReportView } from "./view.ts";

export type SlackConfig = ProviderConfig<"slack">;

export interface SlackTarget {
  integrationId: string;
  config: SlackConfig;
}

/** The org's Slack integration (the oldest active one), with its config parsed and defaults filled. */
export async function findSlackIntegration(tx: OrgTx): Promise<SlackTarget | null> {
  const rows = await tx
    .select({ id: integrations.id, config: integrations.config })
    .from(integrations)
    .where(and(eq(integrations.provider, "slack"), isNull(integrations.deletedAt)))
    .orderBy(asc(integrations.createdAt))
    .limit(1);
  const row = rows[0];
  if (!row) return null;
  const parsed = CONFIG_SCHEMAS.slack.safeParse(row.config);
  return parsed.success ? { integrationId: row.id, config: parsed.data } : null;
}

/** Per-service routing, else the default channel. */
export function channelFor(config: SlackConfig, service: string | null): string {
  return (service && config.serviceChannels[service]) || config.defaultChannel;
}

/**
 * Records that the incident's report should be posted or updated (reason: opened, anomaly, attribution,
 * acknowledged, resolved, reopened, verdict) and queues the delivery. Does nothing when the org has no
 * Slack integration. The pending notification row is what makes a failure visible later.
 */
export async function requestReport(
  deps: ReportsDeps,
  orgId: string,
  incidentId: string,
  reason: string,
  kind: Extract<NotificationKind, "post" | "escalation"> = "post",
): Promise<string | null> {
  const notificationId = await withOrg(deps.db, orgId, async (tx) => {
    const target = await findSlackIntegration(tx);
    if (!target) return null;
    const [report] = await tx
      .select({ ts: incidentReports.ts })
      .from(incidentReports)
      .where(eq(incidentReports.incidentId, incidentId));
    const [row] = await tx
      .insert(notifications)
      .values({
        orgId,
        incidentId,
        integrationId: target.integrationId,
        kind: kind === "escalation" ? "escalation" : report?.ts ? "update" : "post",
        reason: reason.slice(0, 40),
      })
      .returning({ id: notifications.id });
    return row!.id;
  });
  if (!notificationId) return null;
  const payload = { orgId, incidentId, notificationId };
  if (deps.enqueue) {
    try {
      await deps.enqueue(payload);
    } catch (error) {
      deps.logger.error({ err: error, incidentId }, "could not queue a Slack report");
      await markNotification(deps, orgId, notificationId, {
        status: "failed",
        error: "could not queue the delivery",
      });
    }
  } else {
    await deliverReport(deps, payload, { attempt: 0 }).catch((error: unknown) =>
      deps.logger.warn({ err: error, incidentId }, "Slack report delivery failed"),
    );
  }
  return notificationId;
}

async function markNotification(
  deps: ReportsDeps,
  orgId: string,
  id: string,
  fields: { status: "failed" | "sent"; error?: string },
): Promise<void> {
  await withOrg(deps.db, orgId, (tx) =>
    tx
      .update(notifications)
      .set({ status: fields.status, error: fields.error ?? null, finishedAt: new Date() })
      .where(eq(notifications.id, id)),
  );
}

type Outcome = { ok: true } | { ok: false; error: string; retryable: boolean };

function failureOf(error: unknown): { error: string; retryable: boolean } {
  if (error instanceof SlackApiError) return { error: error.slackError, retryable: error.retryable };
  return { error: "unexpected_error", retryable: true };
}

/** Posts, or when already posted joins the channel on not_in_channel and tries once more. */
async function postJoining(
  client: SlackClient,
  message: Parameters<SlackClient["postMessage"]>[0],
): Promise<{ channel: string; ts: string }> {
  try {
    return await client.postMessage(message);
  } catch (error) {
    if (error instanceof SlackApiError && error.slackError === "not_in_channel") {
      await client.joinChannel(message.channel);
      return client.postMessage(message);
    }
    throw error;
  }
}

/**
 * One Slack dispatch (the job handler). The incident's report row is locked for the call, so two workers
 * never both post a first message; the outcome (sent, or failed with Slack's error code) is written on the
 * notification and, for the report itself, on the report row. A retryable failure throws so the job runner
 * retries; the last attempt's failure stays recorded as failed.
 */
export async function deliverReport(
  deps: ReportsDeps,
  payload: DeliverReportPayload,
  job: { attempt: number },
): Promise<void> {
  const { orgId, incidentId, notificationId } = payload;
  const outcome = await withOrg(deps.db, orgId, async (tx): Promise<Outcome> => {
    const [note] = await tx.select().from(notifications).where(eq(notifications.id, notificationId));
    if (!note || note.status === "sent") return { ok: true };
    // A failure that another attempt will retry stays pending (with its error); the last one is failed.
    const isFinal = (retryable: boolean) => !retryable || job.attempt + 1 >= deps.maxAttempts;
    const fail = async (error: string, retryable: boolean): Promise<Outcome> => {
      await tx
        .update(notifications)
        .set({
          status: isFinal(retryable) ? "failed" : "pending",
          error,
          attempts: sql`${notifications.attempts} + 1`,
          finishedAt: new Date(),
        })
        .where(eq(notifications.id, notificationId));
      return { ok: false, error, retryable };
    };
    const target = await findSlackIntegration(tx);
    if (!target) return fail("no_slack_integration", false);
    const [token] = await deps.credentials.listSecrets(tx, systemContext(orgId, "reports"), {
      ownerType: INTEGRATION_OWNER,
      ownerId: target.integrationId,
      kind: KIND_BY_FIELD.botToken,
    });
    if (!token) return fail("no_bot_token", false);
    await tx
      .insert(incidentReports)
      .values({ orgId, incidentId, integrationId: target.integrationId })
      .onConflictDoNothing();
    const [report] = await tx
      .select()
      .from(incidentReports)
      .where(eq(incidentReports.incidentId, incidentId))
      .for("update");
    const view = await loadReportView(tx, incidentId, deps.publicBaseUrl);
    if (!view || !report) return fail("incident_not_found", false);
    const client = deps.slackClient({ botToken: token.secret, apiBaseUrl: target.config.apiBaseUrl });
    const message = buildReportMessage(view);
    const now = new Date();

    if (note.kind === "escalation") {
      const channel = target.config.escalationChannel;
      if (!channel) return fail("no_escalation_channel", false);
      // Measured at the claim, which is when the scan found it overdue.
      const since = report.escalatedAt ?? now;
      const minutes = Math.round((since.getTime() - view.incident.openedAt.getTime()) / 60_000);
      try {
        const sent = await postJoining(client, {
          channel,
          text: `Escalated: ${message.text}`,
          blocks: [
            {
              type: "section",
              block_id: "escalation",
              text: {
                type: "mrkdwn",
                verbatim: true,
                text: `:rotating_light: *Escalated:* open and unacknowledged for ${minutes} minutes${report.channel ? ` (first reported in ${escapeMrkdwn(report.channel, 100)})` : ""}`,
              },
            },
            ...message.blocks,
          ],
        });
        await tx
          .update(notifications)
          .set({
            status: "sent",
            error: null,
            channel: sent.channel,
            ts: sent.ts,
            attempts: sql`${notifications.attempts} + 1`,
            finishedAt: now,
          })
          .where(eq(notifications.id, notificationId));
        await tx
          .update(incidentReports)
          .set({ escalationStatus: "sent", escalationChannel: sent.channel })
          .where(eq(incidentReports.id, report.id));
        return { ok: true };
      } catch (error) {
        const f = failureOf(error);
        await tx
          .update(incidentReports)
          .set({ escalationStatus: isFinal(f.retryable) ? "failed" : "pending" })
          .where(eq(incidentReports.id, report.id));
        return fail(f.error, f.retryable);
      }
    }

    if (!report.ts) {
      const channel = report.channel ?? channelFor(target.config, view.incident.service);
      try {
        const sent = await postJoining(client, { channel, ...message });
        await tx
          .update(incidentReports)
          .set({
            channel: sent.channel,
            ts: sent.ts,
            status: "posted",
            lastError: null,
            postedAt: now,
            updatedAt: now,
            integrationId: target.integrationId,
          })
          .where(eq(incidentReports.id, report.id));
        await tx
          .update(notifications)
          .set({
            kind: "post",
            status: "sent",
            error: null,
            channel: sent.channel,
            ts: sent.ts,
            attempts: sql`${notifications.attempts} + 1`,
            finishedAt: now,
          })
          .where(eq(notifications.id, notificationId));
        return { ok: true };
      } catch (error) {
        const f = failureOf(error);
        await tx
          .update(incidentReports)
          .set({ status: isFinal(f.retryable) ? "failed" : "pending", lastError: f.error, channel })
          .where(eq(incidentReports.id, report.id));
        return fail(f.error, f.retryable);
      }
    }

    // Already posted: the same message is updated in place and the change gets a thread reply.
    const channel = report.channel!;
    try {
      await client.updateMessage({ channel, ts: report.ts, ...message });
    } catch (error) {
      const f = failureOf(error);
      await tx.update(incidentReports).set({ lastError: f.error }).where(eq(incidentReports.id, report.id));
      return fail(f.error, f.retryable);
    }
    await tx
      .update(incidentReports)
      .set({ lastError: null, updatedAt: now, status: "posted" })
      .where(eq(incidentReports.id, report.id));
    await tx
      .update(notifications)
      .set({
        kind: "update",
        status: "sent",
        error: null,
        channel,
        ts: report.ts,
        attempts: sql`${notifications.attempts} + 1`,
        finishedAt: now,
      })
      .where(eq(notifications.id, notificationId));
    // The reply is best effort: the report itself is current; a failed reply is still recorded.
    const replyText = changeSummary(view, note.reason);
    try {
      const reply = await client.postMessage({ channel, threadTs: report.ts, text: replyText });
      await tx.insert(notifications).values({
        orgId,
        incidentId,
        integrationId: target.integrationId,
        kind: "thread_reply",
        reason: note.reason,
        channel,
        ts: reply.ts,
        status: "sent",
        attempts: 1,
        finishedAt: new Date(),
      });
    } catch (error) {
      await tx.insert(notifications).values({
        orgId,
        incidentId,
        integrationId: target.integrationId,
        kind: "thread_reply",
        reason: note.reason,
        channel,
        status: "failed",
        error: failureOf(error).error,
        attempts: 1,
        finishedAt: new Date(),
      });
    }
    return { ok: true };
  });
  if (outcome.ok) return;
  const final = !outcome.retryable || job.attempt + 1 >= deps.maxAttempts;
  deps.logger.warn({ incidentId, notificationId, error: outcome.error, final }, "Slack delivery failed");
  throw new IntegrationError(`Slack delivery failed: ${outcome.error}`, { retryable: !final });
}
