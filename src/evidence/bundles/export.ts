import { createHash, randomUUID } from "node:crypto";
import { and, desc, eq, sql } from "drizzle-orm";
import { type OrgTx, withOrg } from "../../../db/client.ts";
import { auditLog } from "../../../db/schema/audit-log.ts";
import { evidenceExports } from "../../../db/schema/evidence.ts";
import { orgs } from "../../../db/schema/orgs.ts";
import { type OrgContext, requireRole } from "../../context.ts";
import { ValidationError } from "../../errors.ts";
import { appendAudit, appendAuditBatch, normalizeAuditData } from "../audit.ts";
import { DbTreeStore } from "../audit-tree.ts";
import { checkpointInTx, type EvidenceDeps, publishCheckpoint, storedCheckpointAt } from "../checkpoints.ts";
import { type CanonicalEntry, canonicalEntryOf } from "../entry.ts";
import { consistencyProof } from "../merkle.ts";
import { checkpointView } from "../proofs-service.ts";
import {
  cc71Page,
  cc71Population,
  cc81ChangePage,
  cc81ChangePopulation,
  cc81DecisionPage,
  type FactsRow,
  PAGE_SIZE,
} from "./facts.ts";
import {
  BUNDLE_FORMAT,
  type BundleCheckpoint,
  type BundleRow,
  type Criterion,
  MANIFEST_ACTION,
  type ManifestData,
  POPULATION_RULES,
  ROW_ACTION,
  RowsDigest,
  summaryOf,
} from "./format.ts";
import { renderMarkdownCover, renderMarkdownRow } from "./markdown.ts";
import { BatchProver } from "./proofs.ts";

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

export interface ExportRequest {
  criterion: Criterion;
  from: Date;
  to: Date;
  redactPaths: boolean;
}

/** Everything known before the rows stream: the audit work is done and the checkpoint signed. */
export interface PreparedExport {
  exportId: string;
  criterion: Criterion;
  org: { id: string; name: string };
  period: { from: string; to: string };
  generatedAt: string;
  populationRule: string;
  redactPaths: boolean;
  summary: Record<string, unknown>;
  rowSeqs: bigint[];
  manifestSeq: bigint;
  checkpointSize: bigint;
  checkpoint: BundleCheckpoint;
  previousCheckpoint: { note: string; size: string; rootHash: string } | null;
  consistencyProof: string[] | null;
}

/** Longest period an export covers (a year plus a leap day and some slack for custom ranges). */
export const MAX_PERIOD_DAYS = 400;

/**
 * The reuse key of a row: SHA-256 of its facts exactly as built (JSON text). The facts come from code with
 * a fixed key order and from jsonb columns (which Postgres returns in one order), so unchanged facts give
 * the same key without paying for normalization and canonicalization on every export.
 */
function factsKey(criterion: Criterion, row: FactsRow): Buffer {
  return createHash("sha256")
    .update(JSON.stringify([criterion, row.subjectType, row.subjectId, row.facts]))
    .digest();
}

/**
 * Records one page of rows in the audit log: a row whose exact facts were recorded before (an earlier
 * export, nothing changed since) reuses that entry; any other gets a fresh `evidence.row` entry. Either way
 * the row is then an audit entry whose canonical bytes carry its facts, which is what the inclusion proof
 * covers.
 */
