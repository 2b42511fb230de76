import { sql } from "drizzle-orm";
import {
  bigint,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { bytea } from "./deliveries.ts";
import { anomalies } from "./incidents.ts";
import { orgs } from "./orgs.ts";
import { tenantIsolation } from "./tenancy.ts";

/**
 * Signed C2SP checkpoints of each org's audit tree. A proof is only ever served for a size that has a row
 * here, so a caller cannot pick a size whose path happens to verify against another root.
 */
export const auditCheckpoints = pgTable(
  "audit_checkpoints",
  {
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "restrict" }),
    size: bigint("size", { mode: "bigint" }).notNull(),
    root: bytea("root").notNull(),
    /** The whole signed note, byte for byte as served. */
    note: text("note").notNull(),
    keyName: text("key_name").notNull(),
    keyId: text("key_id").notNull(),
    signedAt: timestamp("signed_at", { withTimezone: true, precision: 3 }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.orgId, t.size] }),
    index("audit_checkpoints_org_id_signed_at_idx").on(t.orgId, t.signedAt),
    tenantIsolation(),
  ],
).enableRLS();

/**
 * The audit entry that records one evidence row (an anomaly's CC7.1 facts, a change's CC8.1 facts), keyed
 * by the SHA-256 of the row's canonical facts: an unchanged row reuses its entry across exports, a changed
 * one (resolved since, redacted) gets a new entry.
 */
export const evidenceRows = pgTable(
  "evidence_rows",
  {
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "restrict" }),
    factsHash: bytea("facts_hash").notNull(),
    seq: bigint("seq", { mode: "bigint" }).notNull(),
    criterion: text("criterion").notNull(),
    subjectId: text("subject_id").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.orgId, t.factsHash] }),
    index("evidence_rows_org_id_subject_id_idx").on(t.orgId, t.subjectId),
    tenantIsolation(),
  ],
).enableRLS();

/** Each export: its manifest entry and the checkpoint it was proven against (the next export chains from it). */
export const evidenceExports = pgTable(
  "evidence_exports",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "restrict" }),
    criterion: text("criterion").notNull(),
    periodFrom: timestamp("period_from", { withTimezone: true, precision: 3 }).notNull(),
    periodTo: timestamp("period_to", { withTimezone: true, precision: 3 }).notNull(),
    rowCount: integer("row_count").notNull(),
    manifestSeq: bigint("manifest_seq", { mode: "bigint" }).notNull(),
    checkpointSize: bigint("checkpoint_size", { mode: "bigint" }).notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [index("evidence_exports_org_id_created_at_idx").on(t.orgId, t.createdAt), tenantIsolation()],
).enableRLS();

export const DETECTION_CONTEXT_STATUSES = ["pending", "ok", "failed"] as const;
export type DetectionContextStatus = (typeof DETECTION_CONTEXT_STATUSES)[number];

/**
 * What the alerting tool said about an anomaly's rule (definition, threshold, window, targets) and the
 * series around first-seen, fetched through the query proxy's server-side clients. A failed fetch is
 * recorded with its error and retried; it never blocks the anomaly.
 */
export const anomalyDetectionContext = pgTable(
  "anomaly_detection_context",
  {
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    anomalyId: uuid("anomaly_id")
      .notNull()
      .references(() => anomalies.id, { onDelete: "cascade" }),
    provider: text("provider").notNull(),
    status: text("status").$type<DetectionContextStatus>().notNull().default("pending"),
    context: jsonb("context").$type<Record<string, unknown>>(),
    attempts: integer("attempts").notNull().default(0),
    lastError: text("last_error"),
    fetchedAt: timestamp("fetched_at", { withTimezone: true }),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("anomaly_detection_context_anomaly_id_key").on(t.anomalyId),
    index("anomaly_detection_context_org_id_status_idx").on(t.orgId, t.status),
    tenantIsolation(),
  ],
).enableRLS();

export type AuditCheckpointRow = typeof auditCheckpoints.$inferSelect;
export type DetectionContextRow = typeof anomalyDetectionContext.$inferSelect;
