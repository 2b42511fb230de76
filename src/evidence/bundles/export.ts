import { hash, randomUUID } from "node:crypto";
import { and, desc, eq, sql } from "drizzle-orm";
import { isUniqueViolation, type OrgTx, withOrg } from "../../../db/client.ts";
import { evidenceExports } from "../../../db/schema/evidence.ts";
import { orgs } from "../../../db/schema/orgs.ts";
import { type OrgContext, requireRole } from "../../context.ts";
import { ValidationError } from "../../errors.ts";
import { appendAudit, appendStagedAudit, type StagedBatch, stageAuditBatch } from "../audit.ts";
import { DbTreeStore } from "../audit-tree.ts";
import { checkpointInTx, type EvidenceDeps, publishCheckpoint, storedCheckpointAt } from "../checkpoints.ts";
import type { CanonicalEntry } from "../entry.ts";
import { consistencyProof, copyHash } from "../merkle.ts";
import { checkpointView } from "../proofs-service.ts";
import { EntrySpool } from "./entry-spool.ts";
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
  summaryInputOf,
  summaryOf,
} from "./format.ts";
import { renderMarkdownCover, renderMarkdownRow } from "./markdown.ts";
import { BatchProver } from "./proofs.ts";

// A view, not a copy: proofs encode hundreds of thousands of hashes.
const b64 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("base64");

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
  /** Each row's leaf hash, parallel to rowSeqs (the proofs' level-0 nodes need no database read). */
  rowLeaves: Uint8Array[];
  /** The rows' entry texts in rowSeqs order; streaming the bundle reads and closes it. */
  spool: EntrySpool;
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
function factsKey(criterion: Criterion, row: FactsRow): string {
  // Hex straight from a one-shot digest: no Hash object and no Buffer per row.
  return hash("sha256", JSON.stringify([criterion, row.subjectType, row.subjectId, row.facts]), "hex");
}

interface Recorded {
  seq: bigint;
  leafHash: Uint8Array;
  /** What the summary needs of the row (summaryInputOf), taken when it was staged. */
  summary: SummaryInput;
  /** The entry as the bundle carries it (JSON text). */
  text: string;
}

type SummaryInput = ReturnType<typeof summaryInputOf>;

interface Reused {
  seq: bigint;
  leafHash: Uint8Array;
  text: string;
}

/** An audit row's columns as entryText needs them (STORED_ENTRY_TEXT selects them from `a`). */
type StoredEntryText = {
  seq: string;
  at: string;
  actor_kind: string;
  actor_id: string;
  action: string;
  subject_type: string;
  subject_id: string | null;
  data: string;
  request_id: string | null;
};

/** `at` printed like Date#toISOString (the form the leaf hashed), data as Postgres prints the jsonb. */
const STORED_ENTRY_TEXT = sql.raw(`a.seq::text as seq,
  to_char(a.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as at, a.actor_kind, a.actor_id,
  a.action, a.subject_type, a.subject_id, a.data::text as data, a.request_id`);

const q = (value: string | null) => (value === null ? "null" : JSON.stringify(value));

/**
 * An entry as JSON text in canonicalEntryOf's field order, with `data` embedded as already-serialized
 * JSON: the bundle carries exactly the stored value without parsing and re-serializing each row's data
 * (the verifier parses it and canonicalizes, so whitespace and key order in the text do not matter).
 */
function entryText(orgJson: string, e: StoredEntryText): string {
  return (
    `{"v":1,"org":${orgJson},"seq":"${e.seq}","at":"${e.at}",` +
    `"actor":{"kind":${q(e.actor_kind)},"id":${q(e.actor_id)}},"action":${q(e.action)},` +
    `"subject":{"type":${q(e.subject_type)},"id":${q(e.subject_id)}},"data":${e.data},` +
    `"requestId":${q(e.request_id)}}`
  );
}

/** Rows staged between yields to the event loop (see stagePage). */
const STAGE_SLICE = 100;

/** A page with its reusable entries found and the new ones staged (everything but the head-locked write). */
interface StagedPage {
  subjectIds: string[];
  hashes: string[];
  existing: Map<string, Reused>;
  missing: number[];
  summaries: SummaryInput[];
  staged: StagedBatch;
}

