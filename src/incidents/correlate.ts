import { and, desc, eq, gte, isNull, ne, or, sql } from "drizzle-orm";
import type { OrgTx } from "../../db/client.ts";
import { type Anomaly, anomalies, type Incident, incidents } from "../../db/schema/incidents.ts";
import type { Severity, Signal } from "../../integrations/core/types.ts";

export const DEFAULT_INCIDENT_WINDOW_MS = 30 * 60 * 1000;

const SEVERITY_RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

export function maxSeverity(a: Severity, b: Severity): Severity {
  return SEVERITY_RANK[a] >= SEVERITY_RANK[b] ? a : b;
}

export type AnomalyChange = "created" | "updated" | "resolved" | "reopened";

export interface AppliedSignal {
  anomaly: Anomaly;
  change: AnomalyChange;
  incident: Incident | undefined;
  incidentChange: "opened" | "joined" | "resolved" | "reopened" | undefined;
}

/**
 * Folds one alert signal into its anomaly (deduplicated on org + fingerprint): the first firing signal
 * creates it and places it in an incident; later ones bump count and last-seen; a resolved signal closes
 * it (and its incident when every anomaly of the incident is closed); a firing signal after that reopens
 * it as a regression. `receivedAt` is when Causeway got the signal: the detection time.
 */
export async function applyAlertSignal(
  tx: OrgTx,
  orgId: string,
  signal: Signal,
  receivedAt: Date,
  windowMs = DEFAULT_INCIDENT_WINDOW_MS,
): Promise<AppliedSignal | undefined> {
  const [existing] = await tx
    .select()
    .from(anomalies)
    .where(and(eq(anomalies.orgId, orgId), eq(anomalies.fingerprint, signal.fingerprint)))
    .for("update");

  if (!existing) {
    // A recovery for something we never saw firing carries no anomaly of its own.
    if (signal.status === "resolved") return undefined;
    const inserted = await tx
      .insert(anomalies)
      .values({
        orgId,
        fingerprint: signal.fingerprint,
        kind: signal.kind,
        source: signal.source,
        title: signal.title.slice(0, 500),
        severity: signal.severity,
        status: "open",
        service: signal.service ?? null,
        environment: signal.environment ?? null,
        release: signal.release ?? null,
        commitSha: signal.commitSha ?? null,
        errorType: signal.errorType ?? null,
        message: signal.message?.slice(0, 4000) ?? null,
        frames: signal.frames.slice(0, 100),
        labels: signal.labels,
        firstSeenAt: signal.occurredAt,
        detectedAt: receivedAt,
        lastSeenAt: laterOf(signal.occurredAt, receivedAt),
      })
      // Two workers racing on the same new fingerprint: the loser re-reads the winner's row below.
      .onConflictDoNothing({ target: [anomalies.orgId, anomalies.fingerprint] })
      .returning();
    const created = inserted[0];
    if (!created) return applyAlertSignal(tx, orgId, signal, receivedAt, windowMs);
    const { incident, change } = await placeInIncident(tx, created, windowMs);
    const [linked] = await tx
      .update(anomalies)
      .set({ incidentId: incident.id })
      .where(eq(anomalies.id, created.id))
      .returning();
    return { anomaly: linked!, change: "created", incident, incidentChange: change };
  }

  if (signal.status === "resolved") {
    if (existing.status === "resolved")
      return { anomaly: existing, change: "updated", incident: undefined, incidentChange: undefined };
    const [resolved] = await tx
      .update(anomalies)
      .set({
        status: "resolved",
        resolvedAt: signal.occurredAt,
        lastSeenAt: laterOf(existing.lastSeenAt, receivedAt),
      })
      .where(eq(anomalies.id, existing.id))
      .returning();
    const incident = existing.incidentId
      ? await resolveIncidentIfDone(tx, existing.incidentId, signal.occurredAt)
      : undefined;
    return {
      anomaly: resolved!,
      change: "resolved",
      incident,
      incidentChange: incident?.status === "resolved" ? "resolved" : undefined,
    };
  }

  const reopening = existing.status === "resolved";
  const [updated] = await tx
    .update(anomalies)
    .set({
      count: sql`${anomalies.count} + 1`,
      lastSeenAt: laterOf(existing.lastSeenAt, signal.occurredAt, receivedAt),
      severity: maxSeverity(existing.severity, signal.severity),
      ...(reopening
        ? { status: "open" as const, resolvedAt: null, regressions: sql`${anomalies.regressions} + 1` }
        : {}),
      ...(signal.release && !existing.release ? { release: signal.release } : {}),
    })
    .where(eq(anomalies.id, existing.id))
    .returning();
  let incident: Incident | undefined;
  let incidentChange: AppliedSignal["incidentChange"];
  if (existing.incidentId) {
    const [row] = await tx
      .update(incidents)
      .set({
        lastActivityAt: receivedAt,
        ...(reopening
          ? { status: "open" as const, resolvedAt: null, reopenCount: sql`${incidents.reopenCount} + 1` }
          : {}),
      })
      .where(eq(incidents.id, existing.incidentId))
      .returning();
    incident = row;
    if (reopening && row) incidentChange = "reopened";
  }
  return { anomaly: updated!, change: reopening ? "reopened" : "updated", incident, incidentChange };
}

