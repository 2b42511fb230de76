import { and, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import type { Database } from "../../db/client.ts";
import { memberships, sessions, users } from "../../db/schema/index.ts";
import { fieldErrorsFromZod, NotFoundError, ValidationError } from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, type PasswordHasher } from "./password.ts";

export const SetPasswordInput = z.object({
  email: z
    .email()
    .max(320)
    .transform((e) => e.toLowerCase()),
  password: z.string().min(PASSWORD_MIN_LENGTH).max(PASSWORD_MAX_LENGTH),
});
export type SetPasswordInput = z.input<typeof SetPasswordInput>;

/**
 * Operator action (`causeway users set-password`): sets a user's password, clears a lockout and ends the
 * user's sessions everywhere (a password reset must cut off whoever had the old one). Cross-org by nature,
 * so it runs as the owner; each of the user's orgs gets an audit entry.
 */
export async function setPasswordByEmail(
  deps: { db: Database; hasher: PasswordHasher },
  raw: SetPasswordInput,
): Promise<{ userId: string; orgs: number; signedOut: number }> {
  const parsed = SetPasswordInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrorsFromZod(parsed.error.issues));
  const input = parsed.data;
  const passwordHash = await deps.hasher.hash(input.password);
  return deps.db.owner.transaction(async (tx) => {
    const [user] = await tx
      .update(users)
      .set({ passwordHash, failedLoginCount: 0, lockedUntil: null })
      .where(eq(users.email, input.email))
      .returning({ id: users.id });
    if (!user) throw new NotFoundError("user with that email");
    const now = new Date();
    const ended = await tx
      .update(sessions)
      .set({ revokedAt: now, revokedReason: "password_changed" })
      .where(and(eq(sessions.userId, user.id), isNull(sessions.revokedAt)))
      .returning({ id: sessions.id, orgId: sessions.orgId });
    const orgs = await tx
      .select({ orgId: memberships.orgId, role: memberships.role })
      .from(memberships)
      .where(eq(memberships.userId, user.id));
    for (const m of orgs) {
      await appendAudit(
        tx,
        { orgId: m.orgId, role: m.role, actor: { kind: "system", id: "cli" } },
        {
          action: "user.password_set",
          subjectType: "user",
          subjectId: user.id,
          data: { signedOut: ended.filter((s) => s.orgId === m.orgId).length },
        },
      );
    }
    return { userId: user.id, orgs: orgs.length, signedOut: ended.length };
  });
}
