import "reflect-metadata";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { serve as serveHttp } from "@hono/node-server";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { createOrgWithOwner } from "./accounts/orgs.ts";
import { PasswordHasher } from "./accounts/password.ts";
import { setPasswordByEmail } from "./accounts/users.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { systemContext } from "./context.ts";
import { generateDataKey, parseMasterKeys } from "./credentials/keyring.ts";
import { rotateKeys } from "./credentials/rotation.ts";
import { AppError } from "./errors.ts";
import type { EvidenceDeps } from "./evidence/checkpoints.ts";
import type { AppEnv } from "./http/types.ts";
import { replayDeliveries } from "./ingest/deliveries.ts";
import type { IngestDeps } from "./ingest/deps.ts";
import type { JobRunner } from "./jobs/runner.ts";
import { resolveKeys } from "./keys.ts";
import type { ReportsDeps } from "./reports/deps.ts";
import { migrateStore, openDatabase, resolveStore } from "./runtime.ts";
import { createLogger, type Logger } from "./telemetry/logger.ts";
import { flushSentry, initSentry } from "./telemetry/sentry.ts";

const USAGE = `Usage: causeway <command> [options]

Commands:
  serve [--port N] [--no-worker]   run the HTTP API (and, unless --no-worker, the job worker)
  worker                           run only the job worker
  migrate                          apply database migrations and exit
  sandbox list|reap [--json]       list the attribution sandboxes, or remove expired and orphaned ones
  replay --org ORG (--id ID ... | --status dead|ignored)
                                   put dead or ignored webhook deliveries back in the queue (after a
                                   normalizer fix); the worker processes them again
  orgs create --name NAME --owner EMAIL [--json]
                                   create an org, its owner and an owner API key (shown once)
  users set-password --email EMAIL --password-stdin
                                   set a user's password (read from stdin), clear a lockout and end
                                   the user's sessions
  keys generate [--id ID]          print a new master key entry (id:fernetKey) for CAUSEWAY_MASTER_KEYS
  keys rotate [--reencrypt] [--batch N]
                                   re-wrap every org's data key under the first master key; with
                                   --reencrypt also move every credential to a fresh data key (online,
                                   resumable: run it again to finish an interrupted run)
  export cc7.1|cc8.1 --org ORG (--from DATE --to DATE | --period 7|30|90|365)
         [--format json|markdown] [--redact-paths] --out FILE
                                   write a SOC 2 evidence bundle (recorded and audited like the API's)
  verify BUNDLE.json [--key VKEY]  check a JSON bundle offline (no database): checkpoint signature, every
                                   row's inclusion proof, the manifest, the consistency proof
  audit keys                       print the checkpoint verifier key for auditors to pin
  audit checkpoint --org ORG       sign (if the log grew) and print the org's latest checkpoint

Environment: see .env.example. With DATABASE_URL unset, an embedded Postgres runs in CAUSEWAY_DATA_DIR.`;

class UsageError extends Error {}

function fail(message: string, code = 1): never {
  process.stderr.write(`causeway: ${message}\n`);
  process.exit(code);
}

function bootConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, 78);
    throw error;
  }
}

/** Runs `stop` once on SIGTERM/SIGINT, exiting hard if it does not finish within the timeout. */
function onShutdown(logger: Logger, timeoutMs: number, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    const hard = setTimeout(() => {
      logger.error({ timeoutMs }, "shutdown timed out; exiting");
      process.exit(1);
    }, timeoutMs);
    hard.unref();
    stop()
      .then(() => {
        logger.info("stopped");
        process.exit(0);
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, "error during shutdown");
        process.exit(1);
      });
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
}

