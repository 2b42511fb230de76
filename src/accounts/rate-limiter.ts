import { createHash } from "node:crypto";
import type { Database } from "../../db/client.ts";
import { AppError } from "../errors.ts";

/** Each route declares one class (`x-causeway-rate-limit`); `standard` when it says nothing. */
export const RATE_LIMIT_CLASSES = ["auth", "standard", "ai", "export"] as const;
export type RateLimitClass = (typeof RATE_LIMIT_CLASSES)[number];

export interface RateRule {
  limit: number;
  windowMs: number;
}

export type RateLimitPolicy = Record<RateLimitClass, RateRule>;

/**
 * DESIGN.md §8: auth 5/min (per IP and per account), standard 100/min and AI 20/min (per user and per
 * org), export 5 per 5 minutes.
 */
export const DEFAULT_RATE_LIMITS: RateLimitPolicy = {
  auth: { limit: 5, windowMs: 60_000 },
  standard: { limit: 100, windowMs: 60_000 },
  ai: { limit: 20, windowMs: 60_000 },
  export: { limit: 5, windowMs: 5 * 60_000 },
};

export type RateLimitOverrides = Partial<Record<RateLimitClass, Partial<RateRule>>>;

export function rateLimitPolicy(overrides: RateLimitOverrides = {}): RateLimitPolicy {
  const out = { ...DEFAULT_RATE_LIMITS };
  for (const cls of RATE_LIMIT_CLASSES) {
    const rule = { ...DEFAULT_RATE_LIMITS[cls], ...overrides[cls] };
    if (
      !Number.isInteger(rule.limit) ||
      rule.limit < 1 ||
      !Number.isInteger(rule.windowMs) ||
      rule.windowMs < 1000
    ) {
      throw new Error(`rate limit ${cls}: limit must be a positive integer and the window at least 1 s`);
    }
    out[cls] = rule;
  }
  return out;
}

export interface RateLimitResult {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the tightest counter's window ends. */
  resetSeconds: number;
}

export class RateLimitedError extends AppError {
  constructor(result: RateLimitResult) {
    super("rate_limited", {
      detail: `rate limit exceeded; retry in ${result.resetSeconds} s`,
      headers: { "Retry-After": String(result.resetSeconds), ...rateLimitHeaders(result) },
    });
    this.name = "RateLimitedError";
  }
}

export function rateLimitHeaders(result: RateLimitResult): Record<string, string> {
  return {
    "RateLimit-Limit": String(result.limit),
    "RateLimit-Remaining": String(result.remaining),
    "RateLimit-Reset": String(result.resetSeconds),
  };
}

/**
 * Fixed-window counters in Postgres, so every replica enforces the same limit. One statement counts the
 * hit against every subject (e.g. the user and the org) with an upsert; the window is computed from the
 * database clock, so replicas with drifting clocks still agree on it. Counter keys carry a hash of the
 * subject, never an email or IP in clear.
 */
export class RateLimiter {
  constructor(
    private readonly db: Database,
    readonly policy: RateLimitPolicy,
  ) {}

  async hit(cls: RateLimitClass, subjects: string[]): Promise<RateLimitResult> {
    const rule = this.policy[cls];
    const keys = subjects.map(
      (s) => `${cls}:${createHash("sha256").update(s).digest("base64url").slice(0, 32)}`,
    );
    const rows = await this.db.ownerSql<{ count: number; reset_ms: number }[]>`
      insert into rate_limit_counters as c (key, window_start, count)
      select k, to_timestamp(floor(extract(epoch from now()) * 1000 / ${rule.windowMs}) * ${rule.windowMs} / 1000.0), 1
      from unnest(${keys}::text[]) as k
      on conflict (key) do update set
        count = case when c.window_start = excluded.window_start then c.count + 1 else 1 end,
        window_start = excluded.window_start
      returning count, (extract(epoch from (window_start - now())) * 1000 + ${rule.windowMs})::float8 as reset_ms`;
    let tightest = { count: 0, resetMs: 0 };
    for (const row of rows) {
      if (row.count >= tightest.count) tightest = { count: row.count, resetMs: Number(row.reset_ms) };
    }
    return {
      allowed: tightest.count <= rule.limit,
      limit: rule.limit,
      remaining: Math.max(0, rule.limit - tightest.count),
      resetSeconds: Math.max(1, Math.ceil(tightest.resetMs / 1000)),
    };
  }

  /** Counts the hit and throws the 429 when any subject is over its limit. */
  async enforce(cls: RateLimitClass, subjects: string[]): Promise<RateLimitResult> {
    const result = await this.hit(cls, subjects);
    if (!result.allowed) throw new RateLimitedError(result);
    return result;
  }
}
