import { canonicalize, canonicalizeToBytes } from "../canonical-json.ts";
import { CheckpointError, openCheckpoint } from "../checkpoint.ts";
import type { CanonicalEntry } from "../entry.ts";
import { leafHash, verifyConsistency, verifyInclusion } from "../merkle.ts";
import { readBundleHead, readBundleRows } from "./bundle-reader.ts";
import {
  BUNDLE_FORMAT,
  type BundleRow,
  CRITERIA,
  type Criterion,
  DECISION_ACTION_PATTERN,
  MANIFEST_ACTION,
  POPULATION_RULES,
  ROW_ACTION,
  RowsDigest,
  summaryOf,
} from "./format.ts";

/**
 * The offline verifier behind `causeway verify`: no database, no network. It trusts nothing in the bundle
 * but the checkpoint's signature under a key the auditor pinned (or, without --key, the key the bundle
 * names, which the report says).
 */

export class BundleVerificationError extends Error {
  constructor(
    /** What failed: "checkpoint", "row 12 (audit index 345)", "manifest", "consistency proof", "bundle". */
    readonly where: string,
    message: string,
  ) {
    super(`${where}: ${message}`);
    this.name = "BundleVerificationError";
  }
}

export interface VerificationReport {
  criterion: Criterion;
  org: string;
  period: { from: string; to: string };
  rows: number;
  treeSize: string;
  rootHash: string;
  keyId: string;
  /** True when the key came from --key, false when the bundle's own key was used. */
  keyPinned: boolean;
  consistency: { fromSize: string } | null;
  summary: Record<string, unknown>;
}

