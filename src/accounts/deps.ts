import type { Database } from "../../db/client.ts";
import type { AccessTokens } from "./access-token.ts";
import type { PasswordHasher, ScryptParams } from "./password.ts";
import type { RateLimiter, RateLimitOverrides } from "./rate-limiter.ts";

/** Consecutive wrong passwords before an account is locked, and for how long. */
export interface LockoutPolicy {
  maxFailures: number;
  durationMs: number;
}

export interface SessionPolicy {
  /** Live sessions per user, across all their orgs; the next sign-in revokes the oldest. */
  maxPerUser: number;
  /** Refresh-token (and session idle) lifetime; every refresh starts it again. */
  refreshTtlMs: number;
}

export const DEFAULT_LOCKOUT: LockoutPolicy = { maxFailures: 10, durationMs: 15 * 60_000 };
export const DEFAULT_SESSION_POLICY: SessionPolicy = { maxPerUser: 5, refreshTtlMs: 30 * 24 * 60 * 60_000 };
export const INVITATION_TTL_MS = 7 * 24 * 60 * 60_000;

/** What the account services need; built once by the composition root (src/container.ts). */
export interface AccountsDeps {
  db: Database;
  hasher: PasswordHasher;
  tokens: AccessTokens;
  limiter: RateLimiter;
  lockout: LockoutPolicy;
  sessions: SessionPolicy;
}

/** Where a request came from, for rate limits and the session list. */
export interface ClientMeta {
  ip: string;
  userAgent?: string;
  requestId?: string;
}

/**
 * What the composition root may tune (tests use small limits and cheap scrypt parameters); anything
 * left out takes the production default.
 */
export interface AccountsOverrides {
  rateLimits?: RateLimitOverrides;
  lockout?: Partial<LockoutPolicy>;
  sessions?: Partial<SessionPolicy>;
  passwordParams?: ScryptParams;
}
