import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog } from "../../db/schema/index.ts";
import { jsonOf } from "../harness/app.ts";
import { loginAs, makeApiKey, makeOrg, makeUser } from "../harness/factories.ts";
import { useAccountsApp } from "./app.ts";

describe("audit trail of account mutations", async () => {
  const t = await useAccountsApp();
  const db = t.database.db;
  const entries = (orgId: string) =>
    withOrg(db, orgId, (tx) =>
      tx.select().from(auditLog).where(eq(auditLog.orgId, orgId)).orderBy(auditLog.seq),
    );

  it("writes one entry per mutation, with the actor, subject and request id", async () => {
    const org = await makeOrg(db);
    const before = (await entries(org.org.id)).length;
    const requestIds: string[] = [];
    const call = async (path: string, init: Parameters<typeof t.request>[1], status: number) => {
      const requestId = `audit-test-${requestIds.length}-${Date.now()}`;
      requestIds.push(requestId);
      const res = await t.request(path, { ...init, headers: { "x-request-id": requestId } });
      expect(res.status, path).toBe(status);
      return res.status === 204 ? undefined : jsonOf(res);
    };

    const key = await call(
      "/api/v1/api-keys",
      { method: "POST", apiKey: org.apiKey, json: { name: "k" } },
      201,
    );
    await call(`/api/v1/api-keys/${key.apiKey.id}`, { method: "DELETE", apiKey: org.apiKey }, 204);
    const invite = await call(
      "/api/v1/invitations",
      { method: "POST", apiKey: org.apiKey, json: { email: "audited@example.test", role: "admin" } },
      201,
    );
    const accepted = await call(
      "/api/v1/invitations/accept",
      { method: "POST", json: { token: invite.token, password: "a long enough password" } },
      201,
    );
    const login = await call(
      "/api/v1/auth/login",
      { method: "POST", json: { email: "audited@example.test", password: "a long enough password" } },
      200,
    );
    await call("/api/v1/auth/logout", { method: "POST", bearer: login.accessToken }, 204);
    await call(
      `/api/v1/members/${accepted.userId}`,
      { method: "PATCH", apiKey: org.apiKey, json: { role: "member" } },
      200,
    );
    const second = await call(
      "/api/v1/invitations",
      { method: "POST", apiKey: org.apiKey, json: { email: "second@example.test" } },
      201,
    );
    await call(`/api/v1/invitations/${second.invitation.id}`, { method: "DELETE", apiKey: org.apiKey }, 204);
    await call(`/api/v1/members/${accepted.userId}`, { method: "DELETE", apiKey: org.apiKey }, 204);

    const written = (await entries(org.org.id)).slice(before);
    expect(written.map((e) => [e.action, e.subjectType, e.subjectId, e.actorKind, e.requestId])).toEqual([
      ["api_key.created", "api_key", key.apiKey.id, "api_key", requestIds[0]],
      ["api_key.revoked", "api_key", key.apiKey.id, "api_key", requestIds[1]],
      ["invitation.created", "invitation", invite.invitation.id, "api_key", requestIds[2]],
      ["invitation.accepted", "invitation", invite.invitation.id, "user", requestIds[3]],
      ["membership.created", "user", accepted.userId, "user", requestIds[3]],
      ["session.created", "session", login.session.id, "user", requestIds[4]],
      ["session.revoked", "session", login.session.id, "user", requestIds[5]],
      ["membership.role_changed", "user", accepted.userId, "api_key", requestIds[6]],
      ["invitation.created", "invitation", second.invitation.id, "api_key", requestIds[7]],
      ["invitation.revoked", "invitation", second.invitation.id, "api_key", requestIds[8]],
      ["membership.removed", "user", accepted.userId, "api_key", requestIds[9]],
    ]);
    // Gap-free sequence: one entry per change, no more.
    expect(written.map((e) => e.seq)).toEqual(written.map((_, i) => BigInt(before + i)));
  });

  it("writes nothing when the mutation is refused inside its transaction", async () => {
    const org = await makeOrg(db);
    const before = await entries(org.org.id);
    const res = await t.request(`/api/v1/members/${org.owner.id}`, {
      method: "PATCH",
      apiKey: org.apiKey,
      json: { role: "member" },
    });
    expect(res.status).toBe(409);
    const after = await entries(org.org.id);
    expect(after).toHaveLength(before.length);
  });

  it("lists entries newest first to admins, with filters and cursor pages", async () => {
    const org = await makeOrg(db);
    for (let i = 0; i < 3; i++) await makeApiKey(db, org.org.id, "member", { name: `k${i}` });
    const admin = await makeUser(db, org.org.id, "admin");
    const s = await loginAs(t, admin);

    const all = await jsonOf(await t.request("/api/v1/audit/entries", { bearer: s.accessToken }));
    const seqs = all.items.map((e: { seq: string }) => Number(e.seq));
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    expect(all.items[0]).toMatchObject({
      action: "session.created",
      actor: { kind: "user", id: admin.id },
      subject: { type: "session" },
    });
    expect(all.items[0].at).toMatch(/Z$/);

    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await t.request(
        `/api/v1/audit/entries?action=api_key.created&limit=2${cursor ? `&cursor=${cursor}` : ""}`,
        { bearer: s.accessToken },
      );
      expect(res.status).toBe(200);
      const page = await jsonOf(res);
      pages.push(...page.items.map((e: { action: string; seq: string }) => `${e.action}#${e.seq}`));
      cursor = page.nextCursor;
    } while (cursor);
    expect(pages).toHaveLength(4); // the owner key from org creation and three more
    expect(pages.every((p) => p.startsWith("api_key.created#"))).toBe(true);

    const future = new Date(Date.now() + 60_000).toISOString();
    const none = await jsonOf(
      await t.request(`/api/v1/audit/entries?from=${future}`, { bearer: s.accessToken }),
    );
    expect(none).toEqual({ items: [], nextCursor: null });
    const past = await jsonOf(
      await t.request("/api/v1/audit/entries?to=2000-01-01T00:00:00Z", { bearer: s.accessToken }),
    );
    expect(past.items).toEqual([]);

    const bad = await t.request("/api/v1/audit/entries?cursor=bm9wZQ", { bearer: s.accessToken });
    expect(bad.status).toBe(400);
    expect((await jsonOf(bad)).code).toBe("validation_failed");
  });

  it("is for owners and admins only, and shows only the caller's org", async () => {
    const org = await makeOrg(db);
    const other = await makeOrg(db);
    const member = await makeApiKey(db, org.org.id, "member");
    const res = await t.request("/api/v1/audit/entries", { apiKey: member.key });
    expect(res.status).toBe(403);
    const mine = await jsonOf(await t.request("/api/v1/audit/entries?limit=200", { apiKey: org.apiKey }));
    const otherIds = (await entries(other.org.id)).map((e) => e.subjectId);
    for (const item of mine.items) expect(otherIds).not.toContain(item.subject.id);
  });
});
