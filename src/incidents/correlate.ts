import { and, desc, eq, gte, inArray, isNull, ne, or, sql } from "drizzle-orm";
import type { OrgTx } from "../../db/client.ts";
import { type Anomaly, anomalies, type Incident, incidents } from "../../db/schema/incidents.ts";
import type { Severity, Signal } from "../../integrations/core/types.ts";
import { clipText } from "../storable-text.ts";

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
    // Two workers racing on the same new fingerprint: the loser re-reads the winner's row.
    return (
      (await createAnomaly(tx, orgId, signal, receivedAt, windowMs)) ??
      applyAlertSignal(tx, orgId, signal, receivedAt, windowMs)
    );
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
        lastActivityAt: sql`greatest(${incidents.lastActivityAt}, ${receivedAt.toISOString()}::timestamptz)`,
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

/** A firing signal's new anomaly, placed in an incident; undefined if the fingerprint exists after all. */
async function createAnomaly(
  tx: OrgTx,
  orgId: string,
  signal: Signal,
  receivedAt: Date,
  windowMs: number,
): Promise<AppliedSignal | undefined> {
  const [created] = await tx
    .insert(anomalies)
    .values({
      orgId,
      fingerprint: signal.fingerprint,
      kind: signal.kind,
      source: signal.source,
      title: clipText(signal.title, 500),
      severity: signal.severity,
      status: "open",
      service: signal.service ?? null,
      environment: signal.environment ?? null,
      release: signal.release ?? null,
      commitSha: signal.commitSha ?? null,
      errorType: signal.errorType ?? null,
      message: signal.message == null ? null : clipText(signal.message, 4000),
      frames: signal.frames.slice(0, 100),
      labels: signal.labels,
      firstSeenAt: signal.occurredAt,
      detectedAt: receivedAt,
      lastSeenAt: laterOf(signal.occurredAt, receivedAt),
    })
    .onConflictDoNothing({ target: [anomalies.orgId, anomalies.fingerprint] })
    .returning();
  if (!created) return undefined;
  const { incident, change } = await placeInIncident(tx, created, windowMs);
  await tx.update(anomalies).set({ incidentId: incident.id }).where(eq(anomalies.id, created.id));
  return {
    anomaly: { ...created, incidentId: incident.id },
    change: "created",
    incident,
    incidentChange: change,
  };
}

/**
 * applyAlertSignal for a run of signals in one transaction, with the common case folded: a firing signal
 * for an anomaly this run already holds (locked) and that is open changes only its count, last-seen,
 * severity and release, so those are kept in memory and written once per anomaly by `flush()` (with one
 * update per incident the run touched) instead of once per signal. Every other signal (first sight of a
 * fingerprint in the run, a resolve, a reopen, a new anomaly) takes applyAlertSignal's path after the
 * pending writes are flushed, so what it reads is current. The rows end as a one-by-one application
 * would leave them; `flush()` must run before the transaction commits.
 */
export class SignalFolder {
  /** Anomalies this run holds (locked), by fingerprint, with the firing signals folded and not yet written. */
  private readonly held = new Map<string, { anomaly: Anomaly; pending: number }>();
  /** The incidents of held anomalies, as they stand with what is folded; `dirty` ones are written by flush. */
  private readonly incidents = new Map<string, Incident>();
  private readonly dirty = new Set<string>();
  /** Fingerprints prefetch found no anomaly for (until their first signal here). */
  private readonly absent = new Set<string>();

  constructor(
    private readonly tx: OrgTx,
    private readonly orgId: string,
    private readonly windowMs = DEFAULT_INCIDENT_WINDOW_MS,
  ) {}

