import { and, asc, eq, inArray, isNull } from "drizzle-orm";
import { z } from "zod";
import { type OrgTx, withOrg } from "../../db/client.ts";
import { apiKeys, memberships, sessions, users } from "../../db/schema/index.ts";
import { ROLES } from "../../db/schema/memberships.ts";
import { hasRole, type OrgContext, type Role, requireRole } from "../context.ts";
import { AppError, ForbiddenError, fieldErrorsFromZod, NotFoundError, ValidationError } from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import { afterCursor, type Cursor } from "../http/pagination.ts";
import type { AccountsDeps } from "./deps.ts";

export interface MemberView {
  userId: string;
  email: string;
  name: string | null;
  role: Role;
  createdAt: Date;
}

/** Members of the org, oldest first (keyset on membership time, then user id). */
export async function listMembers(
  deps: Pick<AccountsDeps, "db">,
  ctx: OrgContext,
  query: { limit: number; after?: Cursor },
): Promise<MemberView[]> {
  requireRole(ctx, "member");
  return withOrg(deps.db, ctx.orgId, (tx) =>
    tx
      .select({
        userId: memberships.userId,
        email: users.email,
        name: users.name,
        role: memberships.role,
        createdAt: memberships.createdAt,
      })
      .from(memberships)
      .innerJoin(users, eq(users.id, memberships.userId))
      .where(afterCursor(query.after, memberships.createdAt, memberships.userId, "asc"))
      .orderBy(asc(memberships.createdAt), asc(memberships.userId))
      .limit(query.limit + 1),
  );
}

export const ChangeRoleInput = z.object({ role: z.enum(ROLES) });
export type ChangeRoleInput = z.input<typeof ChangeRoleInput>;

async function lockMembership(tx: OrgTx, userId: string) {
  const [row] = await tx
    .select({ role: memberships.role, email: users.email })
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(eq(memberships.userId, userId))
    .for("update", { of: memberships });
  if (!row) throw new NotFoundError("member");
  return row;
}

/** Owners are counted under a lock on every owner row, so two concurrent demotions cannot both pass. */
async function ownerCount(tx: OrgTx): Promise<number> {
  const owners = await tx
    .select({ userId: memberships.userId })
    .from(memberships)
    .where(eq(memberships.role, "owner"))
    .for("update");
  return owners.length;
}

/**
 * Only an owner grants or takes away the owner role; an admin manages admins and members. The last
 * owner cannot be demoted (409). Keys the member created with a role above the new one are revoked.
 */
export async function changeMemberRole(
  deps: Pick<AccountsDeps, "db">,
  ctx: OrgContext,
  userId: string,
  raw: ChangeRoleInput,
): Promise<MemberView> {
  requireRole(ctx, "admin");
  const parsed = ChangeRoleInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrorsFromZod(parsed.error.issues));
  const role = parsed.data.role;
  return withOrg(deps.db, ctx.orgId, async (tx) => {
    const current = await lockMembership(tx, userId);
    if (!hasRole(ctx, current.role) || !hasRole(ctx, role)) {
      throw new ForbiddenError("only an owner can grant or take away the owner role");
    }
    if (current.role !== role) {
      if (current.role === "owner" && (await ownerCount(tx)) <= 1) {
        throw new AppError("conflict", { detail: "the org must keep at least one owner" });
      }
      await tx
        .update(memberships)
        .set({ role })
        .where(and(eq(memberships.orgId, ctx.orgId), eq(memberships.userId, userId)));
      // ROLES runs from highest to lowest.
      const above = ROLES.slice(0, ROLES.indexOf(role));
      const revokedKeys =
        above.length > 0
          ? await tx
              .update(apiKeys)
              .set({ revokedAt: new Date() })
              .where(
                and(eq(apiKeys.createdBy, userId), isNull(apiKeys.revokedAt), inArray(apiKeys.role, above)),
              )
              .returning({ id: apiKeys.id })
          : [];
      await appendAudit(tx, ctx, {
        action: "membership.role_changed",
        subjectType: "user",
        subjectId: userId,
        data: { from: current.role, to: role, revokedKeys: revokedKeys.map((k) => k.id) },
      });
    }
    const [member] = await tx
      .select({
        userId: memberships.userId,
        email: users.email,
        name: users.name,
        role: memberships.role,
        createdAt: memberships.createdAt,
      })
      .from(memberships)
      .innerJoin(users, eq(users.id, memberships.userId))
      .where(eq(memberships.userId, userId));
    if (!member) throw new NotFoundError("member");
    return member;
  });
}

/**
 * Removes a member from the org: their sessions here end and the API keys they created here are
 * revoked. Admins remove admins and members; removing an owner takes an owner; the last owner stays.
 */
export async function removeMember(
  deps: Pick<AccountsDeps, "db">,
  ctx: OrgContext,
  userId: string,
): Promise<void> {
  requireRole(ctx, "admin");
  await withOrg(deps.db, ctx.orgId, async (tx) => {
    const current = await lockMembership(tx, userId);
    if (!hasRole(ctx, current.role)) throw new ForbiddenError("only an owner can remove an owner");
    if (current.role === "owner" && (await ownerCount(tx)) <= 1) {
      throw new AppError("conflict", { detail: "the org must keep at least one owner" });
    }
    const now = new Date();
    const ended = await tx
      .update(sessions)
      .set({ revokedAt: now, revokedReason: "membership_removed" })
      .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt)))
      .returning({ id: sessions.id });
    const revokedKeys = await tx
      .update(apiKeys)
      .set({ revokedAt: now })
      .where(and(eq(apiKeys.createdBy, userId), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id });
    await tx.delete(memberships).where(and(eq(memberships.orgId, ctx.orgId), eq(memberships.userId, userId)));
    await appendAudit(tx, ctx, {
      action: "membership.removed",
      subjectType: "user",
      subjectId: userId,
      data: {
        email: current.email,
        role: current.role,
        signedOut: ended.length,
        revokedKeys: revokedKeys.map((k) => k.id),
      },
    });
  });
}