const b64 = (s: unknown, where: string): Uint8Array => {
  if (typeof s !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
    throw new BundleVerificationError(where, "not a base64 string");
  }
  return new Uint8Array(Buffer.from(s, "base64"));
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function uint(s: unknown, where: string): bigint {
  if (typeof s !== "string" || !/^(0|[1-9][0-9]{0,19})$/.test(s)) {
    throw new BundleVerificationError(where, "not a decimal tree index");
  }
  return BigInt(s);
}

const decisionPattern = new RegExp(DECISION_ACTION_PATTERN);

function checkRow(
  row: unknown,
  where: string,
  ctx: { org: string; size: bigint; root: Uint8Array },
): { index: bigint; entry: CanonicalEntry; leaf: Uint8Array } {
  if (!isObject(row) || !isObject(row.entry) || !Array.isArray(row.inclusionProof)) {
    throw new BundleVerificationError(where, "not a row (auditIndex, entry, inclusionProof)");
  }
  const index = uint(row.auditIndex, where);
  const entry = row.entry as unknown as CanonicalEntry;
  if (entry.seq !== row.auditIndex)
    throw new BundleVerificationError(where, "entry seq differs from its audit index");
  if (entry.org !== ctx.org) throw new BundleVerificationError(where, "entry belongs to another org");
  let leaf: Uint8Array;
  try {
    leaf = leafHash(canonicalizeToBytes(entry));
  } catch {
    throw new BundleVerificationError(where, "entry is not canonicalizable JSON");
  }
  const proof = row.inclusionProof.map((h, i) => b64(h, `${where} proof[${i}]`));
  if (!verifyInclusion(leaf, index, ctx.size, proof, ctx.root)) {
    throw new BundleVerificationError(
      where,
      `inclusion proof does not verify against the checkpoint (tree size ${ctx.size}): the entry was altered or the proof is wrong`,
    );
  }
  return { index, entry, leaf };
}

/** The sort key a row must follow under the population rule (null for CC8.1 decision rows). */
function orderKey(criterion: Criterion, entry: CanonicalEntry): string | null {
  const facts = (entry.data.facts ?? {}) as Record<string, unknown>;
  if (criterion === "cc7.1") return `${String(facts.detectedAt)}|${String(entry.subject.id)}`;
  if (entry.action !== ROW_ACTION) return null;
  return `${String(facts.orderAt)}|${String(entry.subject.id)}`;
}

/**
 * Verifies a bundle held in memory (tests, the API's own checks). `causeway verify` streams the file
 * instead (bundle-reader.ts) and feeds the same BundleVerifier one row at a time.
 */
export function verifyBundle(input: unknown, options: { keys?: readonly string[] } = {}): VerificationReport {
  const verifier = new BundleVerifier(input, options);
  for (const row of (input as { rows: unknown[] }).rows) verifier.row(row);
  return verifier.finish((input as { manifest?: unknown }).manifest);
}

/**
 * Verifies a bundle file in bounded memory: a first pass reads everything but the rows, a second feeds
 * the rows to the verifier one at a time. Throws BundleSyntaxError when the file is not bundle JSON.
 */
export async function verifyBundleFile(
  path: string,
  options: { keys?: readonly string[] } = {},
): Promise<VerificationReport> {
  const head = await readBundleHead(path);
  const verifier = new BundleVerifier(
    { ...head.members, rows: head.rowsIsArray ? [] : head.members.rows },
    options,
  );
  const fileHash = await readBundleRows(path, (text) => {
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch {
      row = undefined; // reported by row() as "not a row", naming its position
    }
    verifier.row(row);
  });
  if (fileHash !== head.fileHash) {
    throw new BundleVerificationError("bundle", "the file changed while it was being verified");
  }
  return verifier.finish(head.members.manifest);
}

/**
 * The checks in the order they run: the bundle's head and checkpoint (constructor), each row in bundle
 * order (row), then the manifest and the consistency proof (finish). Holds per row only its audit index,
 * so a bundle of any size verifies in bounded memory when its rows are streamed in.
 */
export class BundleVerifier {
  readonly #bundle: Record<string, unknown>;
  readonly #criterion: Criterion;
  readonly #org: string;
  readonly #period: { from: string; to: string };
  readonly #keys: string[];
  readonly #keyPinned: boolean;
  readonly #ctx: { org: string; size: bigint; root: Uint8Array };
  readonly #digest = new RowsDigest();
  readonly #summary: ReturnType<typeof summaryOf>;
  #rows = 0;
  #lastKey: string | null = null;
  #lastDecision = -1n;
  #maxIndex = -1n;

  /**
   * `input` is the bundle; only the fields other than `rows` and `manifest` are read here (a streaming
   * caller passes the head with `rows: []` standing for the array it will feed row by row).
   */
  constructor(input: unknown, options: { keys?: readonly string[] } = {}) {
    if (!isObject(input) || input.format !== BUNDLE_FORMAT) {
      throw new BundleVerificationError("bundle", `not a ${BUNDLE_FORMAT} bundle`);
    }
    const bundle = input;
    const criterion = bundle.criterion as Criterion;
    if (!CRITERIA.includes(criterion)) throw new BundleVerificationError("bundle", "unknown criterion");
    const org = isObject(bundle.org) ? String(bundle.org.id) : "";
    const period = bundle.period as { from: string; to: string };
    if (!isObject(period) || typeof period.from !== "string" || typeof period.to !== "string") {
      throw new BundleVerificationError("bundle", "no period");
    }
    if (!Array.isArray(bundle.rows)) throw new BundleVerificationError("bundle", "no rows array");
    if (bundle.populationRule !== POPULATION_RULES[criterion]) {
      throw new BundleVerificationError("bundle", "the population rule is not the one for this criterion");
    }

    // 1. The checkpoint: signature under the pinned key, bound to this org's log.
    const cp = bundle.checkpoint as Record<string, unknown>;
    if (!isObject(cp) || typeof cp.note !== "string")
      throw new BundleVerificationError("checkpoint", "missing");
    const keyPinned = Boolean(options.keys?.length);
    const keys = keyPinned ? [...options.keys!] : typeof cp.vkey === "string" ? [cp.vkey] : [];
    let opened: ReturnType<typeof openCheckpoint>;
    try {
      opened = openCheckpoint(cp.note, keys, { origin: `causeway/${org}` });
    } catch (error) {
      const reason = error instanceof CheckpointError ? error.message : String(error);
      throw new BundleVerificationError("checkpoint", `signature or format does not verify (${reason})`);
    }
    const size = opened.size;
    const root = opened.rootHash;
    if (cp.size !== size.toString() || cp.rootHash !== Buffer.from(root).toString("base64")) {
      throw new BundleVerificationError("checkpoint", "size or root hash fields differ from the signed note");
    }
    this.#bundle = bundle;
    this.#criterion = criterion;
    this.#org = org;
    this.#period = period;
    this.#keys = keys;
    this.#keyPinned = keyPinned;
    this.#ctx = { org, size, root };
    this.#summary = summaryOf(criterion, period.to);
  }

  /** 2. One row, in bundle order: its entry is in the signed tree and it follows the population rule's order. */
  row(raw: unknown): void {
    const criterion = this.#criterion;
    const period = this.#period;
    this.#rows += 1;
    const where = `row ${this.#rows}${isObject(raw) && typeof raw.auditIndex === "string" ? ` (audit index ${raw.auditIndex})` : ""}`;
    const { index, entry, leaf } = checkRow(raw as BundleRow, where, this.#ctx);
    if (entry.action === ROW_ACTION) {
      if (entry.data.criterion !== criterion)
        throw new BundleVerificationError(where, "row of another criterion");
      if (criterion === "cc8.1" && this.#lastDecision >= 0n) {
        throw new BundleVerificationError(where, "change row after the decision rows: rows were reordered");
      }
      const key = orderKey(criterion, entry)!;
      if (this.#lastKey !== null && key < this.#lastKey) {
        throw new BundleVerificationError(where, "out of the population rule's order: rows were reordered");
      }
      this.#lastKey = key;
      if (criterion === "cc7.1") {
        const at = String((entry.data.facts as Record<string, unknown>)?.detectedAt);
        if (at < period.from || at > period.to)
          throw new BundleVerificationError(where, "detected outside the period");
      }
    } else if (
      criterion === "cc8.1" &&
      decisionPattern.test(entry.action) &&
      !entry.action.startsWith("evidence.")
    ) {
      if (index <= this.#lastDecision) {
        throw new BundleVerificationError(where, "decision rows out of audit order: rows were reordered");
      }
      if (entry.at < period.from || entry.at > period.to) {
        throw new BundleVerificationError(where, "decision outside the period");
      }
      this.#lastDecision = index;
    } else {
      throw new BundleVerificationError(where, `entry action ${entry.action} is not an evidence row`);
    }
    if (index > this.#maxIndex) this.#maxIndex = index;
    this.#digest.add(leaf);
    this.#summary.add(entry);
  }

  /** 3 and 4: the manifest commits to exactly the rows fed, and the log only grew since the previous export. */
  finish(manifest: unknown): VerificationReport {
    const bundle = this.#bundle;
    const criterion = this.#criterion;
    const period = this.#period;
    const keys = this.#keys;
    const { org, size, root } = this.#ctx;
    const rowCount = this.#rows;

    // 3. The manifest: in the tree after the rows, committing to exactly these rows in this order.
    const m = checkRow(manifest, "manifest", this.#ctx);
    if (m.entry.action !== MANIFEST_ACTION)
      throw new BundleVerificationError("manifest", "not an export manifest");
    const data = m.entry.data as Record<string, unknown>;
    if (data.criterion !== criterion || canonicalize(data.period) !== canonicalize(period)) {
      throw new BundleVerificationError("manifest", "criterion or period differs from the bundle's");
    }
    if (data.populationRule !== bundle.populationRule || data.redactPaths !== bundle.redactPaths) {
      throw new BundleVerificationError("manifest", "population rule or redaction differs from the bundle's");
    }
    if (data.rowCount !== rowCount) {
      throw new BundleVerificationError(
        "manifest",
        `the export recorded ${String(data.rowCount)} rows, the bundle has ${rowCount}: rows were dropped or added`,
      );
    }
    if (data.rowsDigest !== this.#digest.digest()) {
      throw new BundleVerificationError("manifest", "rows digest differs: rows were reordered or replaced");
    }
    const recomputed = this.#summary.result();
    if (
      canonicalize(data.summary) !== canonicalize(recomputed) ||
      canonicalize(bundle.summary) !== canonicalize(recomputed)
    ) {
      throw new BundleVerificationError("manifest", "the summary does not match the rows");
    }
    if (this.#maxIndex >= m.index) {
      throw new BundleVerificationError("manifest", "a row was recorded after the manifest");
    }

    // 4. Consistency with the previous export's checkpoint: the log only grew in between.
    let consistency: VerificationReport["consistency"] = null;
    const prev = bundle.previousCheckpoint as Record<string, unknown> | null | undefined;
    if (prev) {
      if (!isObject(prev) || typeof prev.note !== "string" || !Array.isArray(bundle.consistencyProof)) {
        throw new BundleVerificationError("consistency proof", "previous checkpoint without a proof");
      }
      let before: ReturnType<typeof openCheckpoint>;
      try {
        before = openCheckpoint(prev.note, keys, { origin: `causeway/${org}` });
      } catch (error) {
        throw new BundleVerificationError(
          "consistency proof",
          `previous checkpoint does not verify (${String(error)})`,
        );
      }
      if (data.previousCheckpointSize !== before.size.toString()) {
        throw new BundleVerificationError(
          "consistency proof",
          "previous checkpoint is not the one the manifest names",
        );
      }
      const proof = (bundle.consistencyProof as unknown[]).map((h, i) => b64(h, `consistency proof[${i}]`));
      if (!verifyConsistency(before.size, size, proof, before.rootHash, root)) {
        throw new BundleVerificationError(
          "consistency proof",
          `tree of size ${before.size} is not a prefix of the tree of size ${size}: history was rewritten`,
        );
      }
      consistency = { fromSize: before.size.toString() };
    } else if (data.previousCheckpointSize !== null) {
      throw new BundleVerificationError(
        "consistency proof",
        "the manifest names a previous checkpoint the bundle omits",
      );
    }

    return {
      criterion,
      org,
      period,
      rows: rowCount,
      treeSize: size.toString(),
      rootHash: Buffer.from(root).toString("base64"),
      keyId: String((bundle.checkpoint as Record<string, unknown>).keyId ?? ""),
      keyPinned: this.#keyPinned,
      consistency,
      summary: recomputed,
    };
  }
}
