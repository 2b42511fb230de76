import { sql } from "drizzle-orm";
import type { OrgTx } from "../../db/client.ts";
import { auditLog } from "../../db/schema/audit-log.ts";
import type { OrgContext } from "../context.ts";
import { redactDeep } from "../telemetry/redact.ts";
import { DbTreeStore, entryLeafHash } from "./audit-tree.ts";
import { appendLeaves } from "./merkle.ts";

export interface AuditInput {
  action: string;
  subjectType: string;
  subjectId?: string | null;
  data?: Record<string, unknown>;
}

export interface AppendedAudit {
  seq: bigint;
  at: Date;
}

/**
 * Appends one entry to the org's audit log inside the caller's transaction, so the entry commits or
 * rolls back with the change it records. The per-org head row is locked for the append, which gives a
 * gap-free sequence (the Merkle leaf index) without serializing other orgs.
 */
export async function appendAudit(tx: OrgTx, ctx: OrgContext, input: AuditInput): Promise<AppendedAudit> {
  const rows = await tx.execute<{ seq: string }>(sql`
    insert into audit_heads (org_id, size) values (${ctx.orgId}, 1)
    on conflict (org_id) do update set size = audit_heads.size + 1
    returning size - 1 as seq`);
  const seq = BigInt(rows[0]!.seq);
  const at = new Date(Math.floor(Date.now()));
  const entry = auditRowOf(ctx, input, seq, at);
  await tx.insert(auditLog).values(entry);
  // The entry is leaf `seq` of the org's Merkle tree; the head row lock above serializes this append.
  await appendLeaves(new DbTreeStore(tx, ctx.orgId), seq, [entryLeafHash(entry)]);
  return { seq, at };
}

const INSERT_CHUNK = 5_000;

/**
 * Appends many entries at once (the evidence exporter records thousands of rows): one head update
 * reserves the whole range, the entries go in chunked multi-row inserts and the tree nodes of every new
 * leaf are written in one appendLeaves pass, so n entries cost O(n) work and O(n / chunk) statements
 * instead of 3n round trips. Returns each entry's seq and leaf hash, in input order.
 */
export async function appendAuditBatch(
  tx: OrgTx,
  ctx: OrgContext,
  inputs: readonly AuditInput[],
): Promise<Array<{ seq: bigint; leafHash: Uint8Array }>> {
  if (inputs.length === 0) return [];
  const rows = await tx.execute<{ start: string }>(sql`
    insert into audit_heads (org_id, size) values (${ctx.orgId}, ${inputs.length})
    on conflict (org_id) do update set size = audit_heads.size + ${inputs.length}
    returning (size - ${inputs.length})::text as start`);
  const start = BigInt(rows[0]!.start);
  const at = new Date(Math.floor(Date.now()));
  const entries = inputs.map((input, i) => auditRowOf(ctx, input, start + BigInt(i), at));
  for (let i = 0; i < entries.length; i += INSERT_CHUNK) {
    // One JSON parameter per chunk, unpacked by Postgres: bulk appends are bound by the database, not by
    // building thousands of bind parameters.
    const rows = JSON.stringify(
      entries
        .slice(i, i + INSERT_CHUNK)
        .map((e) => ({ ...e, seq: e.seq.toString(), at: e.at.toISOString() })),
    );
    await tx.execute(sql`
      insert into audit_log (org_id, seq, at, actor_kind, actor_id, action, subject_type, subject_id, data, request_id)
      select x."orgId", x.seq, x.at, x."actorKind", x."actorId", x.action, x."subjectType", x."subjectId", x.data,
        x."requestId"
      from jsonb_to_recordset(${rows}::jsonb) as x("orgId" uuid, seq bigint, at timestamptz, "actorKind" text,
        "actorId" text, action text, "subjectType" text, "subjectId" text, data jsonb, "requestId" text)`);
  }
  const leaves = entries.map(entryLeafHash);
  await appendLeaves(new DbTreeStore(tx, ctx.orgId), start, leaves);
  return entries.map((e, i) => ({ seq: e.seq, leafHash: leaves[i]! }));
}

/**
 * The stored row of one entry. `at` has millisecond precision, the value the canonical encoding later
 * hashes; `data` is normalized (see normalizeAuditData), so the leaf hash recomputes from the row.
 */
function auditRowOf(ctx: OrgContext, input: AuditInput, seq: bigint, at: Date) {
  return {
    orgId: ctx.orgId,
    seq,
    at,
    actorKind: ctx.actor.kind,
    actorId: ctx.actor.id,
    action: input.action,
    subjectType: input.subjectType,
    subjectId: input.subjectId ?? null,
    data: normalizeAuditData(input.data ?? {}),
    requestId: ctx.requestId ?? null,
  };
}

/**
 * Exactly what the log stores for `data`: nothing secret-shaped reaches the permanent record (defence in
 * depth), and the JSON round trip makes it exactly what jsonb gives back (no undefined, dates as strings),
 * so hashes of it recompute.
 */
export function normalizeAuditData(data: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(redactDeep(data))) as Record<string, unknown>;
}
