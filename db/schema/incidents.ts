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
import type { Severity, SignalKind, StackFrame } from "../../integrations/core/types.ts";
import { deliveries } from "./deliveries.ts";
import { orgs } from "./orgs.ts";
import { tenantIsolation } from "./tenancy.ts";

export const ANOMALY_STATUSES = ["open", "resolved"] as const;
export const anomalyStatusEnum = pgEnum("anomaly_status", ANOMALY_STATUSES);
export const INCIDENT_STATUSES = ["open", "acknowledged", "resolved"] as const;
export const incidentStatusEnum = pgEnum("incident_status", INCIDENT_STATUSES);

/** A group of anomalies of one service and environment inside a window, or sharing a release. */
export const incidents = pgTable(
  "incidents",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    title: text("title").notNull(),
    status: incidentStatusEnum("status").notNull().default("open"),
    severity: text("severity").$type<Severity>().notNull(),
    service: text("service"),
    environment: text("environment"),
    release: text("release"),
    openedAt: timestamp("opened_at", { withTimezone: true, precision: 3 }).notNull(),
    lastActivityAt: timestamp("last_activity_at", { withTimezone: true, precision: 3 }).notNull(),
    acknowledgedAt: timestamp("acknowledged_at", { withTimezone: true }),
    resolvedAt: timestamp("resolved_at", { withTimezone: true }),
    reopenCount: integer("reopen_count").notNull().default(0),
    resolution: jsonb("resolution").$type<Record<string, unknown>>(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index("incidents_org_id_status_opened_at_idx").on(t.orgId, t.status, t.openedAt),
    index("incidents_org_id_service_env_idx").on(t.orgId, t.service, t.environment, t.lastActivityAt),
    index("incidents_org_id_release_idx").on(t.orgId, t.release),
    tenantIsolation(),
  ],
).enableRLS();

/** One problem, deduplicated by (org, fingerprint) across every signal that reports it. */
export const anomalies = pgTable(
  "anomalies",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    fingerprint: text("fingerprint").notNull(),
    kind: text("kind").$type<SignalKind>().notNull(),
    source: text("source").notNull(),
    title: text("title").notNull(),
    severity: text("severity").$type<Severity>().notNull(),
    status: anomalyStatusEnum("status").notNull().default("open"),
    service: text("service"),
    environment: text("environment"),
    release: text("release"),
    commitSha: text("commit_sha"),
    errorType: text("error_type"),
    message: text("message"),
    frames: jsonb("frames").$type<StackFrame[]>().notNull().default(sql`'[]'::jsonb`),
    labels: jsonb("labels").$type<Record<string, string>>().notNull().default(sql`'{}'::jsonb`),
    /** When the problem started, per the sender. */
    firstSeenAt: timestamp("first_seen_at", { withTimezone: true, precision: 3 }).notNull(),
    /** When Causeway received the first signal: the detection time. */
    detectedAt: timestamp("detected_at", { withTimezone: true, precision: 3 }).notNull(),
    lastSeenAt: timestamp("last_seen_at", { withTimezone: true, precision: 3 }).notNull(),
    resolvedAt: timestamp("resolved_at", { withTimezone: true, precision: 3 }),
    count: integer("count").notNull().default(1),
    regressions: integer("regressions").notNull().default(0),
    incidentId: uuid("incident_id").references(() => incidents.id, { onDelete: "set null" }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("anomalies_org_id_fingerprint_key").on(t.orgId, t.fingerprint),
    index("anomalies_org_id_status_detected_at_idx").on(t.orgId, t.status, t.detectedAt),
    index("anomalies_org_id_service_idx").on(t.orgId, t.service),
    index("anomalies_incident_id_idx").on(t.incidentId),
    tenantIsolation(),
  ],
).enableRLS();

/** Each normalized signal, linked to the delivery it came from and the anomaly it updated. */
export const signals = pgTable(
  "signals",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    deliveryId: uuid("delivery_id")
      .notNull()
      .references(() => deliveries.id, { onDelete: "cascade" }),
    anomalyId: uuid("anomaly_id").references(() => anomalies.id, { onDelete: "cascade" }),
    kind: text("kind").$type<SignalKind>().notNull(),
    source: text("source").notNull(),
    fingerprint: text("fingerprint").notNull(),
    title: text("title").notNull(),
    severity: text("severity").$type<Severity>().notNull(),
    status: text("status").$type<"firing" | "resolved">().notNull(),
    service: text("service"),
    environment: text("environment"),
    release: text("release"),
    occurredAt: timestamp("occurred_at", { withTimezone: true, precision: 3 }).notNull(),
    receivedAt: timestamp("received_at", { withTimezone: true, precision: 3 }).notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
  },
  (t) => [
    index("signals_org_id_anomaly_id_idx").on(t.orgId, t.anomalyId, t.occurredAt),
    index("signals_delivery_id_idx").on(t.deliveryId),
    index("signals_anomaly_id_idx").on(t.anomalyId),
    index("signals_org_id_kind_idx").on(t.orgId, t.kind, t.occurredAt),
    tenantIsolation(),
  ],
).enableRLS();

export type Anomaly = typeof anomalies.$inferSelect;
export type Incident = typeof incidents.$inferSelect;
export type SignalRow = typeof signals.$inferSelect;
