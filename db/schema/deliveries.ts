import { sql } from "drizzle-orm";
import {
  customType,
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
import { integrations } from "./integrations.ts";
import { orgs } from "./orgs.ts";
import { tenantIsolation } from "./tenancy.ts";

export const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => "bytea",
});

export const DELIVERY_STATUSES = ["received", "processed", "ignored", "dead"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];
export const deliveryStatusEnum = pgEnum("delivery_status", DELIVERY_STATUSES);

/**
 * Every verified webhook exactly as it arrived (raw bytes, redacted headers), persisted before the 202.
 * Processing (normalize → signals → anomalies) reads rows in status "received"; a payload that cannot be
 * normalized becomes "dead" with its reason and can be replayed after a fix.
 */
export const deliveries = pgTable(
  "deliveries",
  {
    id: uuid("id").primaryKey(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    integrationId: uuid("integration_id")
      .notNull()
      .references(() => integrations.id, { onDelete: "cascade" }),
    provider: text("provider").notNull(),
    /** The sender's delivery id (or a content hash): a second delivery with the same key is a replay. */
    deliveryKey: text("delivery_key").notNull(),
    receivedAt: timestamp("received_at", { withTimezone: true, precision: 3 }).notNull(),
    headers: jsonb("headers").$type<Record<string, string>>().notNull(),
    contentType: text("content_type"),
    body: bytea("body").notNull(),
    status: deliveryStatusEnum("status").notNull().default("received"),
    eventType: text("event_type"),
    reason: text("reason"),
    attempts: integer("attempts").notNull().default(0),
    signalCount: integer("signal_count").notNull().default(0),
    processedAt: timestamp("processed_at", { withTimezone: true }),
  },
  (t) => [
    uniqueIndex("deliveries_integration_id_delivery_key_key").on(t.integrationId, t.deliveryKey),
    index("deliveries_org_id_status_received_at_idx").on(t.orgId, t.status, t.receivedAt),
    index("deliveries_pending_idx").on(t.receivedAt).where(sql`status = 'received'`),
    tenantIsolation(),
  ],
).enableRLS();

export type Delivery = typeof deliveries.$inferSelect;
