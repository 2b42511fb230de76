import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { apiKeys, memberships, orgs } from "../../db/schema/index.ts";
import { useTestDatabase } from "../harness/db.ts";
import { expectRlsRefusal } from "../harness/errors.ts";
import { makeOrg } from "../harness/factories.ts";

describe("row-level security", async () => {
  const { db } = await useTestDatabase();

  it("runs the app pool as the non-owner role without BYPASSRLS", async () => {
    const [row] = await db.app.execute<{ current_user: string; bypass: boolean; super: boolean }>(
      sql`select current_user, r.rolbypassrls as bypass, r.rolsuper as super from pg_roles r where r.rolname = current_user`,
    );
    expect(row).toEqual({ current_user: "causeway_app", bypass: false, super: false });
  });

  it("shows an org only its own rows", async () => {
    const a = await makeOrg(db, "Alpha");
    const b = await makeOrg(db, "Beta");
    const seenByA = await withOrg(db, a.org.id, (tx) => tx.select().from(orgs));
    expect(seenByA.map((o) => o.id)).toEqual([a.org.id]);
    const keysOfA = await withOrg(db, a.org.id, (tx) => tx.select().from(apiKeys));
    expect(keysOfA.map((k) => k.orgId)).toEqual([a.org.id]);
    // Asking for B's rows by id from A's transaction finds nothing: the filter is in the database.
    const bFromA = await withOrg(db, a.org.id, (tx) =>
      tx.select().from(memberships).where(eq(memberships.orgId, b.org.id)),
    );
    expect(bFromA).toEqual([]);
  });

  it("returns nothing when the org setting is missing", async () => {
    await makeOrg(db);
    const rows = await db.app.transaction((tx) => tx.select().from(orgs));
    expect(rows).toEqual([]);
    const keys = await db.app.select().from(apiKeys);
    expect(keys).toEqual([]);
  });

  it("refuses inserts without the setting or for another org", async () => {
    const a = await makeOrg(db);
    const b = await makeOrg(db);
    await expectRlsRefusal(
      db.app
        .insert(apiKeys)
        .values({ orgId: a.org.id, name: "x", prefix: "AAAAAAAA", keyHash: "00", role: "member" }),
    );
    await expectRlsRefusal(
      withOrg(db, a.org.id, (tx) =>
        tx
          .insert(apiKeys)
          .values({ orgId: b.org.id, name: "x", prefix: "BBBBBBBB", keyHash: "00", role: "member" }),
      ),
    );
    // The same insert for the org in scope works, proving the refusal above was the policy.
    await withOrg(db, a.org.id, (tx) =>
      tx
        .insert(apiKeys)
        .values({ orgId: a.org.id, name: "ok", prefix: "CCCCCCCC", keyHash: "00", role: "member" }),
    );
    const [count] = await db.owner.execute<{ n: number }>(
      sql`select count(*)::int as n from api_keys where prefix = 'CCCCCCCC'`,
    );
    expect(count?.n).toBe(1);
  });

  it("cannot move a row to another org by update", async () => {
    const a = await makeOrg(db);
    const b = await makeOrg(db);
    await expectRlsRefusal(
      withOrg(db, a.org.id, (tx) =>
        tx.update(apiKeys).set({ orgId: b.org.id }).where(eq(apiKeys.orgId, a.org.id)),
      ),
    );
  });

  it("keeps every tenant table under row-level security", async () => {
    const rows = await db.owner.execute<{ table_name: string; rls: boolean }>(sql`
      select c.relname as table_name, c.relrowsecurity as rls
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      join information_schema.columns col on col.table_schema = n.nspname and col.table_name = c.relname
      where n.nspname = 'public' and c.relkind = 'r' and col.column_name = 'org_id'`);
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows)
      expect({ table: row.table_name, rls: row.rls }).toEqual({ table: row.table_name, rls: true });
  });
});
