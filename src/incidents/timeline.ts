import { and, asc, eq, gte, inArray, lte, or, type SQL, sql } from "drizzle-orm";
import { type Database, withOrg } from "../../db/client.ts";
import { attributions } from "../../db/schema/attributions.ts";
import { auditLog } from "../../db/schema/audit-log.ts";
import { changes, deploys, repositories } from "../../db/schema/changes.ts";
import { anomalies, incidents, signals } from "../../db/schema/incidents.ts";
import { notifications } from "../../db/schema/reports.ts";
import type { OrgContext } from "../context.ts";
import { NotFoundError } from "../errors.ts";

export const TIMELINE_EVENT_KINDS = [
  "deploy",
  "change.merged",
  "anomaly.first_seen",
  "signal.firing",
  "signal.resolved",
  "incident.opened",
  "attribution.requested",
  "attribution.completed",
  "slack.post",
  "slack.update",
  "slack.thread_reply",
  "slack.escalation",
  "action",
  "incident.resolved",
] as const;
export type TimelineEventKind = (typeof TIMELINE_EVENT_KINDS)[number];

export interface TimelineActor {
  kind: string;
  id: string;
  display?: string;
}

export interface TimelineEvent {
  at: Date;
  kind: TimelineEventKind;
  title: string;
  /** A person or key for human actions; null for machine events (see `source`). */
  actor: TimelineActor | null;
  /** Where a machine event came from: sentry, github, attribution, slack, … */
  source: string | null;
  subject: { type: string; id: string };
  /** The API path of the object, or the vendor's URL when it lives elsewhere. */
  link: string | null;
  data: Record<string, unknown>;
}

export interface TimelineSummary {
  firstSeenAt: Date | null;
  detectedAt: Date | null;
  attributedAt: Date | null;
  acknowledgedAt: Date | null;
  resolvedAt: Date | null;
  /** first seen (per the sender) → first signal received by Causeway. */
  timeToDetectSeconds: number | null;
  /** detection → first finished attribution. */
  timeToAttributeSeconds: number | null;
  /** detection → first acknowledgement. */
  timeToAcknowledgeSeconds: number | null;
  /** detection → resolution (null while unresolved). */
  timeToResolveSeconds: number | null;
}

export interface Timeline {
  incidentId: string;
  windowHours: number;
  events: TimelineEvent[];
  summary: TimelineSummary;
  truncated: boolean;
}

/** Hard caps: the timeline is one bounded response. */
const MAX_SIGNALS = 1000;
const MAX_CONTEXT_ROWS = 200;
const MAX_AUDIT = 500;

const ORDER: Record<TimelineEventKind, number> = Object.fromEntries(
  TIMELINE_EVENT_KINDS.map((k, i) => [k, i]),
) as Record<TimelineEventKind, number>;

const seconds = (from: Date | null, to: Date | null) =>
  from && to ? Math.max(0, Math.round((to.getTime() - from.getTime()) / 1000)) : null;

function minDate(dates: Array<Date | null | undefined>): Date | null {
  let best: Date | null = null;
  for (const d of dates) if (d && (!best || d < best)) best = d;
  return best;
}

function topSuspect(suspects: unknown[]): { prNumber?: number; title?: string; candidateId?: string } | null {
  const first = suspects[0];
  if (!first || typeof first !== "object") return null;
  const s = first as Record<string, unknown>;
  return {
    ...(typeof s["prNumber"] === "number" ? { prNumber: s["prNumber"] } : {}),
    ...(typeof s["title"] === "string" ? { title: s["title"] } : {}),
    ...(typeof s["candidateId"] === "string" ? { candidateId: s["candidateId"] } : {}),
  };
}

/**
 * Every event of one incident in time order, with the deploys and merged changes of its services in the
 * `windowHours` before first-seen, and the detection / attribution / acknowledgement / resolution times.
 */
