import { sql } from "drizzle-orm";
import { isUniqueViolation, type OrgTx } from "../../db/client.ts";
import { canonicalizeToBytes } from "./canonical-json.ts";
import { canonicalEntryOf, type EntryFields } from "./entry.ts";
import {
  copyHash,
  HASH_BYTES,
  leafHash,
  MissingNodeError,
  NodeConflictError,
  type NodeKey,
  type TreeNode,
  type TreeStore,
} from "./merkle.ts";

/**
 * The canonical bytes of an audit entry, the leaf of the org's Merkle tree: RFC 8785 JSON of the fixed
 * object `canonicalEntryOf` builds. docs/evidence.md documents it; offline verifiers recompute it from a row.
 */
export function canonicalEntryBytes(entry: EntryFields): Uint8Array {
  return canonicalizeToBytes(canonicalEntryOf(entry));
}

export function entryLeafHash(entry: EntryFields): Uint8Array {
  return leafHash(canonicalEntryBytes(entry));
}

const PUT_CHUNK = 5_000;

/** The org's tree nodes in Postgres, read and written inside the caller's transaction. */
export class DbTreeStore implements TreeStore {
  constructor(
    private readonly tx: OrgTx,
    private readonly orgId: string,
  ) {}

  async getNodes(keys: readonly NodeKey[]): Promise<Uint8Array[]> {
    if (keys.length <= PUT_CHUNK) return this.getChunk(keys);
    const out: Uint8Array[] = [];
    for (let i = 0; i < keys.length; i += PUT_CHUNK)
      out.push(...(await this.getChunk(keys.slice(i, i + PUT_CHUNK))));
    return out;
  }

  private async getChunk(keys: readonly NodeKey[]): Promise<Uint8Array[]> {
    if (keys.length === 0) return [];
    // The keys as two parallel text lists joined on the primary key: an index lookup per key however
    // many there are (a long IN list of row values can make the planner scan the org's whole tree).
    const rows = await this.tx.execute<{ level: number; idx: string; hash: Buffer }>(sql`
      select n.level, n.idx::text as idx, n.hash
      from unnest(string_to_array(${keys.map((k) => k.level).join(",")}, ',')::smallint[],
        string_to_array(${keys.map((k) => k.index.toString()).join(",")}, ',')::bigint[]) as k(l, i)
      join audit_tree_nodes n on n.org_id = ${this.orgId}::uuid and n.level = k.l and n.idx = k.i`);
    const byKey = new Map(rows.map((r) => [`${r.level}:${r.idx}`, storedHash(r.hash)]));
    return keys.map((k) => {
      const hash = byKey.get(`${k.level}:${k.index}`);
      if (!hash) throw new MissingNodeError(k);
      return hash;
    });
  }

  async putNodes(nodes: readonly TreeNode[]): Promise<void> {
    // A bulk append writes ~2 nodes per leaf; keep each statement to a bounded size.
    for (let i = 0; i < nodes.length; i += PUT_CHUNK) await this.putChunk(nodes.slice(i, i + PUT_CHUNK));
  }

  private async putChunk(nodes: readonly TreeNode[]): Promise<void> {
    if (nodes.length === 0) return;
    // Appends only ever write nodes that cannot exist yet, so first try a plain insert (about a third of
    // the cost of ON CONFLICT … RETURNING) in a savepoint; only if some key exists does the checking
    // path below run.
    try {
      await this.tx.transaction((sp) =>
        sp.execute(sql`
        insert into audit_tree_nodes (org_id, level, idx, hash)
        select ${this.orgId}::uuid, x.l, x.i, decode(x.h, 'hex')
        from ${nodeRows(nodes)} as x(l, i, h)`),
      );
      return;
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
    }
    const inserted = await this.tx.execute<{ level: number; idx: string }>(sql`
      insert into audit_tree_nodes (org_id, level, idx, hash)
      select ${this.orgId}::uuid, x.l, x.i, decode(x.h, 'hex')
      from ${nodeRows(nodes)} as x(l, i, h)
      on conflict do nothing
      returning level, idx::text as idx`);
    if (inserted.length === nodes.length) return;
    // Rewriting a node with the same hash is harmless; with a different hash it is an attempt to rewrite history.
    const fresh = new Set(inserted.map((r) => `${r.level}:${r.idx}`));
    const existing = nodes.filter((n) => !fresh.has(`${n.level}:${n.index}`));
    const stored = await this.getNodes(existing);
    existing.forEach((n, i) => {
      if (Buffer.compare(Buffer.from(stored[i]!), Buffer.from(n.hash)) !== 0) throw new NodeConflictError(n);
    });
  }
}

/**
 * A hash as read (a Buffer over the driver's bytes) in a slab (see copyHash); a stored value of the wrong
 * length is passed on as it is, for appendLeaves and the proofs to refuse as malformed.
 */
function storedHash(bytes: Buffer): Uint8Array {
  return bytes.length === HASH_BYTES ? copyHash(bytes) : new Uint8Array(bytes);
}

/** Nodes as three parallel comma-separated text parameters, zipped by unnest: no JSON to parse. */
function nodeRows(nodes: readonly TreeNode[]) {
  const levels = nodes.map((n) => n.level).join(",");
  const indexes = nodes.map((n) => n.index.toString()).join(",");
  const hashes = nodes
    .map((n) => Buffer.from(n.hash.buffer, n.hash.byteOffset, n.hash.length).toString("hex"))
    .join(",");
  return sql`unnest(string_to_array(${levels}, ',')::smallint[], string_to_array(${indexes}, ',')::bigint[],
    string_to_array(${hashes}, ','))`;
}
