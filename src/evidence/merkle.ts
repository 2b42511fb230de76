import { createHash, hash as oneShotHash } from "node:crypto";

/**
 * RFC 6962 / RFC 9162 Merkle tree hashing, proofs and verifiers for the per-org audit log.
 *
 * Storage model: a tree is kept as the hashes of its COMPLETE perfect subtrees, addressed by
 * (level, index) where the node covers leaves [index·2^level, (index+1)·2^level). Those nodes never
 * change once written, so the store is append-only like the log itself, and every hash the RFC needs for
 * a tree of any size n ≤ the stored size is a fold over O(log n) of them: an RFC subtree D[a:b] always
 * starts at a multiple of a power of two ≥ b−a, so it splits into the perfect subtrees given by the set
 * bits of b−a, largest first.
 */

export const HASH_BYTES = 32;
/** Exclusive bound: sizes and indexes are uint64 in checkpoints and proofs, so we keep that range. */
export const TREE_SIZE_LIMIT = 1n << 64n;
/** A tree of fewer than 2^64 leaves has no complete subtree above level 63. */
const MAX_LEVEL = 63;

const LEAF_PREFIX = Uint8Array.of(0x00);

function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const part of parts) h.update(part);
  return hashFromBase64(h.digest("base64"));
}

/**
 * Hash values live in shared slabs rather than one ArrayBuffer each. A digest returned as a Buffer (or
 * copied into a new Uint8Array) gets its own backing store, which the garbage collector tracks and frees
 * one by one; an export makes hundreds of thousands of them, and that bookkeeping cost more than the
 * hashing. A digest taken as base64 text and decoded into a slab costs a fraction of it. Each view covers
 * only its own 32 bytes, so callers cannot reach a neighbour through it (except via `.buffer`, which
 * nothing here uses without its offset).
 */
const SLAB_BYTES = 64 * 1024;
let slab = Buffer.alloc(SLAB_BYTES);
let slabUsed = 0;

function slabView(): { at: number; view: Uint8Array } {
  if (slabUsed + HASH_BYTES > SLAB_BYTES) {
    slab = Buffer.alloc(SLAB_BYTES);
    slabUsed = 0;
  }
  const at = slabUsed;
  slabUsed += HASH_BYTES;
  // A plain Uint8Array rather than Buffer, so callers and stores see one type.
  return { at, view: new Uint8Array(slab.buffer, slab.byteOffset + at, HASH_BYTES) };
}

/** A 32-byte hash given as base64 (a digest's output), as a slab-backed Uint8Array. */
export function hashFromBase64(base64: string): Uint8Array {
  const { at, view } = slabView();
  if (slab.write(base64, at, HASH_BYTES, "base64") !== HASH_BYTES) {
    throw new TypeError(`not a ${HASH_BYTES}-byte hash`);
  }
  return view;
}

/** A copy of a 32-byte hash (e.g. one read from the database) in a slab. */
export function copyHash(hash: Uint8Array): Uint8Array {
  assertHash(hash, "hash");
  const { view } = slabView();
  view.set(hash);
  return view;
}

/** SHA-256 of text or bytes as a slab-backed hash, without a Hash object (see hashFromBase64). */
export function sha256Of(data: string | Uint8Array): Uint8Array {
  return hashFromBase64(oneShotHash("sha256", data, "base64"));
}

/** Reused input of interiorHash: 0x01 ‖ left ‖ right. Safe because hashing is synchronous. */
const INTERIOR_INPUT = Buffer.alloc(1 + 2 * HASH_BYTES);

/**
 * SHA-256(0x01 ‖ left ‖ right) without a Hash object per call: proofs, appends and the verifier hash
 * millions of interior nodes for a year's export, and the one-shot digest is several times cheaper.
 */
function interiorHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  INTERIOR_INPUT[0] = 0x01;
  INTERIOR_INPUT.set(left, 1);
  INTERIOR_INPUT.set(right, 1 + HASH_BYTES);
  return sha256Of(INTERIOR_INPUT);
}

