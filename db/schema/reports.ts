import { sql } from "drizzle-orm";
import { index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { incidents } from "./incidents.ts";
import { integrations } from "./integrations.ts";
import { orgs } from "./orgs.ts";
import { tenantIsolation } from "./tenancy.ts";

export const REPORT_STATUSES = ["pending", "posted", "failed"] as const;
export type ReportStatus = (typeof REPORT_STATUSES)[number];

export const NOTIFICATION_KINDS = ["post", "update", "thread_reply", "escalation"] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];
export const NOTIFICATION_STATUSES = ["pending", "sent", "failed"] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];

/** What a person said about the suspect from the report's buttons (or the API). */
export interface SuspectVerdict {
  kind: "confirmed" | "rejected" | "intended";
  candidateId: string | null;
  prNumber: number | null;
  ticketKey: string | null;
  actor: { kind: string; id: string; display?: string };
  at: string;
}

/**
 * The Slack investigation report of one incident: where it was posted (channel + ts, so later changes
 * update the same message and reply in its thread), whether the last delivery failed, and the suspect
 * decisions taken from its buttons.
 */
export const incidentReports = pgTable(
  "incident_reports",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    incidentId: uuid("incident_id")
      .notNull()
      .references(() => incidents.id, { onDelete: "cascade" }),
    integrationId: uuid("integration_id").references(() => integrations.id, { onDelete: "set null" }),
    channel: text("channel"),
    ts: text("ts"),
    status: text("status").$type<ReportStatus>().notNull().default("pending"),
    lastError: text("last_error"),
    postedAt: timestamp("posted_at", { withTimezone: true, precision: 3 }),
    updatedAt: timestamp("updated_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    /** Candidate ids people rejected with "Not this PR"; the report shows the next suspect. */
    rejectedCandidates: jsonb("rejected_candidates").$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    verdict: jsonb("verdict").$type<SuspectVerdict>(),
    escalatedAt: timestamp("escalated_at", { withTimezone: true, precision: 3 }),
    escalationChannel: text("escalation_channel"),
    escalationStatus: text("escalation_status").$type<NotificationStatus>(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("incident_reports_incident_id_key").on(t.incidentId),
    index("incident_reports_org_id_status_idx").on(t.orgId, t.status),
    index("incident_reports_integration_id_idx").on(t.integrationId),
    tenantIsolation(),
  ],
).enableRLS();

/** Each Slack dispatch (post, update, thread reply, escalation) and its outcome: nothing fails silently. */
export const notifications = pgTable(
  "notifications",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    incidentId: uuid("incident_id")
      .notNull()
      .references(() => incidents.id, { onDelete: "cascade" }),
    integrationId: uuid("integration_id").references(() => integrations.id, { onDelete: "set null" }),
    kind: text("kind").$type<NotificationKind>().notNull(),
    /** What triggered it: opened, attribution, anomaly, acknowledged, resolved, reopened, verdict, escalation. */
    reason: text("reason").notNull(),
    channel: text("channel"),
    ts: text("ts"),
    status: text("status").$type<NotificationStatus>().notNull().default("pending"),
    error: text("error"),
    attempts: integer("attempts").notNull().default(0),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    finishedAt: timestamp("finished_at", { withTimezone: true, precision: 3 }),
  },
  (t) => [
    index("notifications_org_id_incident_id_idx").on(t.orgId, t.incidentId, t.createdAt),
    index("notifications_incident_id_idx").on(t.incidentId),
    index("notifications_integration_id_idx").on(t.integrationId),
    tenantIsolation(),
  ],
).enableRLS();

export type IncidentReport = typeof incidentReports.$inferSelect;
export type Notification = typeof notifications.$inferSelect;
