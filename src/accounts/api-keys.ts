import { and, desc, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import { withOrg } from "../../db/client.ts";
import { apiKeys } from "../../db/schema/index.ts";
import { ROLES } from "../../db/schema/memberships.ts";
import { hasRole, type OrgContext, type Role, requireRole } from "../context.ts";
import { ForbiddenError, fieldErrorsFromZod, NotFoundError, ValidationError } from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import { afterCursor, type Cursor } from "../http/pagination.ts";
import { generateApiKey } from "./api-key-format.ts";
import type { AccountsDeps } from "./deps.ts";

/**
 * Scopes narrow a key below its role to some areas of the API: each scope is an OpenAPI tag
 * (`incidents`, `webhooks`, …) and a scoped key may call only routes carrying one of its tags.
 */
export const ApiKeyScope = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, "a lower-case OpenAPI tag");

export const CreateApiKeyInput = z.object({
  // No control characters: Postgres text cannot hold NUL (it failed in the insert as a 500).
  name: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters"),
  role: z.enum(ROLES).default("member"),
  scopes: z.array(ApiKeyScope).max(20).default([]),
  expiresAt: z.coerce.date().optional(),
});
export type CreateApiKeyInput = z.input<typeof CreateApiKeyInput>;

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  role: Role;
  scopes: string[];
  createdBy: string | null;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

const view = (row: typeof apiKeys.$inferSelect): ApiKeyView => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  role: row.role,
  scopes: row.scopes,
  createdBy: row.createdBy,
  createdAt: row.createdAt,
  expiresAt: row.expiresAt,
  lastUsedAt: row.lastUsedAt,
  revokedAt: row.revokedAt,
});

/** Admins and owners create keys, never with a role above their own. The key is returned once. */
export async function createApiKey(
  deps: Pick<AccountsDeps, "db">,
  ctx: OrgContext,
  raw: CreateApiKeyInput,
  now = new Date(),
): Promise<{ apiKey: ApiKeyView; key: string }> {
  requireRole(ctx, "admin");
  const parsed = CreateApiKeyInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrorsFromZod(parsed.error.issues));
  const input = parsed.data;
  if (!hasRole(ctx, input.role))
    throw new ForbiddenError(`you cannot create a key with the ${input.role} role`);
  if (input.expiresAt && input.expiresAt <= now) {
    throw new ValidationError([{ path: "expiresAt", message: "must be in the future" }]);
  }
  const generated = generateApiKey();
  const row = await withOrg(deps.db, ctx.orgId, async (tx) => {
    const [inserted] = await tx
      .insert(apiKeys)
      .values({
        orgId: ctx.orgId,
        createdBy: ctx.actor.userId ?? null,
        name: input.name,
        prefix: generated.prefix,
        keyHash: generated.hash,
        role: input.role,
        scopes: [...new Set(input.scopes)],
        expiresAt: input.expiresAt ?? null,
      })
      .returning();
    if (!inserted) throw new Error("insert returned no row");
    await appendAudit(tx, ctx, {
      action: "api_key.created",
      subjectType: "api_key",
      subjectId: inserted.id,
      data: {
        name: inserted.name,
        prefix: inserted.prefix,
        role: inserted.role,
        scopes: inserted.scopes,
        expiresAt: inserted.expiresAt?.toISOString() ?? null,
      },
    });
    return inserted;
  });
  return { apiKey: view(row), key: generated.key };
}

/** Keys of the org, newest first; revoked ones too (with revokedAt) unless `active` is asked for. */
export async function listApiKeys(
  deps: Pick<AccountsDeps, "db">,
  ctx: OrgContext,
  query: { limit: number; after?: Cursor; activeOnly?: boolean },
): Promise<ApiKeyView[]> {
  requireRole(ctx, "admin");
  const rows = await withOrg(deps.db, ctx.orgId, (tx) =>
    tx
      .select()
      .from(apiKeys)
      .where(
        and(
          query.activeOnly ? isNull(apiKeys.revokedAt) : undefined,
          afterCursor(query.after, apiKeys.createdAt, apiKeys.id, "desc"),
        ),
      )
      .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
      .limit(query.limit + 1),
  );
  return rows.map(view);
}

/** Revokes a key; the next request made with it is refused. Revoking twice is a no-op. */
export async function revokeApiKey(
  deps: Pick<AccountsDeps, "db">,
  ctx: OrgContext,
  id: string,
): Promise<void> {
  requireRole(ctx, "admin");
  await withOrg(deps.db, ctx.orgId, async (tx) => {
    const [row] = await tx.select().from(apiKeys).where(eq(apiKeys.id, id)).for("update");
    if (!row) throw new NotFoundError("API key");
    if (!hasRole(ctx, row.role))
      throw new ForbiddenError(`you cannot revoke a key with the ${row.role} role`);
    if (row.revokedAt) return;
    await tx.update(apiKeys).set({ revokedAt: new Date() }).where(eq(apiKeys.id, id));
    await appendAudit(tx, ctx, {
      action: "api_key.revoked",
      subjectType: "api_key",
      subjectId: id,
      data: { name: row.name, prefix: row.prefix, role: row.role },
    });
  });
}
