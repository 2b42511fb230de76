import postgres, { type Sql } from "postgres";
import { runMigrations } from "../../db/migrate.ts";
import { withDatabase } from "../../test/harness/database-url.ts";

/**
 * Runs `work` against a migrated database of its own on the server named by BENCH_DATABASE_URL or
 * TEST_DATABASE_URL, and drops it afterwards. `adminSql` is a connection to that server's `postgres`
 * database (for server-wide readings such as the write-ahead log position, or a CHECKPOINT).
 */
export async function withScratchDatabase<T>(
  prefix: string,
  work: (scratch: { url: string; adminSql: Sql }) => Promise<T>,
  options: { logStatements?: boolean } = {},
): Promise<T> {
  const admin = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (!admin) throw new Error("set BENCH_DATABASE_URL or TEST_DATABASE_URL");
  const name = `${prefix}_${Date.now().toString(36)}`;
  const adminSql = postgres(withDatabase(admin, "postgres"), { max: 1, onnotice: () => {} });
  await adminSql.unsafe(`create database ${name}`);
  try {
    if (options.logStatements) {
      await adminSql.unsafe(`alter database ${name} set log_min_duration_statement = 0`);
    }
    const url = withDatabase(admin, name);
    await runMigrations(url, "causeway_app");
    return await work({ url, adminSql });
  } finally {
    await adminSql.unsafe(`drop database if exists ${name} with (force)`);
    await adminSql.end();
  }
}