/** MTH of one entry: SHA-256(0x00 ‖ entry). The prefix keeps a leaf from posing as an inner node. */
export function leafHash(entry: Uint8Array): Uint8Array {
  return sha256(LEAF_PREFIX, entry);
}

/**
 * leafHash of an entry given as text (its UTF-8 encoding is the entry): one string and a one-shot digest,
 * cheaper than a Hash object fed the prefix and the bytes. U+0000 encodes as the single byte 0x00.
 */
export function leafHashOfText(entry: string): Uint8Array {
  return sha256Of(`\u0000${entry}`);
}

/** SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  assertHash(left, "left");
  assertHash(right, "right");
  return interiorHash(left, right);
}

/** MTH({}) = SHA-256 of the empty string, the root a checkpoint of size 0 carries. */
export function emptyRootHash(): Uint8Array {
  return sha256();
}

export interface NodeKey {
  readonly level: number;
  readonly index: bigint;
}

export interface TreeNode extends NodeKey {
  readonly hash: Uint8Array;
}

/**
 * Where the perfect-subtree hashes live (memory here, a table later). Contract for adapters:
 * - getNodes returns one hash per key in the same order, or throws MissingNodeError;
 * - putNodes writes all nodes or none, is idempotent for an identical hash and throws NodeConflictError
 *   when a key already holds a different hash: a changed node means someone is rewriting history.
 * Callers serialize appends per tree (the org's audit head row lock), so a store needs no ordering logic.
 */
export interface TreeStore {
  getNodes(keys: readonly NodeKey[]): Promise<Uint8Array[]>;
  putNodes(nodes: readonly TreeNode[]): Promise<void>;
}

export class MissingNodeError extends Error {
  readonly level: number;
  readonly index: bigint;

  constructor(key: NodeKey) {
    super(`Merkle node (level ${key.level}, index ${key.index}) is not stored`);
    this.name = "MissingNodeError";
    this.level = key.level;
    this.index = key.index;
  }
}

export class NodeConflictError extends Error {
  readonly level: number;
  readonly index: bigint;

  constructor(key: NodeKey) {
    super(`Merkle node (level ${key.level}, index ${key.index}) already holds a different hash`);
    this.name = "NodeConflictError";
    this.level = key.level;
    this.index = key.index;
  }
}

/** Checks a key names a node that can exist in a uint64-sized tree; adapters may reuse it. */
export function assertNodeKey(key: NodeKey): void {
  if (!Number.isInteger(key.level) || key.level < 0 || key.level > MAX_LEVEL) {
    throw new RangeError(`node level must be an integer in [0, ${MAX_LEVEL}]`);
  }
  if (typeof key.index !== "bigint" || key.index < 0n || key.index >= TREE_SIZE_LIMIT >> BigInt(key.level)) {
    throw new RangeError(`node index out of range for level ${key.level}`);
  }
}

export class InMemoryTreeStore implements TreeStore {
  readonly #nodes = new Map<string, Uint8Array>();

  /** How many perfect-subtree hashes are stored. */
  get nodeCount(): number {
    return this.#nodes.size;
  }

  async getNodes(keys: readonly NodeKey[]): Promise<Uint8Array[]> {
    return keys.map((key) => {
      const hash = this.#nodes.get(mapKey(key));
      if (hash === undefined) throw new MissingNodeError(key);
      // Copies, so a caller that mutates a proof cannot corrupt the store.
      return new Uint8Array(hash);
    });
  }

  async putNodes(nodes: readonly TreeNode[]): Promise<void> {
    // Validate everything first: a rejected batch must leave no partial write behind.
    const pending = new Map<string, Uint8Array>();
    for (const node of nodes) {
      assertNodeKey(node);
      assertHash(node.hash, "node hash");
      const k = mapKey(node);
      const existing = this.#nodes.get(k) ?? pending.get(k);
      if (existing !== undefined && !bytesEqual(existing, node.hash)) throw new NodeConflictError(node);
      pending.set(k, new Uint8Array(node.hash));
    }
    for (const [k, hash] of pending) this.#nodes.set(k, hash);
  }
}

