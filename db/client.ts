import { sql as dsql } from "drizzle-orm";
import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import postgres, { type Sql } from "postgres";
import * as schema from "./schema/index.ts";

export type Schema = typeof schema;
export type Db = PostgresJsDatabase<Schema>;
/** A transaction scoped to one org (row-level security applies). */
export type OrgTx = Parameters<Parameters<Db["transaction"]>[0]>[0];

export interface Database {
  /**
   * Runs as the non-owner application role: every query is subject to row-level security, so it only
   * sees rows of the org set by `withOrg`. Services use this one.
   */
  app: Db;
  /**
   * Runs as the connecting (owner) user and bypasses row-level security. Only for work that is cross-org
   * by nature: migrations, the job queue, resolving an API key or a webhook's integration to its org,
   * and operator CLI commands. Never handed to a route.
   */
  owner: Db;
  appSql: Sql;
  ownerSql: Sql;
  url: string;
  close(timeoutSeconds?: number): Promise<void>;
}

export interface DatabaseOptions {
  url: string;
  appRole: string;
  poolMax: number;
}

export function createDatabase(options: DatabaseOptions): Database {
  const common = {
    max: options.poolMax,
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: () => {},
    // Timestamps come back as Date; bigint columns as strings unless a column says otherwise.
  } as const;
  // `role` as a startup parameter makes every session of this pool run as the app role from its first
  // statement, so no code path can forget to drop privileges.
  const appSql = postgres(options.url, { ...common, connection: { role: options.appRole } });
  const ownerSql = postgres(options.url, { ...common, max: Math.max(2, Math.ceil(options.poolMax / 2)) });
  return {
    app: drizzle(appSql, { schema, casing: "snake_case" }),
    owner: drizzle(ownerSql, { schema, casing: "snake_case" }),
    appSql,
    ownerSql,
    url: options.url,
    async close(timeoutSeconds = 5) {
      await Promise.all([appSql.end({ timeout: timeoutSeconds }), ownerSql.end({ timeout: timeoutSeconds })]);
    },
  };
}

/**
 * Runs `fn` in one transaction of the app role with `app.org_id` set for that transaction only. This is
 * the one place the tenant setting is made; row-level security does the rest.
 */
export async function withOrg<T>(db: Database, orgId: string, fn: (tx: OrgTx) => Promise<T>): Promise<T> {
  return db.app.transaction(async (tx) => {
    await tx.execute(dsql`select set_config('app.org_id', ${orgId}, true)`);
    return fn(tx);
  });
}

/** A unique-constraint violation (SQLSTATE 23505), also when a driver or drizzle wraps it as a cause. */
export function isUniqueViolation(error: unknown): boolean {
  let e: unknown = error;
  for (let i = 0; i < 5 && e instanceof Error; i++) {
    if ((e as { code?: unknown }).code === "23505") return true;
    e = e.cause;
  }
  return false;
}