async function runServer(opts: { port?: number; worker: boolean; http: boolean }): Promise<void> {
  const config = bootConfig();
  const logger = createLogger(config.logLevel);
  // Handlers go in before anything starts, so a signal during boot still stops what did start.
  const cleanups: Array<() => Promise<void>> = [];
  onShutdown(logger, config.shutdownTimeoutMs, async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const sentryEnabled = await initSentry(config.sentry.dsn, config.sentry.environment);
  if (sentryEnabled) cleanups.push(() => flushSentry(500));
  const keys = await resolveKeys(config, logger);
  const store = await resolveStore(config, logger);
  if (store.embedded) cleanups.push(() => store.embedded!.stop());
  await migrateStore(config, store);
  const db = openDatabase(config, store);
  cleanups.push(() => db.close(2));
  // The composition root pulls in every client library: loaded here, so the CLI's other commands start fast.
  const { buildContainer, TOKENS } = await import("./container.ts");
  const { ReportScheduler } = await import("./reports/scan.ts");
  const container = buildContainer({ config, logger, db, databaseUrl: store.url, sentryEnabled, keys });
  const jobs = container.resolve<JobRunner>(TOKENS.JobRunner);
  const jobBudget = Math.max(1_000, config.shutdownTimeoutMs - 4_000);
  cleanups.push(() => jobs.stop(jobBudget));
  await jobs.start();
  const ingest = container.resolve<IngestDeps>(TOKENS.Ingest);
  if (opts.worker) {
    await jobs.work();
    ingest.processor.start();
    cleanups.push(() => ingest.processor.stop());
    // Escalations and report refreshes after attribution: any number of workers may scan.
    const reportScans = new ReportScheduler(container.resolve<ReportsDeps>(TOKENS.Reports));
    reportScans.start();
    cleanups.push(() => reportScans.stop());
    // Audit checkpoints on a schedule (on demand: GET /api/v1/audit/checkpoint, `causeway audit checkpoint`).
    const { CheckpointScheduler } = await import("./evidence/scheduler.ts");
    const checkpoints = new CheckpointScheduler(container.resolve<EvidenceDeps>(TOKENS.Evidence));
    checkpoints.start();
    cleanups.push(() => checkpoints.stop());
  }

  if (opts.http) {
    const app = container.resolve<OpenAPIHono<AppEnv>>(TOKENS.App);
    const port = opts.port ?? config.http.port;
    const server = await new Promise<ReturnType<typeof serveHttp>>((resolve, reject) => {
      const s = serveHttp({ fetch: app.fetch, port, hostname: config.http.host }, () => resolve(s));
      s.once("error", reject);
    });
    // Acknowledged deliveries still queued in the group-commit writer are written before the pools close.
    cleanups.push(() => ingest.writer.close());
    // Stop accepting first (runs before the job drain and pool close above, cleanups run in reverse);
    // requests in flight finish, idle keep-alive connections are closed.
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        }),
    );
    logger.info(
      { port, host: config.http.host, worker: opts.worker, embedded: Boolean(store.embedded) },
      "causeway listening",
    );
  } else {
    logger.info("causeway worker running");
  }
}

async function runMigrate(): Promise<void> {
  const config = bootConfig();
  const logger = createLogger(config.logLevel);
  const store = await resolveStore(config, logger);
  try {
    await migrateStore(config, store);
    logger.info("migrations applied");
  } finally {
    await store.embedded?.stop();
  }
}

