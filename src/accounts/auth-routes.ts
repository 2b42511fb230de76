import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { problemResponses } from "../http/problem.ts";
import { clientIp } from "../http/rate-limit.ts";
import { publicRoute, secured } from "../http/route-security.ts";
import { createRouter } from "../http/router.ts";
import type { AppEnv } from "../http/types.ts";
import type { AccountsDeps, ClientMeta } from "./deps.ts";
import { clearRefreshCookie, REFRESH_COOKIE, refreshCookie } from "./refresh-cookie.ts";
import { listSessions, login, logout, refreshSession, revokeSession } from "./sessions.ts";
import { IdParam, LoginBody, SessionSchema, sessionToWire, TokenResponse, tokenResponse } from "./wire.ts";

export interface AccountsHttpOptions {
  trustProxy: boolean;
}

export function clientMeta(c: Context<AppEnv>, options: AccountsHttpOptions): ClientMeta {
  const userAgent = c.req.header("user-agent");
  return {
    ip: clientIp(c, options.trustProxy),
    requestId: c.get("requestId"),
    ...(userAgent ? { userAgent } : {}),
  };
}

const tokenContent = { "application/json": { schema: TokenResponse } };
const setCookieHeader = {
  "Set-Cookie": {
    description: `${REFRESH_COOKIE}: the rotated refresh token (HttpOnly; Secure; SameSite=Strict; Path=/api/v1/auth/refresh; Max-Age 30 days)`,
    schema: { type: "string" as const },
  },
};

/** Sign-in, refresh, sign-out and the caller's sessions. */
export function authRoutes(deps: AccountsDeps, options: AccountsHttpOptions) {
  const router = createRouter();
  const refreshMaxAge = Math.floor(deps.sessions.refreshTtlMs / 1000);

  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/auth/login",
      tags: ["auth"],
      summary: "Sign in with email and password",
      description:
        "Returns an access token (15 minutes) and sets the refresh-token cookie. Every failure (unknown email, wrong password, locked account) is the same 401.",
      ...publicRoute("auth"),
      request: { body: { required: true, content: { "application/json": { schema: LoginBody } } } },
      responses: {
        200: { description: "signed in", headers: setCookieHeader, content: tokenContent },
        ...problemResponses("validation_failed", "unauthenticated"),
      },
    }),
    async (c) => {
      const issued = await login(deps, c.req.valid("json"), clientMeta(c, options));
      c.header("Set-Cookie", refreshCookie(issued.refreshToken, refreshMaxAge));
      c.header("Cache-Control", "no-store");
      return c.json(tokenResponse(issued, deps.tokens.options.ttlSeconds), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/auth/refresh",
      tags: ["auth"],
      summary: "Exchange the refresh-token cookie for a new access token",
      description:
        "Rotates the refresh token. Presenting a refresh token that was already exchanged revokes the whole session.",
      ...publicRoute("auth"),
      responses: {
        200: { description: "refreshed", headers: setCookieHeader, content: tokenContent },
        ...problemResponses("unauthenticated"),
      },
    }),
    async (c) => {
      const issued = await refreshSession(
        deps,
        getCookie(c, REFRESH_COOKIE),
        clientMeta(c, options),
        clearRefreshCookie(),
      );
      c.header("Set-Cookie", refreshCookie(issued.refreshToken, refreshMaxAge));
      c.header("Cache-Control", "no-store");
      return c.json(tokenResponse(issued, deps.tokens.options.ttlSeconds), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/auth/logout",
      tags: ["auth"],
      summary: "End the session of the presented access token",
      ...secured("member"),
      responses: {
        204: { description: "signed out; the refresh cookie is cleared" },
        ...problemResponses("unauthenticated", "bad_request"),
      },
    }),
    async (c) => {
      await logout(deps, c.get("auth"));
      c.header("Set-Cookie", clearRefreshCookie());
      return c.body(null, 204);
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/auth/sessions",
      tags: ["auth"],
      summary: "The caller's live sessions in this org",
      ...secured("member"),
      responses: {
        200: {
          description: "sessions, newest first (at most five, so always one page)",
          content: {
            "application/json": {
              schema: z
                .object({ items: z.array(SessionSchema), nextCursor: z.string().nullable() })
                .openapi("SessionList"),
            },
          },
        },
        ...problemResponses("unauthenticated"),
      },
    }),
    async (c) => {
      const items = await listSessions(deps, c.get("auth"));
      return c.json({ items: items.map(sessionToWire), nextCursor: null }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "delete",
      path: "/api/v1/auth/sessions/{id}",
      tags: ["auth"],
      summary: "Revoke a session: your own, or (owners and admins) anyone's in the org",
      ...secured("member"),
      request: { params: IdParam },
      responses: {
        204: { description: "revoked" },
        ...problemResponses("unauthenticated", "not_found", "validation_failed"),
      },
    }),
    async (c) => {
      await revokeSession(deps, c.get("auth"), c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  return router;
}
