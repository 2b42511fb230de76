import { and, desc, eq, exists, gte, lt, lte, notExists, or, type SQL, sql } from "drizzle-orm";
import { type Database, withOrg } from "../../db/client.ts";
import { attributions } from "../../db/schema/attributions.ts";
import {
  type Anomaly,
  anomalies,
  type Incident,
  incidents,
  type SignalRow,
  signals,
} from "../../db/schema/incidents.ts";
import type { OrgContext } from "../context.ts";
import { NotFoundError } from "../errors.ts";
import { type Cursor, decodeCursor, pageOf } from "../http/pagination.ts";

export interface AnomalyFilters {
  status?: "open" | "resolved";
  service?: string;
  source?: string;
  from?: Date;
  to?: Date;
  cursor?: string;
  limit: number;
}

function before(
  column: typeof anomalies.detectedAt | typeof incidents.openedAt,
  idColumn: typeof anomalies.id,
  cursor: Cursor | undefined,
): SQL | undefined {
  if (!cursor) return undefined;
  return or(lt(column, cursor.at), and(eq(column, cursor.at), lt(idColumn, cursor.id)));
}

export async function listAnomalies(db: Database, ctx: OrgContext, filters: AnomalyFilters) {
  const cursor = decodeCursor(filters.cursor);
  const rows = await withOrg(db, ctx.orgId, (tx) =>
    tx
      .select()
      .from(anomalies)
      .where(
        and(
          filters.status ? eq(anomalies.status, filters.status) : undefined,
          filters.service ? eq(anomalies.service, filters.service) : undefined,
          filters.source ? eq(anomalies.source, filters.source) : undefined,
          filters.from ? gte(anomalies.detectedAt, filters.from) : undefined,
          filters.to ? lte(anomalies.detectedAt, filters.to) : undefined,
          before(anomalies.detectedAt, anomalies.id, cursor),
        ),
      )
      .orderBy(desc(anomalies.detectedAt), desc(anomalies.id))
      .limit(filters.limit + 1),
  );
  return pageOf(rows, filters.limit, (a) => ({ at: a.detectedAt, id: a.id }));
}

/** Loads an anomaly of the caller's org; another org's id is "not found", never "forbidden". */
export async function getAnomalyInOrg(
  db: Database,
  ctx: OrgContext,
  id: string,
): Promise<{ anomaly: Anomaly; signals: SignalRow[] }> {
  return withOrg(db, ctx.orgId, async (tx) => {
    const [anomaly] = await tx.select().from(anomalies).where(eq(anomalies.id, id));
    if (!anomaly) throw new NotFoundError("anomaly");
    const rows = await tx
      .select()
      .from(signals)
      .where(eq(signals.anomalyId, id))
      .orderBy(desc(signals.occurredAt))
      .limit(200);
    return { anomaly, signals: rows };
  });
}

export interface IncidentFilters {
  status?: "open" | "acknowledged" | "resolved";
  service?: string;
  environment?: string;
  severity?: string;
  from?: Date;
  to?: Date;
  /** true: an anomaly of the incident has a finished attribution with a suspect; false: none has. */
  hasSuspect?: boolean;
  cursor?: string;
  limit: number;
}

export async function listIncidents(db: Database, ctx: OrgContext, filters: IncidentFilters) {
  const cursor = decodeCursor(filters.cursor);
  const withSuspect = sql`(select 1 from ${anomalies} an join ${attributions} a on a.anomaly_id = an.id
    where an.incident_id = ${incidents.id} and a.status = 'done' and jsonb_array_length(a.suspects) > 0)`;
  const rows = await withOrg(db, ctx.orgId, (tx) =>
    tx
      .select()
      .from(incidents)
      .where(
        and(
          filters.status ? eq(incidents.status, filters.status) : undefined,
          filters.service ? eq(incidents.service, filters.service) : undefined,
          filters.environment ? eq(incidents.environment, filters.environment) : undefined,
          filters.severity ? eq(incidents.severity, filters.severity as Incident["severity"]) : undefined,
          filters.from ? gte(incidents.openedAt, filters.from) : undefined,
          filters.to ? lte(incidents.openedAt, filters.to) : undefined,
          filters.hasSuspect === undefined
            ? undefined
            : filters.hasSuspect
              ? exists(withSuspect)
              : notExists(withSuspect),
          cursor
            ? or(
                lt(incidents.openedAt, cursor.at),
                and(eq(incidents.openedAt, cursor.at), lt(incidents.id, cursor.id)),
              )
            : undefined,
        ),
      )
      .orderBy(desc(incidents.openedAt), desc(incidents.id))
      .limit(filters.limit + 1),
  );
  return pageOf(rows, filters.limit, (i) => ({ at: i.openedAt, id: i.id }));
}

export async function getIncidentInOrg(
  db: Database,
  ctx: OrgContext,
  id: string,
): Promise<{ incident: Incident; anomalies: Anomaly[] }> {
  return withOrg(db, ctx.orgId, async (tx) => {
    const [incident] = await tx.select().from(incidents).where(eq(incidents.id, id));
    if (!incident) throw new NotFoundError("incident");
    const members = await tx
      .select()
      .from(anomalies)
      .where(eq(anomalies.incidentId, id))
      .orderBy(anomalies.detectedAt)
      .limit(500);
    return { incident, anomalies: members };
  });
}