  /**
   * Locks and holds, in one read, the anomalies of the fingerprints the run is about to apply (with
   * their incidents), and notes which do not exist yet: their first signal then goes straight to
   * creation instead of looking first.
   */
  async prefetch(fingerprints: readonly string[]): Promise<void> {
    const wanted = [...new Set(fingerprints)].filter((f) => !this.held.has(f));
    if (wanted.length === 0) return;
    const rows = await this.tx
      .select()
      .from(anomalies)
      .where(and(eq(anomalies.orgId, this.orgId), inArray(anomalies.fingerprint, wanted)))
      // Locked in one order whatever order the run names them in, so two workers do not deadlock here.
      .orderBy(anomalies.fingerprint)
      .for("update");
    const incidentIds = [...new Set(rows.flatMap((r) => (r.incidentId ? [r.incidentId] : [])))];
    if (incidentIds.length > 0) {
      for (const incident of await this.tx.select().from(incidents).where(inArray(incidents.id, incidentIds)))
        this.incidents.set(incident.id, incident);
    }
    for (const anomaly of rows) this.held.set(anomaly.fingerprint, { anomaly, pending: 0 });
    for (const f of wanted) if (!this.held.has(f)) this.absent.add(f);
  }

  async apply(signal: Signal, receivedAt: Date): Promise<AppliedSignal | undefined> {
    if (this.absent.has(signal.fingerprint)) {
      // Not there when the run looked (prefetch): a recovery of it carries nothing; a firing signal creates it.
      if (signal.status === "resolved") return undefined;
      this.absent.delete(signal.fingerprint);
      await this.flush();
      const created = await createAnomaly(this.tx, this.orgId, signal, receivedAt, this.windowMs);
      if (created) return this.hold(signal.fingerprint, created);
    }
    const held = this.held.get(signal.fingerprint);
    if (held && held.anomaly.status === "open" && signal.status === "firing") {
      const a = held.anomaly;
      held.anomaly = {
        ...a,
        count: a.count + 1,
        lastSeenAt: laterOf(a.lastSeenAt, signal.occurredAt, receivedAt),
        severity: maxSeverity(a.severity, signal.severity),
        release: a.release ?? signal.release ?? null,
      };
      held.pending += 1;
      const incident = a.incidentId ? this.incidents.get(a.incidentId) : undefined;
      if (a.incidentId) this.dirty.add(a.incidentId);
      if (incident) {
        this.incidents.set(incident.id, {
          ...incident,
          lastActivityAt: laterOf(incident.lastActivityAt, receivedAt),
        });
      }
      return {
        anomaly: held.anomaly,
        change: "updated",
        incident: a.incidentId ? this.incidents.get(a.incidentId) : undefined,
        incidentChange: undefined,
      };
    }
    await this.flush();
    const applied = await applyAlertSignal(this.tx, this.orgId, signal, receivedAt, this.windowMs);
    return applied && this.hold(signal.fingerprint, applied);
  }

  /**
   * Keeps what applyAlertSignal's path left: it locked the row (select … for update, or its insert), so
   * nobody else changes it before this transaction ends and the copy held here stays the truth.
   */
  private hold(fingerprint: string, applied: AppliedSignal): AppliedSignal {
    this.held.set(fingerprint, { anomaly: applied.anomaly, pending: 0 });
    if (applied.incident) this.incidents.set(applied.incident.id, applied.incident);
    return applied;
  }

  /** Writes what apply() folded: one update per anomaly with pending signals, one per touched incident. */
  async flush(): Promise<void> {
    for (const held of this.held.values()) {
      if (held.pending === 0) continue;
      const a = held.anomaly;
      await this.tx
        .update(anomalies)
        .set({
          count: sql`${anomalies.count} + ${held.pending}`,
          lastSeenAt: a.lastSeenAt,
          severity: a.severity,
          release: a.release,
        })
        .where(eq(anomalies.id, a.id));
      held.pending = 0;
    }
    for (const incidentId of this.dirty) {
      const at = this.incidents.get(incidentId)?.lastActivityAt;
      if (!at) continue;
      await this.tx
        .update(incidents)
        .set({ lastActivityAt: sql`greatest(${incidents.lastActivityAt}, ${at.toISOString()}::timestamptz)` })
        .where(eq(incidents.id, incidentId));
    }
    this.dirty.clear();
  }
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