function mapKey(key: NodeKey): string {
  return `${key.level}:${key.index}`;
}

/**
 * Appends leaf hashes to a tree of `currentSize` leaves and returns the new size. Writes each new leaf and
 * every perfect subtree it completes in a single putNodes call (one transaction for a database store);
 * the only reads are the O(log n) frontier nodes the first new leaf may need as left siblings.
 */
export async function appendLeaves(
  store: TreeStore,
  currentSize: bigint,
  leafHashes: readonly Uint8Array[],
): Promise<bigint> {
  assertSize(currentSize, "currentSize");
  leafHashes.forEach((h, i) => {
    assertHash(h, `leafHashes[${i}]`);
  });
  if (currentSize + BigInt(leafHashes.length) >= TREE_SIZE_LIMIT) {
    throw new RangeError("appending would exceed the uint64 tree size");
  }
  if (leafHashes.length === 0) return currentSize;

  // The frontier: the perfect subtrees of the current tree that are still waiting for a right sibling,
  // exactly one per set bit of the size.
  const frontierKeys = decompose(0n, currentSize);
  const frontierHashes = await readExactly(store, frontierKeys);
  const frontier = new Map<number, Uint8Array>();
  frontierKeys.forEach((key, i) => {
    frontier.set(key.level, frontierHashes[i]!);
  });

  const written: TreeNode[] = [];
  let size = currentSize;
  for (const leaf of leafHashes) {
    let level = 0;
    let index = size;
    let hash: Uint8Array = copyHash(leaf);
    written.push({ level, index, hash });
    // An odd index completes its parent; carrying up mirrors binary increment of the size.
    while ((index & 1n) === 1n) {
      const left = frontier.get(level);
      if (left === undefined) throw new Error(`frontier node at level ${level} missing (internal)`);
      frontier.delete(level);
      hash = interiorHash(left, hash);
      level += 1;
      index >>= 1n;
      written.push({ level, index, hash });
    }
    frontier.set(level, hash);
    size += 1n;
  }
  await store.putNodes(written);
  return size;
}

/** MTH(D[0:size]) from at most popcount(size) stored nodes. */
export async function rootHash(store: TreeStore, size: bigint): Promise<Uint8Array> {
  assertSize(size, "size");
  if (size === 0n) return emptyRootHash();
  const [root] = await subtreeHashes(store, [{ start: 0n, size }]);
  return root!;
}

/** PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, ordered from the leaf's sibling up to the root. */
export async function inclusionProof(store: TreeStore, index: bigint, size: bigint): Promise<Uint8Array[]> {
  return readFolded(store, inclusionProofKeys(index, size));
}

/**
 * The stored nodes behind each hash of PATH(index, D[0:size]), leaf to root: one group per proof hash,
 * the perfect subtrees of its sibling range largest first (foldSubtrees turns a group into the hash).
 * Synchronous and store-free, so a batch of proofs can be planned, fetched in one read and built.
 */
export function inclusionProofKeys(index: bigint, size: bigint): NodeKey[][] {
  assertSize(size, "size");
  if (typeof index !== "bigint" || index < 0n || index >= size) {
    throw new RangeError("index must be a bigint in [0, size)");
  }
  // Walk root → leaf collecting the sibling range at each split, then reverse into leaf → root order.
  // Only the first left turn out of a non-perfect range yields a multi-node sibling; everything under a
  // left turn is perfect, so the whole proof costs O(log n) reads.
  const groups: NodeKey[][] = [];
  let lo = 0n;
  let n = size;
  while (n > 1n) {
    const k = splitPoint(n);
    if (index - lo < k) {
      groups.push(decompose(lo + k, n - k));
      n = k;
    } else {
      groups.push(decompose(lo, k));
      lo += k;
      n -= k;
    }
  }
  return groups.reverse();
}

