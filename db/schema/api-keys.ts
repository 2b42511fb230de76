import { sql } from "drizzle-orm";
import { index, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { roleEnum } from "./memberships.ts";
import { orgs } from "./orgs.ts";
import { tenantIsolation } from "./tenancy.ts";
import { users } from "./users.ts";

/**
 * Machine credentials. The key is shown once; we keep its public prefix (for lookup and display) and
 * SHA-256 of the whole key (keys are 192-bit random, so a fast hash is enough).
 */
export const apiKeys = pgTable(
  "api_keys",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    createdBy: uuid("created_by").references(() => users.id, { onDelete: "set null" }),
    name: text("name").notNull(),
    prefix: text("prefix").notNull(),
    keyHash: text("key_hash").notNull(),
    role: roleEnum("role").notNull(),
    scopes: jsonb("scopes").$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    expiresAt: timestamp("expires_at", { withTimezone: true }),
    lastUsedAt: timestamp("last_used_at", { withTimezone: true }),
    revokedAt: timestamp("revoked_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("api_keys_prefix_key").on(t.prefix),
    index("api_keys_org_id_idx").on(t.orgId),
    index("api_keys_created_by_idx").on(t.createdBy),
    tenantIsolation(),
  ],
).enableRLS();

export type ApiKey = typeof apiKeys.$inferSelect;
