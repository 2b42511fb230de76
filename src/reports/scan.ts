import { and, asc, eq, isNull, sql } from "drizzle-orm";
import { withOrg } from "../../db/client.ts";
import { incidents } from "../../db/schema/incidents.ts";
import { integrations } from "../../db/schema/integrations.ts";
import { incidentReports } from "../../db/schema/reports.ts";
import { CONFIG_SCHEMAS } from "../../integrations/core/config-schemas.ts";
import { IntervalScan } from "../jobs/interval-scan.ts";
import { requestReport } from "./deliver.ts";
import type { ReportsDeps } from "./deps.ts";

const BATCH = 200;

/**
 * Escalation: an incident still open and unacknowledged `escalateAfterMinutes` after it opened is
 * re-posted to the escalation channel, once. The claim (escalated_at set where it was null) is atomic, so
 * any number of workers may scan; the dispatch and its outcome are a notification of kind "escalation".
 */
export async function escalateDue(deps: ReportsDeps, now = new Date()): Promise<string[]> {
  // Cross-org by nature: which reports are candidates, for every org. Each claim then runs as its org.
  const candidates = await deps.db.owner
    .select({
      reportId: incidentReports.id,
      orgId: incidentReports.orgId,
      incidentId: incidentReports.incidentId,
      openedAt: incidents.openedAt,
      config: integrations.config,
    })
    .from(incidentReports)
    .innerJoin(incidents, eq(incidents.id, incidentReports.incidentId))
    .innerJoin(integrations, eq(integrations.id, incidentReports.integrationId))
    .where(
      and(
        eq(incidents.status, "open"),
        isNull(incidents.acknowledgedAt),
        isNull(incidentReports.escalatedAt),
        isNull(integrations.deletedAt),
        // Only due candidates, so a backlog of not-yet-due incidents never hides a due one.
        sql`${integrations.config} ->> 'escalationChannel' is not null`,
        sql`${incidents.openedAt} <= ${now.toISOString()}::timestamptz - make_interval(mins => coalesce((${integrations.config} ->> 'escalateAfterMinutes')::int, 30))`,
      ),
    )
    .orderBy(asc(incidents.openedAt))
    .limit(BATCH);
  const escalated: string[] = [];
  for (const c of candidates) {
    const parsed = CONFIG_SCHEMAS.slack.safeParse(c.config);
    if (!parsed.success || !parsed.data.escalationChannel) continue;
    if (now.getTime() - c.openedAt.getTime() < parsed.data.escalateAfterMinutes * 60_000) continue;
    const claimed = await withOrg(deps.db, c.orgId, (tx) =>
      tx
        .update(incidentReports)
        .set({
          escalatedAt: now,
          escalationChannel: parsed.data.escalationChannel,
          escalationStatus: "pending",
        })
        .where(and(eq(incidentReports.id, c.reportId), isNull(incidentReports.escalatedAt)))
        .returning({ id: incidentReports.id }),
    );
    if (claimed.length === 0) continue;
    await requestReport(deps, c.orgId, c.incidentId, "escalation", "escalation");
    escalated.push(c.incidentId);
  }
  return escalated;
}

/**
 * Attribution finishing after the report went out: the report is brought up to date (and the change said
 * in its thread) once per finished attribution. The attribution stage may also call `requestReport` itself
 * for immediacy; this catch-up keeps the report right whatever the order.
 */
export async function refreshAttributed(deps: ReportsDeps): Promise<string[]> {
  const rows = await deps.db.owner.execute<{ org_id: string; incident_id: string }>(sql`
    select distinct r.org_id, r.incident_id
    from incident_reports r
    join anomalies an on an.incident_id = r.incident_id
    join attributions a on a.anomaly_id = an.id
    where r.ts is not null
      and a.finished_at is not null
      and a.status in ('done', 'no_suspect', 'failed')
      and a.finished_at > r.posted_at
      and not exists (
        select 1 from notifications n
        where n.incident_id = r.incident_id and n.reason = 'attribution' and n.created_at >= a.finished_at
      )
    limit ${BATCH}`);
  const done: string[] = [];
  for (const row of rows) {
    await requestReport(deps, row.org_id, row.incident_id, "attribution");
    done.push(row.incident_id);
  }
  return done;
}

/** Runs the scans on an interval in worker processes. */
export class ReportScheduler extends IntervalScan {
  constructor(
    private readonly deps: ReportsDeps,
    intervalMs = 30_000,
  ) {
    super(intervalMs);
  }

  async tick(): Promise<void> {
    try {
      await escalateDue(this.deps);
      await refreshAttributed(this.deps);
    } catch (error) {
      this.deps.logger.error({ err: error }, "report scan failed");
    }
  }
}
