import type { Role } from "../db/schema/memberships.ts";
import { ForbiddenError } from "./errors.ts";

export type { Role };

export interface Actor {
  kind: "user" | "api_key" | "system" | "slack";
  id: string;
  /** The user behind the action, when there is one (an API key's creator, a Slack user's mapping). */
  userId?: string;
  display?: string;
}

/**
 * Who is acting, for which org, with what role. Built by the auth middleware (or by a job / CLI) and
 * passed as the first argument of every service function. The org never comes from request input.
 */
export interface OrgContext {
  orgId: string;
  actor: Actor;
  role: Role;
  requestId?: string;
}

const RANK: Record<Role, number> = { member: 0, admin: 1, owner: 2 };

export function hasRole(ctx: Pick<OrgContext, "role">, needed: Role): boolean {
  return RANK[ctx.role] >= RANK[needed];
}

/** Owners and admins mutate; members read. Service functions call this before touching anything. */
export function requireRole(ctx: Pick<OrgContext, "role">, needed: Role): void {
  if (!hasRole(ctx, needed)) throw new ForbiddenError(`this action needs the ${needed} role`);
}

export function systemContext(orgId: string, id = "causeway"): OrgContext {
  return { orgId, role: "owner", actor: { kind: "system", id } };
}