function laterOf(...dates: Date[]): Date {
  return new Date(Math.max(...dates.map((d) => d.getTime())));
}

/**
 * An open incident of the same service and environment active within the window, or one sharing the
 * anomaly's release, takes the anomaly; otherwise it opens a new incident.
 */
async function placeInIncident(
  tx: OrgTx,
  anomaly: Anomaly,
  windowMs: number,
): Promise<{ incident: Incident; change: "opened" | "joined" }> {
  const since = new Date(anomaly.detectedAt.getTime() - windowMs);
  const sameScope = and(
    anomaly.service === null ? isNull(incidents.service) : eq(incidents.service, anomaly.service),
    anomaly.environment === null
      ? isNull(incidents.environment)
      : eq(incidents.environment, anomaly.environment),
    gte(incidents.lastActivityAt, since),
  );
  const sameRelease = anomaly.release ? eq(incidents.release, anomaly.release) : undefined;
  const [match] = await tx
    .select()
    .from(incidents)
    .where(
      and(
        eq(incidents.orgId, anomaly.orgId),
        ne(incidents.status, "resolved"),
        sameRelease ? or(sameScope, sameRelease) : sameScope,
      ),
    )
    .orderBy(desc(incidents.lastActivityAt))
    .limit(1)
    .for("update");
  if (match) {
    const [joined] = await tx
      .update(incidents)
      .set({ lastActivityAt: anomaly.detectedAt, severity: maxSeverity(match.severity, anomaly.severity) })
      .where(eq(incidents.id, match.id))
      .returning();
    return { incident: joined!, change: "joined" };
  }
  const [opened] = await tx
    .insert(incidents)
    .values({
      orgId: anomaly.orgId,
      title: anomaly.title,
      severity: anomaly.severity,
      service: anomaly.service,
      environment: anomaly.environment,
      release: anomaly.release,
      openedAt: anomaly.detectedAt,
      lastActivityAt: anomaly.detectedAt,
    })
    .returning();
  return { incident: opened!, change: "opened" };
}

async function resolveIncidentIfDone(tx: OrgTx, incidentId: string, at: Date): Promise<Incident | undefined> {
  const [stillOpen] = await tx
    .select({ id: anomalies.id })
    .from(anomalies)
    .where(and(eq(anomalies.incidentId, incidentId), eq(anomalies.status, "open")))
    .limit(1);
  if (stillOpen) return undefined;
  const [row] = await tx
    .update(incidents)
    .set({ status: "resolved", resolvedAt: at, resolution: { kind: "signals_resolved" } })
    .where(and(eq(incidents.id, incidentId), ne(incidents.status, "resolved")))
    .returning();
  return row;
}
