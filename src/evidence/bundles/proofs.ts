import type { OrgTx } from "../../../db/client.ts";
import { DbTreeStore } from "../audit-tree.ts";
import { foldSubtrees, inclusionProofKeys, type NodeKey, nodeHash } from "../merkle.ts";

type Key = number | string;

/**
 * A node's map key: a number (index · 64 + level) while that stays exact, which covers any realistic
 * log; a string beyond. Building a string from a bigint for every node of every proof was a large part
 * of proving a year's export.
 */
const EXACT_INDEX_LIMIT = 1n << 46n;
const keyOf = (k: NodeKey): Key =>
  k.index < EXACT_INDEX_LIMIT ? Number(k.index) * 64 + k.level : `${k.level}:${k.index}`;

function nodeKeyOf(key: Key): NodeKey {
  if (typeof key === "string") {
    const [level, index] = key.split(":");
    return { level: Number(level), index: BigInt(index!) };
  }
  const level = key % 64;
  return { level, index: BigInt((key - level) / 64) };
}

/** Below this size the proof plan is computed with plain numbers (exact, and no bigint per node). */
const NUMERIC_SIZE_LIMIT = 2 ** 31;

/**
 * A proof's plan as one flat list, leaf to root: for each proof hash, the number of stored subtrees it
 * folds, then their keys (largest first). One array per proof rather than one per hash keeps a year's
 * export from allocating millions of small arrays.
 */
type FlatPlan = Key[];

/**
 * inclusionProofKeys (merkle.ts) for a tree of fewer than 2^31 leaves, in 32-bit integer arithmetic and
 * as a flat plan of numeric keys: the same walk from the root, each sibling range split into its perfect
 * subtrees, largest first.
 */
function flatNumericPlan(index: number, size: number): number[] {
  // Root to leaf first (the walk's order), reversed group by group at the end.
  const groups: number[] = [];
  const starts: number[] = [];
  let lo = 0;
  let n = size;
  while (n > 1) {
    // The largest power of two strictly less than n.
    const k = 1 << (31 - Math.clz32(n - 1));
    starts.push(groups.length);
    if (index - lo < k) {
      pushPerfectSubtrees(groups, lo + k, n - k);
      n = k;
    } else {
      pushPerfectSubtrees(groups, lo, k);
      lo += k;
      n -= k;
    }
  }
  const flat: number[] = [];
  for (let g = starts.length - 1; g >= 0; g--) {
    const from = starts[g]!;
    const to = g + 1 < starts.length ? starts[g + 1]! : groups.length;
    flat.push(to - from);
    for (let i = from; i < to; i++) flat.push(groups[i]!);
  }
  return flat;
}

/** The perfect subtrees of [start, start + size), largest first, as keys (start is aligned to each). */
function pushPerfectSubtrees(out: number[], start: number, size: number): void {
  let offset = start;
  for (let level = 31 - Math.clz32(size); level >= 0; level--) {
    if ((size & (1 << level)) === 0) continue;
    out.push((offset >>> level) * 64 + level);
    offset += 1 << level;
  }
}

/** flatNumericPlan as groups, the shape inclusionProofKeys has (for tests). */
export function numericProofPlan(index: number, size: number): number[][] {
  const flat = flatNumericPlan(index, size);
  const groups: number[][] = [];
  for (let i = 0; i < flat.length; i += 1 + flat[i]!) groups.push(flat.slice(i + 1, i + 1 + flat[i]!));
  return groups;
}

function flatPlanOf(index: bigint, size: bigint): FlatPlan {
  if (size < BigInt(NUMERIC_SIZE_LIMIT)) return flatNumericPlan(Number(index), Number(size));
  const flat: FlatPlan = [];
  for (const group of inclusionProofKeys(index, size)) flat.push(group.length, ...group.map(keyOf));
  return flat;
}

/** Nodes at this level or above are shared by many proofs; they stay cached for the whole export. */
const SHARED_LEVEL = 8;

