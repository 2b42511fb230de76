import postgres, { type Sql } from "postgres";
import { runMigrations } from "../../db/migrate.ts";
import { withDatabase } from "../../test/harness/database-url.ts";

/**
 * Runs `work` against a migrated database of its own on the server named by `options.server` (else
 * BENCH_DATABASE_URL or TEST_DATABASE_URL), and drops it afterwards, also when `work` fails. `settings`
 * are Postgres parameters set on that database (`ALTER DATABASE … SET`), seen by every connection to it.
 * `adminSql` is a connection to the server's `postgres` database (for server-wide readings such as the
 * write-ahead log position, or a CHECKPOINT).
 */
export async function withScratchDatabase<T>(
  prefix: string,
  work: (scratch: { url: string; adminSql: Sql }) => Promise<T>,
  options: { server?: string; settings?: Record<string, string> } = {},
): Promise<T> {
  const admin = options.server ?? process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (!admin) throw new Error("set BENCH_DATABASE_URL or TEST_DATABASE_URL");
  const name = `${prefix}_${Date.now().toString(36)}`;
  const adminSql = postgres(withDatabase(admin, "postgres"), { max: 1, onnotice: () => {} });
  await adminSql.unsafe(`create database ${name}`);
  try {
    for (const [key, value] of Object.entries(options.settings ?? {})) {
      if (!/^[a-z_]+$/.test(key)) throw new Error(`not a Postgres parameter name: ${key}`);
      await adminSql.unsafe(`alter database ${name} set ${key} = '${value.replaceAll("'", "''")}'`);
    }
    const url = withDatabase(admin, name);
    await runMigrations(url, "causeway_app");
    return await work({ url, adminSql });
  } finally {
    await adminSql.unsafe(`drop database if exists ${name} with (force)`);
    await adminSql.end();
  }
}
