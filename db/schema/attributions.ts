import { sql } from "drizzle-orm";
import { index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { repositories } from "./changes.ts";
import { anomalies } from "./incidents.ts";
import { orgs } from "./orgs.ts";
import { tenantIsolation } from "./tenancy.ts";

export const ATTRIBUTION_STATUSES = ["pending", "running", "done", "no_suspect", "failed"] as const;
export type AttributionStatus = (typeof ATTRIBUTION_STATUSES)[number];

/** The attribution result of one anomaly (re-runs replace it; the audit log keeps the history). */
export const attributions = pgTable(
  "attributions",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    anomalyId: uuid("anomaly_id")
      .notNull()
      .references(() => anomalies.id, { onDelete: "cascade" }),
    status: text("status").$type<AttributionStatus>().notNull().default("pending"),
    repositoryId: uuid("repository_id").references(() => repositories.id, { onDelete: "set null" }),
    deployedSha: text("deployed_sha"),
    deployedShaSource: text("deployed_sha_source"),
    suspects: jsonb("suspects").$type<unknown[]>().notNull().default(sql`'[]'::jsonb`),
    ticket: jsonb("ticket").$type<Record<string, unknown>>(),
    confidence: jsonb("confidence").$type<{ level: "high" | "medium" | "low"; score: number }>(),
    reasoning: text("reasoning"),
    reasoningSource: text("reasoning_source").$type<"deterministic" | "llm">(),
    /** Scoring mode, filtered candidates, unmapped frames, no-suspect reason (the rest of the result). */
    details: jsonb("details").$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    timings: jsonb("timings").$type<Record<string, number>>().notNull().default(sql`'{}'::jsonb`),
    error: text("error"),
    attempts: integer("attempts").notNull().default(0),
    requestedAt: timestamp("requested_at", { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp("started_at", { withTimezone: true }),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (t) => [
    uniqueIndex("attributions_anomaly_id_key").on(t.anomalyId),
    index("attributions_org_id_status_idx").on(t.orgId, t.status),
    index("attributions_repository_id_idx").on(t.repositoryId),
    tenantIsolation(),
  ],
).enableRLS();

export type Attribution = typeof attributions.$inferSelect;
