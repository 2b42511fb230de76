import { createHash, randomUUID } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog, refreshTokens, sessions, users } from "../../db/schema/index.ts";
import {
  AccessTokens,
  type DEFAULT_ACCESS_TOKEN_OPTIONS,
  parseSessionKeys,
} from "../../src/accounts/access-token.ts";
import { generateEd25519Pkcs8 } from "../../src/keys.ts";
import { jsonOf } from "../harness/app.ts";
import { loginAs, makeOrg, makeUser, refreshTokenOf } from "../harness/factories.ts";
import { randomIp, refreshCookieHeader, useAccountsApp } from "./app.ts";

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

describe("sign-in and sessions", async () => {
  const t = await useAccountsApp();
  const db = t.database.db;

  const auditOf = (orgId: string, action: string) =>
    withOrg(db, orgId, (tx) =>
      tx
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.orgId, orgId), eq(auditLog.action, action)))
        .orderBy(auditLog.seq),
    );

  it("signs in with email and password: an access token that works and a locked-down refresh cookie", async () => {
    const org = await makeOrg(db);
    const user = await makeUser(db, org.org.id, "admin");
    const res = await t.request("/api/v1/auth/login", {
      method: "POST",
      json: { email: user.email.toUpperCase(), password: user.password },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = await jsonOf(res);
    expect(body).toMatchObject({
      tokenType: "Bearer",
      expiresIn: 900,
      session: { orgId: org.org.id, userId: user.id, role: "admin" },
    });
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^__Secure-causeway_refresh=[A-Za-z0-9_-]{43};/);
    for (const attribute of [
      "HttpOnly",
      "Secure",
      "SameSite=Strict",
      "Path=/api/v1/auth/refresh",
      "Max-Age=2592000",
    ]) {
      expect(cookie.split("; ")).toContain(attribute);
    }
    // The refresh token is never in the body.
    expect(JSON.stringify(body)).not.toContain(refreshTokenOf(res));

    const me = await t.request("/api/v1/me", { bearer: body.accessToken });
    expect(me.status).toBe(200);
    expect(await jsonOf(me)).toMatchObject({
      orgId: org.org.id,
      role: "admin",
      actor: { kind: "user", id: user.id },
    });
    const [row] = await withOrg(db, org.org.id, (tx) =>
      tx.select().from(sessions).where(eq(sessions.id, body.session.id)),
    );
    expect(row).toMatchObject({ userId: user.id, revokedAt: null });
    const audit = await auditOf(org.org.id, "session.created");
    expect(audit.map((a) => a.subjectId)).toEqual([body.session.id]);
    expect(audit[0]).toMatchObject({ actorKind: "user", actorId: user.id });
  });

  it("signs in to the org asked for when the user belongs to several", async () => {
    const a = await makeOrg(db);
    const b = await makeOrg(db);
    const user = await makeUser(db, a.org.id, "member");
    await makeUser(db, b.org.id, "admin", { email: user.email, password: "ignored-for-existing-user" });
    const intoB = await loginAs(t, user, { orgId: b.org.id });
    expect(await jsonOf(intoB.response)).toMatchObject({ session: { orgId: b.org.id, role: "admin" } });
    const intoDefault = await loginAs(t, user);
    expect(await jsonOf(intoDefault.response)).toMatchObject({
      session: { orgId: a.org.id, role: "member" },
    });
    const notMember = await t.request("/api/v1/auth/login", {
      method: "POST",
      json: { email: user.email, password: user.password, orgId: randomUUID() },
    });
    expect(notMember.status).toBe(401);
  });

  it("answers a wrong password, an unknown user and a locked account identically", async () => {
    const org = await makeOrg(db);
    const user = await makeUser(db, org.org.id);
    const locked = await makeUser(db, org.org.id);
    await db.owner
      .update(users)
      .set({ lockedUntil: new Date(Date.now() + 60_000) })
      .where(eq(users.id, locked.id));
    const attempts = [
      { email: user.email, password: `${user.password}x` },
      { email: `nobody-${randomUUID()}@example.test`, password: user.password },
      { email: locked.email, password: locked.password }, // the right password, but locked
    ];
    const answers = [];
    for (const json of attempts) {
      const res = await t.request("/api/v1/auth/login", { method: "POST", json });
      const { requestId: _ignored, ...body } = await jsonOf(res);
      answers.push({
        status: res.status,
        body,
        wwwAuthenticate: res.headers.get("www-authenticate"),
        cookie: res.headers.get("set-cookie"),
      });
    }
    expect(answers[0]).toEqual({
      status: 401,
      body: expect.objectContaining({ code: "unauthenticated", detail: "invalid email or password" }),
      wwwAuthenticate: 'Bearer realm="causeway"',
      cookie: null,
    });
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
  });

  it("takes comparable time for an unknown user and a wrong password (both run scrypt)", async () => {
    const org = await makeOrg(db);
    const user = await makeUser(db, org.org.id);
    const timed = async (email: string) => {
      const started = performance.now();
      const res = await t.request("/api/v1/auth/login", {
        method: "POST",
        json: { email, password: "definitely-not-the-password" },
      });
      expect(res.status).toBe(401);
      return performance.now() - started;
    };
    const unknown = () => `ghost-${randomUUID()}@example.test`;
    for (let i = 0; i < 3; i++) {
      await timed(user.email);
      await timed(unknown());
    }
    const wrong: number[] = [];
    const missing: number[] = [];
    for (let i = 0; i < 15; i++) {
      wrong.push(await timed(user.email));
      missing.push(await timed(unknown()));
    }
    const ratio = median(missing) / median(wrong);
    // Generous bounds for a shared CI machine; without the dummy hash the ratio is below 0.1.
    expect(ratio).toBeGreaterThan(1 / 3);
    expect(ratio).toBeLessThan(3);
  });

  it("locks an account after repeated wrong passwords, audited, and still answers the same", async () => {
    const strict = await useAccountsApp({ lockout: { maxFailures: 3, durationMs: 60_000 } });
    const org = await makeOrg(db);
    const user = await makeUser(db, org.org.id);
    for (let i = 0; i < 3; i++) {
      const res = await strict.request("/api/v1/auth/login", {
        method: "POST",
        json: { email: user.email, password: `wrong-${i}` },
      });
      expect(res.status).toBe(401);
    }
    const [row] = await db.owner.select().from(users).where(eq(users.id, user.id));
    expect(row?.lockedUntil?.getTime()).toBeGreaterThan(Date.now());
    const right = await strict.request("/api/v1/auth/login", {
      method: "POST",
      json: { email: user.email, password: user.password },
    });
    expect(right.status).toBe(401);
    expect((await jsonOf(right)).detail).toBe("invalid email or password");
    const audit = await auditOf(org.org.id, "user.locked");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ subjectId: user.id, data: expect.objectContaining({ failures: 3 }) });
  });

  it("refuses expired, tampered, wrong-audience, wrong-issuer and alg:none tokens with 401", async () => {
    const org = await makeOrg(db);
    const user = await makeUser(db, org.org.id, "admin");
    const signed = await loginAs(t, user);
    const subject = {
      userId: user.id,
      orgId: org.org.id,
      role: "admin" as const,
      sessionId: signed.sessionId,
    };
    const ring = parseSessionKeys(t.keys.sessionKeys);
    const withOptions = (o: Partial<typeof DEFAULT_ACCESS_TOKEN_OPTIONS>) =>
      new AccessTokens(ring, { ...t.accounts.tokens.options, ...o });

    // Control: the same subject, correctly signed, is accepted.
    const good = await t.accounts.tokens.sign(subject);
    expect((await t.request("/api/v1/me", { bearer: good.token })).status).toBe(200);

    const expired = await t.accounts.tokens.sign(subject, new Date(Date.now() - 16 * 60_000));
    const [h, p, s] = good.token.split(".");
    const payload = JSON.parse(Buffer.from(p!, "base64url").toString());
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, role: "owner" })).toString("base64url")}.${s}`;
    const wrongAudience = await withOptions({ audience: "someone-else" }).sign(subject);
    const wrongIssuer = await withOptions({ issuer: "https://issuer.invalid" }).sign(subject);
    const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt" })).toString("base64url")}.${p}.`;
    const foreignKey = await new AccessTokens(
      parseSessionKeys(`${ring.signing.kid}:${generateEd25519Pkcs8()}`),
      t.accounts.tokens.options,
    ).sign(subject);

    for (const [name, token] of Object.entries({
      expired: expired.token,
      tampered,
      wrongAudience: wrongAudience.token,
      wrongIssuer: wrongIssuer.token,
      none,
      foreignKey: foreignKey.token,
    })) {
      const res = await t.request("/api/v1/me", { bearer: token });
      expect(res.status, name).toBe(401);
      expect((await jsonOf(res)).code, name).toBe("unauthenticated");
    }
  });

  it("rotates the refresh token on every refresh, and a replayed one revokes the whole session", async () => {
    const org = await makeOrg(db);
    const user = await makeUser(db, org.org.id);
    const first = await loginAs(t, user);

    const r1 = await t.request("/api/v1/auth/refresh", {
      method: "POST",
      cookie: refreshCookieHeader(first.refreshToken),
    });
    expect(r1.status).toBe(200);
    const second = refreshTokenOf(r1)!;
    expect(second).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(second).not.toBe(first.refreshToken);
    const body1 = await jsonOf(r1);
    expect(body1.session.id).toBe(first.sessionId);
    expect((await t.request("/api/v1/me", { bearer: body1.accessToken })).status).toBe(200);

    const r2 = await t.request("/api/v1/auth/refresh", {
      method: "POST",
      cookie: refreshCookieHeader(second),
    });
    expect(r2.status).toBe(200);
    const third = refreshTokenOf(r2)!;
    const body2 = await jsonOf(r2);

    // The first token was already exchanged: presenting it again is a replay.
    const replay = await t.request("/api/v1/auth/refresh", {
      method: "POST",
      cookie: refreshCookieHeader(first.refreshToken),
    });
    expect(replay.status).toBe(401);
    expect((await jsonOf(replay)).code).toBe("unauthenticated");
    expect(replay.headers.get("set-cookie")).toMatch(
      /__Secure-causeway_refresh=; Max-Age=0; Path=\/api\/v1\/auth\/refresh/,
    );

    // The whole family is dead: the newest refresh token and every access token of the session.
    const newest = await t.request("/api/v1/auth/refresh", {
      method: "POST",
      cookie: refreshCookieHeader(third),
    });
    expect(newest.status).toBe(401);
    for (const token of [first.accessToken, body1.accessToken, body2.accessToken]) {
      expect((await t.request("/api/v1/me", { bearer: token })).status).toBe(401);
    }
    const [row] = await withOrg(db, org.org.id, (tx) =>
      tx.select().from(sessions).where(eq(sessions.id, first.sessionId)),
    );
    expect(row?.revokedReason).toBe("refresh_token_reuse");
    const audit = await auditOf(org.org.id, "session.revoked");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      subjectId: first.sessionId,
      data: expect.objectContaining({ reason: "refresh_token_reuse" }),
    });
  });

  it("stores refresh tokens only as SHA-256 hashes, one row per rotation, the exchanged one marked used", async () => {
    const org = await makeOrg(db);
    const user = await makeUser(db, org.org.id);
    const first = await loginAs(t, user);
    const refreshed = await t.request("/api/v1/auth/refresh", {
      method: "POST",
      cookie: refreshCookieHeader(first.refreshToken),
    });
    expect(refreshed.status).toBe(200);
    const second = refreshTokenOf(refreshed)!;
    const rows = await withOrg(db, org.org.id, (tx) =>
      tx
        .select()
        .from(refreshTokens)
        .where(eq(refreshTokens.sessionId, first.sessionId))
        .orderBy(refreshTokens.createdAt),
    );
    expect(rows).toHaveLength(2);
    const sha256 = (token: string) => createHash("sha256").update(token).digest("hex");
    expect(rows.map((r) => r.tokenHash).sort()).toEqual([sha256(first.refreshToken), sha256(second)].sort());
    const byHash = new Map(rows.map((r) => [r.tokenHash, r]));
    expect(byHash.get(sha256(first.refreshToken))?.usedAt).toBeInstanceOf(Date);
    expect(byHash.get(sha256(second))?.usedAt).toBeNull();
    // Nothing in the session's rows holds a token in clear.
    const [session] = await withOrg(db, org.org.id, (tx) =>
      tx.select().from(sessions).where(eq(sessions.id, first.sessionId)),
    );
    const stored = JSON.stringify([rows, session]);
    for (const token of [first.refreshToken, second]) expect(stored).not.toContain(token);
  });

  it("refuses a refresh without a cookie or with an unknown token", async () => {
    const none = await t.request("/api/v1/auth/refresh", { method: "POST" });
    expect(none.status).toBe(401);
    expect((await jsonOf(none)).code).toBe("unauthenticated");
    const unknown = await t.request("/api/v1/auth/refresh", {
      method: "POST",
      cookie: refreshCookieHeader("A".repeat(43)),
    });
    expect(unknown.status).toBe(401);
    const garbage = await t.request("/api/v1/auth/refresh", {
      method: "POST",
      cookie: refreshCookieHeader("x'; drop"),
    });
    expect(garbage.status).toBe(401);
  });

  it("keeps at most five live sessions: the sixth sign-in revokes the oldest", async () => {
    const org = await makeOrg(db);
    const user = await makeUser(db, org.org.id);
    const signIns = [];
    for (let i = 0; i < 6; i++) signIns.push(await loginAs(t, user, { ip: randomIp() }));
    const [oldest, ...rest] = signIns;
    expect((await t.request("/api/v1/me", { bearer: oldest!.accessToken })).status).toBe(401);
    const refresh = await t.request("/api/v1/auth/refresh", {
      method: "POST",
      cookie: refreshCookieHeader(oldest!.refreshToken),
    });
    expect(refresh.status).toBe(401);
    for (const s of rest) expect((await t.request("/api/v1/me", { bearer: s.accessToken })).status).toBe(200);

    const list = await t.request("/api/v1/auth/sessions", { bearer: rest.at(-1)!.accessToken });
    expect(list.status).toBe(200);
    const body = await jsonOf(list);
    expect(body.nextCursor).toBeNull();
    expect(body.items.map((s: { id: string }) => s.id).sort()).toEqual(rest.map((s) => s.sessionId).sort());
    expect(
      body.items.filter((s: { current: boolean }) => s.current).map((s: { id: string }) => s.id),
    ).toEqual([rest.at(-1)!.sessionId]);
    const [row] = await withOrg(db, org.org.id, (tx) =>
      tx.select().from(sessions).where(eq(sessions.id, oldest!.sessionId)),
    );
    expect(row?.revokedReason).toBe("session_limit");
    const revoked = await auditOf(org.org.id, "session.revoked");
    expect(revoked.map((a) => a.subjectId)).toEqual([oldest!.sessionId]);
  });

  it("counts the five across the user's orgs: a sixth sign-in in one org revokes the oldest in another", async () => {
    const a = await makeOrg(db);
    const b = await makeOrg(db);
    const user = await makeUser(db, a.org.id, "member");
    await makeUser(db, b.org.id, "admin", { email: user.email, password: "ignored-for-existing-user" });
    const inA = [];
    for (let i = 0; i < 3; i++) inA.push(await loginAs(t, user, { orgId: a.org.id, ip: randomIp() }));
    const inB = [];
    for (let i = 0; i < 3; i++) inB.push(await loginAs(t, user, { orgId: b.org.id, ip: randomIp() }));

    const [oldest, ...restA] = inA;
    expect((await t.request("/api/v1/me", { bearer: oldest!.accessToken })).status).toBe(401);
    const refresh = await t.request("/api/v1/auth/refresh", {
      method: "POST",
      cookie: refreshCookieHeader(oldest!.refreshToken),
    });
    expect(refresh.status).toBe(401);
    for (const s of [...restA, ...inB]) {
      expect((await t.request("/api/v1/me", { bearer: s.accessToken })).status).toBe(200);
    }
    const listed = async (bearer: string) =>
      ((await jsonOf(await t.request("/api/v1/auth/sessions", { bearer }))).items as Array<{ id: string }>)
        .map((s) => s.id)
        .sort();
    expect(await listed(restA[0]!.accessToken)).toEqual(restA.map((s) => s.sessionId).sort());
    expect(await listed(inB[0]!.accessToken)).toEqual(inB.map((s) => s.sessionId).sort());

    // Revoked and audited in the org the session belonged to, by the user who signed in.
    const [row] = await withOrg(db, a.org.id, (tx) =>
      tx.select().from(sessions).where(eq(sessions.id, oldest!.sessionId)),
    );
    expect(row?.revokedReason).toBe("session_limit");
    const revokedInA = await auditOf(a.org.id, "session.revoked");
    expect(revokedInA.map((e) => e.subjectId)).toEqual([oldest!.sessionId]);
    expect(revokedInA[0]).toMatchObject({ actorKind: "user", actorId: user.id });
    expect(await auditOf(b.org.id, "session.revoked")).toEqual([]);
    const live = await db.owner
      .select({ id: sessions.id })
      .from(sessions)
      .where(and(eq(sessions.userId, user.id), sql`${sessions.revokedAt} is null`));
    expect(live).toHaveLength(5);
  });

  it("logs out: the session ends, its tokens stop working and the cookie is cleared", async () => {
    const org = await makeOrg(db);
    const user = await makeUser(db, org.org.id);
    const s = await loginAs(t, user);
    const out = await t.request("/api/v1/auth/logout", { method: "POST", bearer: s.accessToken });
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toMatch(/^__Secure-causeway_refresh=; Max-Age=0;/);
    expect((await t.request("/api/v1/me", { bearer: s.accessToken })).status).toBe(401);
    const refresh = await t.request("/api/v1/auth/refresh", {
      method: "POST",
      cookie: refreshCookieHeader(s.refreshToken),
    });
    expect(refresh.status).toBe(401);
    const audit = await auditOf(org.org.id, "session.revoked");
    expect(audit.map((a) => [a.subjectId, (a.data as { reason: string }).reason])).toEqual([
      [s.sessionId, "logout"],
    ]);
    // An API key has no session to end.
    const withKey = await t.request("/api/v1/auth/logout", { method: "POST", apiKey: org.apiKey });
    expect(withKey.status).toBe(400);
    expect((await jsonOf(withKey)).code).toBe("bad_request");
  });

  it("revokes one session by id: your own, or anyone's as an admin; another member's is not found", async () => {
    const org = await makeOrg(db);
    const alice = await makeUser(db, org.org.id, "member");
    const bob = await makeUser(db, org.org.id, "member");
    const admin = await makeUser(db, org.org.id, "admin");
    const a1 = await loginAs(t, alice);
    const a2 = await loginAs(t, alice);
    const b1 = await loginAs(t, bob);
    const adminSession = await loginAs(t, admin);

    const notHers = await t.request(`/api/v1/auth/sessions/${b1.sessionId}`, {
      method: "DELETE",
      bearer: a1.accessToken,
    });
    expect(notHers.status).toBe(404);
    expect((await t.request("/api/v1/me", { bearer: b1.accessToken })).status).toBe(200);

    const own = await t.request(`/api/v1/auth/sessions/${a2.sessionId}`, {
      method: "DELETE",
      bearer: a1.accessToken,
    });
    expect(own.status).toBe(204);
    expect((await t.request("/api/v1/me", { bearer: a2.accessToken })).status).toBe(401);
    expect((await t.request("/api/v1/me", { bearer: a1.accessToken })).status).toBe(200);

    const byAdmin = await t.request(`/api/v1/auth/sessions/${b1.sessionId}`, {
      method: "DELETE",
      bearer: adminSession.accessToken,
    });
    expect(byAdmin.status).toBe(204);
    expect((await t.request("/api/v1/me", { bearer: b1.accessToken })).status).toBe(401);
    const audit = await auditOf(org.org.id, "session.revoked");
    expect(audit.map((a) => [a.subjectId, a.actorId, (a.data as { reason: string }).reason])).toEqual([
      [a2.sessionId, alice.id, "revoked_by_user"],
      [b1.sessionId, admin.id, "revoked_by_admin"],
    ]);
  });

  it("applies a role change to live access tokens on their next request", async () => {
    const org = await makeOrg(db);
    const admin = await makeUser(db, org.org.id, "admin");
    const s = await loginAs(t, admin);
    expect((await t.request("/api/v1/api-keys", { bearer: s.accessToken })).status).toBe(200);
    const demote = await t.request(`/api/v1/members/${admin.id}`, {
      method: "PATCH",
      apiKey: org.apiKey,
      json: { role: "member" },
    });
    expect(demote.status).toBe(200);
    const after = await t.request("/api/v1/api-keys", { bearer: s.accessToken });
    expect(after.status).toBe(403);
    expect((await jsonOf(after)).code).toBe("forbidden");
    const [{ n } = { n: -1 }] = await db.owner.execute<{ n: number }>(
      sql`select count(*)::int as n from sessions where id = ${s.sessionId} and revoked_at is null`,
    );
    expect(n).toBe(1);
  });
});
