import path from "node:path";
import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { applyGrants } from "./grants.ts";

export const MIGRATIONS_FOLDER = path.join(path.dirname(fileURLToPath(import.meta.url)), "migrations");

/**
 * Applies the committed SQL migrations as the owner, then the app role's grants. Safe to run from several
 * processes at once: an advisory lock serializes them.
 */
export async function runMigrations(url: string, appRole: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`select pg_advisory_lock(7268153)`;
    try {
      await migrate(drizzle(sql), { migrationsFolder: MIGRATIONS_FOLDER, migrationsSchema: "drizzle" });
      await applyGrants(sql, appRole);
    } finally {
      await sql`select pg_advisory_unlock(7268153)`;
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}