async function recordRows(
  tx: OrgTx,
  ctx: OrgContext,
  criterion: Criterion,
  page: readonly FactsRow[],
): Promise<Array<{ seq: bigint; leafHash: Uint8Array; data: Record<string, unknown> }>> {
  const hashes = page.map((r) => factsKey(criterion, r));
  const existing = new Map<string, { seq: bigint; leafHash: Uint8Array }>();
  if (hashes.length > 0) {
    const rows = await tx.execute<{ h: string; seq: string; hash: Buffer }>(sql`
      select encode(e.facts_hash, 'hex') as h, e.seq::text as seq, n.hash
      from evidence_rows e
      join audit_tree_nodes n on n.org_id = e.org_id and n.level = 0 and n.idx = e.seq
      where e.org_id = ${ctx.orgId} and e.facts_hash in (${sql.join(
        hashes.map((h) => sql`decode(${h.toString("hex")}, 'hex')`),
        sql`, `,
      )})`);
    for (const r of rows) existing.set(r.h, { seq: BigInt(r.seq), leafHash: new Uint8Array(r.hash) });
  }
  const missing = page.map((_, i) => i).filter((i) => !existing.has(hashes[i]!.toString("hex")));
  // Only new rows pay for normalization (what the log stores and hashes); reused ones are read as built.
  const datas = new Map(missing.map((i) => [i, normalizeAuditData({ criterion, facts: page[i]!.facts })]));
  const appended = await appendAuditBatch(
    tx,
    ctx,
    missing.map((i) => ({
      action: ROW_ACTION,
      subjectType: page[i]!.subjectType,
      subjectId: page[i]!.subjectId,
      data: datas.get(i)!,
    })),
  );
  const values = missing.map((i, k) => {
    existing.set(hashes[i]!.toString("hex"), appended[k]!);
    return { h: hashes[i]!.toString("hex"), s: appended[k]!.seq.toString(), id: page[i]!.subjectId };
  });
  if (values.length > 0) {
    // One JSON parameter for the page, like the audit appends: no per-row bind parameters.
    await tx.execute(sql`
      insert into evidence_rows (org_id, facts_hash, seq, criterion, subject_id)
      select ${ctx.orgId}::uuid, decode(x.h, 'hex'), x.s, ${criterion}, x.id
      from jsonb_to_recordset(${JSON.stringify(values)}::jsonb) as x(h text, s bigint, id text)
      on conflict do nothing`);
  }
  return page.map((r, i) => ({
    ...existing.get(hashes[i]!.toString("hex"))!,
    data: datas.get(i) ?? { criterion, facts: r.facts },
  }));
}

/**
 * Builds an export up to the point where only reading is left: every row recorded in the audit log, the
 * manifest entry (which is also the audit record of the export) appended, a checkpoint covering both
 * signed, and the consistency proof from the previous export's checkpoint computed.
 */
