import type { OrgTx } from "../../../db/client.ts";
import { DbTreeStore } from "../audit-tree.ts";
import { foldSubtrees, inclusionProofKeys, type NodeKey, nodeHash } from "../merkle.ts";

/**
 * A node's map key: a number (index · 64 + level) while that stays exact, which covers any realistic
 * log (indexes below 2^46); a string beyond. Building a string from a bigint for every node of every
 * proof was a large part of proving a year's export.
 */
const EXACT_INDEX_LIMIT = 1n << 46n;
const keyOf = (k: NodeKey): number | string =>
  k.index < EXACT_INDEX_LIMIT ? Number(k.index) * 64 + k.level : `${k.level}:${k.index}`;

/** Nodes at this level or above are shared by many proofs; they stay cached for the whole export. */
const SHARED_LEVEL = 8;

/**
 * Inclusion proofs for many leaves against one tree size with one node query per batch: the proofs are
 * planned without the store (which stored subtrees each hash needs), the nodes not yet cached are
 * fetched in one query, then each proof is assembled. The upper levels (common to every proof) and the
 * folded right-edge ranges (a handful per tree size) are kept between batches.
 */
export class BatchProver {
  readonly #shared = new Map<number | string, Uint8Array>();
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
    const plans = indexes.map((i) => inclusionProofKeys(i, this.size));
    const nodes = new Map<number | string, Uint8Array>();
    const missing = new Map<number | string, NodeKey>();
    // A low node whose leaves are all at hand is hashed here rather than read: for a batch of
    // consecutive rows that is nearly every node below SHARED_LEVEL. (A leaf hash that were wrong would
    // only make the proof fail to verify.) Memoized per batch; null when some leaf is not at hand.
    const computed = new Map<number | string, Uint8Array | null>();
    const compute = (level: number, index: bigint): Uint8Array | null => {
      if (level === 0) return leaves.get(index) ?? null;
      const k = keyOf({ level, index });
      const memo = computed.get(k);
      if (memo !== undefined) return memo;
      const left = compute(level - 1, index * 2n);
      const right = left ? compute(level - 1, index * 2n + 1n) : null;
      const hash = left && right ? nodeHash(left, right) : null;
      computed.set(k, hash);
      return hash;
    };
    const need = (key: NodeKey) => {
      const k = keyOf(key);
      if (nodes.has(k) || missing.has(k)) return;
      const cached =
        key.level < SHARED_LEVEL && leaves.size > 0 ? compute(key.level, key.index) : this.#shared.get(k);
      if (cached) nodes.set(k, cached);
      else missing.set(k, key);
    };
    for (const plan of plans) {
      for (const group of plan) {
        if (group.length === 1) need(group[0]!);
        else if (!this.#folded.has(group.map(keyOf).join(","))) for (const key of group) need(key);
      }
    }
    const wanted = [...missing.values()];
    const fetched = await new DbTreeStore(tx, this.orgId).getNodes(wanted);
    wanted.forEach((key, i) => {
      const k = keyOf(key);
      nodes.set(k, fetched[i]!);
      if (key.level >= SHARED_LEVEL) this.#shared.set(k, fetched[i]!);
    });
    return plans.map((plan) =>
      plan.map((group) => {
        if (group.length === 1) return nodes.get(keyOf(group[0]!))!;
        const k = group.map(keyOf).join(",");
        let hash = this.#folded.get(k);
        if (!hash) {
          hash = foldSubtrees(group.map((key) => nodes.get(keyOf(key))!));
          this.#folded.set(k, hash);
        }
        return hash;
      }),
    );
  }
}