/**
 * A row whose exact facts were recorded before (an earlier export, nothing changed since) reuses that
 * entry; any other gets a fresh `evidence.row` entry, staged here (normalized, canonicalized) outside the
 * transaction that appends it. Either way the row is then an audit entry whose canonical bytes carry its
 * facts, which is what the inclusion proof covers.
 */
async function stagePage(
  deps: EvidenceDeps,
  ctx: OrgContext,
  criterion: Criterion,
  page: readonly FactsRow[],
  reusable: boolean,
): Promise<StagedPage> {
  const hashes = page.map((r) => factsKey(criterion, r));
  const existing = new Map<string, Reused>();
  if (reusable && hashes.length > 0) {
    const rows = await withOrg(deps.db, ctx.orgId, (tx) =>
      tx.execute<StoredEntryText & { h: string; hash: Buffer }>(sql`
        select encode(e.facts_hash, 'hex') as h, n.hash, ${STORED_ENTRY_TEXT}
        from evidence_rows e
        join audit_tree_nodes n on n.org_id = e.org_id and n.level = 0 and n.idx = e.seq
        join audit_log a on a.org_id = e.org_id and a.seq = e.seq
        where e.org_id = ${ctx.orgId} and e.facts_hash in (
          select decode(unnest(string_to_array(${hashes.join(",")}, ',')), 'hex'))`),
    );
    const org = q(ctx.orgId);
    for (const r of rows) {
      existing.set(r.h, { seq: BigInt(r.seq), leafHash: copyHash(r.hash), text: entryText(org, r) });
    }
  }
  const missing = page.map((_, i) => i).filter((i) => !existing.has(hashes[i]!));
  // Reused rows are summarized from the facts as built, which are what their entries hold; new ones
  // from their data as stored. Only that reduction is kept while the page waits for its append.
  const summaries = page.map((r) =>
    summaryInputOf(criterion, { action: ROW_ACTION, data: { criterion, facts: r.facts } }),
  );
  // Staged a slice at a time, yielding in between: staging runs while the previous page's append
  // transaction is open, and that transaction's round trips (each answer handled on this thread) are the
  // export's critical path. Staging a whole page in one go held each answer up by tens of milliseconds.
  const staged: StagedBatch = { at: new Date(Math.floor(Date.now())), entries: [] };
  for (let from = 0; from < missing.length; from += STAGE_SLICE) {
    if (from > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const slice = missing.slice(from, from + STAGE_SLICE);
    const part = stageAuditBatch(
      ctx,
      slice.map((i) => ({
        action: ROW_ACTION,
        subjectType: page[i]!.subjectType,
        subjectId: page[i]!.subjectId,
        data: { criterion, facts: page[i]!.facts },
      })),
      (data, k) => {
        summaries[slice[k]!] = summaryInputOf(criterion, { action: ROW_ACTION, data });
      },
      staged.at,
    );
    for (const entry of part.entries) staged.entries.push(entry);
  }
  return { subjectIds: page.map((r) => r.subjectId), hashes, existing, missing, summaries, staged };
}

/** Appends a staged page's new entries (inside the caller's transaction); returns the page's rows. */
async function writePage(tx: OrgTx, ctx: OrgContext, p: StagedPage): Promise<Recorded[]> {
  // A page's commit need not wait for its WAL flush: the export's final transaction (manifest and
  // checkpoint) commits synchronously, which flushes the WAL up to and past every page before the
  // checkpoint covering them is signed or anything is streamed. A crash before that loses only pages of
  // an export that never completed, whole transactions at a time, so the log stays gap-free.
  // Sent along with the append's first statement rather than waited for on its own.
  const [, appended] = await Promise.all([
    tx.execute(sql`set local synchronous_commit = off`),
    appendStagedAudit(tx, ctx, p.staged),
  ]);
  const org = q(ctx.orgId);
  const at = p.staged.at.toISOString();
  const fresh = new Map<number, Recorded>();
  for (const [k, i] of p.missing.entries()) {
    const a = appended[k]!;
    const e = p.staged.entries[k]!;
    const text = entryText(org, {
      seq: a.seq.toString(),
      at,
      actor_kind: ctx.actor.kind,
      actor_id: ctx.actor.id,
      action: e.action,
      subject_type: e.subjectType,
      subject_id: e.subjectId,
      data: e.dataJson,
      request_id: ctx.requestId ?? null,
    });
    fresh.set(i, { seq: a.seq, leafHash: a.leafHash, summary: p.summaries[i]!, text });
  }
  return p.hashes.map((h, i) => fresh.get(i) ?? { ...p.existing.get(h)!, summary: p.summaries[i]! });
}

/**
 * Remembers a page's new entries as evidence rows, so the next export over unchanged facts reuses them.
 * Its own transaction after the append committed: it needs no head lock, and losing it (a crash in
 * between) only means the next export appends those rows again.
 */
async function rememberRows(
  deps: EvidenceDeps,
  ctx: OrgContext,
  criterion: Criterion,
  p: StagedPage,
  rows: readonly Recorded[],
): Promise<void> {
  if (p.missing.length === 0) return;
  // Parallel comma-separated lists zipped by unnest, like the tree nodes: no per-row bind parameters.
  // Subject ids are row uuids; a comma would shift the lists, so refuse rather than misfile.
  if (p.missing.some((i) => p.subjectIds[i]!.includes(","))) {
    throw new Error("evidence row subject id contains a comma (internal)");
  }
  const values = sql`
    select ${ctx.orgId}::uuid, decode(x.h, 'hex'), x.s, ${criterion}, x.id
    from unnest(string_to_array(${p.missing.map((i) => p.hashes[i]!).join(",")}, ','),
      string_to_array(${p.missing.map((i) => rows[i]!.seq.toString()).join(",")}, ',')::bigint[],
      string_to_array(${p.missing.map((i) => p.subjectIds[i]!).join(",")}, ',')) as x(h, s, id)`;
  await withOrg(deps.db, ctx.orgId, async (tx) => {
    await tx.execute(sql`set local synchronous_commit = off`);
    // A facts hash is already remembered only when another export recorded the same facts meanwhile, so
    // try a plain insert first (ON CONFLICT's speculative insertion about doubles the statement's cost)
    // and only on a duplicate keep the first entry remembered.
    try {
      await tx.transaction((sp) =>
        sp.execute(sql`insert into evidence_rows (org_id, facts_hash, seq, criterion, subject_id) ${values}`),
      );
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      await tx.execute(
        sql`insert into evidence_rows (org_id, facts_hash, seq, criterion, subject_id) ${values} on conflict do nothing`,
      );
    }
  });
}

/**
 * Records every row of the population in the audit log, a page at a time, as a three-stage pipeline:
 * the next page's facts are read while this one is staged (the CPU-heavy part), and a page's append
 * transaction runs while the next page is staged. Appends stay in population order, one short
 * transaction per page (the org's head row is locked only while a page is written).
 */
async function recordPopulation(
  deps: EvidenceDeps,
  ctx: OrgContext,
  req: ExportRequest,
  population: readonly string[],
  take: (rows: readonly Recorded[]) => Promise<void>,
): Promise<void> {
  const fetchPage = (i: number) => {
    const ids = population.slice(i, i + PAGE_SIZE);
    return withOrg(deps.db, ctx.orgId, (tx) =>
      req.criterion === "cc7.1"
        ? cc71Page(tx, { ids, redactPaths: req.redactPaths })
        : cc81ChangePage(tx, { ids, to: req.to, redactPaths: req.redactPaths }),
    );
  };
  const quiet = <T>(p: Promise<T>) => {
    // Awaited later; a failure meanwhile must not count as unhandled.
    p.catch(() => undefined);
    return p;
  };
  let facts = population.length > 0 ? quiet(fetchPage(0)) : null;
  // With no row of this criterion remembered yet (the org's first export of it) there is nothing to
  // reuse, so the per-page lookups are skipped. A concurrent export remembering rows meanwhile only means
  // this one appends its own entries for them, which is what it would do had it started first.
  const reusable = await withOrg(deps.db, ctx.orgId, async (tx) => {
    const [row] = await tx.execute<{ any: boolean }>(sql`
      select exists (select 1 from evidence_rows where org_id = ${ctx.orgId} and criterion = ${req.criterion}) as any`);
    return row?.any === true;
  });
  let writing: Promise<void> = Promise.resolve();
  let remembering: Promise<void> = Promise.resolve();
  let taking: Promise<void> = Promise.resolve();
  for (let i = 0; facts; i += PAGE_SIZE) {
    const page = await facts;
    facts = i + PAGE_SIZE < population.length ? quiet(fetchPage(i + PAGE_SIZE)) : null;
    const staged = await stagePage(deps, ctx, req.criterion, page, reusable);
    await writing;
    // The appends are the critical path: the next one starts as soon as this one commits. Remembering
    // the rows and handing them on (the spool write) each follow in their own chain, in page order.
    writing = quiet(
      withOrg(deps.db, ctx.orgId, (tx) => writePage(tx, ctx, staged)).then((rows) => {
        remembering = quiet(remembering.then(() => rememberRows(deps, ctx, req.criterion, staged, rows)));
        taking = quiet(taking.then(() => take(rows)));
      }),
    );
  }
  await writing;
  await taking;
  await remembering;
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
  const rowLeaves: Uint8Array[] = [];
  const digest = new RowsDigest();
  const summary = summaryOf(req.criterion, period.to);
  const take = (seq: bigint, leaf: Uint8Array, entry: Pick<CanonicalEntry, "action" | "data">) => {
    rowSeqs.push(seq);
    rowLeaves.push(leaf);
    digest.add(leaf);
    summary.add(entry);
  };

  const started = performance.now();
  const population = await withOrg(deps.db, orgId, (tx) =>
    req.criterion === "cc7.1" ? cc71Population(tx, req) : cc81ChangePopulation(tx, req),
  );
  const populated = performance.now();
  const spool = await EntrySpool.create();
  try {
    await recordPopulation(deps, ctx, req, population, async (rows) => {
      for (const r of rows) {
        rowSeqs.push(r.seq);
        rowLeaves.push(r.leafHash);
        digest.add(r.leafHash);
        summary.addInput(r.summary);
      }
      await spool.write(rows.map((r) => r.text));
    });
    if (req.criterion === "cc8.1") await recordDecisions();
    const recorded = performance.now();
    const prepared = await seal();
    // Phase timings: what an operator needs to see where a slow export spent its time.
    deps.logger.info(
      {
        orgId,
        criterion: req.criterion,
        rows: rowSeqs.length,
        populationMs: Math.round(populated - started),
        recordMs: Math.round(recorded - populated),
        sealMs: Math.round(performance.now() - recorded),
      },
      "evidence export prepared",
    );
    return prepared;
  } catch (error) {
    await spool.close();
    throw error;
  }

  async function recordDecisions() {
    let afterSeq: bigint | null = null;
    for (;;) {
      const after: bigint | null = afterSeq;
      const page: Array<{ seq: bigint; leafHash: Uint8Array }> = await withOrg(deps.db, orgId, (tx) =>
        cc81DecisionPage(tx, { orgId, from: req.from, to: req.to, afterSeq: after }),
      );
      if (page.length === 0) break;
      for (const d of page) take(d.seq, d.leafHash, { action: "decision", data: {} });
      // Decision entries are read from the log when streamed.
      await spool.write(page.map(() => ""));
      afterSeq = page.at(-1)!.seq;
    }
  }

  async function seal(): Promise<PreparedExport> {
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
      rowLeaves,
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
      spool,
    };
  }
}

