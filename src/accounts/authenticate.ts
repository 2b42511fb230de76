import { and, eq, gt, isNull, lt, or } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { apiKeys, memberships, sessions, users } from "../../db/schema/index.ts";
import type { OrgContext } from "../context.ts";
import { UnauthenticatedError } from "../errors.ts";
import type { AccessTokens } from "./access-token.ts";
import { apiKeyMatches, parseApiKey } from "./api-key-format.ts";

const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * The org context of an authenticated request, plus what the credential itself carries: the session an
 * access token belongs to, or the scopes an API key is limited to (empty: no limit beyond its role).
 */
export interface AuthContext extends OrgContext {
  sessionId?: string;
  scopes?: readonly string[];
}

export function sessionIdOf(ctx: OrgContext): string | undefined {
  return (ctx as AuthContext).sessionId;
}

export function scopesOf(ctx: OrgContext): readonly string[] {
  return (ctx as AuthContext).scopes ?? [];
}

/**
 * Resolves an API key to the org context it acts in. Every failure is the same 401, so a caller learns
 * nothing about which keys exist. Revocation and expiry are read from the row on every request.
 */
export async function authenticateApiKey(
  db: Database,
  key: string,
  requestId?: string,
  now = new Date(),
): Promise<AuthContext> {
  const parsed = parseApiKey(key);
  if (!parsed) throw new UnauthenticatedError();
  // Looking a key up is cross-org by nature: the org is what we are about to learn.
  const [row] = await db.owner.select().from(apiKeys).where(eq(apiKeys.prefix, parsed.prefix)).limit(1);
  if (!row || !apiKeyMatches(key, row.keyHash)) throw new UnauthenticatedError();
  if (row.revokedAt || (row.expiresAt && row.expiresAt <= now)) throw new UnauthenticatedError();
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
    const stale = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
    await db.owner
      .update(apiKeys)
      .set({ lastUsedAt: now })
      .where(and(eq(apiKeys.id, row.id), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, stale))));
  }
  return {
    orgId: row.orgId,
    role: row.role,
    requestId,
    actor: {
      kind: "api_key",
      id: row.id,
      ...(row.createdBy ? { userId: row.createdBy } : {}),
      display: row.name,
    },
    scopes: row.scopes,
  };
}

/**
 * Resolves an access token: the signature and claims first (no database work for a forged token), then
 * the session it names must still be live and its user still a member. The role is the membership's
 * current one, so a revoked session, a removed member or a demotion takes effect on the next request
 * rather than when the token expires.
 */
export async function authenticateAccessToken(
  deps: { db: Database; tokens: AccessTokens },
  token: string,
  requestId?: string,
  now = new Date(),
): Promise<AuthContext> {
  const claims = await deps.tokens.verify(token, now);
  // Cross-org by nature, like an API key lookup; the row is pinned to the org the token names.
  const [row] = await deps.db.owner
    .select({ role: memberships.role, email: users.email, disabledAt: users.disabledAt })
    .from(sessions)
    .innerJoin(
      memberships,
      and(eq(memberships.orgId, sessions.orgId), eq(memberships.userId, sessions.userId)),
    )
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(
      and(
        eq(sessions.id, claims.sessionId),
        eq(sessions.orgId, claims.orgId),
        eq(sessions.userId, claims.userId),
        isNull(sessions.revokedAt),
        gt(sessions.expiresAt, now),
      ),
    )
    .limit(1);
  if (!row || row.disabledAt) throw new UnauthenticatedError();
  return {
    orgId: claims.orgId,
    role: row.role,
    requestId,
    actor: { kind: "user", id: claims.userId, userId: claims.userId, display: row.email },
    sessionId: claims.sessionId,
  };
}

/** `Authorization: Bearer <credential>`: an API key (cw_…) or an access token. */
export async function authenticateBearer(
  deps: { db: Database; tokens: AccessTokens },
  authorization: string | undefined,
  requestId?: string,
): Promise<AuthContext> {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? "");
  if (!match) throw new UnauthenticatedError();
  const credential = match[1]!;
  return credential.startsWith("cw_")
    ? authenticateApiKey(deps.db, credential, requestId)
    : authenticateAccessToken(deps, credential, requestId);
}