export async function prepareExport(
  deps: EvidenceDeps,
  ctx: OrgContext,
  req: ExportRequest,
): Promise<PreparedExport> {
  requireRole(ctx, "admin");
  if (req.from.getTime() > req.to.getTime()) {
    throw new ValidationError(
      [{ path: "from", message: "must not be after to" }],
      "from must not be after to",
    );
  }
  if (req.to.getTime() - req.from.getTime() > MAX_PERIOD_DAYS * 86_400_000) {
    throw new ValidationError([{ path: "to", message: `a period is at most ${MAX_PERIOD_DAYS} days` }]);
  }
  const orgId = ctx.orgId;
  const period = { from: req.from.toISOString(), to: req.to.toISOString() };
  const [org] = await withOrg(deps.db, orgId, (tx) =>
    tx.select({ id: orgs.id, name: orgs.name }).from(orgs).where(eq(orgs.id, orgId)),
  );
  const rowSeqs: bigint[] = [];
  const digest = new RowsDigest();
  const summary = summaryOf(req.criterion, period.to);
  const take = (seq: bigint, leaf: Uint8Array, entry: Pick<CanonicalEntry, "action" | "data">) => {
    rowSeqs.push(seq);
    digest.add(leaf);
    summary.add(entry as CanonicalEntry);
  };

  const population = await withOrg(deps.db, orgId, (tx) =>
    req.criterion === "cc7.1" ? cc71Population(tx, req) : cc81ChangePopulation(tx, req),
  );
  for (let i = 0; i < population.length; i += PAGE_SIZE) {
    const ids = population.slice(i, i + PAGE_SIZE);
    await withOrg(deps.db, orgId, async (tx) => {
      const page =
        req.criterion === "cc7.1"
          ? await cc71Page(tx, { ids, redactPaths: req.redactPaths })
          : await cc81ChangePage(tx, { ids, to: req.to, redactPaths: req.redactPaths });
      const recorded = await recordRows(tx, ctx, req.criterion, page);
      for (const r of recorded) take(r.seq, r.leafHash, { action: ROW_ACTION, data: r.data });
    });
  }
  if (req.criterion === "cc8.1") {
    let afterSeq: bigint | null = null;
    for (;;) {
      const after: bigint | null = afterSeq;
      const page: Array<{ seq: bigint; leafHash: Uint8Array }> = await withOrg(deps.db, orgId, (tx) =>
        cc81DecisionPage(tx, { orgId, from: req.from, to: req.to, afterSeq: after }),
      );
      if (page.length === 0) break;
      for (const d of page) take(d.seq, d.leafHash, { action: "decision", data: {} });
      afterSeq = page.at(-1)!.seq;
    }
  }

  const exportId = randomUUID();
  const summaryResult = summary.result();
  const manifest: ManifestData = {
    criterion: req.criterion,
    period,
    populationRule: POPULATION_RULES[req.criterion],
    redactPaths: req.redactPaths,
    rowCount: digest.count,
    rowsDigest: digest.digest(),
    summary: summaryResult,
    previousCheckpointSize: null,
  };
  const sealed = await withOrg(deps.db, orgId, async (tx) => {
    const [previous] = await tx
      .select()
      .from(evidenceExports)
      .where(and(eq(evidenceExports.orgId, orgId), eq(evidenceExports.criterion, req.criterion)))
      .orderBy(desc(evidenceExports.createdAt), desc(evidenceExports.manifestSeq))
      .limit(1);
    manifest.previousCheckpointSize = previous ? previous.checkpointSize.toString() : null;
    const { seq: manifestSeq } = await appendAudit(tx, ctx, {
      action: MANIFEST_ACTION,
      subjectType: "evidence_export",
      subjectId: exportId,
      data: manifest as unknown as Record<string, unknown>,
    });
    const { checkpoint, fresh } = await checkpointInTx(deps, tx, orgId);
    await tx.insert(evidenceExports).values({
      id: exportId,
      orgId,
      criterion: req.criterion,
      periodFrom: req.from,
      periodTo: req.to,
      rowCount: digest.count,
      manifestSeq,
      checkpointSize: checkpoint.size,
    });
    const prev = previous ? await storedCheckpointAt(tx, orgId, previous.checkpointSize) : null;
    const proof = prev
      ? await consistencyProof(new DbTreeStore(tx, orgId), prev.size, checkpoint.size)
      : null;
    return { manifestSeq, checkpoint, fresh, prev, proof };
  });
  if (sealed.fresh) await publishCheckpoint(deps, orgId, sealed.checkpoint);
  const view = checkpointView(sealed.checkpoint);
  return {
    exportId,
    criterion: req.criterion,
    org: { id: orgId, name: org?.name ?? "" },
    period,
    generatedAt: new Date().toISOString(),
    populationRule: POPULATION_RULES[req.criterion],
    redactPaths: req.redactPaths,
    summary: summaryResult,
    rowSeqs,
    manifestSeq: sealed.manifestSeq,
    checkpointSize: sealed.checkpoint.size,
    checkpoint: {
      note: view.note,
      origin: view.origin,
      size: view.size,
      rootHash: view.rootHash,
      keyName: view.keyName,
      keyId: view.keyId,
      vkey: deps.key.verifierKey,
    },
    previousCheckpoint: sealed.prev
      ? { note: sealed.prev.note, size: sealed.prev.size.toString(), rootHash: b64(sealed.prev.root) }
      : null,
    consistencyProof: sealed.proof ? sealed.proof.map(b64) : null,
  };
}

const STREAM_CHUNK = 1_000;

