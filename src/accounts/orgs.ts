import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { z } from "zod";
import type { Database } from "../../db/client.ts";
import { apiKeys, memberships, orgs, users } from "../../db/schema/index.ts";
import { fieldErrorsFromZod, ValidationError } from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import { generateApiKey } from "./api-key-format.ts";

export const CreateOrgInput = z.object({
  name: z.string().trim().min(1).max(200),
  ownerEmail: z
    .email()
    .max(320)
    .transform((e) => e.toLowerCase()),
  ownerName: z.string().trim().min(1).max(200).optional(),
});
export type CreateOrgInput = z.input<typeof CreateOrgInput>;

export interface CreatedOrg {
  org: { id: string; name: string };
  owner: { id: string; email: string };
  apiKey: string;
}

/**
 * Operator action (CLI): creates an org, its owner (or reuses the user with that email) and an owner API
 * key that is returned once. Cross-org by nature (it looks users up by email), so it runs as the owner.
 */
export async function createOrgWithOwner(db: Database, raw: CreateOrgInput): Promise<CreatedOrg> {
  const parsed = CreateOrgInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrorsFromZod(parsed.error.issues));
  const input = parsed.data;
  const generated = generateApiKey();
  return db.owner.transaction(async (tx) => {
    const [org] = await tx.insert(orgs).values({ name: input.name }).returning();
    let [user] = await tx.select().from(users).where(eq(users.email, input.ownerEmail));
    if (!user) {
      [user] = await tx
        .insert(users)
        .values({ id: randomUUID(), email: input.ownerEmail, name: input.ownerName ?? null })
        .returning();
    }
    if (!org || !user) throw new Error("insert returned no row");
    await tx.insert(memberships).values({ orgId: org.id, userId: user.id, role: "owner" });
    const [key] = await tx
      .insert(apiKeys)
      .values({
        orgId: org.id,
        createdBy: user.id,
        name: "owner key (created by causeway orgs create)",
        prefix: generated.prefix,
        keyHash: generated.hash,
        role: "owner",
      })
      .returning({ id: apiKeys.id });
    const ctx = { orgId: org.id, role: "owner" as const, actor: { kind: "system" as const, id: "cli" } };
    await appendAudit(tx, ctx, {
      action: "org.created",
      subjectType: "org",
      subjectId: org.id,
      data: { name: org.name },
    });
    await appendAudit(tx, ctx, {
      action: "membership.created",
      subjectType: "user",
      subjectId: user.id,
      data: { email: user.email, role: "owner" },
    });
    await appendAudit(tx, ctx, {
      action: "api_key.created",
      subjectType: "api_key",
      subjectId: key?.id,
      data: { role: "owner" },
    });
    return {
      org: { id: org.id, name: org.name },
      owner: { id: user.id, email: user.email },
      apiKey: generated.key,
    };
  });
}
