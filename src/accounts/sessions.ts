import { and, asc, desc, eq, gt, inArray, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import { type OrgTx, withOrg } from "../../db/client.ts";
import { memberships, refreshTokens, sessions, users } from "../../db/schema/index.ts";
import type { User } from "../../db/schema/users.ts";
import { hasRole, type OrgContext, type Role } from "../context.ts";
import {
  AppError,
  fieldErrorsFromZod,
  NotFoundError,
  UnauthenticatedError,
  ValidationError,
} from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import { sessionIdOf } from "./authenticate.ts";
import type { AccountsDeps, ClientMeta } from "./deps.ts";
import { generateOpaqueToken, hashOpaqueToken, isOpaqueToken } from "./opaque-token.ts";
import { PASSWORD_MAX_LENGTH } from "./password.ts";

export const LoginInput = z.object({
  email: z
    .email()
    .max(320)
    .transform((e) => e.toLowerCase()),
  password: z.string().min(1).max(PASSWORD_MAX_LENGTH),
  /** Which org to sign in to, for a user in several; the oldest membership otherwise. */
  orgId: z.uuid().optional(),
});
export type LoginInput = z.input<typeof LoginInput>;

export interface IssuedTokens {
  accessToken: string;
  accessTokenExpiresAt: Date;
  /** Goes to the client only as an HttpOnly cookie. */
  refreshToken: string;
  refreshTokenExpiresAt: Date;
  session: { id: string; orgId: string; userId: string; role: Role };
}

/**
 * The one answer for every failed sign-in: unknown email, wrong password, locked or disabled account,
 * no membership. Same status, code and detail, so the response says nothing about which it was.
 */
const SIGN_IN_FAILED = "invalid email or password";
const signInFailed = () => new UnauthenticatedError(SIGN_IN_FAILED);

/**
 * Signs a user in. The per-account rate limit runs first; then exactly one scrypt derivation runs
 * whatever the outcome (the hasher's dummy hash stands in for a missing user), and only then are the
 * account's state and the result looked at, so timing does not tell the cases apart either.
 */
export async function login(deps: AccountsDeps, raw: LoginInput, meta: ClientMeta): Promise<IssuedTokens> {
  const parsed = LoginInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrorsFromZod(parsed.error.issues));
  const input = parsed.data;
  await deps.limiter.enforce("auth", [`account:${input.email}`]);

  // Sign-in by email is cross-org by nature: which org the user acts in is decided below.
  const [user] = await deps.db.owner.select().from(users).where(eq(users.email, input.email)).limit(1);
  const passwordOk = await deps.hasher.verify(input.password, user?.passwordHash);
  const now = new Date();
  if (!user || user.disabledAt || (user.lockedUntil && user.lockedUntil > now)) throw signInFailed();
  if (!passwordOk) {
    await recordFailedSignIn(deps, user, now, meta);
    throw signInFailed();
  }
  const memberOf = await deps.db.owner
    .select({ orgId: memberships.orgId, role: memberships.role })
    .from(memberships)
    .where(eq(memberships.userId, user.id))
    .orderBy(asc(memberships.createdAt), asc(memberships.orgId));
  const membership = input.orgId ? memberOf.find((m) => m.orgId === input.orgId) : memberOf[0];
  if (!membership) throw signInFailed();
  // Parameters raised since this hash was made: store a fresh one now that we hold the password.
  const rehashed =
    user.passwordHash && deps.hasher.needsRehash(user.passwordHash)
      ? await deps.hasher.hash(input.password)
      : undefined;

  const refresh = generateOpaqueToken();
  const expiresAt = new Date(now.getTime() + deps.sessions.refreshTtlMs);
  const created = await withOrg(deps.db, membership.orgId, async (tx) => {
    // The membership row lock serializes sign-ins of one user in one org, so the session cap holds.
    const [locked] = await tx
      .select({ role: memberships.role })
      .from(memberships)
      .where(and(eq(memberships.orgId, membership.orgId), eq(memberships.userId, user.id)))
      .for("update");
    if (!locked) return undefined;
    const ctx: OrgContext = {
      orgId: membership.orgId,
      role: locked.role,
      actor: { kind: "user", id: user.id, userId: user.id, display: user.email },
      requestId: meta.requestId,
    };
    const live = await tx
      .select({ id: sessions.id })
      .from(sessions)
      .where(and(eq(sessions.userId, user.id), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
      .orderBy(asc(sessions.createdAt), asc(sessions.id));
    const evict = live.slice(0, Math.max(0, live.length - (deps.sessions.maxPerUser - 1)));
    if (evict.length > 0) {
      await tx
        .update(sessions)
        .set({ revokedAt: now, revokedReason: "session_limit" })
        .where(
          inArray(
            sessions.id,
            evict.map((s) => s.id),
          ),
        );
      for (const s of evict) {
        await appendAudit(tx, ctx, {
          action: "session.revoked",
          subjectType: "session",
          subjectId: s.id,
          data: { reason: "session_limit", userId: user.id },
        });
      }
    }
    const [session] = await tx
      .insert(sessions)
      .values({
        orgId: membership.orgId,
        userId: user.id,
        createdAt: now,
        lastUsedAt: now,
        expiresAt,
        userAgent: meta.userAgent?.slice(0, 500) ?? null,
        ip: meta.ip,
      })
      .returning({ id: sessions.id });
    if (!session) throw new Error("insert returned no row");
    await tx.insert(refreshTokens).values({
      orgId: membership.orgId,
      sessionId: session.id,
      tokenHash: refresh.hash,
      createdAt: now,
      expiresAt,
    });
    if (user.failedLoginCount > 0 || user.lockedUntil || rehashed) {
      await tx
        .update(users)
        .set({ failedLoginCount: 0, lockedUntil: null, ...(rehashed ? { passwordHash: rehashed } : {}) })
        .where(eq(users.id, user.id));
    }
    await appendAudit(tx, ctx, {
      action: "session.created",
      subjectType: "session",
      subjectId: session.id,
      data: { userId: user.id, ip: meta.ip },
    });
    return { sessionId: session.id, role: locked.role };
  });
  if (!created) throw signInFailed();
  // The cap above counted this org's sessions; a user in several orgs is held to it across all of them.
  if (memberOf.length > 1) await enforceSessionCapAcrossOrgs(deps, user, created.sessionId, meta);
  const access = await deps.tokens.sign({
    userId: user.id,
    orgId: membership.orgId,
    role: created.role,
    sessionId: created.sessionId,
  });
  return {
    accessToken: access.token,
    accessTokenExpiresAt: access.expiresAt,
    refreshToken: refresh.token,
    refreshTokenExpiresAt: expiresAt,
    session: { id: created.sessionId, orgId: membership.orgId, userId: user.id, role: created.role },
  };
}

/**
 * Ends a user's oldest live sessions, in whichever orgs they are, beyond the per-user cap (never the one
 * just created). Cross-org by nature, so it runs as the owner, after the sign-in committed (no connection
 * is held while it waits); the user row lock makes concurrent sign-ins of one user take turns, and each
 * revocation is audited in its session's org.
 */
async function enforceSessionCapAcrossOrgs(
  deps: AccountsDeps,
  user: User,
  keep: string,
  meta: ClientMeta,
): Promise<void> {
  await deps.db.owner.transaction(async (tx) => {
    await tx.select({ id: users.id }).from(users).where(eq(users.id, user.id)).for("update");
    const now = new Date();
    const live = await tx
      .select({ id: sessions.id, orgId: sessions.orgId, role: memberships.role })
      .from(sessions)
      .leftJoin(
        memberships,
        and(eq(memberships.orgId, sessions.orgId), eq(memberships.userId, sessions.userId)),
      )
      .where(and(eq(sessions.userId, user.id), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
      .orderBy(asc(sessions.createdAt), asc(sessions.id));
    const evict = live
      .filter((s) => s.id !== keep)
      .slice(0, Math.max(0, live.length - deps.sessions.maxPerUser));
    for (const s of evict) {
      await tx
        .update(sessions)
        .set({ revokedAt: now, revokedReason: "session_limit" })
        .where(eq(sessions.id, s.id));
      await appendAudit(
        tx,
        {
          orgId: s.orgId,
          role: s.role ?? "member",
          actor: { kind: "user", id: user.id, userId: user.id, display: user.email },
          requestId: meta.requestId,
        },
        {
          action: "session.revoked",
          subjectType: "session",
          subjectId: s.id,
          data: { reason: "session_limit", userId: user.id },
        },
      );
    }
  });
}

/** Counts a wrong password; at the threshold the account locks for a while (audited in each of its orgs). */
async function recordFailedSignIn(
  deps: AccountsDeps,
  user: User,
  now: Date,
  meta: ClientMeta,
): Promise<void> {
  // The user row is global (one person, several orgs), so this runs as the owner.
  await deps.db.owner.transaction(async (tx) => {
    const [row] = await tx
      .update(users)
      .set({ failedLoginCount: sql`${users.failedLoginCount} + 1` })
      .where(eq(users.id, user.id))
      .returning({ count: users.failedLoginCount });
    if (!row || row.count < deps.lockout.maxFailures) return;
    const lockedUntil = new Date(now.getTime() + deps.lockout.durationMs);
    await tx.update(users).set({ failedLoginCount: 0, lockedUntil }).where(eq(users.id, user.id));
    const orgs = await tx
      .select({ orgId: memberships.orgId, role: memberships.role })
      .from(memberships)
      .where(eq(memberships.userId, user.id));
    for (const m of orgs) {
      await appendAudit(
        tx as OrgTx,
        { orgId: m.orgId, role: m.role, actor: { kind: "system", id: "sign-in" }, requestId: meta.requestId },
        {
          action: "user.locked",
          subjectType: "user",
          subjectId: user.id,
          data: { failures: row.count, until: lockedUntil.toISOString(), ip: meta.ip },
        },
      );
    }
  });
}

/** A 401 for the refresh route that also tells the browser to drop its refresh cookie. */
function refreshFailed(clearCookie: string): AppError {
  return new AppError("unauthenticated", {
    detail: "the refresh token is missing, expired or revoked; sign in again",
    headers: { "WWW-Authenticate": 'Bearer realm="causeway"', "Set-Cookie": clearCookie },
  });
}

/**
 * Exchanges a refresh token for a new access token and a new refresh token (rotation). A token that was
 * already exchanged means it leaked or was replayed: the whole session (every token of the family, and
 * the access tokens naming it) is revoked, and the caller must sign in again.
 */
export async function refreshSession(
  deps: AccountsDeps,
  presented: string | undefined,
  meta: ClientMeta,
  clearCookie: string,
): Promise<IssuedTokens> {
  if (!presented || !isOpaqueToken(presented)) throw refreshFailed(clearCookie);
  const hash = hashOpaqueToken(presented);
  // Which org the token belongs to is what we are about to learn: a cross-org lookup.
  const [found] = await deps.db.owner
    .select({ id: refreshTokens.id, orgId: refreshTokens.orgId })
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, hash))
    .limit(1);
  if (!found) throw refreshFailed(clearCookie);
  const now = new Date();
  const next = generateOpaqueToken();
  const expiresAt = new Date(now.getTime() + deps.sessions.refreshTtlMs);
  const outcome = await withOrg(deps.db, found.orgId, async (tx) => {
    const [token] = await tx.select().from(refreshTokens).where(eq(refreshTokens.id, found.id)).for("update");
    if (!token) return { ok: false as const };
    const [session] = await tx.select().from(sessions).where(eq(sessions.id, token.sessionId)).for("update");
    if (!session || session.revokedAt || session.expiresAt <= now) return { ok: false as const };
    const [member] = await tx
      .select({ role: memberships.role })
      .from(memberships)
      .where(and(eq(memberships.orgId, session.orgId), eq(memberships.userId, session.userId)));
    const ctx: OrgContext = {
      orgId: session.orgId,
      role: member?.role ?? "member",
      actor: { kind: "user", id: session.userId, userId: session.userId },
      requestId: meta.requestId,
    };
    if (token.usedAt) {
      await tx
        .update(sessions)
        .set({ revokedAt: now, revokedReason: "refresh_token_reuse" })
        .where(eq(sessions.id, session.id));
      await appendAudit(tx, ctx, {
        action: "session.revoked",
        subjectType: "session",
        subjectId: session.id,
        data: { reason: "refresh_token_reuse", userId: session.userId, ip: meta.ip },
      });
      return { ok: false as const };
    }
    if (token.expiresAt <= now || !member) return { ok: false as const };
    await tx.update(refreshTokens).set({ usedAt: now }).where(eq(refreshTokens.id, token.id));
    await tx.insert(refreshTokens).values({
      orgId: session.orgId,
      sessionId: session.id,
      tokenHash: next.hash,
      createdAt: now,
      expiresAt,
    });
    await tx.update(sessions).set({ lastUsedAt: now, expiresAt }).where(eq(sessions.id, session.id));
    return {
      ok: true as const,
      session: { id: session.id, orgId: session.orgId, userId: session.userId, role: member.role },
    };
  });
  if (!outcome.ok) throw refreshFailed(clearCookie);
  const access = await deps.tokens.sign({
    userId: outcome.session.userId,
    orgId: outcome.session.orgId,
    role: outcome.session.role,
    sessionId: outcome.session.id,
  });
  return {
    accessToken: access.token,
    accessTokenExpiresAt: access.expiresAt,
    refreshToken: next.token,
    refreshTokenExpiresAt: expiresAt,
    session: outcome.session,
  };
}

async function revokeInTx(tx: OrgTx, ctx: OrgContext, sessionId: string, reason: string): Promise<boolean> {
  const revoked = await tx
    .update(sessions)
    .set({ revokedAt: new Date(), revokedReason: reason })
    .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id, userId: sessions.userId });
  const row = revoked[0];
  if (!row) return false;
  await appendAudit(tx, ctx, {
    action: "session.revoked",
    subjectType: "session",
    subjectId: row.id,
    data: { reason, userId: row.userId },
  });
  return true;
}