/** The rows' entries with their inclusion proofs, a chunk (one short transaction) at a time. */
async function* provenRows(
  deps: EvidenceDeps,
  prepared: PreparedExport,
  seqs: readonly bigint[],
): AsyncGenerator<BundleRow[]> {
  const prover = new BatchProver(prepared.org.id, prepared.checkpointSize);
  const load = (i: number): Promise<BundleRow[]> => {
    const chunk = seqs.slice(i, i + STREAM_CHUNK);
    return withOrg(deps.db, prepared.org.id, async (tx) => {
      const unique = [...new Set(chunk.map(String))];
      const entries = await tx
        .select()
        .from(auditLog)
        .where(
          and(
            eq(auditLog.orgId, prepared.org.id),
            sql`${auditLog.seq} in (${sql.join(
              unique.map((s) => sql`${s}::bigint`),
              sql`, `,
            )})`,
          ),
        );
      const bySeq = new Map(entries.map((e) => [e.seq.toString(), e]));
      const proofs = await prover.prove(tx, chunk);
      return chunk.map((seq, k) => {
        const entry = bySeq.get(seq.toString());
        if (!entry) throw new Error(`audit entry ${seq} vanished (internal)`);
        return {
          auditIndex: seq.toString(),
          entry: canonicalEntryOf(entry),
          inclusionProof: proofs[k]!.map(b64),
        };
      });
    });
  };
  // One chunk read ahead: the database works on the next chunk while this one is serialized and sent.
  let next = seqs.length > 0 ? load(0) : null;
  for (let i = 0; next; i += STREAM_CHUNK) {
    const current: Promise<BundleRow[]> = next;
    next = i + STREAM_CHUNK < seqs.length ? load(i + STREAM_CHUNK) : null;
    // A consumer that stops early never awaits the read-ahead; its failure must not be unhandled.
    next?.catch(() => undefined);
    yield await current;
  }
}

function bundleHead(prepared: PreparedExport) {
  return {
    format: BUNDLE_FORMAT,
    criterion: prepared.criterion,
    org: prepared.org,
    period: prepared.period,
    generatedAt: prepared.generatedAt,
    populationRule: prepared.populationRule,
    redactPaths: prepared.redactPaths,
    summary: prepared.summary,
    checkpoint: prepared.checkpoint,
    previousCheckpoint: prepared.previousCheckpoint,
    consistencyProof: prepared.consistencyProof,
  };
}

async function manifestRow(deps: EvidenceDeps, prepared: PreparedExport): Promise<BundleRow> {
  for await (const [row] of provenRows(deps, prepared, [prepared.manifestSeq])) return row!;
  throw new Error("manifest entry missing (internal)");
}

/** The bundle as JSON text, produced a chunk of rows at a time: memory stays flat whatever the period. */
export async function* bundleJson(deps: EvidenceDeps, prepared: PreparedExport): AsyncGenerator<string> {
  const head = JSON.stringify(bundleHead(prepared));
  yield `${head.slice(0, -1)},"rows":[`;
  let first = true;
  for await (const rows of provenRows(deps, prepared, prepared.rowSeqs)) {
    let text = "";
    for (const row of rows) {
      text += `${first ? "" : ","}\n${JSON.stringify(row)}`;
      first = false;
    }
    yield text;
  }
  yield `\n],"manifest":${JSON.stringify(await manifestRow(deps, prepared))}}\n`;
}

/** The auditor's reading copy: cover page, summary, integrity statement, then one section per row. */
export async function* bundleMarkdown(deps: EvidenceDeps, prepared: PreparedExport): AsyncGenerator<string> {
  const manifest = await manifestRow(deps, prepared);
  yield renderMarkdownCover(bundleHead(prepared), manifest, prepared.rowSeqs.length);
  let n = 0;
  for await (const rows of provenRows(deps, prepared, prepared.rowSeqs)) {
    let text = "";
    for (const row of rows) text += renderMarkdownRow(prepared.criterion, row, ++n);
    yield text;
  }
}
