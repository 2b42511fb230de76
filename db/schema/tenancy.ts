import { sql } from "drizzle-orm";
import { pgPolicy } from "drizzle-orm/pg-core";

/**
 * The org the current transaction acts for, as set by `withOrg` (db/client.ts). Unset or empty means no
 * org, and NULL never equals an org_id, so a query that forgot the setting sees nothing.
 */
export const currentOrgId = sql`nullif(current_setting('app.org_id', true), '')::uuid`;

/** Row-level security for a table that carries org_id: rows of the current org only, for every command. */
export function tenantIsolation(column = "org_id") {
  const predicate = sql.raw(`${column} = nullif(current_setting('app.org_id', true), '')::uuid`);
  return pgPolicy("tenant_isolation", {
    as: "permissive",
    for: "all",
    to: "public",
    using: predicate,
    withCheck: predicate,
  });
}
