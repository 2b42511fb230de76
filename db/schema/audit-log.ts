import { sql } from "drizzle-orm";
import {
  bigint,
  index,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  uuid,
} from "drizzle-orm/pg-core";
import { bytea } from "./deliveries.ts";
import { orgs } from "./orgs.ts";
import { tenantIsolation } from "./tenancy.ts";

/**
 * The append-only audit trail, one sequence per org (seq 0, 1, 2, …: the leaf index of the org's Merkle
 * tree). The database refuses UPDATE and DELETE: a trigger (migration 0001) and revoked privileges.
 */
export const auditLog = pgTable(
  "audit_log",
  {
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "restrict" }),
    seq: bigint("seq", { mode: "bigint" }).notNull(),
    at: timestamp("at", { withTimezone: true, precision: 3 }).notNull(),
    actorKind: text("actor_kind").notNull(),
    actorId: text("actor_id").notNull(),
    action: text("action").notNull(),
    subjectType: text("subject_type").notNull(),
    subjectId: text("subject_id"),
    data: jsonb("data").$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    requestId: text("request_id"),
  },
  (t) => [
    primaryKey({ columns: [t.orgId, t.seq] }),
    index("audit_log_org_id_at_idx").on(t.orgId, t.at),
    index("audit_log_org_id_action_idx").on(t.orgId, t.action),
    tenantIsolation(),
  ],
).enableRLS();

/** Next sequence number per org; the row lock serializes appends within one org only. */
export const auditHeads = pgTable(
  "audit_heads",
  {
    orgId: uuid("org_id")
      .primaryKey()
      .references(() => orgs.id, { onDelete: "restrict" }),
    size: bigint("size", { mode: "bigint" }).notNull().default(sql`0`),
  },
  () => [tenantIsolation()],
).enableRLS();

/**
 * Hashes of the complete perfect subtrees of each org's RFC 6962 tree over its audit log (level 0 = leaf
 * hashes). Appending a leaf writes O(log n) rows; any root or proof reads O(log n) rows.
 */
export const auditTreeNodes = pgTable(
  "audit_tree_nodes",
  {
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "restrict" }),
    level: smallint("level").notNull(),
    idx: bigint("idx", { mode: "bigint" }).notNull(),
    hash: bytea("hash").notNull(),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.level, t.idx] }), tenantIsolation()],
).enableRLS();

export type AuditEntry = typeof auditLog.$inferSelect;
