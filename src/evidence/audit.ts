import { sql } from "drizzle-orm";
import type { OrgTx } from "../../db/client.ts";
import { auditLog } from "../../db/schema/audit-log.ts";
import type { OrgContext } from "../context.ts";
import { redactDeep } from "../telemetry/redact.ts";
import { DbTreeStore, entryLeafHash } from "./audit-tree.ts";
import { CanonicalJsonError, canonicalize } from "./canonical-json.ts";
import { canonicalEntryOf } from "./entry.ts";
import { appendLeaves, leafHashOfText } from "./merkle.ts";

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

/** Stands in for the seq while an entry's canonical text is built before its seq is known. */
const SEQ_MARK = "\u0000seq";
const SEQ_MEMBER = `"seq":${JSON.stringify(SEQ_MARK)}`;

/**
 * An entry built up to everything that does not depend on its place in the log: the normalized data
 * (and its JSON text, what the insert sends) and the canonical leaf text split around the seq. Staging is
 * the CPU-heavy part of a bulk append, so the exporter stages a page while the previous one is written.
 */
export interface StagedAudit {
  action: string;
  subjectType: string;
  subjectId: string | null;
  /** `data` as JSON text (one line: JSON.stringify escapes every control character). */
  dataJson: string;
  /** `[action, subjectType, subjectId]` as JSON; the insert numbers the rows from the head. */
  fieldsJson: string;
  /** Canonical entry bytes = head ‖ decimal seq ‖ tail (UTF-8). */
  canonicalHead: string;
  canonicalTail: string;
}

export interface StagedBatch {
  at: Date;
  entries: StagedAudit[];
}

/**
 * Builds the position-independent part of each entry (see StagedAudit); no database access. A batch
 * staged in parts (to yield between them) passes one `at` to every part, so the parts join into one. `onData`
 * sees each entry's data as stored (normalized); the staged entry keeps only its text, so a batch
 * waiting for its append holds strings rather than object trees.
 */
export function stageAuditBatch(
  ctx: OrgContext,
  inputs: readonly AuditInput[],
  onData?: (data: Record<string, unknown>, index: number) => void,
  at: Date = new Date(Math.floor(Date.now())),
): StagedBatch {
  const canonicalWith = (input: AuditInput, data: Record<string, unknown>) =>
    canonicalize({ ...canonicalEntryOf(auditRowOfNormalized(ctx, input, data, 0n, at)), seq: SEQ_MARK });
  const entries = inputs.map((input, index) => {
    const redacted = redactDeep(input.data ?? {}) as Record<string, unknown>;
    const dataJson = JSON.stringify(redacted);
    // The stored value is the JSON round trip of the redacted copy (normalizeAuditData). That copy is
    // plain objects, arrays and primitives; whenever canonicalize accepts it, it holds nothing the round
    // trip would drop or reshape (undefined, functions, non-finite numbers, holes all fail), so it equals
    // its round trip and parsing dataJson back can be skipped. Only a value that fails pays for the parse.
    let data = redacted;
    let canonical: string;
    try {
      canonical = canonicalWith(input, redacted);
    } catch (error) {
      if (!(error instanceof CanonicalJsonError)) throw error;
      data = JSON.parse(dataJson) as Record<string, unknown>;
      canonical = canonicalWith(input, data);
    }
    onData?.(data, index);
    const mark = canonical.lastIndexOf(SEQ_MEMBER);
    if (mark < 0) throw new Error("seq marker missing from a canonical entry (internal)");
    return {
      action: input.action,
      subjectType: input.subjectType,
      subjectId: input.subjectId ?? null,
      dataJson,
      fieldsJson: JSON.stringify([input.action, input.subjectType, input.subjectId ?? null]),
      canonicalHead: `${canonical.slice(0, mark)}"seq":"`,
      canonicalTail: canonical.slice(mark + SEQ_MEMBER.length - 1),
    };
  });
  return { at, entries };
}

function stagedLeafHash(entry: StagedAudit, seq: bigint): Uint8Array {
  return leafHashOfText(`${entry.canonicalHead}${seq}${entry.canonicalTail}`);
}

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
  return appendStagedAudit(tx, ctx, stageAuditBatch(ctx, inputs));
}

/**
 * The in-transaction part of a bulk append: reserve the range under the head row lock, hash each leaf
 * (only the seq is new), and send the entry and tree-node inserts together (pipelined on the
 * transaction's connection) rather than one after another.
 */
export async function appendStagedAudit(
  tx: OrgTx,
  ctx: OrgContext,
  batch: StagedBatch,
): Promise<Array<{ seq: bigint; leafHash: Uint8Array }>> {
  const n = batch.entries.length;
  if (n === 0) return [];
  const rows = await tx.execute<{ start: string }>(sql`
    insert into audit_heads (org_id, size) values (${ctx.orgId}, ${n})
    on conflict (org_id) do update set size = audit_heads.size + ${n}
    returning (size - ${n})::text as start`);
  const start = BigInt(rows[0]!.start);
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < n; i += INSERT_CHUNK) {
    const chunk = batch.entries.slice(i, i + INSERT_CHUNK);
    // Two text parameters per chunk: the data values one per line (JSON text has no raw newline), each
    // parsed once into jsonb, and the small per-row fields as one JSON array. json_to_recordset with a
    // jsonb column parses every value twice and was the slowest part of a bulk append.
    const datas = chunk.map((e) => e.dataJson).join("\n");
    const fields = `[${chunk.map((e) => e.fieldsJson).join(",")}]`;
    writes.push(
      tx.execute(sql`
        insert into audit_log (org_id, seq, at, actor_kind, actor_id, action, subject_type, subject_id, data, request_id)
        select ${ctx.orgId}::uuid, ${(start + BigInt(i)).toString()}::bigint + d.n - 1,
          ${batch.at.toISOString()}::timestamptz, ${ctx.actor.kind}, ${ctx.actor.id}, f.e ->> 0, f.e ->> 1,
          f.e ->> 2, d.data::jsonb, ${ctx.requestId ?? null}::text
        from string_to_table(${datas}, E'\n') with ordinality as d(data, n)
        join json_array_elements(${fields}::json) with ordinality as f(e, n) on f.n = d.n`),
    );
  }
  const leaves = batch.entries.map((e, i) => stagedLeafHash(e, start + BigInt(i)));
  writes.push(appendLeaves(new DbTreeStore(tx, ctx.orgId), start, leaves));
  await Promise.all(writes);
  return batch.entries.map((_, i) => ({ seq: start + BigInt(i), leafHash: leaves[i]! }));
}

/**
 * The stored row of one entry. `at` has millisecond precision, the value the canonical encoding later
 * hashes; `data` is normalized (see normalizeAuditData), so the leaf hash recomputes from the row.
 */
function auditRowOf(ctx: OrgContext, input: AuditInput, seq: bigint, at: Date) {
  return auditRowOfNormalized(ctx, input, normalizeAuditData(input.data ?? {}), seq, at);
}

function auditRowOfNormalized(
  ctx: OrgContext,
  input: AuditInput,
  data: Record<string, unknown>,
  seq: bigint,
  at: Date,
) {
  return {
    orgId: ctx.orgId,
    seq,
    at,
    actorKind: ctx.actor.kind,
    actorId: ctx.actor.id,
    action: input.action,
    subjectType: input.subjectType,
    subjectId: input.subjectId ?? null,
    data,
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
