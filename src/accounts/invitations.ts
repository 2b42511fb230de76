import { randomUUID } from "node:crypto";
import { and, desc, eq, gt, isNull } from "drizzle-orm";
import { z } from "zod";
import { withOrg } from "../../db/client.ts";
import { invitations, memberships, users } from "../../db/schema/index.ts";
import { ROLES } from "../../db/schema/memberships.ts";
import { hasRole, type OrgContext, type Role, requireRole } from "../context.ts";
import {
  AppError,
  ForbiddenError,
  fieldErrorsFromZod,
  NotFoundError,
  UnauthenticatedError,
  ValidationError,
} from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import { afterCursor, type Cursor } from "../http/pagination.ts";
import { type AccountsDeps, type ClientMeta, INVITATION_TTL_MS } from "./deps.ts";
import { generateOpaqueToken, hashOpaqueToken, isOpaqueToken } from "./opaque-token.ts";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "./password.ts";

export const CreateInvitationInput = z.object({
  email: z
    .email()
    .max(320)
    .transform((e) => e.toLowerCase()),
  role: z.enum(ROLES).default("member"),
});
export type CreateInvitationInput = z.input<typeof CreateInvitationInput>;

export interface InvitationView {
  id: string;
  email: string;
  role: Role;
  invitedBy: string | null;
  createdAt: Date;
  expiresAt: Date;
}

const view = (row: typeof invitations.$inferSelect): InvitationView => ({
  id: row.id,
  email: row.email,
  role: row.role,
  invitedBy: row.invitedBy,
  createdAt: row.createdAt,
  expiresAt: row.expiresAt,
});

/**
 * An owner or admin invites an email with a role (never above their own). The token is returned once, to
 * be passed to the invitee; only its hash is stored. A newer invitation for the same email replaces any
 * pending one.
 */
export async function createInvitation(
  deps: Pick<AccountsDeps, "db">,
  ctx: OrgContext,
  raw: CreateInvitationInput,
  now = new Date(),
): Promise<{ invitation: InvitationView; token: string }> {
  requireRole(ctx, "admin");
  const parsed = CreateInvitationInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrorsFromZod(parsed.error.issues));
  const input = parsed.data;
  if (!hasRole(ctx, input.role)) throw new ForbiddenError(`you cannot invite with the ${input.role} role`);
  const secret = generateOpaqueToken();
  const row = await withOrg(deps.db, ctx.orgId, async (tx) => {
    const [member] = await tx
      .select({ userId: memberships.userId })
      .from(memberships)
      .innerJoin(users, eq(users.id, memberships.userId))
      .where(eq(users.email, input.email));
    if (member) throw new AppError("conflict", { detail: "that email is already a member of this org" });
    const replaced = await tx
      .update(invitations)
      .set({ revokedAt: now })
      .where(
        and(
          eq(invitations.email, input.email),
          isNull(invitations.acceptedAt),
          isNull(invitations.revokedAt),
        ),
      )
      .returning({ id: invitations.id });
    const [inserted] = await tx
      .insert(invitations)
      .values({
        orgId: ctx.orgId,
        email: input.email,
        role: input.role,
        tokenHash: secret.hash,
        invitedBy: ctx.actor.userId ?? null,
        createdAt: now,
        expiresAt: new Date(now.getTime() + INVITATION_TTL_MS),
      })
      .returning();
    if (!inserted) throw new Error("insert returned no row");
    await appendAudit(tx, ctx, {
      action: "invitation.created",
      subjectType: "invitation",
      subjectId: inserted.id,
      data: { email: inserted.email, role: inserted.role, replaced: replaced.map((r) => r.id) },
    });
    return inserted;
  });
  return { invitation: view(row), token: secret.token };
}

/** Pending invitations (neither accepted, revoked nor expired), newest first. */
export async function listInvitations(
  deps: Pick<AccountsDeps, "db">,
  ctx: OrgContext,
  query: { limit: number; after?: Cursor },
  now = new Date(),
): Promise<InvitationView[]> {
  requireRole(ctx, "admin");
  const rows = await withOrg(deps.db, ctx.orgId, (tx) =>
    tx
      .select()
      .from(invitations)
      .where(
        and(
          isNull(invitations.acceptedAt),
          isNull(invitations.revokedAt),
          gt(invitations.expiresAt, now),
          afterCursor(query.after, invitations.createdAt, invitations.id, "desc"),
        ),
      )
      .orderBy(desc(invitations.createdAt), desc(invitations.id))
      .limit(query.limit + 1),
  );
  return rows.map(view);
}

