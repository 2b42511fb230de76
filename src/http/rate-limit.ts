import { getConnInfo } from "@hono/node-server/conninfo";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { RateLimitedError, type RateLimiter, rateLimitHeaders } from "../accounts/rate-limiter.ts";
import { problemResponses } from "./problem.ts";
import type { RouteTable } from "./route-security.ts";
import type { AppEnv } from "./types.ts";

/**
 * The caller's address. Behind a proxy (CAUSEWAY_TRUST_PROXY) it is the last X-Forwarded-For entry, the
 * one our proxy appended; earlier entries are whatever the client sent and cannot be trusted.
 */
export function clientIp(c: Context<AppEnv>, trustProxy: boolean): string {
  if (trustProxy) {
    const last = c.req.header("x-forwarded-for")?.split(",").at(-1)?.trim();
    if (last && last.length <= 64) return last;
  }
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    // Not served by the Node adapter (app.request in tests): no socket to read.
    return "unknown";
  }
}

/**
 * Counts the request against its route's declared class: per client IP on public routes (sign-in,
 * refresh), per credential and per org everywhere else. Runs after auth, so the org is known. Every
 * limited response carries RateLimit-Limit/-Remaining/-Reset; a 429 adds Retry-After.
 */
export function rateLimit(
  limiter: RateLimiter,
  routes: RouteTable,
  options: { trustProxy: boolean },
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const route = routes.of(c);
    const cls = route?.rateLimit ?? "standard";
    let subjects: string[];
    if (route?.access === "public") {
      subjects = [`ip:${clientIp(c, options.trustProxy)}`];
    } else {
      const auth = c.get("auth");
      subjects = [`${auth.actor.kind}:${auth.actor.id}`, `org:${auth.orgId}`];
    }
    const result = await limiter.hit(cls, subjects);
    if (!result.allowed) throw new RateLimitedError(result);
    for (const [name, value] of Object.entries(rateLimitHeaders(result))) c.header(name, value);
    await next();
  };
}

/**
 * The limiter runs on every /api route, so every /api route answers 429: declared here, once, in each
 * route's OpenAPI responses (a route that already declares a 429 keeps its own description).
 */
export function declareRateLimitResponses(app: OpenAPIHono<AppEnv>): void {
  const tooMany = problemResponses("rate_limited")[429]!;
  for (const definition of app.openAPIRegistry.definitions) {
    if (definition.type !== "route" || !definition.route.path.startsWith("/api/")) continue;
    definition.route.responses[429] ??= tooMany;
  }
}