const STREAM_CHUNK = 1_000;

/** A row as the bundle carries it, with its entry already JSON text (see provenRows). */
interface ProvenRow {
  auditIndex: string;
  entryJson: string;
  inclusionProof: string[];
}

/**
 * The rows' entries with their inclusion proofs, a chunk (one short transaction) at a time. Entry texts
 * come from the spool when given (chunks aligned with `seqs`); an empty spool line, or no spool, means
 * the entry is read from the log.
 */
async function* provenRows(
  deps: EvidenceDeps,
  prepared: PreparedExport,
  seqs: readonly bigint[],
  known?: { leaves: readonly Uint8Array[]; spooled: AsyncIterator<string[]> },
): AsyncGenerator<ProvenRow[]> {
  const orgId = prepared.org.id;
  const prover = new BatchProver(orgId, prepared.checkpointSize);
  const spooled = known?.spooled;
  const orgJson = q(orgId);
  const load = async (i: number): Promise<ProvenRow[]> => {
    const chunk = seqs.slice(i, i + STREAM_CHUNK);
    const texts = spooled ? ((await spooled.next()).value as string[] | undefined) : undefined;
    if (spooled && texts?.length !== chunk.length) throw new Error("export spool out of step (internal)");
    const unread = chunk.filter((_, k) => !texts?.[k]);
    return withOrg(deps.db, orgId, async (tx) => {
      const [entries, proofs] = await Promise.all([
        unread.length === 0
          ? []
          : tx.execute<StoredEntryText>(sql`
              select ${STORED_ENTRY_TEXT}
              from audit_log a
              where a.org_id = ${orgId}
                and a.seq in (select unnest(string_to_array(${unread.join(",")}, ',')::bigint[]))`),
        prover.prove(tx, chunk, new Map(known ? chunk.map((seq, k) => [seq, known.leaves[i + k]!]) : [])),
      ]);
      const bySeq = new Map(entries.map((e) => [e.seq, e]));
      return chunk.map((seq, k) => {
        let text = texts?.[k];
        if (!text) {
          const e = bySeq.get(seq.toString());
          if (!e) throw new Error(`audit entry ${seq} vanished (internal)`);
          text = entryText(orgJson, e);
        }
        return { auditIndex: seq.toString(), entryJson: text, inclusionProof: proofs[k]!.map(b64) };
      });
    });
  };
  // One chunk read ahead: the database works on the next chunk while this one is serialized and sent.
  let next = seqs.length > 0 ? load(0) : null;
  for (let i = 0; next; i += STREAM_CHUNK) {
    const current: Promise<ProvenRow[]> = next;
    // The read-ahead starts once this chunk's spool lines are taken, so the spool is read in order.
    next = i + STREAM_CHUNK < seqs.length ? current.then(() => load(i + STREAM_CHUNK)) : null;
    // A consumer that stops early never awaits the read-ahead; its failure must not be unhandled.
    next?.catch(() => undefined);
    yield await current;
  }
}

