import { and, eq } from "drizzle-orm";
import { withOrg } from "../../db/client.ts";
import { deliveries } from "../../db/schema/deliveries.ts";
import { incidents } from "../../db/schema/incidents.ts";
import { memberships } from "../../db/schema/memberships.ts";
import { incidentReports, notifications, type SuspectVerdict } from "../../db/schema/reports.ts";
import { users } from "../../db/schema/users.ts";
import { parseSlackInteraction, type SlackBlockActions } from "../../integrations/slack/interaction.ts";
import { hasRole, type OrgContext, systemContext } from "../context.ts";
import { INTEGRATION_OWNER, KIND_BY_FIELD } from "../credentials/kinds.ts";
import { appendAudit } from "../evidence/audit.ts";
import { resolveIncident } from "../incidents/actions.ts";
import { actionOf, type ReportAction } from "./blocks.ts";
import { findSlackIntegration, requestReport } from "./deliver.ts";
import type { ReportsDeps } from "./deps.ts";
import { loadReportView } from "./view.ts";

export type InteractionOutcome =
  | { status: "applied"; action: ReportAction; incidentId: string }
  | {
      status: "refused";
      reason: "unknown_user" | "forbidden" | "unknown_incident" | "stale_suspect";
      incidentId?: string;
    }
  | { status: "ignored"; reason: string };

const SLACK_USER = /^[UW][A-Z0-9]{2,30}$/;
const VALUE = /^([0-9a-f-]{36}):(.{1,200})$/;

const AUDIT_ACTION: Record<ReportAction, string> = {
  confirm: "incident.suspect.confirm",
  reject: "incident.suspect.reject",
  intended: "incident.suspect.intended",
};

/**
 * The ingest stage stored and verified a Slack interactivity request (signature and five-minute window);
 * this acts on it. The Slack user becomes a Causeway user through the e-mail Slack reports for them and a
 * membership in the integration's org; only admins and owners may decide about a suspect. Every decision
 * is audited in the transaction that records it; refusals are audited too and said in the report's thread.
 */
export async function handleSlackInteraction(
  deps: ReportsDeps,
  orgId: string,
  deliveryId: string,
): Promise<InteractionOutcome[]> {
  const loaded = await withOrg(deps.db, orgId, async (tx) => {
    const [row] = await tx.select().from(deliveries).where(eq(deliveries.id, deliveryId));
    if (row?.provider !== "slack") return null;
    const target = await findSlackIntegration(tx);
    if (!target || target.integrationId !== row.integrationId) return null;
    const [token] = await deps.credentials.listSecrets(tx, systemContext(orgId, "reports"), {
      ownerType: INTEGRATION_OWNER,
      ownerId: target.integrationId,
      kind: KIND_BY_FIELD.botToken,
    });
    return token ? { body: row.body, target, token: token.secret } : null;
  });
  if (!loaded) return [{ status: "ignored", reason: "not a delivery of the org's Slack integration" }];
  const parsed = parseSlackInteraction(new Uint8Array(loaded.body));
  if (!parsed.ok) return [{ status: "ignored", reason: parsed.reason }];
  const client = deps.slackClient({ botToken: loaded.token, apiBaseUrl: loaded.target.config.apiBaseUrl });
  const outcomes: InteractionOutcome[] = [];
  for (const action of parsed.interaction.actions) {
    const kind = actionOf(action.actionId);
    const match = VALUE.exec(action.value ?? "");
    if (!kind || !match) {
      outcomes.push({ status: "ignored", reason: "not a report button" });
      continue;
    }
    outcomes.push(await applyAction(deps, orgId, parsed.interaction, kind, match[1]!, match[2]!, client));
  }
  return outcomes;
}

async function userContext(
  deps: ReportsDeps,
  orgId: string,
  slackUserId: string,
  email: string | null,
): Promise<OrgContext | null> {
  if (!email) return null;
  const [member] = await withOrg(deps.db, orgId, (tx) =>
    tx
      .select({ id: users.id, email: users.email, role: memberships.role })
      .from(users)
      .innerJoin(memberships, and(eq(memberships.userId, users.id), eq(memberships.orgId, orgId)))
      .where(eq(users.email, email.toLowerCase()))
      .limit(1),
  );
  if (!member) return null;
  return {
    orgId,
    role: member.role,
    actor: { kind: "slack", id: slackUserId, userId: member.id, display: member.email },
  };
}

