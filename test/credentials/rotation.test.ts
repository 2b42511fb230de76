import { randomBytes } from "node:crypto";
import { eq, inArray } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog, credentials, orgDataKeys } from "../../db/schema/index.ts";
import { systemContext } from "../../src/context.ts";
import { generateFernetKey } from "../../src/credentials/fernet.ts";
import { parseMasterKeys } from "../../src/credentials/keyring.ts";
import { rotateKeys } from "../../src/credentials/rotation.ts";
import { CredentialStore } from "../../src/credentials/store.ts";
import { useTestDatabase } from "../harness/db.ts";
import { makeOrg } from "../harness/factories.ts";

interface Stored {
  orgId: string;
  id: string;
  secret: string;
}

describe("key rotation", async () => {
  const { db } = await useTestDatabase();
  // Rotation touches every org in the database, so the file keeps one growing chain of master keys:
  // each test puts a new key first and keeps the older ones, as an operator would.
  const chain: string[] = [`k0:${generateFernetKey()}`];
  const ring = (entries = chain) => parseMasterKeys(entries.join(","));
  const addMasterKey = (id: string) => {
    chain.unshift(`${id}:${generateFernetKey()}`);
    return ring();
  };

  async function seed(orgCount: number, perOrg: number): Promise<Stored[]> {
    const store = new CredentialStore(ring());
    const out: Stored[] = [];
    for (let o = 0; o < orgCount; o++) {
      const { org } = await makeOrg(db);
      for (let i = 0; i < perOrg; i++) {
        const secret = `secret-${o}-${i}-${randomBytes(10).toString("hex")}`;
        const meta = await withOrg(db, org.id, (tx) =>
          store.storeCredential(tx, systemContext(org.id), {
            ownerType: "org",
            ownerId: null,
            kind: "api_token",
            secret,
          }),
        );
        out.push({ orgId: org.id, id: meta.id, secret });
      }
    }
    return out;
  }

  async function readAll(store: CredentialStore, stored: Stored[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const s of stored) {
      const read = await withOrg(db, s.orgId, (tx) => store.readCredential(tx, systemContext(s.orgId), s.id));
      out.set(s.id, read?.secret ?? "<missing>");
    }
    return out;
  }

  const expected = (stored: Stored[]) => new Map(stored.map((s) => [s.id, s.secret]));
  const keysOf = (orgIds: string[]) =>
    db.owner
      .select()
      .from(orgDataKeys)
      .where(inArray(orgDataKeys.orgId, orgIds))
      .orderBy(orgDataKeys.version);
  const credentialRows = (ids: string[]) =>
    db.owner.select().from(credentials).where(inArray(credentials.id, ids));

  it("re-wraps every data key under the newest master key, so the old one can be dropped", async () => {
    const stored = await seed(3, 2);
    const orgIds = [...new Set(stored.map((s) => s.orgId))];
    const tokensBefore = (await credentialRows(stored.map((s) => s.id))).map((r) => [r.id, r.token]);
    const wrappedBefore = new Map((await keysOf(orgIds)).map((k) => [k.id, k.wrappedKey]));

    const keyring = addMasterKey("k1");
    const report = await rotateKeys(db, keyring, { reencrypt: false, batchSize: 2 });
    expect(report.masterKeyId).toBe("k1");
    expect(report.rewrapped).toBeGreaterThanOrEqual(3);
    expect(report.reencrypted).toBe(0);

    const keys = await keysOf(orgIds);
    for (const key of keys) {
      expect(key.masterKeyId).toBe("k1");
      expect(key.rewrappedAt).toBeInstanceOf(Date);
      expect(key.wrappedKey).not.toBe(wrappedBefore.get(key.id));
    }
    // Credentials are untouched: same tokens, same data keys.
    expect((await credentialRows(stored.map((s) => s.id))).map((r) => [r.id, r.token])).toEqual(
      expect.arrayContaining(tokensBefore),
    );
    // Only the new master key is needed from now on.
    const onlyNew = new CredentialStore(ring([chain[0]!]));
    expect(await readAll(onlyNew, stored)).toEqual(expected(stored));

    const again = await rotateKeys(db, keyring, { reencrypt: false, batchSize: 2 });
    expect(again.rewrapped).toBe(0);

    const audit = await withOrg(db, orgIds[0]!, (tx) =>
      tx.select().from(auditLog).where(eq(auditLog.action, "data_key.rewrapped")),
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]?.data).toMatchObject({ version: 1, toMasterKeyId: "k1" });
  });

  it("re-encrypts every credential under a fresh data key while readers keep reading", async () => {
    const stored = await seed(4, 6);
    const orgIds = [...new Set(stored.map((s) => s.orgId))];
    const tokensBefore = new Map((await credentialRows(stored.map((s) => s.id))).map((r) => [r.id, r.token]));
    const keyring = addMasterKey("k2");
    const want = expected(stored);

    let running = true;
    let reads = 0;
    const failures: string[] = [];
    const reader = async (makeStore: () => CredentialStore) => {
      while (running) {
        const store = makeStore();
        for (const s of stored) {
          try {
            const read = await withOrg(db, s.orgId, (tx) =>
              store.readCredential(tx, systemContext(s.orgId), s.id),
            );
            reads++;
            if (read?.secret !== want.get(s.id)) failures.push(`${s.id}: wrong value`);
          } catch (error) {
            failures.push(`${s.id}: ${(error as Error).message}`);
          }
        }
      }
    };
    // One reader keeps its cache for the whole run, the other unwraps every key afresh on every pass.
    const cached = new CredentialStore(keyring);
    const readers = [reader(() => cached), reader(() => new CredentialStore(keyring, { cacheEntries: 0 }))];
    const progress: number[] = [];
    try {
      const report = await rotateKeys(db, keyring, {
        reencrypt: true,
        batchSize: 2,
        onProgress: async (event) => {
          if (event.phase === "reencrypt") progress.push(event.reencrypted);
          // Give the readers room between batches, as a busy server would.
          await new Promise((r) => setTimeout(r, 5));
        },
      });
      expect(report.reencrypted).toBeGreaterThanOrEqual(stored.length);
      expect(report.retiredKeys).toBeGreaterThanOrEqual(orgIds.length);
    } finally {
      running = false;
      await Promise.all(readers);
    }
    expect(failures).toEqual([]);
    expect(reads).toBeGreaterThan(stored.length);
    expect(progress.length).toBeGreaterThan(orgIds.length);

    const keys = await keysOf(orgIds);
    for (const orgId of orgIds) {
      const ofOrg = keys.filter((k) => k.orgId === orgId);
      expect(ofOrg.map((k) => [k.version, k.state])).toEqual([
        [1, "retired"],
        [2, "active"],
      ]);
      expect(ofOrg[1]?.masterKeyId).toBe("k2");
    }
    const activeIds = new Set(keys.filter((k) => k.state === "active").map((k) => k.id));
    for (const row of await credentialRows(stored.map((s) => s.id))) {
      expect(activeIds.has(row.dataKeyId)).toBe(true);
      expect(row.token).not.toBe(tokensBefore.get(row.id));
      expect(row.rotatedAt).toBeInstanceOf(Date);
    }
    expect(await readAll(new CredentialStore(ring([chain[0]!])), stored)).toEqual(want);
  });

  it("finishes an interrupted re-encryption when run again, without making another key", async () => {
    const stored = await seed(2, 5);
    const orgIds = [...new Set(stored.map((s) => s.orgId))];
    const keyring = addMasterKey("k3");
    const crashed = await rotateKeys(db, keyring, {
      reencrypt: true,
      batchSize: 2,
      onProgress: (event) => {
        // Stop right after the first committed batch of one of this test's orgs.
        if (event.phase === "reencrypt" && orgIds.includes(event.orgId)) throw new Error("power cut");
      },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((crashed as Error).message).toBe("power cut");

    // Mid-way: some org has a retiring key and credentials on both of its keys; reads still work.
    const mid = await keysOf(orgIds);
    expect(mid.some((k) => k.state === "retiring")).toBe(true);
    const midRows = await credentialRows(stored.map((s) => s.id));
    expect(new Set(midRows.map((r) => r.dataKeyId)).size).toBeGreaterThan(orgIds.length);
    expect(await readAll(new CredentialStore(keyring), stored)).toEqual(expected(stored));

    await rotateKeys(db, keyring, { reencrypt: true, batchSize: 2 });
    const keys = await keysOf(orgIds);
    for (const orgId of orgIds) {
      const ofOrg = keys.filter((k) => k.orgId === orgId);
      // Resumed, not restarted: the org that was mid-way kept the key it had started with.
      expect(ofOrg.filter((k) => k.state === "active")).toHaveLength(1);
      expect(ofOrg.filter((k) => k.state === "retiring")).toHaveLength(0);
    }
    const interrupted = orgIds.find((id) => mid.some((k) => k.orgId === id && k.state === "retiring"))!;
    const midActive = mid.find((k) => k.orgId === interrupted && k.state === "active")!;
    expect(keys.find((k) => k.orgId === interrupted && k.state === "active")?.id).toBe(midActive.id);
    const active = new Set(keys.filter((k) => k.state === "active").map((k) => k.id));
    for (const row of await credentialRows(stored.map((s) => s.id)))
      expect(active.has(row.dataKeyId)).toBe(true);
    expect(await readAll(new CredentialStore(keyring), stored)).toEqual(expected(stored));
  });

  it("keeps storing new credentials during a rotation, under the key that is active at the time", async () => {
    const stored = await seed(1, 8);
    const orgId = stored[0]!.orgId;
    const keyring = addMasterKey("k4");
    const store = new CredentialStore(keyring);
    const added: Stored[] = [];
    const rotation = rotateKeys(db, keyring, {
      reencrypt: true,
      batchSize: 1,
      onProgress: async () => {
        const secret = `during-${randomBytes(10).toString("hex")}`;
        const meta = await withOrg(db, orgId, (tx) =>
          store.storeCredential(tx, systemContext(orgId), {
            ownerType: "org",
            ownerId: null,
            kind: "api_token",
            secret,
          }),
        );
        added.push({ orgId, id: meta.id, secret });
      },
    });
    await rotation;
    expect(added.length).toBeGreaterThan(0);
    const all = [...stored, ...added];
    const keys = await keysOf([orgId]);
    const active = keys.filter((k) => k.state === "active");
    expect(active).toHaveLength(1);
    expect(keys.filter((k) => k.state === "retiring")).toHaveLength(0);
    for (const row of await credentialRows(all.map((s) => s.id))) expect(row.dataKeyId).toBe(active[0]?.id);
    expect(await readAll(store, all)).toEqual(expected(all));
  });
});
