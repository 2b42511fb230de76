import type { OrgTx } from "../../../db/client.ts";
import { DbTreeStore } from "../audit-tree.ts";
import { HASH_BYTES, inclusionProof, type NodeKey, type TreeNode, type TreeStore } from "../merkle.ts";

const keyOf = (k: NodeKey) => `${k.level}:${k.index}`;

/** Answers every read with a zero hash and remembers what was asked: the first pass of a batched proof. */
class RecordingStore implements TreeStore {
  readonly wanted = new Map<string, NodeKey>();
  async getNodes(keys: readonly NodeKey[]): Promise<Uint8Array[]> {
    for (const k of keys) this.wanted.set(keyOf(k), k);
    return keys.map(() => new Uint8Array(HASH_BYTES));
  }
  async putNodes(_nodes: readonly TreeNode[]): Promise<void> {
    throw new Error("read-only");
  }
}

class MapStore implements TreeStore {
  constructor(private readonly nodes: Map<string, Uint8Array>) {}
  async getNodes(keys: readonly NodeKey[]): Promise<Uint8Array[]> {
    return keys.map((k) => {
      const hash = this.nodes.get(keyOf(k));
      if (!hash) throw new Error(`node ${keyOf(k)} not prefetched (internal)`);
      return hash;
    });
  }
  async putNodes(_nodes: readonly TreeNode[]): Promise<void> {
    throw new Error("read-only");
  }
}

/** Nodes at this level or above are shared by many proofs; they stay cached for the whole export. */
const SHARED_LEVEL = 8;

/**
 * Inclusion proofs for many leaves against one tree size with one node query per batch: a first pass
 * records which stored subtree hashes the proofs need, one query fetches them, a second pass builds the
 * proofs. The upper levels (common to every proof) are kept between batches.
 */
export class BatchProver {
  readonly #shared = new Map<string, Uint8Array>();

  constructor(
    private readonly orgId: string,
    private readonly size: bigint,
  ) {}

  async prove(tx: OrgTx, indexes: readonly bigint[]): Promise<Uint8Array[][]> {
    const recording = new RecordingStore();
    for (const i of indexes) await inclusionProof(recording, i, this.size);
    const nodes = new Map<string, Uint8Array>();
    const missing: NodeKey[] = [];
    for (const [k, key] of recording.wanted) {
      const cached = this.#shared.get(k);
      if (cached) nodes.set(k, cached);
      else missing.push(key);
    }
    const fetched = await new DbTreeStore(tx, this.orgId).getNodes(missing);
    missing.forEach((key, i) => {
      nodes.set(keyOf(key), fetched[i]!);
      if (key.level >= SHARED_LEVEL) this.#shared.set(keyOf(key), fetched[i]!);
    });
    const store = new MapStore(nodes);
    const proofs: Uint8Array[][] = [];
    for (const i of indexes) proofs.push(await inclusionProof(store, i, this.size));
    return proofs;
  }
}
