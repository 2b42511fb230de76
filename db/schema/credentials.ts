import { sql } from "drizzle-orm";
import {
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { orgs } from "./orgs.ts";
import { tenantIsolation } from "./tenancy.ts";

export const DATA_KEY_STATES = ["active", "retiring", "retired"] as const;
export const dataKeyStateEnum = pgEnum("data_key_state", DATA_KEY_STATES);

/**
 * Each org's Fernet data keys, wrapped by a master key from the environment. One is active (encrypts);
 * during a rotation the previous one is "retiring" until every credential has been re-encrypted.
 */
export const orgDataKeys = pgTable(
  "org_data_keys",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    version: integer("version").notNull(),
    masterKeyId: text("master_key_id").notNull(),
    wrappedKey: text("wrapped_key").notNull(),
    state: dataKeyStateEnum("state").notNull().default("active"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    rewrappedAt: timestamp("rewrapped_at", { withTimezone: true }),
  },
  (t) => [
    uniqueIndex("org_data_keys_org_id_version_key").on(t.orgId, t.version),
    // At most one key encrypts at a time: lazy creation and rotation race on this, not on application locks.
    uniqueIndex("org_data_keys_one_active_key").on(t.orgId).where(sql`state = 'active'`),
    index("org_data_keys_master_key_id_idx").on(t.masterKeyId),
    tenantIsolation(),
  ],
).enableRLS();

/**
 * A secret (webhook secret, API token, OAuth token, private key) stored only as a Fernet token under the
 * org's data key, with metadata that is not secret.
 */
export const credentials = pgTable(
  "credentials",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    /** What owns it: an integration id, a repository id, "org" for org-wide keys. */
    ownerType: text("owner_type").notNull(),
    ownerId: uuid("owner_id"),
    kind: text("kind").notNull(),
    token: text("token").notNull(),
    dataKeyId: uuid("data_key_id")
      .notNull()
      .references(() => orgDataKeys.id, { onDelete: "restrict" }),
    last4: text("last4"),
    metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    rotatedAt: timestamp("rotated_at", { withTimezone: true }),
    retiredAt: timestamp("retired_at", { withTimezone: true }),
  },
  (t) => [
    index("credentials_org_id_owner_idx").on(t.orgId, t.ownerType, t.ownerId),
    index("credentials_data_key_id_idx").on(t.dataKeyId),
    tenantIsolation(),
  ],
).enableRLS();

export type Credential = typeof credentials.$inferSelect;
export type OrgDataKey = typeof orgDataKeys.$inferSelect;
