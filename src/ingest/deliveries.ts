import { and, desc, eq, inArray, lt, or } from "drizzle-orm";
import { type Database, withOrg } from "../../db/client.ts";
import { type DeliveryStatus, deliveries } from "../../db/schema/deliveries.ts";
import { type OrgContext, requireRole } from "../context.ts";
import { AppError, NotFoundError } from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import { decodeCursor, pageOf } from "../http/pagination.ts";

export interface DeliverySummary {
  id: string;
  integrationId: string;
  provider: string;
  status: DeliveryStatus;
  eventType: string | null;
  reason: string | null;
  attempts: number;
  signalCount: number;
  receivedAt: Date;
  processedAt: Date | null;
}

const summaryColumns = {
  id: deliveries.id,
  integrationId: deliveries.integrationId,
  provider: deliveries.provider,
  status: deliveries.status,
  eventType: deliveries.eventType,
  reason: deliveries.reason,
  attempts: deliveries.attempts,
  signalCount: deliveries.signalCount,
  receivedAt: deliveries.receivedAt,
  processedAt: deliveries.processedAt,
};

export async function listDeliveries(
  db: Database,
  ctx: OrgContext,
  filters: { status?: DeliveryStatus; provider?: string; cursor?: string; limit: number },
) {
  const cursor = decodeCursor(filters.cursor);
  const rows = await withOrg(db, ctx.orgId, (tx) =>
    tx
      .select(summaryColumns)
      .from(deliveries)
      .where(
        and(
          filters.status ? eq(deliveries.status, filters.status) : undefined,
          filters.provider ? eq(deliveries.provider, filters.provider) : undefined,
          cursor
            ? or(
                lt(deliveries.receivedAt, cursor.at),
                and(eq(deliveries.receivedAt, cursor.at), lt(deliveries.id, cursor.id)),
              )
            : undefined,
        ),
      )
      .orderBy(desc(deliveries.receivedAt), desc(deliveries.id))
      .limit(filters.limit + 1),
  );
  return pageOf(rows, filters.limit, (d) => ({ at: d.receivedAt, id: d.id }));
}

/**
 * Puts dead or ignored deliveries back in the queue (after a normalizer fix). Processed ones are refused:
 * replaying them would count their signals twice.
 */
export async function replayDeliveries(
  db: Database,
  ctx: OrgContext,
  selector: { ids: string[] } | { status: "dead" | "ignored" },
): Promise<string[]> {
  requireRole(ctx, "admin");
  return withOrg(db, ctx.orgId, async (tx) => {
    const where =
      "ids" in selector ? inArray(deliveries.id, selector.ids) : eq(deliveries.status, selector.status);
    const found = await tx
      .select({ id: deliveries.id, status: deliveries.status })
      .from(deliveries)
      .where(where)
      .for("update");
    if ("ids" in selector) {
      if (found.length < selector.ids.length) throw new NotFoundError("delivery");
      const processed = found.find((d) => d.status === "processed" || d.status === "received");
      if (processed) {
        throw new AppError("conflict", {
          detail: `delivery ${processed.id} is ${processed.status}; only dead or ignored deliveries can be replayed`,
        });
      }
    }
    const ids = found.filter((d) => d.status === "dead" || d.status === "ignored").map((d) => d.id);
    if (ids.length === 0) return [];
    await tx.update(deliveries).set({ status: "received", reason: null }).where(inArray(deliveries.id, ids));
    await appendAudit(tx, ctx, {
      action: "delivery.replayed",
      subjectType: "delivery",
      subjectId: ids.length === 1 ? ids[0] : null,
      data: { count: ids.length, ids: ids.slice(0, 100) },
    });
    return ids;
  });
}