/** Base64 needs no JSON escaping, so a proof's list is joined rather than run through JSON.stringify. */
const proofJson = (proof: readonly string[]) => (proof.length === 0 ? "[]" : `["${proof.join('","')}"]`);

const rowJson = (row: ProvenRow) =>
  `{"auditIndex":"${row.auditIndex}","entry":${row.entryJson},"inclusionProof":${proofJson(row.inclusionProof)}}`;

const parsedRow = (row: ProvenRow): BundleRow => ({
  auditIndex: row.auditIndex,
  entry: JSON.parse(row.entryJson) as CanonicalEntry,
  inclusionProof: row.inclusionProof,
});

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

async function manifestRow(deps: EvidenceDeps, prepared: PreparedExport): Promise<ProvenRow> {
  for await (const [row] of provenRows(deps, prepared, [prepared.manifestSeq])) return row!;
  throw new Error("manifest entry missing (internal)");
}

/** The bundle as JSON text, produced a chunk of rows at a time: memory stays flat whatever the period. */
export async function* bundleJson(deps: EvidenceDeps, prepared: PreparedExport): AsyncGenerator<string> {
  const started = performance.now();
  try {
    const head = JSON.stringify(bundleHead(prepared));
    yield `${head.slice(0, -1)},"rows":[`;
    let first = true;
    const spooled = prepared.spool.chunks(STREAM_CHUNK);
    for await (const rows of provenRows(deps, prepared, prepared.rowSeqs, {
      leaves: prepared.rowLeaves,
      spooled,
    })) {
      // One join rather than repeated +=: the chunk goes out as one flat string, not a rope to flatten.
      yield first ? "\n" : ",\n";
      yield rows.map(rowJson).join(",\n");
      first = false;
    }
    yield `\n],"manifest":${rowJson(await manifestRow(deps, prepared))}}\n`;
    deps.logger.info(
      { exportId: prepared.exportId, streamMs: Math.round(performance.now() - started) },
      "evidence bundle streamed",
    );
  } finally {
    await prepared.spool.close();
  }
}

/** The auditor's reading copy: cover page, summary, integrity statement, then one section per row. */
export async function* bundleMarkdown(deps: EvidenceDeps, prepared: PreparedExport): AsyncGenerator<string> {
  try {
    const manifest = parsedRow(await manifestRow(deps, prepared));
    yield renderMarkdownCover(bundleHead(prepared), manifest, prepared.rowSeqs.length);
    let n = 0;
    const spooled = prepared.spool.chunks(STREAM_CHUNK);
    for await (const rows of provenRows(deps, prepared, prepared.rowSeqs, {
      leaves: prepared.rowLeaves,
      spooled,
    })) {
      let text = "";
      for (const row of rows) text += renderMarkdownRow(prepared.criterion, parsedRow(row), ++n);
      yield text;
    }
  } finally {
    await prepared.spool.close();
  }
}
