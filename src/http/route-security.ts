import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { matchedRoutes } from "hono/route";
import { ROLES, type Role } from "../../db/schema/memberships.ts";
import { scopesOf } from "../accounts/authenticate.ts";
import { RATE_LIMIT_CLASSES, type RateLimitClass } from "../accounts/rate-limiter.ts";
import { type OrgContext, requireRole } from "../context.ts";
import { ForbiddenError } from "../errors.ts";
import type { AppEnv } from "./types.ts";

/**
 * Each route declares who may call it and how it is rate limited, in its OpenAPI operation:
 *   "x-causeway-role": "public" | "member" | "admin" | "owner"
 *   "x-causeway-rate-limit": "auth" | "standard" | "ai" | "export"   (optional; standard, or auth if public)
 * The auth and rate-limit middlewares read these declarations, so what the document says is what runs.
 * Spread `secured(...)` or `publicRoute()` into createRoute to get them right.
 */
export const ROLE_EXTENSION = "x-causeway-role";
export const RATE_LIMIT_EXTENSION = "x-causeway-rate-limit";

export type RouteAccess = Role | "public";

export interface RouteSecurity {
  method: string;
  /** OpenAPI form: /api/v1/api-keys/{id}. */
  path: string;
  access: RouteAccess;
  rateLimit: RateLimitClass;
  tags: string[];
}

export interface RouteDeclaration {
  security: Array<Record<string, string[]>>;
  "x-causeway-role": RouteAccess;
  "x-causeway-rate-limit"?: RateLimitClass;
}

/** The declaration for a route that needs a credential with at least `role`. */
export function secured(role: Role, rateLimit?: RateLimitClass): RouteDeclaration {
  return {
    security: [{ bearer: [] }],
    "x-causeway-role": role,
    ...(rateLimit ? { "x-causeway-rate-limit": rateLimit } : {}),
  };
}

/** The declaration for a route anyone may call (sign-in, refresh, accepting an invitation). */
export function publicRoute(rateLimit: RateLimitClass = "auth"): RouteDeclaration {
  return { security: [], "x-causeway-role": "public", "x-causeway-rate-limit": rateLimit };
}

const ACCESS: readonly string[] = ["public", ...ROLES];

/** Hono's path syntax for an OpenAPI path. */
function honoPath(openApiPath: string): string {
  return openApiPath.replaceAll(/\{([^}]+)\}/g, ":$1");
}

interface RouteDefinition {
  type: string;
  route?: { method: string; path: string; tags?: string[] } & Record<string, unknown>;
}

/** Reads the declarations of every route in an OpenAPI registry. Undeclared fields get safe defaults. */
export function routeDeclarations(definitions: readonly unknown[]): RouteSecurity[] {
  const out: RouteSecurity[] = [];
  for (const def of definitions as RouteDefinition[]) {
    if (def.type !== "route" || !def.route) continue;
    const declared = def.route[ROLE_EXTENSION];
    const access: RouteAccess =
      typeof declared === "string" && ACCESS.includes(declared) ? (declared as RouteAccess) : "member";
    const rate = def.route[RATE_LIMIT_EXTENSION];
    const rateLimit: RateLimitClass =
      typeof rate === "string" && (RATE_LIMIT_CLASSES as readonly string[]).includes(rate)
        ? (rate as RateLimitClass)
        : access === "public"
          ? "auth"
          : "standard";
    out.push({
      method: def.route.method.toUpperCase(),
      path: def.route.path,
      access,
      rateLimit,
      tags: def.route.tags ?? [],
    });
  }
  return out;
}

/**
 * Finds the declaration of the route a request matched. Built lazily from the app's OpenAPI registry on
 * first use, so routes mounted after the middleware are covered. A request that matches no declared
 * route (an unknown path) needs a credential and counts as standard.
 */
export class RouteTable {
  private byKey: Map<string, RouteSecurity> | undefined;

  constructor(private readonly app: OpenAPIHono<AppEnv>) {}

  all(): RouteSecurity[] {
    return [...this.table().values()];
  }

  of(c: Context<AppEnv>): RouteSecurity | undefined {
    const endpoint = matchedRoutes(c).findLast((r) => r.method !== "ALL");
    if (!endpoint) return undefined;
    return this.table().get(`${endpoint.method} ${endpoint.path}`);
  }

  private table(): Map<string, RouteSecurity> {
    this.byKey ??= new Map(
      routeDeclarations(this.app.openAPIRegistry.definitions).map((r) => [
        `${r.method} ${honoPath(r.path)}`,
        r,
      ]),
    );
    return this.byKey;
  }
}

/** The declared role, and for a scoped API key the route's tags, checked against the credential. */
export function enforceDeclaredAccess(auth: OrgContext, route: RouteSecurity): void {
  if (route.access === "public") return;
  requireRole(auth, route.access);
  const scopes = scopesOf(auth);
  if (scopes.length > 0 && !route.tags.some((tag) => scopes.includes(tag))) {
    throw new ForbiddenError("this API key's scopes do not include this route");
  }
}