async function applyAction(
  deps: ReportsDeps,
  orgId: string,
  interaction: SlackBlockActions,
  kind: ReportAction,
  incidentId: string,
  candidateId: string,
  client: ReturnType<ReportsDeps["slackClient"]>,
): Promise<InteractionOutcome> {
  const slackUserId = SLACK_USER.test(interaction.user.id) ? interaction.user.id : "unknown";
  const exists = await withOrg(deps.db, orgId, async (tx) => {
    const [row] = await tx.select({ id: incidents.id }).from(incidents).where(eq(incidents.id, incidentId));
    return Boolean(row);
  });
  if (!exists) return { status: "refused", reason: "unknown_incident" };
  let email: string | null = null;
  try {
    email = slackUserId === "unknown" ? null : await client.userEmail(slackUserId);
  } catch (error) {
    deps.logger.warn({ err: error }, "Slack users.info failed");
  }
  const ctx = await userContext(deps, orgId, slackUserId, email);
  const refuse = async (
    reason: "unknown_user" | "forbidden" | "stale_suspect",
    text: string,
  ): Promise<InteractionOutcome> => {
    await withOrg(deps.db, orgId, async (tx) => {
      await appendAudit(
        tx,
        ctx ?? { ...systemContext(orgId, "slack"), actor: { kind: "slack", id: slackUserId } },
        {
          action: "incident.suspect.refused",
          subjectType: "incident",
          subjectId: incidentId,
          data: { button: kind, reason, slackUserId },
        },
      );
    });
    await replyInThread(deps, orgId, incidentId, client, text);
    return { status: "refused", reason, incidentId };
  };
  if (!ctx)
    return refuse(
      "unknown_user",
      "A button click from a Slack user who is not a member of this Causeway org was ignored.",
    );
  if (!hasRole(ctx, "admin"))
    return refuse(
      "forbidden",
      "Only Causeway admins and owners can decide about the suspect; the click was ignored.",
    );

  const applied = await withOrg(deps.db, orgId, async (tx) => {
    const view = await loadReportView(tx, incidentId, deps.publicBaseUrl);
    const suspect = view?.attribution?.suspect;
    // The buttons act on the suspect shown when clicked; an older message's click is refused.
    if (!view || !suspect || suspect.candidateId !== candidateId) return null;
    const verdict: SuspectVerdict = {
      kind: kind === "confirm" ? "confirmed" : kind === "reject" ? "rejected" : "intended",
      candidateId,
      prNumber: suspect.prNumber,
      ticketKey: suspect.ticket?.key ?? null,
      actor: { kind: "slack", id: slackUserId, display: ctx.actor.display ?? slackUserId },
      at: new Date().toISOString(),
    };
    await tx.insert(incidentReports).values({ orgId, incidentId }).onConflictDoNothing();
    const [report] = await tx
      .select()
      .from(incidentReports)
      .where(eq(incidentReports.incidentId, incidentId))
      .for("update");
    await tx
      .update(incidentReports)
      .set({
        verdict,
        ...(kind === "reject"
          ? { rejectedCandidates: [...new Set([...(report?.rejectedCandidates ?? []), candidateId])] }
          : {}),
      })
      .where(eq(incidentReports.incidentId, incidentId));
    await appendAudit(tx, ctx, {
      action: AUDIT_ACTION[kind],
      subjectType: "incident",
      subjectId: incidentId,
      data: {
        candidateId,
        prNumber: suspect.prNumber,
        ticketKey: verdict.ticketKey,
        slackUserId,
        actorDisplay: ctx.actor.display,
      },
    });
    return { ticketKey: verdict.ticketKey, status: view.incident.status };
  });
  if (!applied)
    return refuse(
      "stale_suspect",
      "That button belongs to a suspect the report no longer shows; nothing was recorded.",
    );
  // An intended change ends the incident: the behaviour was authorized by the ticket.
  if (kind === "intended" && applied.ticketKey && applied.status !== "resolved") {
    await resolveIncident({ db: deps.db }, ctx, incidentId, {
      reason: "intended_change",
      ticketKey: applied.ticketKey,
    });
  }
  await requestReport(deps, orgId, incidentId, "verdict");
  return { status: "applied", action: kind, incidentId };
}

async function replyInThread(
  deps: ReportsDeps,
  orgId: string,
  incidentId: string,
  client: ReturnType<ReportsDeps["slackClient"]>,
  text: string,
): Promise<void> {
  const report = await withOrg(deps.db, orgId, async (tx) => {
    const [row] = await tx.select().from(incidentReports).where(eq(incidentReports.incidentId, incidentId));
    return row;
  });
  if (!report?.channel || !report.ts) return;
  let outcome: { status: "sent" | "failed"; ts?: string; error?: string };
  try {
    const reply = await client.postMessage({ channel: report.channel, threadTs: report.ts, text });
    outcome = { status: "sent", ts: reply.ts };
  } catch (error) {
    outcome = {
      status: "failed",
      error: error instanceof Error ? error.message.slice(0, 200) : "unexpected_error",
    };
  }
  await withOrg(deps.db, orgId, (tx) =>
    tx.insert(notifications).values({
      orgId,
      incidentId,
      integrationId: report.integrationId,
      kind: "thread_reply",
      reason: "refused",
      channel: report.channel,
      ts: outcome.ts ?? null,
      status: outcome.status,
      error: outcome.error ?? null,
      attempts: 1,
      finishedAt: new Date(),
    }),
  );
}