/** MTH of a range from its perfect subtrees (largest first): RFC 6962's right-leaning shape. */
export function foldSubtrees(parts: readonly Uint8Array[]): Uint8Array {
  let acc = parts[parts.length - 1]!;
  for (let i = parts.length - 2; i >= 0; i--) acc = interiorHash(parts[i]!, acc);
  return acc;
}

/**
 * PROOF(from, D[0:to]) of RFC 9162 §2.1.4.1. Empty when from = 0 or from = to, the two cases the RFC
 * leaves undefined and that verifyConsistency accepts with an empty proof.
 */
export async function consistencyProof(store: TreeStore, from: bigint, to: bigint): Promise<Uint8Array[]> {
  assertSize(to, "to");
  if (typeof from !== "bigint" || from < 0n || from > to) {
    throw new RangeError("from must be a bigint in [0, to]");
  }
  if (from === 0n || from === to) return [];
  // SUBPROOF unrolled: `complete` is the RFC's b flag (is D[0:from] a complete subtree of what is left?).
  const parts: Range[] = [];
  let lo = 0n;
  let n = to;
  let complete = true;
  for (;;) {
    if (from === lo + n) {
      if (!complete) parts.push({ start: lo, size: n });
      break;
    }
    const k = splitPoint(n);
    if (from - lo <= k) {
      parts.push({ start: lo + k, size: n - k });
      n = k;
    } else {
      parts.push({ start: lo, size: k });
      lo += k;
      n -= k;
      complete = false;
    }
  }
  return (await subtreeHashes(store, parts)).reverse();
}

/**
 * RFC 9162 §2.1.3.2. Returns false, never throws, for any malformed input: a verifier sees proofs from
 * outside. The size must come from the same signed checkpoint as the root: a proof for size n can also
 * verify for a different size whose path has the same shape (e.g. index 0 at sizes 3 and 4).
 */
