import type { OpenAPIHono } from "@hono/zod-openapi";
import type pino from "pino";
import { afterAll } from "vitest";
import type { AccountsOverrides } from "../../src/accounts/deps.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { buildContainer, TOKENS } from "../../src/container.ts";
import type { AppEnv } from "../../src/http/types.ts";
import type { IngestDeps } from "../../src/ingest/deps.ts";
import type { JobRunner } from "../../src/jobs/runner.ts";
import { generateKeys, type ResolvedKeys } from "../../src/keys.ts";
import { createLogger } from "../../src/telemetry/logger.ts";
import { type TestDatabase, useTestDatabase } from "./db.ts";

export interface CapturedLogs {
  lines: string[];
  text(): string;
}

export interface TestApp {
  app: OpenAPIHono<AppEnv>;
  jobs: JobRunner;
  database: TestDatabase;
  config: Config;
  keys: ResolvedKeys;
  logs: CapturedLogs;
  /** Runs the delivery processor until nothing is pending (what a worker does in the background). */
  processDeliveries(): Promise<number>;
  request(path: string, init?: RequestInit & { apiKey?: string; json?: unknown }): Promise<Response>;
}

/**
 * The real app, built by the real composition root, on this file's database, with logs captured.
 * `accounts` overrides account policies (e.g. rate limits high enough for a fuzz run); defaults otherwise.
 */
export async function useTestApp(
  env: Record<string, string> = {},
  options: { accounts?: AccountsOverrides } = {},
): Promise<TestApp> {
  const database = await useTestDatabase();
  const config = loadConfig({ NODE_ENV: "test", DATABASE_URL: database.url, LOG_LEVEL: "debug", ...env });
  const lines: string[] = [];
  const logger = createLogger(config.logLevel, {
    write: (s: string) => void lines.push(s),
  } as pino.DestinationStream);
  const keys = generateKeys();
  const container = buildContainer({
    config,
    logger,
    db: database.db,
    databaseUrl: database.url,
    sentryEnabled: false,
    keys,
    ...(options.accounts ? { accounts: options.accounts } : {}),
  });
  const app = container.resolve<OpenAPIHono<AppEnv>>(TOKENS.App);
  const jobs = container.resolve<JobRunner>(TOKENS.JobRunner);
  await jobs.start();
  afterAll(() => jobs.stop(2_000));
  return {
    app,
    jobs,
    database,
    config,
    keys,
    logs: { lines, text: () => lines.join("") },
    processDeliveries: () => container.resolve<IngestDeps>(TOKENS.Ingest).processor.drain(),
    request(path, init = {}) {
      const headers = new Headers(init.headers);
      if (init.apiKey) headers.set("authorization", `Bearer ${init.apiKey}`);
      let body = init.body;
      if (init.json !== undefined) {
        headers.set("content-type", "application/json");
        body = JSON.stringify(init.json);
      }
      return Promise.resolve(app.request(path, { ...init, headers, body }));
    },
  };
}

/** A response body as loosely typed JSON: tests assert on its shape. */
// biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary JSON
export async function jsonOf(res: Response): Promise<any> {
  return res.json();
}
