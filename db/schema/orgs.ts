import { sql } from "drizzle-orm";
import { pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { tenantIsolation } from "./tenancy.ts";

export const orgs = pgTable(
  "orgs",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    name: text("name").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  () => [tenantIsolation("id")],
).enableRLS();

export type Org = typeof orgs.$inferSelect;
