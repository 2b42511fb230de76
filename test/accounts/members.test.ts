import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { apiKeys, auditLog, invitations, memberships, sessions, users } from "../../db/schema/index.ts";
import { removeMember } from "../../src/accounts/members.ts";
import { ForbiddenError } from "../../src/errors.ts";
import { jsonOf } from "../harness/app.ts";
import { loginAs, makeApiKey, makeOrg, makeUser } from "../harness/factories.ts";
import { useAccountsApp } from "./app.ts";

describe("members and invitations", async () => {
  const t = await useAccountsApp();
  const db = t.database.db;
  const actions = async (orgId: string) =>
    (await withOrg(db, orgId, (tx) => tx.select().from(auditLog).orderBy(auditLog.seq))).map((a) => a.action);

  it("invites a new user who accepts with a password, then signs in with the invited role", async () => {
    const org = await makeOrg(db);
    const invite = await t.request("/api/v1/invitations", {
      method: "POST",
      apiKey: org.apiKey,
      json: { email: "New.Person@Example.test", role: "admin" },
    });
    expect(invite.status).toBe(201);
    const created = await jsonOf(invite);
    expect(created.invitation).toMatchObject({ email: "new.person@example.test", role: "admin" });
    expect(created.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const [stored] = await withOrg(db, org.org.id, (tx) =>
      tx.select().from(invitations).where(eq(invitations.id, created.invitation.id)),
    );
    expect(JSON.stringify(stored)).not.toContain(created.token);

    const pending = await jsonOf(await t.request("/api/v1/invitations", { apiKey: org.apiKey }));
    expect(pending.items.map((i: { id: string }) => i.id)).toEqual([created.invitation.id]);

    // A new account needs a password.
    const noPassword = await t.request("/api/v1/invitations/accept", {
      method: "POST",
      json: { token: created.token },
    });
    expect(noPassword.status).toBe(400);
    const accept = await t.request("/api/v1/invitations/accept", {
      method: "POST",
      json: { token: created.token, password: "a long enough password", name: "New Person" },
    });
    expect(accept.status).toBe(201);
    const accepted = await jsonOf(accept);
    expect(accepted).toMatchObject({ orgId: org.org.id, role: "admin", created: true });
    const [user] = await db.owner.select().from(users).where(eq(users.id, accepted.userId));
    expect(user?.passwordHash).toMatch(/^scrypt\$/);
    expect(user?.name).toBe("New Person");

    const s = await loginAs(t, { email: "new.person@example.test", password: "a long enough password" });
    expect(await jsonOf(s.response)).toMatchObject({ session: { orgId: org.org.id, role: "admin" } });

    // Used once only.
    const reuse = await t.request("/api/v1/invitations/accept", {
      method: "POST",
      json: { token: created.token, password: "a long enough password" },
    });
    expect(reuse.status).toBe(401);
    expect(await actions(org.org.id)).toEqual(
      expect.arrayContaining(["invitation.created", "invitation.accepted", "membership.created"]),
    );
  });

  it("adds an existing user to another org without touching their password", async () => {
    const a = await makeOrg(db);
    const b = await makeOrg(db);
    const user = await makeUser(db, a.org.id);
    const invite = await jsonOf(
      await t.request("/api/v1/invitations", {
        method: "POST",
        apiKey: b.apiKey,
        json: { email: user.email, role: "member" },
      }),
    );
    const accept = await t.request("/api/v1/invitations/accept", {
      method: "POST",
      json: { token: invite.token, password: "an attempt to change it" },
    });
    expect(accept.status).toBe(201);
    expect(await jsonOf(accept)).toMatchObject({ userId: user.id, created: false });
    expect((await loginAs(t, user, { orgId: b.org.id })).sessionId).toBeTruthy();
    const changed = await t.request("/api/v1/auth/login", {
      method: "POST",
      json: { email: user.email, password: "an attempt to change it" },
    });
    expect(changed.status).toBe(401);
  });

  it("refuses to invite an existing member, or with a role above the inviter's", async () => {
    const org = await makeOrg(db);
    const member = await makeUser(db, org.org.id);
    const dup = await t.request("/api/v1/invitations", {
      method: "POST",
      apiKey: org.apiKey,
      json: { email: member.email },
    });
    expect(dup.status).toBe(409);
    expect((await jsonOf(dup)).code).toBe("conflict");
    const admin = await makeApiKey(db, org.org.id, "admin");
    const above = await t.request("/api/v1/invitations", {
      method: "POST",
      apiKey: admin.key,
      json: { email: "boss@example.test", role: "owner" },
    });
    expect(above.status).toBe(403);
  });

  it("revokes an invitation so its token no longer works", async () => {
    const org = await makeOrg(db);
    const invite = await jsonOf(
      await t.request("/api/v1/invitations", {
        method: "POST",
        apiKey: org.apiKey,
        json: { email: "x@example.test" },
      }),
    );
    const del = await t.request(`/api/v1/invitations/${invite.invitation.id}`, {
      method: "DELETE",
      apiKey: org.apiKey,
    });
    expect(del.status).toBe(204);
    const accept = await t.request("/api/v1/invitations/accept", {
      method: "POST",
      json: { token: invite.token, password: "a long enough password" },
    });
    expect(accept.status).toBe(401);
    expect(await actions(org.org.id)).toContain("invitation.revoked");
  });

  it("lists members to any member, oldest first", async () => {
    const org = await makeOrg(db);
    const member = await makeUser(db, org.org.id, "member");
    const s = await loginAs(t, member);
    const res = await t.request("/api/v1/members", { bearer: s.accessToken });
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expect(body.items.map((m: { userId: string; role: string }) => [m.userId, m.role])).toEqual([
      [org.owner.id, "owner"],
      [member.id, "member"],
    ]);
    expect(body.nextCursor).toBeNull();
  });

  it("changes roles: owners only grant owner, and the last owner cannot be demoted", async () => {
    const org = await makeOrg(db);
    const admin = await makeUser(db, org.org.id, "admin");
    const member = await makeUser(db, org.org.id, "member");
    const adminKey = await makeApiKey(db, org.org.id, "admin");

    const promote = await t.request(`/api/v1/members/${member.id}`, {
      method: "PATCH",
      apiKey: adminKey.key,
      json: { role: "admin" },
    });
    expect(promote.status).toBe(200);
    expect(await jsonOf(promote)).toMatchObject({ userId: member.id, role: "admin" });

    const toOwner = await t.request(`/api/v1/members/${admin.id}`, {
      method: "PATCH",
      apiKey: adminKey.key,
      json: { role: "owner" },
    });
    expect(toOwner.status).toBe(403);
    const demoteOwner = await t.request(`/api/v1/members/${org.owner.id}`, {
      method: "PATCH",
      apiKey: adminKey.key,
      json: { role: "member" },
    });
    expect(demoteOwner.status).toBe(403);

    const lastOwner = await t.request(`/api/v1/members/${org.owner.id}`, {
      method: "PATCH",
      apiKey: org.apiKey,
      json: { role: "admin" },
    });
    expect(lastOwner.status).toBe(409);
    expect((await jsonOf(lastOwner)).code).toBe("conflict");

    const audit = await withOrg(db, org.org.id, (tx) =>
      tx.select().from(auditLog).where(eq(auditLog.action, "membership.role_changed")),
    );
    expect(audit.map((a) => [a.subjectId, a.data])).toEqual([
      [member.id, { from: "member", to: "admin", revokedKeys: [] }],
    ]);
  });

  it("revokes keys above the new role when a member is demoted", async () => {
    const org = await makeOrg(db);
    const admin = await makeUser(db, org.org.id, "admin");
    const s = await loginAs(t, admin);
    const created = await jsonOf(
      await t.request("/api/v1/api-keys", {
        method: "POST",
        bearer: s.accessToken,
        json: { name: "admin's key", role: "admin" },
      }),
    );
    expect((await t.request("/api/v1/me", { apiKey: created.key })).status).toBe(200);
    await t.request(`/api/v1/members/${admin.id}`, {
      method: "PATCH",
      apiKey: org.apiKey,
      json: { role: "member" },
    });
    expect((await t.request("/api/v1/me", { apiKey: created.key })).status).toBe(401);
  });

  it("removes a member: sessions end, their keys are revoked, the last owner stays", async () => {
    const org = await makeOrg(db);
    const member = await makeUser(db, org.org.id, "admin");
    const s = await loginAs(t, member);
    const key = await jsonOf(
      await t.request("/api/v1/api-keys", { method: "POST", bearer: s.accessToken, json: { name: "mine" } }),
    );
    const del = await t.request(`/api/v1/members/${member.id}`, { method: "DELETE", apiKey: org.apiKey });
    expect(del.status).toBe(204);
    expect((await t.request("/api/v1/me", { bearer: s.accessToken })).status).toBe(401);
    expect((await t.request("/api/v1/me", { apiKey: key.key })).status).toBe(401);
    const rows = await withOrg(db, org.org.id, (tx) =>
      tx
        .select()
        .from(memberships)
        .where(and(eq(memberships.orgId, org.org.id), eq(memberships.userId, member.id))),
    );
    expect(rows).toHaveLength(0);
    const [session] = await withOrg(db, org.org.id, (tx) =>
      tx.select().from(sessions).where(eq(sessions.id, s.sessionId)),
    );
    expect(session?.revokedReason).toBe("membership_removed");
    const [revoked] = await withOrg(db, org.org.id, (tx) =>
      tx.select().from(apiKeys).where(eq(apiKeys.id, key.apiKey.id)),
    );
    expect(revoked?.revokedAt).not.toBeNull();
    const [audit] = await withOrg(db, org.org.id, (tx) =>
      tx.select().from(auditLog).where(eq(auditLog.action, "membership.removed")),
    );
    expect(audit).toMatchObject({
      subjectId: member.id,
      data: expect.objectContaining({ role: "admin", signedOut: 1, revokedKeys: [key.apiKey.id] }),
    });

    const lastOwner = await t.request(`/api/v1/members/${org.owner.id}`, {
      method: "DELETE",
      apiKey: org.apiKey,
    });
    expect(lastOwner.status).toBe(409);
  });

  it("lets an admin remove members but not owners, also when called as a service", async () => {
    const org = await makeOrg(db);
    const adminKey = await makeApiKey(db, org.org.id, "admin");
    const res = await t.request(`/api/v1/members/${org.owner.id}`, {
      method: "DELETE",
      apiKey: adminKey.key,
    });
    expect(res.status).toBe(403);
    const member = await makeUser(db, org.org.id, "member");
    const asMember = await removeMember(
      { db },
      { orgId: org.org.id, role: "member", actor: { kind: "user", id: member.id, userId: member.id } },
      member.id,
    ).catch((e: unknown) => e);
    expect(asMember).toBeInstanceOf(ForbiddenError);
  });

  it("pages members oldest first and invitations newest first, ties in creation time broken by id", async () => {
    const org = await makeOrg(db);
    for (let i = 0; i < 3; i++) await makeUser(db, org.org.id);
    for (let i = 0; i < 3; i++) {
      const res = await t.request("/api/v1/invitations", {
        method: "POST",
        apiKey: org.apiKey,
        json: { email: `pending-${i}@example.test`, role: "member" },
      });
      expect(res.status).toBe(201);
    }
    // One creation time for all: only the id orders them, so a page boundary falls inside a tie.
    const at = new Date("2026-11-01T00:00:00.000Z");
    await db.owner.update(memberships).set({ createdAt: at }).where(eq(memberships.orgId, org.org.id));
    await db.owner.update(invitations).set({ createdAt: at }).where(eq(invitations.orgId, org.org.id));

    const pages = async (path: string, key: string) => {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await t.request(`${path}?limit=2${cursor ? `&cursor=${cursor}` : ""}`, {
          apiKey: org.apiKey,
        });
        expect(res.status).toBe(200);
        const page = await jsonOf(res);
        expect(page.items.length).toBeLessThanOrEqual(2);
        ids.push(...page.items.map((item: Record<string, string>) => item[key]));
        cursor = page.nextCursor;
      } while (cursor);
      return ids;
    };
    const members = await pages("/api/v1/members", "userId");
    expect(members).toHaveLength(4); // the owner and three more
    expect(members).toEqual([...members].sort());
    const pending = await pages("/api/v1/invitations", "id");
    expect(pending).toHaveLength(3);
    expect(pending).toEqual([...pending].sort().reverse());
  });
});
