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
 * inclusionProofKeys (merkle.ts) for a tree of fewer than 2^31 leaves, in numbers and as keys: the same
 * walk from the root, each sibling range split into its perfect subtrees, largest first.
 */
export function numericProofPlan(index: number, size: number): number[][] {
  const groups: number[][] = [];
  let lo = 0;
  let n = size;
  while (n > 1) {
    // The largest power of two strictly less than n.
    const k = 2 ** (31 - Math.clz32(n - 1));
    if (index - lo < k) {
      groups.push(perfectSubtrees(lo + k, n - k));
      n = k;
    } else {
      groups.push(perfectSubtrees(lo, k));
      lo += k;
      n -= k;
    }
  }
  return groups.reverse();
}

function perfectSubtrees(start: number, size: number): number[] {
  const keys: number[] = [];
  let offset = start;
  for (let level = 31 - Math.clz32(size); level >= 0; level--) {
    const width = 2 ** level;
    if ((size & width) === 0) continue;
    keys.push((offset / width) * 64 + level);
    offset += width;
  }
  return keys;
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
    const plans: Key[][][] = numeric
      ? indexes.map((i) => numericProofPlan(Number(i), Number(this.size)))
      : indexes.map((i) => inclusionProofKeys(i, this.size).map((group) => group.map(keyOf)));
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
      for (const group of plan) {
        if (group.length === 1) need(group[0]!);
        else if (!this.#folded.has(group.join(","))) for (const key of group) need(key);
      }
    }
    const wanted = [...missing.entries()];
    const fetched = await new DbTreeStore(tx, this.orgId).getNodes(wanted.map(([, key]) => key));
    wanted.forEach(([k, key], i) => {
      nodes.set(k, fetched[i]!);
      if (key.level >= SHARED_LEVEL) this.#shared.set(k, fetched[i]!);
    });
    return plans.map((plan) =>
      plan.map((group) => {
        if (group.length === 1) return nodes.get(group[0]!)!;
        const k = group.join(",");
        let hash = this.#folded.get(k);
        if (!hash) {
          hash = foldSubtrees(group.map((key) => nodes.get(key)!));
          this.#folded.set(k, hash);
        }
        return hash;
      }),
    );
  }
}
