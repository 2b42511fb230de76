import { createHash } from "node:crypto";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  appendLeaves,
  consistencyProof,
  copyHash,
  emptyRootHash,
  hashFromBase64,
  InMemoryTreeStore,
  inclusionProof,
  leafHash,
  MissingNodeError,
  NodeConflictError,
  type NodeKey,
  nodeHash,
  rootFromLeaves,
  rootHash,
  TREE_SIZE_LIMIT,
  type TreeNode,
  type TreeStore,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.ts";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));
const hexList = (list: readonly Uint8Array[]): string[] => list.map(hex);

// Certificate Transparency test data (transparency-dev/merkle testonly/constants.go and
// proof/verify_test.go; the same roots appear in certificate-transparency-go's C++ merkle tree test).
const CT_LEAVES = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
].map(unhex);

// NODE[level][index]: every complete subtree of the 8-leaf tree.
const NODE = [
  [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
  ],
  [
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
  ],
  [
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
  ],
  ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
] as const;
const node = (level: number, index: number): string =>
  (NODE as readonly (readonly string[])[])[level]![index]!;

// CT_ROOTS[n] = MTH of the first n leaves.
const CT_ROOTS = [
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

// transparency-dev proof/verify_test.go (its leaf numbers are 1-based; these indexes are 0-based).
const CT_INCLUSION = [
  { index: 0, size: 8, proof: [node(0, 1), node(1, 1), node(2, 1)] },
  { index: 5, size: 8, proof: [node(0, 4), node(1, 3), node(2, 0)] },
  { index: 2, size: 3, proof: [node(1, 0)] },
  { index: 1, size: 5, proof: [node(0, 0), node(1, 1), node(0, 4)] },
];
const CT_CONSISTENCY = [
  { from: 1, to: 8, proof: [node(0, 1), node(1, 1), node(2, 1)] },
  { from: 6, to: 8, proof: [node(1, 2), node(1, 3), node(2, 0)] },
  { from: 2, to: 5, proof: [node(1, 1), node(0, 4)] },
  { from: 6, to: 7, proof: [node(1, 2), node(0, 6), node(2, 0)] },
];

const SOME_HASH = unhex("abacaba000000000000000000000000000000000000000000060061e00123456");

async function buildStore(leaves: readonly Uint8Array[], batches: readonly number[] = [1]) {
  const store = new InMemoryTreeStore();
  let size = 0n;
  let pos = 0;
  for (let b = 0; pos < leaves.length; b++) {
    const take = batches[b % batches.length]!;
    size = await appendLeaves(store, size, leaves.slice(pos, pos + take));
    pos += take;
  }
  return { store, size };
}

/** Counts reads so the O(log n) claims are checked rather than assumed. */
class CountingStore implements TreeStore {
  reads = 0;
  calls = 0;
  constructor(private readonly inner: TreeStore) {}
  async getNodes(keys: readonly NodeKey[]): Promise<Uint8Array[]> {
    this.reads += keys.length;
    this.calls += 1;
    return this.inner.getNodes(keys);
  }
  async putNodes(nodes: readonly TreeNode[]): Promise<void> {
    return this.inner.putNodes(nodes);
  }
}

// --- Reference: RFC 9162 §2.1.3.1 / §2.1.4.1 written as the RFC's recursion over a leaf list. ---

function refPath(m: number, leaves: readonly Uint8Array[]): Uint8Array[] {
  const n = leaves.length;
  if (n === 1) return [];
  const k = largestPowerOfTwoBelow(n);
  return m < k
    ? [...refPath(m, leaves.slice(0, k)), rootFromLeaves(leaves.slice(k))]
    : [...refPath(m - k, leaves.slice(k)), rootFromLeaves(leaves.slice(0, k))];
}

function refSubproof(m: number, leaves: readonly Uint8Array[], complete: boolean): Uint8Array[] {
  const n = leaves.length;
  if (m === n) return complete ? [] : [rootFromLeaves(leaves)];
  const k = largestPowerOfTwoBelow(n);
  return m <= k
    ? [...refSubproof(m, leaves.slice(0, k), complete), rootFromLeaves(leaves.slice(k))]
    : [...refSubproof(m - k, leaves.slice(k), false), rootFromLeaves(leaves.slice(0, k))];
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * Which side each proof element sits on, leaf to root, per the recursive definition. A verifier sees only
 * opaque hashes, so a proof verifies under a claimed (index, size) exactly when that claim's shape equals
 * the true one; these describe the shapes so wrong-claim tests can say precisely what must fail.
 */
function inclusionShape(m: number, n: number): string {
  const sides: string[] = [];
  let lo = 0;
  let size = n;
  while (size > 1) {
    const k = largestPowerOfTwoBelow(size);
    if (m - lo < k) {
      sides.push("R");
      size = k;
    } else {
      sides.push("L");
      lo += k;
      size -= k;
    }
  }
  return sides.reverse().join("");
}

function consistencyShape(m: number, n: number): string {
  const sides: string[] = [];
  let lo = 0;
  let size = n;
  let complete = true;
  while (m !== lo + size) {
    const k = largestPowerOfTwoBelow(size);
    if (m - lo <= k) {
      sides.push("R");
      size = k;
    } else {
      sides.push("L");
      lo += k;
      size -= k;
      complete = false;
    }
  }
  // The seed is the old root itself when complete (m a power of two), else the first proof element.
  return (complete ? "old-root:" : "proof-seed:") + sides.reverse().join("");
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[(bit >> 3) % copy.length]! ^= 1 << (bit & 7);
  return copy;
}

const bitIndex = fc.integer({ min: 0, max: 32 * 8 - 1 });

describe("RFC 6962 hashing", () => {
  it("hashes leaves with 0x00 and nodes with 0x01", () => {
    expect(hexList(CT_LEAVES.map(leafHash))).toEqual(NODE[0]);
    expect(hex(nodeHash(unhex(node(0, 0)), unhex(node(0, 1))))).toBe(node(1, 0));
    expect(hex(emptyRootHash())).toBe(CT_ROOTS[0]);
  });

  it("rootFromLeaves gives the published roots for sizes 0..8", () => {
    const leaves = CT_LEAVES.map(leafHash);
    for (let n = 0; n <= 8; n++)
      expect(hex(rootFromLeaves(leaves.slice(0, n))), `size ${n}`).toBe(CT_ROOTS[n]);
  });

  it("splits at the largest power of two below n, not at the midpoint", () => {
    // Size 6 splits 4+2; a midpoint split (3+3) would give a different root.
    const leaves = CT_LEAVES.map(leafHash).slice(0, 6);
    const midpoint = nodeHash(rootFromLeaves(leaves.slice(0, 3)), rootFromLeaves(leaves.slice(3)));
    expect(hex(rootFromLeaves(leaves))).toBe(CT_ROOTS[6]);
    expect(hex(midpoint)).not.toBe(CT_ROOTS[6]);
  });

  it("keeps every hash intact across slabs: each is its own 32 bytes, none overwritten by later ones", () => {
    // Hashes share 64 KB slabs (2,048 per slab); make enough to fill several and check all of them after.
    const inputs = Array.from({ length: 5_000 }, (_, i) => new TextEncoder().encode(`entry ${i}`));
    const leaves = inputs.map(leafHash);
    const parents = leaves.slice(1).map((h, i) => nodeHash(leaves[i]!, h));
    const copies = leaves.map(copyHash);
    leaves.forEach((h, i) => {
      expect(h).toBeInstanceOf(Uint8Array);
      expect(h.length).toBe(32);
      expect(hex(h)).toBe(createHash("sha256").update(Uint8Array.of(0)).update(inputs[i]!).digest("hex"));
      expect(hex(copies[i]!)).toBe(hex(h));
    });
    parents.forEach((h, i) => {
      expect(hex(h)).toBe(
        createHash("sha256")
          .update(Uint8Array.of(1))
          .update(leaves[i]!)
          .update(leaves[i + 1]!)
          .digest("hex"),
      );
    });
    // A caller that mutates one hash changes no other.
    copies[0]!.fill(0);
    expect(hex(copies[1]!)).toBe(hex(leaves[1]!));
    expect(hex(leaves[0]!)).not.toBe(hex(copies[0]!));
    expect(() => hashFromBase64(Buffer.alloc(31).toString("base64"))).toThrow(TypeError);
    expect(() => copyHash(new Uint8Array(33))).toThrow(TypeError);
  });

  it("rejects hashes that are not 32 bytes", () => {
    expect(() => nodeHash(new Uint8Array(31), SOME_HASH)).toThrow(TypeError);
    expect(() => rootFromLeaves([new Uint8Array(33)])).toThrow(TypeError);
  });
});

describe("store-backed tree on the CT vectors", () => {
  it("stores exactly the complete subtrees, with the published hashes", async () => {
    const { store, size } = await buildStore(CT_LEAVES.map(leafHash));
    expect(size).toBe(8n);
    expect(store.nodeCount).toBe(8 + 4 + 2 + 1);
    for (const [level, row] of NODE.entries()) {
      const keys = row.map((_, index) => ({ level, index: BigInt(index) }));
      expect(hexList(await store.getNodes(keys))).toEqual(row);
    }
  });

  it("gives the published root for every size from the one store", async () => {
    const { store } = await buildStore(CT_LEAVES.map(leafHash));
    for (let n = 0; n <= 8; n++) expect(hex(await rootHash(store, BigInt(n))), `size ${n}`).toBe(CT_ROOTS[n]);
  });

  it.each(CT_INCLUSION)("inclusion proof for leaf $index in size $size", async ({ index, size, proof }) => {
    const { store } = await buildStore(CT_LEAVES.map(leafHash));
    const got = await inclusionProof(store, BigInt(index), BigInt(size));
    expect(hexList(got)).toEqual(proof);
    expect(
      verifyInclusion(leafHash(CT_LEAVES[index]!), BigInt(index), BigInt(size), got, unhex(CT_ROOTS[size]!)),
    ).toBe(true);
  });

  it.each(CT_CONSISTENCY)("consistency proof $from → $to", async ({ from, to, proof }) => {
    const { store } = await buildStore(CT_LEAVES.map(leafHash));
    const got = await consistencyProof(store, BigInt(from), BigInt(to));
    expect(hexList(got)).toEqual(proof);
    expect(
      verifyConsistency(BigInt(from), BigInt(to), got, unhex(CT_ROOTS[from]!), unhex(CT_ROOTS[to]!)),
    ).toBe(true);
  });

  it("reproduces the RFC 6962 §2.1.3 worked example over 7 leaves", async () => {
    const { store } = await buildStore(CT_LEAVES.map(leafHash).slice(0, 7));
    // The RFC's names: a..f and j are leaves d0..d6, g h i are level-1 nodes, k = H(g,h), l = H(i,j).
    const [a, b, c, d, , f, j] = NODE[0];
    const [g, h, i] = NODE[1];
    const k = node(2, 0);
    const l = hex(nodeHash(unhex(i), unhex(j)));
    const path = async (m: number) => hexList(await inclusionProof(store, BigInt(m), 7n));
    const proof = async (m: number) => hexList(await consistencyProof(store, BigInt(m), 7n));
    expect(await path(0)).toEqual([b, h, l]);
    expect(await path(3)).toEqual([c, g, l]);
    expect(await path(4)).toEqual([f, j, k]);
    expect(await path(6)).toEqual([i, k]);
    expect(await proof(3)).toEqual([c, d, g, l]);
    expect(await proof(4)).toEqual([l]);
    expect(await proof(6)).toEqual([i, j, k]);
    expect(a).toBe(node(0, 0));
  });
});

describe("verifiers reject the transparency-dev probes", () => {
  const root = (n: number) => unhex(CT_ROOTS[n]!);

  it.each(CT_INCLUSION)(
    "corrupted inclusion probes for leaf $index in size $size",
    ({ index, size, proof }) => {
      const p = proof.map(unhex);
      const leaf = leafHash(CT_LEAVES[index]!);
      const i = BigInt(index);
      const n = BigInt(size);
      const probes: [string, boolean][] = [
        ["index - 1", verifyInclusion(leaf, i - 1n, n, p, root(size))],
        ["index + 1", verifyInclusion(leaf, i + 1n, n, p, root(size))],
        ["index ^ 2", verifyInclusion(leaf, i ^ 2n, n, p, root(size))],
        ["size * 2", verifyInclusion(leaf, i, n * 2n, p, root(size))],
        ["size / 2", verifyInclusion(leaf, i, n / 2n, p, root(size))],
        ["wrong leaf", verifyInclusion(SOME_HASH, i, n, p, root(size))],
        ["empty root", verifyInclusion(leaf, i, n, p, emptyRootHash())],
        ["random root", verifyInclusion(leaf, i, n, p, SOME_HASH)],
        ["trailing garbage", verifyInclusion(leaf, i, n, [...p, new Uint8Array(0)], root(size))],
        ["trailing root", verifyInclusion(leaf, i, n, [...p, root(size)], root(size))],
        ["preceding garbage", verifyInclusion(leaf, i, n, [new Uint8Array(0), ...p], root(size))],
        ["preceding root", verifyInclusion(leaf, i, n, [root(size), ...p], root(size))],
        ["removed component", verifyInclusion(leaf, i, n, p.slice(0, -1), root(size))],
        ["inserted component", verifyInclusion(leaf, i, n, [p[0]!, SOME_HASH, ...p.slice(1)], root(size))],
        ...p.map((_, at): [string, boolean] => {
          const bad = p.map((x, y) => (y === at ? flipBit(x, 3) : x));
          return [`proof[${at}] bit 3`, verifyInclusion(leaf, i, n, bad, root(size))];
        }),
      ];
      expect(verifyInclusion(leaf, i, n, p, root(size))).toBe(true);
      expect(probes.filter(([, ok]) => ok).map(([name]) => name)).toEqual([]);
    },
  );

  it.each(CT_CONSISTENCY)("corrupted consistency probes for $from → $to", ({ from, to, proof }) => {
    const p = proof.map(unhex);
    const m = BigInt(from);
    const n = BigInt(to);
    const r1 = root(from);
    const r2 = root(to);
    const probes: [string, boolean][] = [
      ["size1 - 1", verifyConsistency(m - 1n, n, p, r1, r2)],
      ["size1 + 1", verifyConsistency(m + 1n, n, p, r1, r2)],
      ["size1 ^ 2", verifyConsistency(m ^ 2n, n, p, r1, r2)],
      ["size2 * 2", verifyConsistency(m, n * 2n, p, r1, r2)],
      ["size2 / 2", verifyConsistency(m, n / 2n, p, r1, r2)],
      ["wrong root1", verifyConsistency(m, n, p, SOME_HASH, r2)],
      ["wrong root2", verifyConsistency(m, n, p, r1, SOME_HASH)],
      ["swapped roots", verifyConsistency(m, n, p, r2, r1)],
      ["empty proof", verifyConsistency(m, n, [], r1, r2)],
      ["trailing garbage", verifyConsistency(m, n, [...p, new Uint8Array(0)], r1, r2)],
      ["trailing root1", verifyConsistency(m, n, [...p, r1], r1, r2)],
      ["trailing root2", verifyConsistency(m, n, [...p, r2], r1, r2)],
      ["preceding garbage", verifyConsistency(m, n, [new Uint8Array(0), ...p], r1, r2)],
      ["preceding root1", verifyConsistency(m, n, [r1, ...p], r1, r2)],
      ["preceding root2", verifyConsistency(m, n, [r2, ...p], r1, r2)],
      ["preceding proof[0]", verifyConsistency(m, n, [p[0]!, ...p], r1, r2)],
      ["truncated proof", verifyConsistency(m, n, p.slice(0, -1), r1, r2)],
      ...p.map((_, at): [string, boolean] => {
        const bad = p.map((x, y) => (y === at ? flipBit(x, 4) : x));
        return [`proof[${at}] bit 4`, verifyConsistency(m, n, bad, r1, r2)];
      }),
    ];
    expect(verifyConsistency(m, n, p, r1, r2)).toBe(true);
    expect(probes.filter(([, ok]) => ok).map(([name]) => name)).toEqual([]);
  });

  it("handles the edge cases the RFC procedure leaves out", () => {
    const e = emptyRootHash();
    const r1 = root(1);
    expect(verifyConsistency(0n, 0n, [], e, e)).toBe(true);
    expect(verifyConsistency(0n, 1n, [], e, r1)).toBe(true);
    expect(verifyConsistency(1n, 1n, [], r1, r1)).toBe(true);
    // Equal sizes need equal roots and an empty proof.
    expect(verifyConsistency(1n, 1n, [], r1, root(2))).toBe(false);
    expect(verifyConsistency(1n, 1n, [e], r1, r1)).toBe(false);
    expect(verifyConsistency(0n, 0n, [e], e, e)).toBe(false);
    // From the empty tree: empty proof, and the old root must really be the empty tree's.
    expect(verifyConsistency(0n, 1n, [e], e, r1)).toBe(false);
    expect(verifyConsistency(0n, 1n, [], SOME_HASH, r1)).toBe(false);
    // Time travel and a missing proof.
    expect(verifyConsistency(1n, 0n, [], r1, e)).toBe(false);
    expect(verifyConsistency(2n, 1n, [], root(2), r1)).toBe(false);
    expect(verifyConsistency(1n, 2n, [], r1, root(2))).toBe(false);
    // Inclusion in an empty tree or past the end.
    for (const [index, size] of [
      [0n, 0n],
      [1n, 0n],
      [1n, 1n],
      [2n, 1n],
    ] as const) {
      expect(verifyInclusion(SOME_HASH, index, size, [], e)).toBe(false);
      expect(verifyInclusion(r1, index, size, [], r1)).toBe(false);
    }
    expect(verifyInclusion(r1, 0n, 1n, [], r1)).toBe(true);
    expect(verifyInclusion(new Uint8Array(0), 0n, 1n, [], new Uint8Array(0))).toBe(false);
  });

  it("accepts the same 16 of 36 size+1 inclusion claims that EVIDENCE.md counted, and no others", async () => {
    // The verifier cannot tell these apart (see verifyInclusion's doc): the size must come from the
    // signed checkpoint. Counting them pins the behaviour to the one independently measured.
    const leaves = CT_LEAVES.map(leafHash);
    const { store } = await buildStore(leaves);
    let accepted = 0;
    for (let n = 1; n <= 8; n++) {
      for (let m = 0; m < n; m++) {
        const p = await inclusionProof(store, BigInt(m), BigInt(n));
        const ok = verifyInclusion(leaves[m]!, BigInt(m), BigInt(n + 1), p, root(n));
        expect(ok, `index ${m} size ${n}`).toBe(inclusionShape(m, n + 1) === inclusionShape(m, n));
        if (ok) accepted++;
      }
    }
    expect(accepted).toBe(16);
  });
});

describe("store-backed tree against the recursive definition", () => {
  const MAX = 300;
  const EXHAUSTIVE = 64;
  let leaves: Uint8Array[];
  let roots: Uint8Array[];
  let store: InMemoryTreeStore;

  beforeAll(async () => {
    leaves = Array.from({ length: MAX }, (_, i) => leafHash(new TextEncoder().encode(`entry ${i}`)));
    roots = Array.from({ length: MAX + 1 }, (_, n) => rootFromLeaves(leaves.slice(0, n)));
    ({ store } = await buildStore(leaves, [7, 1, 30, 2]));
  });

  it("gives rootFromLeaves for every size, whatever the append batches", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: MAX }),
        fc.array(fc.integer({ min: 1, max: 70 }), { minLength: 1, maxLength: 20 }),
        async (n, batches) => {
          const built = await buildStore(leaves.slice(0, n), batches);
          expect(built.size).toBe(BigInt(n));
          // Exactly the complete subtrees: floor(n / 2^level) of them at each level.
          let expected = 0;
          for (let w = 1; w <= n; w *= 2) expected += Math.floor(n / w);
          expect(built.store.nodeCount).toBe(expected);
          // Every smaller size is answerable from the same nodes: storage is prefix-stable.
          for (let s = 0; s <= n; s++)
            expect(hex(await rootHash(built.store, BigInt(s)))).toBe(hex(roots[s]!));
        },
      ),
      { numRuns: 40 },
    );
  });

  it(`matches PATH and verifies for every leaf of every size up to ${EXHAUSTIVE}`, async () => {
    for (let n = 1; n <= EXHAUSTIVE; n++) {
      for (let m = 0; m < n; m++) {
        const p = await inclusionProof(store, BigInt(m), BigInt(n));
        expect(hexList(p)).toEqual(hexList(refPath(m, leaves.slice(0, n))));
        expect(verifyInclusion(leaves[m]!, BigInt(m), BigInt(n), p, roots[n]!), `${m}/${n}`).toBe(true);
      }
    }
  });

  it(`matches PROOF and verifies for every pair of sizes up to ${EXHAUSTIVE}`, async () => {
    for (let n = 0; n <= EXHAUSTIVE; n++) {
      for (let m = 0; m <= n; m++) {
        const p = await consistencyProof(store, BigInt(m), BigInt(n));
        const expected = m === 0 || m === n ? [] : refSubproof(m, leaves.slice(0, n), true);
        expect(hexList(p)).toEqual(hexList(expected));
        expect(verifyConsistency(BigInt(m), BigInt(n), p, roots[m]!, roots[n]!), `${m}→${n}`).toBe(true);
      }
    }
  });

  const leafInTree = fc
    .integer({ min: 1, max: MAX })
    .chain((n) => fc.tuple(fc.integer({ min: 0, max: n - 1 }), fc.constant(n)));
  const sizePair = fc
    .integer({ min: 1, max: MAX })
    .chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n)));

  it("matches PATH and PROOF on sampled larger trees", async () => {
    await fc.assert(
      fc.asyncProperty(leafInTree, sizePair, async ([m, n], [from, to]) => {
        const p = await inclusionProof(store, BigInt(m), BigInt(n));
        expect(hexList(p)).toEqual(hexList(refPath(m, leaves.slice(0, n))));
        expect(verifyInclusion(leaves[m]!, BigInt(m), BigInt(n), p, roots[n]!)).toBe(true);
        const c = await consistencyProof(store, BigInt(from), BigInt(to));
        const expected = from === to ? [] : refSubproof(from, leaves.slice(0, to), true);
        expect(hexList(c)).toEqual(hexList(expected));
        expect(verifyConsistency(BigInt(from), BigInt(to), c, roots[from]!, roots[to]!)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("rejects an inclusion proof after any single-bit change to proof, leaf or root", async () => {
    await fc.assert(
      fc.asyncProperty(leafInTree, fc.nat(), bitIndex, async ([m, n], pick, bit) => {
        const p = await inclusionProof(store, BigInt(m), BigInt(n));
        const [i, size, leaf, root] = [BigInt(m), BigInt(n), leaves[m]!, roots[n]!];
        // pick selects a proof element, or (when past the end) the leaf or the root.
        const target = pick % (p.length + 2);
        if (target < p.length) {
          const bad = p.map((x, y) => (y === target ? flipBit(x, bit) : x));
          expect(verifyInclusion(leaf, i, size, bad, root)).toBe(false);
        } else if (target === p.length) {
          expect(verifyInclusion(flipBit(leaf, bit), i, size, p, root)).toBe(false);
        } else {
          expect(verifyInclusion(leaf, i, size, p, flipBit(root, bit))).toBe(false);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("rejects an inclusion proof under a wrong index, and under a wrong size unless the path shape is identical", async () => {
    await fc.assert(
      fc.asyncProperty(
        leafInTree,
        fc.integer({ min: 0, max: MAX - 1 }),
        fc.integer({ min: 0, max: 2 * MAX }),
        async ([m, n], otherIndex, otherSize) => {
          const p = await inclusionProof(store, BigInt(m), BigInt(n));
          if (otherIndex !== m) {
            expect(verifyInclusion(leaves[m]!, BigInt(otherIndex), BigInt(n), p, roots[n]!)).toBe(false);
          }
          if (otherSize !== n) {
            const sameShape = m < otherSize && inclusionShape(m, otherSize) === inclusionShape(m, n);
            expect(verifyInclusion(leaves[m]!, BigInt(m), BigInt(otherSize), p, roots[n]!)).toBe(sameShape);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("rejects a consistency proof after any single-bit change to proof or either root", async () => {
    const properPair = fc
      .integer({ min: 2, max: MAX })
      .chain((n) => fc.tuple(fc.integer({ min: 1, max: n - 1 }), fc.constant(n)));
    await fc.assert(
      fc.asyncProperty(properPair, fc.nat(), bitIndex, async ([from, to], pick, bit) => {
        const p = await consistencyProof(store, BigInt(from), BigInt(to));
        const [m, n, r1, r2] = [BigInt(from), BigInt(to), roots[from]!, roots[to]!];
        const target = pick % (p.length + 2);
        if (target < p.length) {
          const bad = p.map((x, y) => (y === target ? flipBit(x, bit) : x));
          expect(verifyConsistency(m, n, bad, r1, r2)).toBe(false);
        } else if (target === p.length) {
          expect(verifyConsistency(m, n, p, flipBit(r1, bit), r2)).toBe(false);
        } else {
          expect(verifyConsistency(m, n, p, r1, flipBit(r2, bit))).toBe(false);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("rejects a consistency proof under wrong sizes unless the proof shape is identical", async () => {
    const properPair = fc
      .integer({ min: 2, max: MAX })
      .chain((n) => fc.tuple(fc.integer({ min: 1, max: n - 1 }), fc.constant(n)));
    const otherSizes = fc.tuple(fc.integer({ min: 0, max: 2 * MAX }), fc.integer({ min: 0, max: 2 * MAX }));
    await fc.assert(
      fc.asyncProperty(properPair, otherSizes, fc.boolean(), async ([from, to], [a, b], keepOne) => {
        // Half the runs perturb only one size, the likelier mistake in practice.
        const [m2, n2] = keepOne ? (a % 2 === 0 ? [from, b] : [a, to]) : [a, b];
        if (m2 === from && n2 === to) return;
        const p = await consistencyProof(store, BigInt(from), BigInt(to));
        const sameShape = m2 > 0 && m2 < n2 && consistencyShape(m2, n2) === consistencyShape(from, to);
        expect(verifyConsistency(BigInt(m2), BigInt(n2), p, roots[from]!, roots[to]!)).toBe(sameShape);
      }),
      { numRuns: 1000 },
    );
  });

  it("reads O(log n) stored nodes, in one round trip, per root or proof", async () => {
    const counting = new CountingStore(store);
    await fc.assert(
      fc.asyncProperty(leafInTree, sizePair, async ([m, n], [from, to]) => {
        const log = Math.ceil(Math.log2(n)) + 1;
        counting.reads = 0;
        counting.calls = 0;
        await rootHash(counting, BigInt(n));
        await inclusionProof(counting, BigInt(m), BigInt(n));
        await consistencyProof(counting, BigInt(from), BigInt(to));
        expect(counting.calls).toBeLessThanOrEqual(3);
        // popcount for the root, then at most two log-length walks.
        expect(counting.reads).toBeLessThanOrEqual(log + 2 * log + 2 * (Math.ceil(Math.log2(to)) + 1));
      }),
      { numRuns: 200 },
    );
  });

  it("holds for random leaf contents too", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 5 }),
        async (entries, batches) => {
          const hashes = entries.map(leafHash);
          const built = await buildStore(hashes, batches);
          const n = hashes.length;
          const root = await rootHash(built.store, BigInt(n));
          expect(hex(root)).toBe(hex(rootFromLeaves(hashes)));
          for (let m = 0; m < n; m++) {
            const p = await inclusionProof(built.store, BigInt(m), BigInt(n));
            expect(verifyInclusion(hashes[m]!, BigInt(m), BigInt(n), p, root)).toBe(true);
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe("store contract", () => {
  it("refuses to overwrite history: a different leaf at an existing index conflicts", async () => {
    const leaves = CT_LEAVES.map(leafHash);
    const { store } = await buildStore(leaves.slice(0, 4));
    const before = hex(await rootHash(store, 4n));
    await expect(appendLeaves(store, 2n, [SOME_HASH])).rejects.toBeInstanceOf(NodeConflictError);
    // The failed batch wrote nothing.
    expect(store.nodeCount).toBe(4 + 2 + 1);
    expect(hex(await rootHash(store, 4n))).toBe(before);
    // Re-appending the same leaves (a retried transaction) is harmless.
    await expect(appendLeaves(store, 2n, leaves.slice(2, 4))).resolves.toBe(4n);
  });

  it("fails loudly when asked about nodes it does not hold", async () => {
    const { store } = await buildStore(CT_LEAVES.map(leafHash).slice(0, 3));
    await expect(rootHash(store, 4n)).rejects.toBeInstanceOf(MissingNodeError);
    await expect(appendLeaves(store, 5n, [SOME_HASH])).rejects.toBeInstanceOf(MissingNodeError);
    const err = await inclusionProof(store, 0n, 8n).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingNodeError);
  });

  it("validates arguments", async () => {
    const store = new InMemoryTreeStore();
    await expect(appendLeaves(store, -1n, [])).rejects.toThrow(RangeError);
    await expect(appendLeaves(store, TREE_SIZE_LIMIT, [])).rejects.toThrow(RangeError);
    await expect(appendLeaves(store, 0n, [new Uint8Array(31)])).rejects.toThrow(TypeError);
    await expect(appendLeaves(store, 0n, [])).resolves.toBe(0n);
    expect(store.nodeCount).toBe(0);
    await expect(rootHash(store, -1n)).rejects.toThrow(RangeError);
    await expect(inclusionProof(store, 0n, 0n)).rejects.toThrow(RangeError);
    await expect(inclusionProof(store, 3n, 3n)).rejects.toThrow(RangeError);
    await expect(consistencyProof(store, 4n, 3n)).rejects.toThrow(RangeError);
    await expect(store.putNodes([{ level: 64, index: 0n, hash: SOME_HASH }])).rejects.toThrow(RangeError);
    await expect(store.putNodes([{ level: 63, index: 2n, hash: SOME_HASH }])).rejects.toThrow(RangeError);
    await expect(store.putNodes([{ level: 0, index: 0n, hash: new Uint8Array(5) }])).rejects.toThrow(
      TypeError,
    );
  });

  it("hands out copies, so mutating a proof cannot corrupt the store", async () => {
    const { store } = await buildStore(CT_LEAVES.map(leafHash));
    const proof = await inclusionProof(store, 0n, 8n);
    proof[0]!.fill(0);
    expect(hexList(await inclusionProof(store, 0n, 8n))).toEqual([node(0, 1), node(1, 1), node(2, 1)]);
  });
});

/**
 * A virtual tree of up to 2^64 − 1 identical leaves: every complete subtree at a level has the same hash,
 * so the store can answer any key without holding the tree. It checks every key it is asked for is a
 * complete subtree of the current size, which proves reads stay within what a real store would hold.
 */
const isHash = (x: unknown): boolean => x instanceof Uint8Array && x.length === 32;
const isSize = (x: unknown): boolean => typeof x === "bigint" && x >= 0n && x < TREE_SIZE_LIMIT;
const isHashList = (x: unknown): boolean => Array.isArray(x) && x.every(isHash);

class UniformStore implements TreeStore {
  readonly levels: Uint8Array[] = [leafHash(new Uint8Array([42]))];
  reads = 0;
  written: TreeNode[] = [];

  constructor(public size: bigint) {
    for (let l = 1; l <= 63; l++) this.levels.push(nodeHash(this.levels[l - 1]!, this.levels[l - 1]!));
  }

  async getNodes(keys: readonly NodeKey[]): Promise<Uint8Array[]> {
    this.reads += keys.length;
    return keys.map((k) => {
      if ((k.index + 1n) << BigInt(k.level) > this.size) throw new MissingNodeError(k);
      return this.levels[k.level]!;
    });
  }

  async putNodes(nodes: readonly TreeNode[]): Promise<void> {
    this.written.push(...nodes);
  }
}

describe("64-bit sizes", () => {
  const MAX_SIZE = TREE_SIZE_LIMIT - 1n;

  it("proves and verifies beyond 2^31 and 2^53 with bigint arithmetic", async () => {
    const store = new UniformStore(MAX_SIZE);
    const leaf = store.levels[0]!;
    const cases: [bigint, bigint][] = [
      [0n, MAX_SIZE],
      [MAX_SIZE - 1n, MAX_SIZE],
      [(1n << 53n) + 1n, MAX_SIZE],
      [(1n << 31n) + 5n, (1n << 32n) + 7n],
    ];
    for (const [index, size] of cases) {
      store.reads = 0;
      const root = await rootHash(store, size);
      const p = await inclusionProof(store, index, size);
      expect(store.reads).toBeLessThanOrEqual(64 * 3);
      expect(p.length).toBeLessThanOrEqual(64);
      expect(verifyInclusion(leaf, index, size, p, root), `${index}/${size}`).toBe(true);
    }
    const pairs: [bigint, bigint][] = [
      [(1n << 63n) + 12345n, MAX_SIZE],
      [(1n << 31n) + 5n, (1n << 32n) + 7n],
      [1n << 62n, MAX_SIZE],
      [MAX_SIZE - 1n, MAX_SIZE],
    ];
    for (const [from, to] of pairs) {
      store.reads = 0;
      const p = await consistencyProof(store, from, to);
      expect(store.reads).toBeLessThanOrEqual(2 * 64 + 1);
      const ok = verifyConsistency(from, to, p, await rootHash(store, from), await rootHash(store, to));
      expect(ok, `${from}→${to}`).toBe(true);
    }
  });

  it("appending the 2^63-th leaf completes all 64 levels up to the top node", async () => {
    const start = (1n << 63n) - 1n;
    const store = new UniformStore(start);
    const newSize = await appendLeaves(store, start, [store.levels[0]!]);
    expect(newSize).toBe(1n << 63n);
    expect(store.reads).toBe(63);
    expect(store.written.map((n) => [n.level, n.index])).toEqual(
      Array.from({ length: 64 }, (_, l) => [l, (start >> BigInt(l)) as bigint]),
    );
    for (const n of store.written) expect(hex(n.hash)).toBe(hex(store.levels[n.level]!));
  });

  it("stops at 2^64 − 1 leaves", async () => {
    const store = new UniformStore(MAX_SIZE - 1n);
    await expect(appendLeaves(store, MAX_SIZE - 1n, [store.levels[0]!])).resolves.toBe(MAX_SIZE);
    await expect(appendLeaves(store, MAX_SIZE, [store.levels[0]!])).rejects.toThrow(RangeError);
    await expect(appendLeaves(store, MAX_SIZE - 1n, [store.levels[0]!, store.levels[0]!])).rejects.toThrow(
      RangeError,
    );
  });

  it("verifiers answer false, without throwing, for anything malformed", () => {
    const anyArg = fc.oneof(
      fc.anything(),
      fc.bigInt({ min: -5n, max: TREE_SIZE_LIMIT + 5n }),
      fc.uint8Array({ minLength: 0, maxLength: 40 }),
      fc.array(fc.uint8Array({ minLength: 31, maxLength: 33 }), { maxLength: 70 }),
    );
    fc.assert(
      fc.property(anyArg, anyArg, anyArg, anyArg, anyArg, (a, b, c, d, e) => {
        // biome-ignore lint/suspicious/noExplicitAny: the point is to feed values the types forbid
        const verify = verifyInclusion as (...args: any[]) => unknown;
        // biome-ignore lint/suspicious/noExplicitAny: as above
        const consistent = verifyConsistency as (...args: any[]) => unknown;
        const inclusion = verify(a, b, c, d, e);
        const consistency = consistent(a, b, c, d, e);
        expect(typeof inclusion).toBe("boolean");
        expect(typeof consistency).toBe("boolean");
        // Random values can occasionally form a genuinely valid claim (e.g. 0 → 0 with equal roots), so
        // only ill-typed calls are required to be false.
        if (!(isHash(a) && isSize(b) && isSize(c) && isHashList(d) && isHash(e)))
          expect(inclusion).toBe(false);
        if (!(isSize(a) && isSize(b) && isHashList(c) && isHash(d) && isHash(e)))
          expect(consistency).toBe(false);
      }),
      { numRuns: 2000 },
    );
    // Sizes past uint64 are refused even when the arithmetic would otherwise work out.
    expect(verifyInclusion(SOME_HASH, TREE_SIZE_LIMIT, TREE_SIZE_LIMIT + 1n, [], SOME_HASH)).toBe(false);
    expect(verifyConsistency(TREE_SIZE_LIMIT, TREE_SIZE_LIMIT, [], SOME_HASH, SOME_HASH)).toBe(false);
    // A proof array with a hole or a non-array-like proof.
    // biome-ignore lint/suspicious/noExplicitAny: as above
    expect(verifyInclusion(SOME_HASH, 0n, 2n, [undefined as any], SOME_HASH)).toBe(false);
    // biome-ignore lint/suspicious/noExplicitAny: as above
    expect(verifyConsistency(1n, 2n, "proof" as any, SOME_HASH, SOME_HASH)).toBe(false);
  });
});
