import { randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { Logger } from "pino";
import type { Database } from "../../db/client.ts";
import type { AccessTokens } from "../accounts/access-token.ts";
import { authenticateBearer } from "../accounts/authenticate.ts";
import { enforceDeclaredAccess, type RouteTable } from "./route-security.ts";
import type { AppEnv } from "./types.ts";

const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** Honours a well-formed incoming X-Request-Id (from a proxy), else makes one; echoes it on the response. */
export function requestId(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const id = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    c.set("requestId", id);
    c.header("X-Request-Id", id);
    await next();
  };
}

/** One line per request with method, route, status and duration; never bodies, never auth headers. */
export function requestLogger(root: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const logger = root.child({ requestId: c.get("requestId") });
    c.set("logger", logger);
    await next();
    const status = c.res.status;
    const fields = {
      method: c.req.method,
      path: c.req.path,
      status,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
    };
    if (status >= 500) logger.error(fields, "request failed");
    else if (c.req.path.startsWith("/health")) logger.debug(fields, "request");
    else logger.info(fields, "request");
  };
}

/**
 * `Authorization: Bearer <API key or access token>` → the org context, then the route's declared role
 * (and an API key's scopes) are enforced before any handler or body validation runs. Routes declared
 * public (sign-in, refresh) pass without a credential.
 */
export function requireAuth(
  deps: { db: Database; tokens: AccessTokens },
  routes: RouteTable,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const route = routes.of(c);
    if (route?.access === "public") return next();
    const auth = await authenticateBearer(deps, c.req.header("authorization"), c.get("requestId"));
    if (route) enforceDeclaredAccess(auth, route);
    c.set("auth", auth);
    await next();
  };
}
