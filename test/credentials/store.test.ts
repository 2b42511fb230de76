import { randomBytes } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog, credentials, integrations, orgDataKeys } from "../../db/schema/index.ts";
import type { OrgContext } from "../../src/context.ts";
import { Fernet, generateFernetKey } from "../../src/credentials/fernet.ts";
import { KeyringError, parseMasterKeys } from "../../src/credentials/keyring.ts";
import { CredentialStore, last4Of } from "../../src/credentials/store.ts";
import { ForbiddenError } from "../../src/errors.ts";
import { generateKeys } from "../../src/keys.ts";
import { useTestDatabase } from "../harness/db.ts";
import { makeOrg } from "../harness/factories.ts";

function ctxOf(orgId: string, role: OrgContext["role"] = "admin"): OrgContext {
  return { orgId, role, actor: { kind: "system", id: "test" } };
}

function distinctive(label: string): string {
  return `${label}-${randomBytes(12).toString("hex")}`;
}

describe("credential store", async () => {
  const { db } = await useTestDatabase();
  const keyring = parseMasterKeys(generateKeys().masterKeys);
  const store = new CredentialStore(keyring);

  async function storeOne(
    orgId: string,
    secret: string,
    kind = "api_token",
    ownerId: string | null = null,
    ownerType = "org",
  ) {
    return withOrg(db, orgId, (tx) =>
      store.storeCredential(tx, ctxOf(orgId), { ownerType, ownerId, kind, secret }),
    );
  }

  it("keeps only a Fernet token under the org's data key, made lazily and wrapped by the current master key", async () => {
    const { org } = await makeOrg(db);
    const before = await db.owner.select().from(orgDataKeys).where(eq(orgDataKeys.orgId, org.id));
    expect(before).toEqual([]);

    const secret = distinctive("token");
    const meta = await storeOne(org.id, secret);
    expect(meta).toMatchObject({
      kind: "api_token",
      ownerType: "org",
      last4: secret.slice(-4),
      retiredAt: null,
    });
    expect(JSON.stringify(meta)).not.toContain(secret);

    const keys = await db.owner.select().from(orgDataKeys).where(eq(orgDataKeys.orgId, org.id));
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ version: 1, state: "active", masterKeyId: keyring.current });
    const [row] = await db.owner.select().from(credentials).where(eq(credentials.id, meta.id));
    expect(row?.dataKeyId).toBe(keys[0]?.id);
    expect(row?.token).toMatch(/^gAAAAA/);
    expect(row?.token).not.toContain(secret);
    // The token really is Fernet under the unwrapped data key.
    const dataKey = keyring.unwrapDataKey(keys[0]!.masterKeyId, keys[0]!.wrappedKey);
    expect(new Fernet(dataKey).decryptString(row!.token)).toBe(secret);

    await storeOne(org.id, distinctive("second"));
    const after = await db.owner.select().from(orgDataKeys).where(eq(orgDataKeys.orgId, org.id));
    expect(after).toHaveLength(1);
  });

  it("shows the last 4 characters only of secrets of 12 characters or more", () => {
    expect(last4Of("abcdefghijkl")).toBe("ijkl");
    expect(last4Of("abcdefghijk")).toBeNull();
    expect(last4Of("")).toBeNull();
    // Characters, not UTF-16 code units: an emoji is not cut in half.
    expect(last4Of("ééééééééééé😀")).toBe("ééé😀");
  });

  it("creates one data key when an org's first credentials are stored concurrently", async () => {
    const { org } = await makeOrg(db);
    const secrets = Array.from({ length: 6 }, (_, i) => distinctive(`race${i}`));
    await Promise.all(secrets.map((s) => storeOne(org.id, s)));
    const keys = await db.owner.select().from(orgDataKeys).where(eq(orgDataKeys.orgId, org.id));
    expect(keys).toHaveLength(1);
    const read = await withOrg(db, org.id, (tx) =>
      store.listSecrets(tx, ctxOf(org.id), { ownerType: "org", ownerId: null }),
    );
    expect(read.map((r) => r.secret).sort()).toEqual([...secrets].sort());
  });

  it("lists active secrets newest first, reads retired ones by id, and retires once", async () => {
    const { org } = await makeOrg(db);
    const ownerId = crypto.randomUUID();
    const first = await storeOne(org.id, distinctive("one"), "webhook_secret", ownerId);
    const second = await storeOne(org.id, distinctive("two"), "webhook_secret", ownerId);
    await storeOne(org.id, distinctive("other-kind"), "api_key", ownerId);
    const ctx = ctxOf(org.id);
    const owner = { ownerType: "org", ownerId, kind: "webhook_secret" };

    const active = await withOrg(db, org.id, (tx) => store.listSecrets(tx, ctx, owner));
    expect(active.map((a) => a.credential.id)).toEqual([second.id, first.id]);

    const retired = await withOrg(db, org.id, (tx) => store.retireCredential(tx, ctx, first.id));
    expect(retired?.retiredAt).toBeInstanceOf(Date);
    expect(await withOrg(db, org.id, (tx) => store.retireCredential(tx, ctx, first.id))).toBeNull();

    const after = await withOrg(db, org.id, (tx) => store.listSecrets(tx, ctx, owner));
    expect(after.map((a) => a.credential.id)).toEqual([second.id]);
    const byId = await withOrg(db, org.id, (tx) => store.readCredential(tx, ctx, first.id));
    expect(byId?.credential.retiredAt).toBeInstanceOf(Date);
    expect(byId?.secret).toMatch(/^one-/);

    const meta = await withOrg(db, org.id, (tx) =>
      store.listCredentials(tx, ctx, { ownerType: "org", ownerId, includeRetired: true }),
    );
    expect(meta).toHaveLength(3);
    expect(JSON.stringify(meta)).not.toMatch(/one-|two-|other-kind-/);
  });

  it("never reads another org's credential", async () => {
    const a = await makeOrg(db);
    const b = await makeOrg(db);
    const meta = await storeOne(a.org.id, distinctive("a-only"));
    const fromB = await withOrg(db, b.org.id, (tx) => store.readCredential(tx, ctxOf(b.org.id), meta.id));
    expect(fromB).toBeNull();
    // Even asking with A's org id inside B's transaction: row-level security hides the row.
    const forged = await withOrg(db, b.org.id, (tx) => store.readCredential(tx, ctxOf(a.org.id), meta.id));
    expect(forged).toBeNull();
    expect(
      await withOrg(db, b.org.id, (tx) => store.retireCredential(tx, ctxOf(b.org.id), meta.id)),
    ).toBeNull();
  });

  it("lets only admins store and retire", async () => {
    const { org } = await makeOrg(db);
    const member = ctxOf(org.id, "member");
    await expect(
      withOrg(db, org.id, (tx) =>
        store.storeCredential(tx, member, {
          ownerType: "org",
          ownerId: null,
          kind: "api_key",
          secret: "x".repeat(20),
        }),
      ),
    ).rejects.toBeInstanceOf(ForbiddenError);
    const meta = await storeOne(org.id, distinctive("keep"));
    await expect(
      withOrg(db, org.id, (tx) => store.retireCredential(tx, member, meta.id)),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });

  it("audits creation and retirement without the secret", async () => {
    const { org } = await makeOrg(db);
    const secret = distinctive("audited");
    const meta = await storeOne(org.id, secret);
    await withOrg(db, org.id, (tx) => store.retireCredential(tx, ctxOf(org.id), meta.id));
    const entries = await withOrg(db, org.id, (tx) =>
      tx.select().from(auditLog).where(eq(auditLog.orgId, org.id)).orderBy(auditLog.seq),
    );
    const actions = entries.map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(["data_key.created", "credential.created", "credential.retired"]),
    );
    const created = entries.find((e) => e.action === "credential.created");
    expect(created).toMatchObject({
      subjectType: "credential",
      subjectId: meta.id,
      data: { kind: "api_token" },
    });
    expect(JSON.stringify(entries.map((e) => e.data))).not.toContain(secret);
  });

  it("works without a cache, and refuses keys it cannot unwrap without quoting any", async () => {
    const { org } = await makeOrg(db);
    const secret = distinctive("uncached");
    const meta = await storeOne(org.id, secret);
    const uncached = new CredentialStore(keyring, { cacheEntries: 0 });
    const read = await withOrg(db, org.id, (tx) => uncached.readCredential(tx, ctxOf(org.id), meta.id));
    expect(read?.secret).toBe(secret);

    const readWith = (ring: string) =>
      withOrg(db, org.id, (tx) =>
        new CredentialStore(parseMasterKeys(ring)).readCredential(tx, ctxOf(org.id), meta.id),
      ).catch((e: unknown) => e);
    const missing = await readWith(`other:${generateFernetKey()}`);
    expect(missing).toBeInstanceOf(KeyringError);
    expect((missing as Error).message).toMatch(/is not configured in CAUSEWAY_MASTER_KEYS/);
    const wrongKey = await readWith(`${keyring.current}:${generateFernetKey()}`);
    expect(wrongKey).toBeInstanceOf(KeyringError);
    expect((wrongKey as Error).message).toMatch(/could not be unwrapped by the configured master key/);
    for (const error of [missing, wrongKey]) expect((error as Error).message).not.toContain(secret);
  });

  it("reports a tampered token as undecryptable, naming only the credential", async () => {
    const { org } = await makeOrg(db);
    const meta = await storeOne(org.id, distinctive("tampered"));
    const [row] = await db.owner.select().from(credentials).where(eq(credentials.id, meta.id));
    const flipped = `${row!.token.slice(0, 40)}${row!.token[40] === "A" ? "B" : "A"}${row!.token.slice(41)}`;
    await db.owner.update(credentials).set({ token: flipped }).where(eq(credentials.id, meta.id));
    const error = await withOrg(db, org.id, (tx) => store.readCredential(tx, ctxOf(org.id), meta.id)).catch(
      (e: unknown) => e,
    );
    expect((error as Error).message).toBe(`credential ${meta.id} could not be decrypted (bad signature)`);
  });

  describe("webhook lookup", () => {
    async function makeIntegration(orgId: string, provider = "github") {
      const [row] = await withOrg(db, orgId, (tx) =>
        tx
          .insert(integrations)
          .values({ orgId, provider, name: "hooks", config: { a: 1 } })
          .returning(),
      );
      return row!;
    }

    it("returns the integration and its active webhook secrets, decrypted with the right org's key", async () => {
      const a = await makeOrg(db);
      const b = await makeOrg(db);
      const integration = await makeIntegration(a.org.id);
      const other = await makeIntegration(b.org.id);
      const [s1, s2, s3, apiKey, foreign] = ["s1", "s2", "s3", "api", "foreign"].map(distinctive);
      const old = await storeOne(a.org.id, s1!, "webhook_secret", integration.id, "integration");
      await storeOne(a.org.id, s2!, "webhook_secret", integration.id, "integration");
      await storeOne(a.org.id, s3!, "webhook_secret", integration.id, "integration");
      await storeOne(a.org.id, apiKey!, "api_key", integration.id, "integration");
      // Same owner id and kind, but not an integration's secret.
      await storeOne(
        a.org.id,
        distinctive("not-integration"),
        "webhook_secret",
        integration.id,
        "repository",
      );
      await storeOne(b.org.id, foreign!, "webhook_secret", other.id, "integration");
      await withOrg(db, a.org.id, (tx) => store.retireCredential(tx, ctxOf(a.org.id), old.id));

      const found = await store.getIntegrationForWebhook(db, integration.id);
      expect(found).toEqual({
        integration: {
          id: integration.id,
          orgId: a.org.id,
          provider: "github",
          name: "hooks",
          config: { a: 1 },
        },
        secrets: [s3, s2],
      });
      const fresh = new CredentialStore(keyring, { cacheEntries: 0 });
      expect((await fresh.getIntegrationForWebhook(db, other.id))?.secrets).toEqual([foreign]);
    });

    it("returns an integration without secrets, and null for unknown, malformed or deleted ids", async () => {
      const { org } = await makeOrg(db);
      const integration = await makeIntegration(org.id, "alertmanager");
      expect((await store.getIntegrationForWebhook(db, integration.id))?.secrets).toEqual([]);
      expect(await store.getIntegrationForWebhook(db, crypto.randomUUID())).toBeNull();
      expect(await store.getIntegrationForWebhook(db, "not-a-uuid'; drop table x")).toBeNull();
      await withOrg(db, org.id, (tx) =>
        tx
          .update(integrations)
          .set({ deletedAt: sql`now()` })
          .where(and(eq(integrations.id, integration.id), eq(integrations.orgId, org.id))),
      );
      expect(await store.getIntegrationForWebhook(db, integration.id)).toBeNull();
    });
  });
});