export async function getIncidentTimeline(
  db: Database,
  ctx: OrgContext,
  id: string,
  options: { windowHours?: number } = {},
): Promise<Timeline> {
  const windowHours = Math.min(Math.max(options.windowHours ?? 24, 1), 24 * 14);
  return withOrg(db, ctx.orgId, async (tx) => {
    const [incident] = await tx.select().from(incidents).where(eq(incidents.id, id));
    if (!incident) throw new NotFoundError("incident");
    const members = await tx
      .select()
      .from(anomalies)
      .where(eq(anomalies.incidentId, id))
      .orderBy(asc(anomalies.firstSeenAt))
      .limit(500);
    const anomalyIds = members.map((a) => a.id);
    const signalRows = anomalyIds.length
      ? await tx
          .select()
          .from(signals)
          .where(inArray(signals.anomalyId, anomalyIds))
          .orderBy(asc(signals.receivedAt))
          .limit(MAX_SIGNALS + 1)
      : [];
    const attributionRows = anomalyIds.length
      ? await tx.select().from(attributions).where(inArray(attributions.anomalyId, anomalyIds))
      : [];
    const firstSeenAt = minDate([...members.map((a) => a.firstSeenAt), incident.openedAt]);
    const detectedAt = minDate([...members.map((a) => a.detectedAt), ...signalRows.map((s) => s.receivedAt)]);
    const services = [
      ...new Set([incident.service, ...members.map((a) => a.service)].filter((s): s is string => !!s)),
    ];
    const windowStart = firstSeenAt ? new Date(firstSeenAt.getTime() - windowHours * 3_600_000) : null;

    const deployRows =
      services.length && firstSeenAt && windowStart
        ? await tx
            .select()
            .from(deploys)
            .where(
              and(
                inArray(deploys.service, services),
                gte(deploys.deployedAt, windowStart),
                lte(deploys.deployedAt, firstSeenAt),
              ),
            )
            .orderBy(asc(deploys.deployedAt))
            .limit(MAX_CONTEXT_ROWS)
        : [];
    const serviceMatch: SQL | undefined = or(
      ...services.map((s) => sql`${repositories.services} @> ${JSON.stringify([s])}::jsonb`),
    );
    const changeRows =
      services.length && firstSeenAt && windowStart
        ? await tx
            .select({ change: changes, repositoryName: repositories.name })
            .from(changes)
            .innerJoin(repositories, eq(repositories.id, changes.repositoryId))
            .where(
              and(
                serviceMatch,
                eq(changes.state, "merged"),
                gte(changes.mergedAt, windowStart),
                lte(changes.mergedAt, firstSeenAt),
              ),
            )
            .orderBy(asc(changes.mergedAt))
            .limit(MAX_CONTEXT_ROWS)
        : [];
    const notificationRows = await tx
      .select()
      .from(notifications)
      .where(eq(notifications.incidentId, id))
      .orderBy(asc(notifications.createdAt))
      .limit(MAX_CONTEXT_ROWS);
    const auditRows = await tx
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.subjectType, "incident"), eq(auditLog.subjectId, id)))
      .orderBy(asc(auditLog.seq))
      .limit(MAX_AUDIT);

    const events: TimelineEvent[] = [];
    for (const d of deployRows) {
      events.push({
        at: d.deployedAt,
        kind: "deploy",
        title: `Deployed ${d.version ?? d.sha.slice(0, 12)} of ${d.service} to ${d.environment}`,
        actor: null,
        source: d.source,
        subject: { type: "deploy", id: d.id },
        link: `/api/v1/deploys?service=${encodeURIComponent(d.service)}`,
        data: { service: d.service, environment: d.environment, sha: d.sha, version: d.version },
      });
    }
    for (const { change: ch, repositoryName } of changeRows) {
      events.push({
        at: ch.mergedAt!,
        kind: "change.merged",
        title: ch.prNumber ? `Merged #${ch.prNumber}: ${ch.title}` : `Committed ${ch.title}`,
        actor: null,
        source: repositoryName,
        subject: { type: "change", id: ch.id },
        link: ch.htmlUrl ?? `/api/v1/changes/${ch.id}`,
        data: {
          prNumber: ch.prNumber,
          author: ch.authorLogin ?? ch.authorName ?? ch.authorEmail,
          mergeSha: ch.mergeSha,
          api: `/api/v1/changes/${ch.id}`,
        },
      });
    }
    for (const a of members) {
      events.push({
        at: a.firstSeenAt,
        kind: "anomaly.first_seen",
        title: a.title,
        actor: null,
        source: a.source,
        subject: { type: "anomaly", id: a.id },
        link: `/api/v1/anomalies/${a.id}`,
        data: {
          service: a.service,
          environment: a.environment,
          severity: a.severity,
          detectedAt: a.detectedAt,
        },
      });
    }
    for (const s of signalRows.slice(0, MAX_SIGNALS)) {
      events.push({
        at: s.receivedAt,
        kind: s.status === "resolved" ? "signal.resolved" : "signal.firing",
        title: s.title,
        actor: null,
        source: s.source,
        subject: { type: "signal", id: s.id },
        link: `/api/v1/deliveries/${s.deliveryId}`,
        data: { anomalyId: s.anomalyId, occurredAt: s.occurredAt, severity: s.severity },
      });
    }
    events.push({
      at: incident.openedAt,
      kind: "incident.opened",
      title: incident.title,
      actor: null,
      source: "correlation",
      subject: { type: "incident", id: incident.id },
      link: `/api/v1/incidents/${incident.id}`,
      data: { severity: incident.severity, service: incident.service, environment: incident.environment },
    });
    for (const at of attributionRows) {
      events.push({
        at: at.requestedAt,
        kind: "attribution.requested",
        title: "Attribution requested",
        actor: null,
        source: "attribution",
        subject: { type: "attribution", id: at.id },
        link: `/api/v1/anomalies/${at.anomalyId}`,
        data: { anomalyId: at.anomalyId },
      });
      if (at.finishedAt) {
        const suspect = topSuspect(at.suspects);
        events.push({
          at: at.finishedAt,
          kind: "attribution.completed",
          title:
            at.status === "done" && suspect
              ? `Suspect ${suspect.prNumber ? `#${suspect.prNumber}` : (suspect.candidateId ?? "change")}${suspect.title ? `: ${suspect.title}` : ""}`
              : at.status === "failed"
                ? "Attribution failed"
                : "No suspect found",
          actor: null,
          source: "attribution",
          subject: { type: "attribution", id: at.id },
          link: `/api/v1/anomalies/${at.anomalyId}`,
          data: {
            status: at.status,
            anomalyId: at.anomalyId,
            suspect,
            confidence: at.confidence,
            ticket: at.ticket,
            ...(at.error ? { error: at.error } : {}),
          },
        });
      }
    }
    for (const n of notificationRows) {
      events.push({
        at: n.finishedAt ?? n.createdAt,
        kind: `slack.${n.kind}`,
        title: `Slack ${n.kind.replace("_", " ")} (${n.reason}): ${n.status}`,
        actor: null,
        source: "slack",
        subject: { type: "notification", id: n.id },
        // The incident carries the report's channel, ts and any failed dispatch.
        link: `/api/v1/incidents/${incident.id}`,
        data: {
          status: n.status,
          reason: n.reason,
          channel: n.channel,
          ts: n.ts,
          attempts: n.attempts,
          ...(n.error ? { error: n.error } : {}),
        },
      });
    }
    let firstAcknowledgedAt: Date | null = null;
    for (const e of auditRows) {
      if (e.action === "incident.acknowledge" && !firstAcknowledgedAt) firstAcknowledgedAt = e.at;
      events.push({
        at: e.at,
        kind: "action",
        title: e.action,
        actor: {
          kind: e.actorKind,
          id: e.actorId,
          ...(typeof e.data["actorDisplay"] === "string" ? { display: e.data["actorDisplay"] } : {}),
        },
        source: null,
        subject: { type: "audit_entry", id: String(e.seq) },
        // The audit API's window (from inclusive, to exclusive) that holds exactly this entry's action.
        link: `/api/v1/audit/entries?action=${encodeURIComponent(e.action)}&from=${e.at.toISOString()}&to=${new Date(e.at.getTime() + 1).toISOString()}`,
        data: { action: e.action, seq: String(e.seq), ...e.data },
      });
    }
    if (incident.status === "resolved" && incident.resolvedAt) {
      const resolution = incident.resolution ?? {};
      const by = resolution["by"] as TimelineActor | undefined;
      events.push({
        at: incident.resolvedAt,
        kind: "incident.resolved",
        title: `Resolved${typeof resolution["reason"] === "string" ? ` (${resolution["reason"]})` : ""}`,
        actor: by ?? null,
        source: by ? null : "signals",
        subject: { type: "incident", id: incident.id },
        link: `/api/v1/incidents/${incident.id}`,
        data: { resolution: incident.resolution },
      });
    }
    events.sort((a, b) => a.at.getTime() - b.at.getTime() || ORDER[a.kind] - ORDER[b.kind]);

    const attributedAt = minDate(
      attributionRows
        .filter((a) => a.status === "done" || a.status === "no_suspect")
        .map((a) => a.finishedAt),
    );
    const acknowledgedAt = minDate([firstAcknowledgedAt, incident.acknowledgedAt]);
    const resolvedAt = incident.status === "resolved" ? incident.resolvedAt : null;
    return {
      incidentId: incident.id,
      windowHours,
      events,
      truncated: signalRows.length > MAX_SIGNALS,
      summary: {
        firstSeenAt,
        detectedAt,
        attributedAt,
        acknowledgedAt,
        resolvedAt,
        timeToDetectSeconds: seconds(firstSeenAt, detectedAt),
        timeToAttributeSeconds: seconds(detectedAt, attributedAt),
        timeToAcknowledgeSeconds: seconds(detectedAt, acknowledgedAt),
        timeToResolveSeconds: seconds(detectedAt, resolvedAt),
      },
    };
  });
}
