import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { apiKeys, auditLog } from "../../db/schema/index.ts";
import { createApiKey } from "../../src/accounts/api-keys.ts";
import { ForbiddenError } from "../../src/errors.ts";
import { jsonOf } from "../harness/app.ts";
import { loginAs, makeApiKey, makeOrg, makeUser } from "../harness/factories.ts";
import { useAccountsApp } from "./app.ts";

describe("API keys", async () => {
  const t = await useAccountsApp();
  const db = t.database.db;

  it("creates a key shown once, stored hashed with a visible prefix, and listed without the secret", async () => {
    const org = await makeOrg(db);
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const res = await t.request("/api/v1/api-keys", {
      method: "POST",
      apiKey: org.apiKey,
      json: { name: "deploy bot", role: "admin", scopes: ["incidents"], expiresAt },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = await jsonOf(res);
    expect(body.key).toMatch(/^cw_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}$/);
    expect(body.apiKey).toMatchObject({
      name: "deploy bot",
      role: "admin",
      scopes: ["incidents"],
      prefix: body.key.slice(3, 11),
      createdBy: org.owner.id,
      expiresAt,
      lastUsedAt: null,
      revokedAt: null,
    });
    const rows = await withOrg(db, org.org.id, (tx) =>
      tx.select().from(apiKeys).where(eq(apiKeys.id, body.apiKey.id)),
    );
    expect(JSON.stringify(rows)).not.toContain(body.key);

    const list = await t.request("/api/v1/api-keys", { apiKey: org.apiKey });
    expect(list.status).toBe(200);
    const listed = await jsonOf(list);
    expect(listed.nextCursor).toBeNull();
    expect(listed.items.map((k: { id: string }) => k.id)).toContain(body.apiKey.id);
    expect(JSON.stringify(listed)).not.toContain(body.key);

    const [audit] = await withOrg(db, org.org.id, (tx) =>
      tx
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.action, "api_key.created"), eq(auditLog.subjectId, body.apiKey.id))),
    );
    expect(audit).toMatchObject({ actorKind: "api_key", data: expect.objectContaining({ role: "admin" }) });
    expect(JSON.stringify(audit?.data)).not.toContain(body.key);
  });

  it("records when a key was last used", async () => {
    const org = await makeOrg(db);
    const key = await makeApiKey(db, org.org.id, "member");
    expect((await t.request("/api/v1/me", { apiKey: key.key })).status).toBe(200);
    const list = await jsonOf(await t.request("/api/v1/api-keys", { apiKey: org.apiKey }));
    const listed = list.items.find((k: { id: string }) => k.id === key.id);
    expect(Date.parse(listed.lastUsedAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  it("pages through keys with a cursor", async () => {
    const org = await makeOrg(db);
    for (let i = 0; i < 3; i++) await makeApiKey(db, org.org.id, "member", { name: `k${i}` });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await t.request(`/api/v1/api-keys?limit=2${cursor ? `&cursor=${cursor}` : ""}`, {
        apiKey: org.apiKey,
      });
      expect(res.status).toBe(200);
      const page = await jsonOf(res);
      seen.push(...page.items.map((k: { id: string }) => k.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(4); // the owner key and three more
    expect(new Set(seen).size).toBe(4);
  });

  it("refuses a revoked key from the very next request", async () => {
    const org = await makeOrg(db);
    const key = await makeApiKey(db, org.org.id, "member");
    expect((await t.request("/api/v1/me", { apiKey: key.key })).status).toBe(200);
    const revoke = await t.request(`/api/v1/api-keys/${key.id}`, { method: "DELETE", apiKey: org.apiKey });
    expect(revoke.status).toBe(204);
    const after = await t.request("/api/v1/me", { apiKey: key.key });
    expect(after.status).toBe(401);
    expect((await jsonOf(after)).code).toBe("unauthenticated");
    const audit = await withOrg(db, org.org.id, (tx) =>
      tx.select().from(auditLog).where(eq(auditLog.action, "api_key.revoked")),
    );
    expect(audit.map((a) => a.subjectId)).toEqual([key.id]);
    // Revoking again is a no-op, and writes nothing more.
    expect(
      (await t.request(`/api/v1/api-keys/${key.id}`, { method: "DELETE", apiKey: org.apiKey })).status,
    ).toBe(204);
    const again = await withOrg(db, org.org.id, (tx) =>
      tx.select().from(auditLog).where(eq(auditLog.action, "api_key.revoked")),
    );
    expect(again).toHaveLength(1);
  });

  it("refuses an expired key", async () => {
    const org = await makeOrg(db);
    const key = await makeApiKey(db, org.org.id, "member", { expiresAt: new Date(Date.now() + 1_000) });
    await withOrg(db, org.org.id, (tx) =>
      tx
        .update(apiKeys)
        .set({ expiresAt: new Date(Date.now() - 1_000) })
        .where(eq(apiKeys.id, key.id)),
    );
    expect((await t.request("/api/v1/me", { apiKey: key.key })).status).toBe(401);
  });

  it("never creates a key with a role above the creator's", async () => {
    const org = await makeOrg(db);
    const admin = await makeApiKey(db, org.org.id, "admin");
    const res = await t.request("/api/v1/api-keys", {
      method: "POST",
      apiKey: admin.key,
      json: { name: "escalation", role: "owner" },
    });
    expect(res.status).toBe(403);
    expect((await jsonOf(res)).code).toBe("forbidden");
    const ok = await t.request("/api/v1/api-keys", {
      method: "POST",
      apiKey: admin.key,
      json: { name: "peer", role: "admin" },
    });
    expect(ok.status).toBe(201);
    // An admin cannot revoke an owner's key either.
    const ownerKeyId = (
      await withOrg(db, org.org.id, (tx) => tx.select().from(apiKeys).where(eq(apiKeys.role, "owner")))
    )[0]!.id;
    const revoke = await t.request(`/api/v1/api-keys/${ownerKeyId}`, { method: "DELETE", apiKey: admin.key });
    expect(revoke.status).toBe(403);
  });

  it("enforces the role in the service too, not only at the route", async () => {
    const org = await makeOrg(db);
    const error = await createApiKey(
      { db },
      { orgId: org.org.id, role: "member", actor: { kind: "api_key", id: "x" } },
      { name: "nope" },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ForbiddenError);
    const rows = await withOrg(db, org.org.id, (tx) =>
      tx.select().from(apiKeys).where(eq(apiKeys.name, "nope")),
    );
    expect(rows).toHaveLength(0);
  });

  it("lets members neither list nor create keys", async () => {
    const org = await makeOrg(db);
    const member = await makeApiKey(db, org.org.id, "member");
    const user = await makeUser(db, org.org.id, "member");
    const session = await loginAs(t, user);
    for (const bearer of [member.key, session.accessToken]) {
      expect((await t.request("/api/v1/api-keys", { bearer })).status).toBe(403);
      const create = await t.request("/api/v1/api-keys", { method: "POST", bearer, json: { name: "x" } });
      expect(create.status).toBe(403);
    }
  });

  it("limits a scoped key to routes carrying one of its tags", async () => {
    const org = await makeOrg(db);
    const scoped = await makeApiKey(db, org.org.id, "admin", { scopes: ["members"] });
    expect((await t.request("/api/v1/members", { apiKey: scoped.key })).status).toBe(200);
    const outside = await t.request("/api/v1/api-keys", { apiKey: scoped.key });
    expect(outside.status).toBe(403);
    expect((await jsonOf(outside)).detail).toMatch(/scopes/);
  });

  it("validates the request body", async () => {
    const org = await makeOrg(db);
    const res = await t.request("/api/v1/api-keys", {
      method: "POST",
      apiKey: org.apiKey,
      json: { name: "", role: "root", expiresAt: "yesterday" },
    });
    expect(res.status).toBe(400);
    const body = await jsonOf(res);
    expect(body.code).toBe("validation_failed");
    expect(body.errors.map((e: { path: string }) => e.path).sort()).toEqual(["expiresAt", "name", "role"]);
    const past = await t.request("/api/v1/api-keys", {
      method: "POST",
      apiKey: org.apiKey,
      json: { name: "late", expiresAt: new Date(Date.now() - 1000).toISOString() },
    });
    expect(past.status).toBe(400);
    expect((await jsonOf(past)).errors).toEqual([{ path: "expiresAt", message: "must be in the future" }]);
  });
});
