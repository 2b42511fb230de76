import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { inject } from "vitest";
import { createDatabase, type Database } from "../../db/client.ts";
import { withDatabase } from "./database-url.ts";

export interface TestDatabase {
  url: string;
  name: string;
  db: Database;
}

let current: Promise<TestDatabase> | undefined;

/**
 * A database of this test file's own, cloned from the migrated template (fast: a file copy). The global
 * teardown drops it (with its connections); closing the pool here would break a second describe block of
 * the same file that shares it. Tests still make their own orgs, so tests in one file never share rows.
 */
export function useTestDatabase(): Promise<TestDatabase> {
  if (current) return current;
  current = (async () => {
    const adminUrl = inject("testDatabaseAdminUrl");
    const template = inject("testDatabaseTemplate");
    const name = `${template}_w${process.env.VITEST_POOL_ID ?? "0"}_${randomBytes(4).toString("hex")}`;
    const admin = postgres(withDatabase(adminUrl, "postgres"), { max: 1, onnotice: () => {} });
    try {
      // The template may be briefly busy while another file clones it.
      for (let attempt = 0; ; attempt++) {
        try {
          await admin.unsafe(`create database ${name} template ${template}`);
          break;
        } catch (error) {
          if (attempt >= 20 || !/being accessed by other users/.test(String(error))) throw error;
          await new Promise((r) => setTimeout(r, 100 + attempt * 50));
        }
      }
    } finally {
      await admin.end({ timeout: 5 });
    }
    const url = withDatabase(adminUrl, name);
    const db = createDatabase({ url, appRole: "causeway_app", poolMax: 5 });
    process.once("beforeExit", () => void db.close(1));
    return { url, name, db };
  })();
  return current;
}