/**
 * Inclusion proofs for many leaves against one tree size with one node query per batch: the proofs are
 * planned without the store (which stored subtrees each hash needs), the nodes not yet cached are
 * fetched in one query, then each proof is assembled. The upper levels (common to every proof) and the
 * folded right-edge ranges (a handful per tree size) are kept between batches.
 */
export class BatchProver {
  readonly #shared = new Map<Key, Uint8Array>();
  readonly #folded = new Map<string, Uint8Array>();

  constructor(
    private readonly orgId: string,
    private readonly size: bigint,
  ) {}

  /**
   * `leaves` are leaf hashes the caller already holds (the batch's own rows), by index: level-0 nodes,
   * and the low nodes above them, come from there instead of the database.
   */
  async prove(
    tx: OrgTx,
    indexes: readonly bigint[],
    leaves: ReadonlyMap<bigint, Uint8Array> = new Map(),
  ): Promise<Uint8Array[][]> {
    const numeric = this.size < BigInt(NUMERIC_SIZE_LIMIT);
    const plans = indexes.map((i) => flatPlanOf(i, this.size));
    const nodes = new Map<Key, Uint8Array>();
    const missing = new Map<Key, NodeKey>();
    // A low node whose leaves are all at hand is hashed here rather than read: for a batch of
    // consecutive rows that is nearly every node below SHARED_LEVEL. (A leaf hash that were wrong would
    // only make the proof fail to verify.) Memoized per batch; null when some leaf is not at hand. Only
    // for numeric keys; a tree beyond that reads every node.
    const leafByKey = new Map<Key, Uint8Array>();
    if (numeric) for (const [index, hash] of leaves) leafByKey.set(Number(index) * 64, hash);
    const computed = new Map<Key, Uint8Array | null>();
    const compute = (key: number): Uint8Array | null => {
      const level = key % 64;
      if (level === 0) return leafByKey.get(key) ?? null;
      const memo = computed.get(key);
      if (memo !== undefined) return memo;
      const leftKey = ((key - level) / 64) * 2 * 64 + level - 1;
      const left = compute(leftKey);
      const right = left ? compute(leftKey + 64) : null;
      const hash = left && right ? nodeHash(left, right) : null;
      computed.set(key, hash);
      return hash;
    };
    const need = (key: Key) => {
      if (nodes.has(key) || missing.has(key)) return;
      const low = typeof key === "number" && key % 64 < SHARED_LEVEL && leafByKey.size > 0;
      const cached = low ? compute(key) : this.#shared.get(key);
      if (cached) nodes.set(key, cached);
      else missing.set(key, nodeKeyOf(key));
    };
    for (const plan of plans) {
      for (let i = 0; i < plan.length; i += 1 + (plan[i] as number)) {
        const count = plan[i] as number;
        if (count === 1) need(plan[i + 1]!);
        else if (!this.#folded.has(plan.slice(i + 1, i + 1 + count).join(",")))
          for (let j = i + 1; j <= i + count; j++) need(plan[j]!);
      }
    }
    const wanted = [...missing.entries()];
    const fetched = await new DbTreeStore(tx, this.orgId).getNodes(wanted.map(([, key]) => key));
    wanted.forEach(([k, key], i) => {
      nodes.set(k, fetched[i]!);
      if (key.level >= SHARED_LEVEL) this.#shared.set(k, fetched[i]!);
    });
    return plans.map((plan) => {
      const proof: Uint8Array[] = [];
      for (let i = 0; i < plan.length; i += 1 + (plan[i] as number)) {
        const count = plan[i] as number;
        if (count === 1) {
          proof.push(nodes.get(plan[i + 1]!)!);
          continue;
        }
        const group = plan.slice(i + 1, i + 1 + count);
        const k = group.join(",");
        let hash = this.#folded.get(k);
        if (!hash) {
          hash = foldSubtrees(group.map((key) => nodes.get(key)!));
          this.#folded.set(k, hash);
        }
        proof.push(hash);
      }
      return proof;
    });
  }
}