/** Ends the caller's own session (the one its access token names). */
export async function logout(deps: Pick<AccountsDeps, "db">, ctx: OrgContext): Promise<void> {
  const sessionId = sessionIdOf(ctx);
  if (!sessionId) {
    throw new AppError("bad_request", {
      detail: "logout ends a signed-in session; revoke an API key with DELETE /api/v1/api-keys/{id}",
    });
  }
  await withOrg(deps.db, ctx.orgId, (tx) => revokeInTx(tx, ctx, sessionId, "logout"));
}

export interface SessionView {
  id: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  userAgent: string | null;
  ip: string | null;
  current: boolean;
}

/** The caller's live sessions in this org, newest first (at most the session cap, so one page). */
export async function listSessions(deps: Pick<AccountsDeps, "db">, ctx: OrgContext): Promise<SessionView[]> {
  const userId = ctx.actor.userId;
  if (!userId) return [];
  const now = new Date();
  const rows = await withOrg(deps.db, ctx.orgId, (tx) =>
    tx
      .select()
      .from(sessions)
      .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
      .orderBy(desc(sessions.createdAt), desc(sessions.id)),
  );
  const current = sessionIdOf(ctx);
  return rows.map((s) => ({
    id: s.id,
    createdAt: s.createdAt,
    lastUsedAt: s.lastUsedAt,
    expiresAt: s.expiresAt,
    userAgent: s.userAgent,
    ip: s.ip,
    current: s.id === current,
  }));
}

/**
 * Revokes one session: your own, or (admins) anyone's in the org. Another member's session is as
 * invisible to a member as another org's is to everyone: 404.
 */
export async function revokeSession(
  deps: Pick<AccountsDeps, "db">,
  ctx: OrgContext,
  sessionId: string,
): Promise<void> {
  await withOrg(deps.db, ctx.orgId, async (tx) => {
    const [session] = await tx
      .select({ id: sessions.id, userId: sessions.userId })
      .from(sessions)
      .where(eq(sessions.id, sessionId));
    if (!session || (session.userId !== ctx.actor.userId && !hasRole(ctx, "admin"))) {
      throw new NotFoundError("session");
    }
    await revokeInTx(
      tx,
      ctx,
      session.id,
      session.userId === ctx.actor.userId ? "revoked_by_user" : "revoked_by_admin",
    );
  });
}
