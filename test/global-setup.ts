import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import PgBoss from "pg-boss";
import postgres from "postgres";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../db/embedded.ts";
import { runMigrations } from "../db/migrate.ts";
import { withDatabase } from "./harness/database-url.ts";
import { freePort } from "./harness/process.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Admin URL of the test cluster (database part replaced per test file). */
    testDatabaseAdminUrl: string;
    testDatabaseTemplate: string;
  }
}

/**
 * One Postgres for the run: TEST_DATABASE_URL when set, else an embedded one in a temp folder. A
 * template database is migrated once (pg-boss schema included); each test file clones it.
 */
export default async function setup(project: TestProject) {
  let adminUrl = process.env.TEST_DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let dataDir: string | undefined;
  if (!adminUrl) {
    dataDir = await mkdtemp(path.join(tmpdir(), "causeway-test-pg-"));
    const embedded = await startEmbeddedPostgres({ dataDir, port: await freePort(), database: "postgres" });
    adminUrl = embedded.url;
    stopEmbedded = embedded.stop;
  }
  const template = `causeway_tpl_${process.pid}_${Date.now().toString(36)}`;
  const admin = postgres(withDatabase(adminUrl, "postgres"), { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${template}`);
  const templateUrl = withDatabase(adminUrl, template);
  await runMigrations(templateUrl, "causeway_app");
  // pg-boss's schema goes into the template too, installed from its own construction plan.
  const tpl = postgres(templateUrl, { max: 1, onnotice: () => {} });
  await tpl.unsafe(PgBoss.getConstructionPlans("pgboss"));
  await tpl.end({ timeout: 5 });
  // Connections to a template block CREATE DATABASE ... TEMPLATE; make sure none linger.
  await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${template} and pid <> pg_backend_pid()`;

  project.provide("testDatabaseAdminUrl", adminUrl);
  project.provide("testDatabaseTemplate", template);

  return async () => {
    const leftovers = await admin<{ datname: string }[]>`
      select datname from pg_database where datname = ${template} or datname like ${`${template}_w%`}`;
    for (const { datname } of leftovers) {
      await admin.unsafe(`drop database if exists ${datname} with (force)`);
    }
    await admin.end({ timeout: 5 });
    await stopEmbedded?.();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  };
}
