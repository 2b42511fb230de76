import { and, desc, eq, gte, lt } from "drizzle-orm";
import { type Database, withOrg } from "../../db/client.ts";
import { auditLog } from "../../db/schema/index.ts";
import { type OrgContext, requireRole } from "../context.ts";
import { AppError } from "../errors.ts";

export interface AuditEntryView {
  seq: string;
  at: Date;
  actor: { kind: string; id: string };
  action: string;
  subject: { type: string; id: string | null };
  data: Record<string, unknown>;
  requestId: string | null;
}

export interface AuditQuery {
  action?: string;
  from?: Date;
  to?: Date;
  limit: number;
  /** From a previous page's nextCursor. */
  cursor?: string;
}

/** The cursor is the last seq of the page (entries go newest first), opaque to clients. */
export function encodeAuditCursor(seq: bigint): string {
  return Buffer.from(`seq:${seq}`).toString("base64url");
}

export function decodeAuditCursor(cursor: string): bigint {
  const match = /^seq:(\d{1,19})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  // seq is a Postgres bigint: 19 digits can still be past its maximum.
  if (!match || BigInt(match[1]!) > 9_223_372_036_854_775_807n) {
    throw new AppError("validation_failed", {
      detail: "invalid cursor",
      errors: [{ path: "cursor", message: "not a cursor returned by this API" }],
    });
  }
  return BigInt(match[1]!);
}

/** The org's audit trail, newest first, for owners and admins. `from` is inclusive, `to` exclusive. */
export async function listAuditEntries(
  deps: { db: Database },
  ctx: OrgContext,
  query: AuditQuery,
): Promise<{ items: AuditEntryView[]; nextCursor: string | null }> {
  requireRole(ctx, "admin");
  const before = query.cursor ? decodeAuditCursor(query.cursor) : undefined;
  const rows = await withOrg(deps.db, ctx.orgId, (tx) =>
    tx
      .select()
      .from(auditLog)
      .where(
        and(
          query.action ? eq(auditLog.action, query.action) : undefined,
          query.from ? gte(auditLog.at, query.from) : undefined,
          query.to ? lt(auditLog.at, query.to) : undefined,
          before !== undefined ? lt(auditLog.seq, before) : undefined,
        ),
      )
      .orderBy(desc(auditLog.seq))
      .limit(query.limit + 1),
  );
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: page.map((r) => ({
      seq: r.seq.toString(),
      at: r.at,
      actor: { kind: r.actorKind, id: r.actorId },
      action: r.action,
      subject: { type: r.subjectType, id: r.subjectId },
      data: r.data,
      requestId: r.requestId,
    })),
    nextCursor: rows.length > query.limit && last ? encodeAuditCursor(last.seq) : null,
  };
}
