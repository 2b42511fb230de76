import { sql } from "drizzle-orm";
import { boolean, integer, pgPolicy, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";

/**
 * Users are global (one person can belong to several orgs); memberships carry the org. Under RLS a user
 * row is visible only when it has a membership in the current org, and the server may create users
 * (sign-up by invitation) but only update or see members of its org.
 */
export const users = pgTable(
  "users",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    /** Stored lower-cased; the unique index makes sign-in lookups exact. */
    email: text("email").notNull(),
    name: text("name"),
    passwordHash: text("password_hash"),
    disabledAt: timestamp("disabled_at", { withTimezone: true }),
    failedLoginCount: integer("failed_login_count").notNull().default(0),
    lockedUntil: timestamp("locked_until", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    emailVerified: boolean("email_verified").notNull().default(false),
  },
  (t) => [
    uniqueIndex("users_email_key").on(t.email),
    pgPolicy("users_member_read", {
      as: "permissive",
      for: "select",
      to: "public",
      using: sql`exists (select 1 from memberships m where m.user_id = ${t.id} and m.org_id = nullif(current_setting('app.org_id', true), '')::uuid)`,
    }),
    pgPolicy("users_member_update", {
      as: "permissive",
      for: "update",
      to: "public",
      using: sql`exists (select 1 from memberships m where m.user_id = ${t.id} and m.org_id = nullif(current_setting('app.org_id', true), '')::uuid)`,
    }),
    pgPolicy("users_insert", {
      as: "permissive",
      for: "insert",
      to: "public",
      withCheck: sql`nullif(current_setting('app.org_id', true), '') is not null`,
    }),
  ],
).enableRLS();

export type User = typeof users.$inferSelect;