async function withStore<T>(
  fn: (ctx: { config: Config; db: ReturnType<typeof openDatabase> }) => Promise<T>,
): Promise<T> {
  const config = bootConfig();
  const logger = createLogger(process.env.LOG_LEVEL ?? "warn");
  const store = await resolveStore(config, logger);
  await migrateStore(config, store);
  const db = openDatabase(config, store);
  try {
    return await fn({ config, db });
  } finally {
    await db.close(2);
    await store.embedded?.stop();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8");
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve": {
      const { values } = parseArgs({
        args: rest,
        options: { port: { type: "string" }, "no-worker": { type: "boolean" } },
      });
      let port: number | undefined;
      if (values.port !== undefined) {
        port = Number(values.port);
        if (!Number.isInteger(port) || port < 1 || port > 65535)
          throw new UsageError("--port must be 1..65535");
      }
      await runServer({ port, worker: !values["no-worker"], http: true });
      return;
    }
    case "worker":
      parseArgs({ args: rest, options: {} });
      await runServer({ worker: true, http: false });
      return;
    case "migrate":
      parseArgs({ args: rest, options: {} });
      await runMigrate();
      return;
    case "orgs": {
      const [sub, ...args] = rest;
      if (sub !== "create") throw new UsageError("orgs: expected `create`");
      const { values } = parseArgs({
        args,
        options: {
          name: { type: "string" },
          owner: { type: "string" },
          "owner-name": { type: "string" },
          json: { type: "boolean" },
        },
      });
      if (!values.name || !values.owner) throw new UsageError("orgs create needs --name and --owner");
      const created = await withStore(({ db }) =>
        createOrgWithOwner(db, {
          name: values.name!,
          ownerEmail: values.owner!,
          ownerName: values["owner-name"],
        }),
      );
      if (values.json) process.stdout.write(`${JSON.stringify(created)}\n`);
      else
        process.stdout.write(
          `Created org ${created.org.name} (${created.org.id}) owned by ${created.owner.email}.\n` +
            `Owner API key (shown once, store it now): ${created.apiKey}\n`,
        );
      return;
    }
    case "users": {
      const [sub, ...args] = rest;
      if (sub !== "set-password") throw new UsageError("users: expected `set-password`");
      const { values } = parseArgs({
        args,
        options: { email: { type: "string" }, "password-stdin": { type: "boolean" } },
      });
      // Never from argv: it would sit in the shell history and in every process listing.
      if (!values.email || !values["password-stdin"]) {
        throw new UsageError("users set-password needs --email and --password-stdin");
      }
      const password = (await readStdin()).replace(/\r?\n$/, "");
      const result = await withStore(({ db }) =>
        setPasswordByEmail({ db, hasher: new PasswordHasher() }, { email: values.email!, password }),
      );
      process.stdout.write(
        `Password set for ${values.email!.toLowerCase()}; ${result.signedOut} session(s) signed out.\n`,
      );
      return;
    }
    case "keys": {
      const [sub, ...args] = rest;
      if (sub === "generate") {
        const { values } = parseArgs({ args, options: { id: { type: "string" } } });
        const stamp = new Date().toISOString().slice(0, 10).replaceAll("-", "");
        const entry = `${values.id ?? `m-${stamp}-${randomBytes(2).toString("hex")}`}:${generateDataKey()}`;
        parseMasterKeys(entry); // refuses an id the keyring would not accept
        process.stdout.write(`${entry}\n`);
        process.stderr.write(
          "Put it first in CAUSEWAY_MASTER_KEYS, keep the current keys after it, restart every process, " +
            "then run `causeway keys rotate`.\n",
        );
        return;
      }
      if (sub !== "rotate") throw new UsageError("keys: expected `generate` or `rotate`");
      const { values } = parseArgs({
        args,
        options: { reencrypt: { type: "boolean" }, batch: { type: "string" } },
      });
      const batchSize = values.batch === undefined ? 100 : Number(values.batch);
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
        throw new UsageError("--batch must be 1..10000");
      }
      const reencrypt = Boolean(values.reencrypt);
      const report = await withStore(async ({ config, db }) => {
        const keys = await resolveKeys(config, createLogger(process.env.LOG_LEVEL ?? "warn"));
        return rotateKeys(db, parseMasterKeys(keys.masterKeys), {
          reencrypt,
          batchSize,
          onProgress: (event) => {
            process.stderr.write(
              event.phase === "rewrap"
                ? `re-wrapped ${event.rewrapped} data key(s)\n`
                : `org ${event.orgId}: re-encrypted ${event.reencrypted} credential(s)\n`,
            );
          },
        });
      });
      process.stdout.write(
        `Master key ${report.masterKeyId}: ${report.rewrapped} data key(s) re-wrapped` +
          (reencrypt
            ? `; ${report.reencrypted} credential(s) in ${report.orgs} org(s) re-encrypted under fresh data keys, ` +
              `${report.retiredKeys} old data key(s) retired`
            : "") +
          ".\n",
      );
      return;
    }
    case "replay": {
      const { values } = parseArgs({
        args: rest,
        options: {
          org: { type: "string" },
          id: { type: "string", multiple: true },
          status: { type: "string" },
          json: { type: "boolean" },
        },
      });
      if (!values.org) throw new UsageError("replay needs --org");
      const ids = values.id ?? [];
      if (ids.length > 0 === Boolean(values.status)) {
        throw new UsageError("replay needs either --id (repeatable) or --status dead|ignored");
      }
      if (values.status && values.status !== "dead" && values.status !== "ignored") {
        throw new UsageError("--status must be dead or ignored");
      }
      const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
      for (const value of [values.org, ...ids]) {
        if (!uuid.test(value)) throw new UsageError(`not a UUID: ${JSON.stringify(value)}`);
      }
      const selector = values.status ? { status: values.status as "dead" | "ignored" } : { ids };
      const replayed = await withStore(({ db }) =>
        replayDeliveries(db, systemContext(values.org!, "cli"), selector),
      );
      if (values.json) process.stdout.write(`${JSON.stringify({ replayed })}\n`);
      else process.stdout.write(`Queued ${replayed.length} delivery(ies) for processing again.\n`);
      return;
    }
    case "export":
    case "verify":
    case "audit": {
      const { runEvidenceCli } = await import("./evidence/cli.ts");
      const code = await runEvidenceCli(command, rest, {
        withStore,
        bootConfig,
        resolveKeys: (config) => resolveKeys(config, createLogger(process.env.LOG_LEVEL ?? "warn")),
        logger: createLogger(process.env.LOG_LEVEL ?? "warn"),
        usage: (message) => new UsageError(message),
        out: (text) => process.stdout.write(text),
        err: (text) => process.stderr.write(text),
      });
      if (code !== 0) process.exitCode = code;
      return;
    }
    case "sandbox": {
      const [sub, ...args] = rest;
      if (sub !== "list" && sub !== "reap") throw new UsageError("sandbox: expected `list` or `reap`");
      const { values } = parseArgs({ args, options: { json: { type: "boolean" } } });
      const config = bootConfig();
      const { createSandboxDriver } = await import("./container.ts");
      const driver = createSandboxDriver(config, createLogger(process.env.LOG_LEVEL ?? "warn"));
      if (sub === "reap") {
        const { removed } = await driver.reap(new Date());
        if (values.json) process.stdout.write(`${JSON.stringify({ driver: driver.kind, removed })}\n`);
        else
          process.stdout.write(
            `Removed ${removed.length} ${driver.kind} sandbox(es)${removed.length ? `: ${removed.join(", ")}` : ""}.\n`,
          );
        return;
      }
      const sandboxes = await driver.list();
      if (values.json) {
        process.stdout.write(`${JSON.stringify({ driver: driver.kind, sandboxes })}\n`);
        return;
      }
      if (sandboxes.length === 0) process.stdout.write(`No ${driver.kind} sandboxes.\n`);
      for (const b of sandboxes) {
        process.stdout.write(
          `${b.id.slice(0, 12)}  ${b.state.padEnd(8)}  org ${b.orgId ?? "?"}  repository ${b.repositoryId ?? "?"}  ` +
            `expires ${b.expiresAt?.toISOString() ?? "?"}${b.reason ? `  (${b.reason})` : ""}\n`,
        );
      }
      return;
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError) fail(error.message, 78);
  if (error instanceof UsageError || (error as { code?: string })?.code?.startsWith?.("ERR_PARSE_ARGS")) {
    fail(`${(error as Error).message}\n\n${USAGE}`, 64);
  }
  if (error instanceof AppError) {
    const details = error.errors?.map((e) => `  ${e.path}: ${e.message}`).join("\n");
    fail(`${error.detail ?? error.code}${details ? `\n${details}` : ""}`, 65);
  }
  fail(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
});