export async function revokeInvitation(
  deps: Pick<AccountsDeps, "db">,
  ctx: OrgContext,
  id: string,
): Promise<void> {
  requireRole(ctx, "admin");
  await withOrg(deps.db, ctx.orgId, async (tx) => {
    const [row] = await tx.select().from(invitations).where(eq(invitations.id, id)).for("update");
    if (!row) throw new NotFoundError("invitation");
    if (row.acceptedAt || row.revokedAt) return;
    await tx.update(invitations).set({ revokedAt: new Date() }).where(eq(invitations.id, id));
    await appendAudit(tx, ctx, {
      action: "invitation.revoked",
      subjectType: "invitation",
      subjectId: id,
      data: { email: row.email, role: row.role },
    });
  });
}

export const AcceptInvitationInput = z.object({
  token: z.string().min(1).max(200),
  /** Required for a new user; an existing user keeps their password. */
  password: z.string().min(PASSWORD_MIN_LENGTH).max(PASSWORD_MAX_LENGTH).optional(),
  name: z.string().trim().min(1).max(200).optional(),
});
export type AcceptInvitationInput = z.input<typeof AcceptInvitationInput>;

const invitationInvalid = () =>
  new UnauthenticatedError("the invitation is unknown, used, revoked or expired");

/**
 * Accepting an invitation proves control of the invited email (the token was sent there): it makes the
 * user if the email is new (with the given password) and the membership with the invited role.
 */
export async function acceptInvitation(
  deps: Pick<AccountsDeps, "db" | "hasher">,
  raw: AcceptInvitationInput,
  meta: ClientMeta,
): Promise<{ orgId: string; userId: string; role: Role; created: boolean }> {
  const parsed = AcceptInvitationInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrorsFromZod(parsed.error.issues));
  const input = parsed.data;
  if (!isOpaqueToken(input.token)) throw invitationInvalid();
  // The token tells us the org: a cross-org lookup, like a refresh token's.
  const [found] = await deps.db.owner
    .select()
    .from(invitations)
    .where(eq(invitations.tokenHash, hashOpaqueToken(input.token)))
    .limit(1);
  const now = new Date();
  if (!found || found.acceptedAt || found.revokedAt || found.expiresAt <= now) throw invitationInvalid();
  const [existing] = await deps.db.owner
    .select({ id: users.id, passwordHash: users.passwordHash })
    .from(users)
    .where(eq(users.email, found.email))
    .limit(1);
  if (!existing && !input.password) {
    throw new ValidationError([{ path: "password", message: "required to create your account" }]);
  }
  // A user made by `causeway orgs create` may have no password yet; the invitation lets them set one.
  const passwordHash =
    input.password && !existing?.passwordHash ? await deps.hasher.hash(input.password) : undefined;
  const userId = existing?.id ?? randomUUID();

  return withOrg(deps.db, found.orgId, async (tx) => {
    const [invitation] = await tx
      .select()
      .from(invitations)
      .where(eq(invitations.id, found.id))
      .for("update");
    if (!invitation || invitation.acceptedAt || invitation.revokedAt || invitation.expiresAt <= now) {
      throw invitationInvalid();
    }
    const ctx: OrgContext = {
      orgId: invitation.orgId,
      role: invitation.role,
      actor: { kind: "user", id: userId, userId, display: invitation.email },
      requestId: meta.requestId,
    };
    if (!existing) {
      // No RETURNING: the new user is not visible under row-level security until the membership exists.
      await tx.insert(users).values({
        id: userId,
        email: invitation.email,
        name: input.name ?? null,
        passwordHash: passwordHash ?? null,
        emailVerified: true,
      });
    }
    const inserted = await tx
      .insert(memberships)
      .values({ orgId: invitation.orgId, userId, role: invitation.role })
      .onConflictDoNothing()
      .returning({ userId: memberships.userId });
    if (inserted.length === 0)
      throw new AppError("conflict", { detail: "you are already a member of this org" });
    if (existing && passwordHash) {
      await tx.update(users).set({ passwordHash, emailVerified: true }).where(eq(users.id, userId));
    }
    await tx.update(invitations).set({ acceptedAt: now }).where(eq(invitations.id, invitation.id));
    await appendAudit(tx, ctx, {
      action: "invitation.accepted",
      subjectType: "invitation",
      subjectId: invitation.id,
      data: { email: invitation.email, userCreated: !existing },
    });
    await appendAudit(tx, ctx, {
      action: "membership.created",
      subjectType: "user",
      subjectId: userId,
      data: { email: invitation.email, role: invitation.role },
    });
    return { orgId: invitation.orgId, userId, role: invitation.role, created: !existing };
  });
}