export function verifyInclusion(
  leaf: Uint8Array,
  index: bigint,
  size: bigint,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  try {
    if (!isHash(leaf) || !isHash(root) || !isUint64(index) || !isUint64(size) || !isHashList(proof)) {
      return false;
    }
    if (index >= size || proof.length > MAX_LEVEL + 1) return false;
    let fn = index;
    let sn = size - 1n;
    let r = leaf;
    for (const p of proof) {
      if (sn === 0n) return false;
      if ((fn & 1n) === 1n || fn === sn) {
        r = interiorHash(p, r);
        // Skip levels where this node is a lone right edge with no sibling in the proof.
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else {
        r = interiorHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    return sn === 0n && bytesEqual(r, root);
  } catch {
    return false;
  }
}

/**
 * RFC 9162 §2.1.4.2, plus the two cases it leaves out: equal sizes need an empty proof and equal roots;
 * size1 = 0 needs an empty proof and root1 = MTH({}) (any tree extends the empty one, but a root that is
 * not the empty tree's is a false claim). Returns false, never throws.
 */
export function verifyConsistency(
  size1: bigint,
  size2: bigint,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  try {
    if (!isUint64(size1) || !isUint64(size2) || !isHash(root1) || !isHash(root2) || !isHashList(proof)) {
      return false;
    }
    if (size1 > size2) return false;
    if (size1 === size2) return proof.length === 0 && bytesEqual(root1, root2);
    if (size1 === 0n) return proof.length === 0 && bytesEqual(root1, emptyRootHash());
    if (proof.length === 0 || proof.length > MAX_LEVEL + 2) return false;

    // RFC-format proofs omit the old root exactly when it is a complete left subtree.
    const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
    let fn = size1 - 1n;
    let sn = size2 - 1n;
    while ((fn & 1n) === 1n) {
      fn >>= 1n;
      sn >>= 1n;
    }
    let fr = path[0]!;
    let sr = path[0]!;
    for (const c of path.slice(1)) {
      if (sn === 0n) return false;
      if ((fn & 1n) === 1n || fn === sn) {
        fr = interiorHash(c, fr);
        sr = interiorHash(c, sr);
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else {
        sr = interiorHash(sr, c);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    return sn === 0n && bytesEqual(fr, root1) && bytesEqual(sr, root2);
  } catch {
    return false;
  }
}

/**
 * The recursive MTH definition over a list of leaf hashes. O(n): a reference for tests and offline tools
 * to check the store-backed functions against, not for the log's hot path.
 */
export function rootFromLeaves(leafHashes: readonly Uint8Array[]): Uint8Array {
  leafHashes.forEach((h, i) => {
    assertHash(h, `leafHashes[${i}]`);
  });
  const mth = (lo: number, hi: number): Uint8Array => {
    if (hi - lo === 1) return new Uint8Array(leafHashes[lo]!);
    const k = Number(splitPoint(BigInt(hi - lo)));
    return interiorHash(mth(lo, lo + k), mth(lo + k, hi));
  };
  return leafHashes.length === 0 ? emptyRootHash() : mth(0, leafHashes.length);
}

interface Range {
  start: bigint;
  size: bigint;
}

/** Reads every group's stored subtrees in one store round trip and folds each group into one hash. */
async function readFolded(store: TreeStore, groups: readonly (readonly NodeKey[])[]): Promise<Uint8Array[]> {
  const hashes = await readExactly(store, groups.flat());
  let pos = 0;
  return groups.map((group) => {
    const parts = hashes.slice(pos, pos + group.length);
    pos += group.length;
    return foldSubtrees(parts);
  });
}

/** MTH of each range, with one store round trip for all of them. */
async function subtreeHashes(store: TreeStore, ranges: readonly Range[]): Promise<Uint8Array[]> {
  return readFolded(
    store,
    ranges.map((r) => decompose(r.start, r.size)),
  );
}

async function readExactly(store: TreeStore, keys: readonly NodeKey[]): Promise<Uint8Array[]> {
  if (keys.length === 0) return [];
  const hashes = await store.getNodes(keys);
  // A misbehaving adapter must not turn into a silently wrong root.
  if (hashes.length !== keys.length) throw new Error("tree store returned the wrong number of hashes");
  hashes.forEach((h, i) => {
    if (!isHash(h)) throw new Error(`tree store returned a malformed hash for ${mapKey(keys[i]!)}`);
  });
  return hashes;
}

/** The perfect subtrees making up D[start : start+size], largest first. */
function decompose(start: bigint, size: bigint): NodeKey[] {
  const keys: NodeKey[] = [];
  let offset = start;
  for (let level = bitLength(size) - 1; level >= 0; level--) {
    const width = 1n << BigInt(level);
    if ((size & width) === 0n) continue;
    if (offset % width !== 0n) throw new Error("range is not aligned to stored subtrees (internal)");
    keys.push({ level, index: offset >> BigInt(level) });
    offset += width;
  }
  return keys;
}

/** The largest power of two strictly less than n (n ≥ 2): the RFC's k. */
function splitPoint(n: bigint): bigint {
  return 1n << BigInt(bitLength(n - 1n) - 1);
}

function bitLength(n: bigint): number {
  // Proof planning calls this a few times per level for every row of an export: avoid the string.
  if (n < 0x1_0000_0000n) return 32 - Math.clz32(Number(n));
  return n.toString(2).length;
}

function isPowerOfTwo(n: bigint): boolean {
  return n > 0n && (n & (n - 1n)) === 0n;
}

function isUint64(n: unknown): n is bigint {
  return typeof n === "bigint" && n >= 0n && n < TREE_SIZE_LIMIT;
}

function isHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_BYTES;
}

function isHashList(list: unknown): list is readonly Uint8Array[] {
  return Array.isArray(list) && list.every(isHash);
}

function assertSize(size: bigint, name: string): void {
  if (!isUint64(size)) throw new RangeError(`${name} must be a bigint in [0, 2^64)`);
}

function assertHash(h: Uint8Array, name: string): void {
  if (!isHash(h)) throw new TypeError(`${name} must be a ${HASH_BYTES}-byte Uint8Array`);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
