/**
 * Attribution's service functions for transports: queueing a new anomaly (the delivery processor's
 * `onCommitted` hook), the admin retry, and reading the stored result.
 */
import { and, eq } from "drizzle-orm";
import type { Logger } from "pino";
import { type Database, type OrgTx, withOrg } from "../../db/client.ts";
import { type Attribution, attributions } from "../../db/schema/attributions.ts";
import { anomalies } from "../../db/schema/incidents.ts";
import { type OrgContext, requireRole } from "../context.ts";
import { NotFoundError } from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import type { ProcessOutcome } from "../ingest/process-deliveries.ts";

/** Puts anomalies of one org on the attribution queue (the composition root binds it to the job runner). */
export type EnqueueAttribution = (orgId: string, anomalyIds: readonly string[]) => Promise<void>;

const ATTRIBUTED_KINDS = new Set(["error", "metric", "log"]);

/**
 * The delivery processor's hook: each anomaly created by the committed run of deliveries gets a pending
 * attribution row and a job (all of the run's rows in one statement, all its jobs in one insert).
 * Failures are logged, never thrown: ingest has already committed.
 */
export function attributionOnCommitted(db: Database, enqueue: EnqueueAttribution, logger: Logger) {
  return async (orgId: string, outcomes: readonly ProcessOutcome[]): Promise<void> => {
    const anomalyIds = outcomes.flatMap((o) =>
      o.applied
        .filter((a) => a.change === "created" && ATTRIBUTED_KINDS.has(a.anomaly.kind))
        .map((a) => a.anomaly.id),
    );
    if (anomalyIds.length === 0) return;
    try {
      await withOrg(db, orgId, (tx) =>
        tx
          .insert(attributions)
          .values(anomalyIds.map((anomalyId) => ({ orgId, anomalyId, status: "pending" as const })))
          .onConflictDoNothing({ target: attributions.anomalyId }),
      );
      await enqueue(orgId, anomalyIds);
    } catch (error) {
      logger.error({ err: error, orgId, anomalyIds }, "queueing attribution failed");
    }
  };
}

/** Re-runs attribution of an anomaly (admin): the row goes back to pending and a job is queued. */
export async function retryAttribution(
  db: Database,
  enqueue: EnqueueAttribution,
  ctx: OrgContext,
  anomalyId: string,
): Promise<Attribution> {
  requireRole(ctx, "admin");
  const row = await withOrg(db, ctx.orgId, async (tx) => {
    const [anomaly] = await tx
      .select({ id: anomalies.id })
      .from(anomalies)
      .where(and(eq(anomalies.orgId, ctx.orgId), eq(anomalies.id, anomalyId)));
    if (!anomaly) throw new NotFoundError("anomaly");
    const [saved] = await tx
      .insert(attributions)
      .values({ orgId: ctx.orgId, anomalyId, status: "pending" })
      .onConflictDoUpdate({
        target: attributions.anomalyId,
        set: { status: "pending", requestedAt: new Date(), error: null },
      })
      .returning();
    await appendAudit(tx, ctx, {
      action: "attribution.retry_requested",
      subjectType: "anomaly",
      subjectId: anomalyId,
      data: { attributionId: saved!.id },
    });
    return saved!;
  });
  await enqueue(ctx.orgId, [anomalyId]);
  return row;
}

/** The stored attribution of an anomaly, in the caller's org transaction. */
export async function readAttribution(
  tx: OrgTx,
  orgId: string,
  anomalyId: string,
): Promise<Attribution | null> {
  const [row] = await tx
    .select()
    .from(attributions)
    .where(and(eq(attributions.orgId, orgId), eq(attributions.anomalyId, anomalyId)));
  return row ?? null;
}

export async function getAttribution(
  db: Database,
  ctx: OrgContext,
  anomalyId: string,
): Promise<Attribution | null> {
  return withOrg(db, ctx.orgId, (tx) => readAttribution(tx, ctx.orgId, anomalyId));
}
