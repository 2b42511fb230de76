import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog } from "../../db/schema/index.ts";
import { appendAudit, appendAuditBatch } from "../../src/evidence/audit.ts";
import { DbTreeStore, entryLeafHash } from "../../src/evidence/audit-tree.ts";
import {
  inclusionProof,
  NodeConflictError,
  rootFromLeaves,
  rootHash,
  verifyInclusion,
} from "../../src/evidence/merkle.ts";
import { useTestDatabase } from "../harness/db.ts";
import { pgErrorOf } from "../harness/errors.ts";
import { makeOrg } from "../harness/factories.ts";

async function refusal(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "the database should have refused").toBeDefined();
  return pgErrorOf(error);
}

describe("audit log", async () => {
  const { db } = await useTestDatabase();

  it("records org creation with a gap-free sequence per org", async () => {
    const a = await makeOrg(db);
    const b = await makeOrg(db);
    const ctx = { orgId: a.org.id, role: "owner" as const, actor: { kind: "system" as const, id: "test" } };
    await withOrg(db, a.org.id, (tx) =>
      appendAudit(tx, ctx, { action: "test.one", subjectType: "thing", data: { token: "s3cret" } }),
    );
    const rows = await withOrg(db, a.org.id, (tx) => tx.select().from(auditLog).orderBy(auditLog.seq));
    expect(rows.map((r) => [r.seq, r.action])).toEqual([
      [0n, "org.created"],
      [1n, "membership.created"],
      [2n, "api_key.created"],
      [3n, "test.one"],
    ]);
    expect(rows[3]?.data).toEqual({ token: "[redacted]" });
    const ofB = await withOrg(db, b.org.id, (tx) => tx.select().from(auditLog).orderBy(auditLog.seq));
    expect(ofB.map((r) => r.seq)).toEqual([0n, 1n, 2n]);
  });

  it("cannot be changed or removed by the application's own role", async () => {
    const a = await makeOrg(db);
    const update = await refusal(
      withOrg(db, a.org.id, (tx) => tx.update(auditLog).set({ action: "forged" })),
    );
    expect(update.code).toBe("42501");
    const del = await refusal(withOrg(db, a.org.id, (tx) => tx.delete(auditLog)));
    expect(del.code).toBe("42501");
  });

  it("cannot be changed or removed even by the owner", async () => {
    const a = await makeOrg(db);
    const update = await refusal(
      db.owner.execute(sql`update audit_log set action = 'forged' where org_id = ${a.org.id}`),
    );
    expect(update.message).toMatch(/append-only/);
    const del = await refusal(db.owner.execute(sql`delete from audit_log where org_id = ${a.org.id}`));
    expect(del.message).toMatch(/append-only/);
    const truncate = await refusal(db.owner.execute(sql`truncate audit_log`));
    expect(truncate.message).toMatch(/append-only/);
    const [count] = await db.owner.execute<{ n: number }>(
      sql`select count(*)::int as n from audit_log where org_id = ${a.org.id} and action <> 'forged'`,
    );
    expect(count?.n).toBe(3);
  });

  it("keeps an incremental RFC 6962 tree whose root matches the entries recomputed from the rows", async () => {
    const a = await makeOrg(db);
    const ctx = { orgId: a.org.id, role: "owner" as const, actor: { kind: "system" as const, id: "test" } };
    for (let i = 0; i < 20; i++) {
      await withOrg(db, a.org.id, (tx) =>
        appendAudit(tx, ctx, {
          action: `test.${i}`,
          subjectType: "thing",
          data: { i, nested: { z: 1, a: [i, "x"] }, skipped: undefined },
        }),
      );
    }
    const rows = await withOrg(db, a.org.id, (tx) => tx.select().from(auditLog).orderBy(auditLog.seq));
    expect(rows).toHaveLength(23);
    const leaves = rows.map((r) => entryLeafHash(r));
    const expected = rootFromLeaves(leaves);
    const root = await withOrg(db, a.org.id, (tx) =>
      rootHash(new DbTreeStore(tx, a.org.id), BigInt(rows.length)),
    );
    expect(Buffer.from(root).toString("hex")).toBe(Buffer.from(expected).toString("hex"));
    // Every entry is provably included.
    for (const index of [0, 7, 22]) {
      const proof = await withOrg(db, a.org.id, (tx) =>
        inclusionProof(new DbTreeStore(tx, a.org.id), BigInt(index), 23n),
      );
      expect(verifyInclusion(leaves[index]!, BigInt(index), 23n, proof, root)).toBe(true);
    }
    // Tree nodes are as immutable as the entries.
    const tamper = await refusal(
      db.owner.execute(sql`update audit_tree_nodes set hash = '\\x00' where org_id = ${a.org.id}`),
    );
    expect(tamper.message).toMatch(/append-only/);
  });

  it("bulk appends hash the same leaves as the rows recompute to, whatever the data holds", async () => {
    const a = await makeOrg(db);
    const ctx = {
      orgId: a.org.id,
      role: "owner" as const,
      actor: { kind: "system" as const, id: 'bulk "quoted" é' },
      requestId: "req-1",
    };
    const tricky = [
      { seq: "", nested: { seq: "1", "seq\u0001": true }, é: "😀", n: [0.1, -0, 1e21, 5e-7] },
      { token: "s3cret", skipped: undefined, s: 'line\nbreak\ttab\u0001"' },
      {},
    ];
    const first = await withOrg(db, a.org.id, (tx) =>
      appendAuditBatch(
        tx,
        ctx,
        Array.from({ length: 7 }, (_, i) => ({
          action: `bulk.${i}`,
          subjectType: "thing",
          subjectId: i % 2 ? String(i) : null,
          data: tricky[i % tricky.length] as Record<string, unknown>,
        })),
      ),
    );
    const second = await withOrg(db, a.org.id, (tx) =>
      appendAuditBatch(tx, ctx, [{ action: "bulk.last", subjectType: "thing", data: { i: 1 } }]),
    );
    const rows = await withOrg(db, a.org.id, (tx) => tx.select().from(auditLog).orderBy(auditLog.seq));
    const leaves = rows.map((r) => entryLeafHash(r));
    const returned = [...first, ...second];
    expect(returned.map((r) => r.seq)).toEqual(rows.slice(-8).map((r) => r.seq));
    expect(returned.map((r) => Buffer.from(r.leafHash).toString("hex"))).toEqual(
      leaves.slice(-8).map((h) => Buffer.from(h).toString("hex")),
    );
    expect(rows.at(-7)!.data).toEqual({
      token: "[redacted]",
      s: 'line\nbreak\ttab\u0001"',
    });
    const root = await withOrg(db, a.org.id, (tx) =>
      rootHash(new DbTreeStore(tx, a.org.id), BigInt(rows.length)),
    );
    expect(Buffer.from(root).toString("hex")).toBe(Buffer.from(rootFromLeaves(leaves)).toString("hex"));
  });

  it("stored tree nodes accept an identical rewrite and refuse a different hash", async () => {
    const a = await makeOrg(db);
    const [node] = await withOrg(db, a.org.id, async (tx) => {
      const store = new DbTreeStore(tx, a.org.id);
      return [{ level: 0, index: 0n, hash: (await store.getNodes([{ level: 0, index: 0n }]))[0]! }];
    });
    const fresh = { level: 0, index: 1_000_000n, hash: new Uint8Array(32).fill(7) };
    // The identical node next to a new one: the new one is written, the transaction goes on.
    const count = await withOrg(db, a.org.id, async (tx) => {
      await new DbTreeStore(tx, a.org.id).putNodes([node!, fresh]);
      const rows = await tx.execute<{ n: number }>(
        sql`select count(*)::int as n from audit_tree_nodes where org_id = ${a.org.id} and idx = 1000000`,
      );
      return rows[0]!.n;
    });
    expect(count).toBe(1);
    const changed = { ...node!, hash: new Uint8Array(32).fill(1) };
    await expect(
      withOrg(db, a.org.id, (tx) => new DbTreeStore(tx, a.org.id).putNodes([changed])),
    ).rejects.toBeInstanceOf(NodeConflictError);
  });
});
