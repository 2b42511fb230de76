/**
 * Ingest benchmark: durable webhooks/s and latency of Causeway's full webhook path against a bare
 * reference server (Hono + HMAC + group-committed insert), both as separate processes on 127.0.0.1,
 * posting signed ~3 KB Sentry event alerts with a stack trace at concurrency 50 and 200.
 *
 *   npx tsx bench/ingest/run.ts            (BENCH_SECONDS=10 by default; BENCH_DATABASE_URL or
 *                                           TEST_DATABASE_URL, else an embedded Postgres)
 *
 * BENCH_WORKER picks where the deliveries are normalized: `in-process` (default: `serve`), `process` (`serve
 * --no-worker` plus a separate `worker` process, the split deployment) or `none` (`serve --no-worker` alone;
 * BENCH_NO_WORKER=1 is the same). BENCH_CPU_PROF=DIR profiles the server; BENCH_NODE_OPTIONS
 * is passed to both servers as NODE_OPTIONS (e.g. `--require` an event-loop-delay monitor, or GC flags);
 * CAUSEWAY_INGEST_* variables are passed to Causeway's processes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import type { Sql } from "postgres";
import { createDatabase } from "../../db/client.ts";
import { startEmbeddedPostgres } from "../../db/embedded.ts";
import { createOrgWithOwner } from "../../src/accounts/orgs.ts";
import { generateKeys } from "../../src/keys.ts";
import { CLI, freePort, REPO_ROOT, waitForHttp } from "../../test/harness/process.ts";
import { cpuMs, postgresCpu, spentBetween } from "./cpu.ts";
import { paced } from "./paced.ts";
import { withScratchDatabase } from "./scratch-database.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const DRAIN_LIMIT_MS = Number(process.env.BENCH_DRAIN_LIMIT_S ?? 300) * 1000;

interface RunResult {
  target: string;
  /** autocannon (closed loop; with a rate, its per-connection quota) or paced (open loop, paced.ts). */
  generator: "autocannon" | "autocannon-no-co" | "paced";
  connections: number;
  rate?: number;
  durable: number;
  rps: number;
  p50: number;
  p99: number;
  /** The slowest answer, ms. */
  max?: number;
  /** paced only: the p99 of write-to-answer time (leaving out the wait for a free socket), ms. */
  serviceP99?: number;
  /** paced only: the most the generator itself sent a request late, ms. */
  sendLagMax?: number;
  non2xx: number;
  errors: number;
  /** Time after the run until every delivery it acknowledged was normalized (worker in the server). */
  drainMs?: number;
  /** paced only: CPU time per request of the server's processes, and of every Postgres process, ms. */
  cpuPerRequest?: { server: number; postgres: number; generator: number };
  /** paced only: write-ahead log per request (all of Postgres), bytes, and full-page images in it. */
  walPerRequest?: { bytes: number; fullPages: number };
}

interface WalReading {
  lsn: string;
  fullPages: number;
  /** Bytes written since the reading it was taken against (0 for the first). */
  bytes: number;
}

/** Where the write-ahead log is now, and how much of it was written since `since`, in one query. */
async function readWal(sql: Sql, since?: WalReading): Promise<WalReading> {
  const [r] = await sql<{ lsn: string; bytes: string; fpi: string }[]>`
    select pg_current_wal_lsn()::text as lsn,
      coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), ${since?.lsn ?? null}::pg_lsn), 0)::text as bytes,
      (select wal_fpi from pg_stat_wal)::text as fpi`;
  return { lsn: r!.lsn, bytes: Number(r!.bytes), fullPages: Number(r!.fpi) };
}

/**
 * Runs `work` (one paced row of `requests` requests) and adds the CPU it cost the server and Postgres,
 * and the write-ahead log Postgres wrote meanwhile (the full-page images count is Postgres's own
 * statistics, flushed about once a second, so it is approximate at the edges).
 */
async function withCpu(
  serverPids: number[],
  requests: number,
  sql: Sql,
  work: () => Promise<RunResult>,
): Promise<RunResult> {
  const [server0, pg0, wal0] = [await cpuMs(serverPids), await postgresCpu(), await readWal(sql)];
  // The generator runs in this process: what it costs is taken from the same two cores.
  const generator0 = process.cpuUsage();
  const result = await work();
  const generator = process.cpuUsage(generator0);
  const [server1, pg1, wal1] = [await cpuMs(serverPids), await postgresCpu(), await readWal(sql, wal0)];
  const walPerRequest = {
    bytes: wal1.bytes / requests,
    fullPages: (wal1.fullPages - wal0.fullPages) / requests,
  };
  if (server0 === undefined || server1 === undefined) return { ...result, walPerRequest };
  return {
    ...result,
    cpuPerRequest: {
      server: (server1 - server0) / requests,
      postgres: spentBetween(pg0, pg1) / requests,
      generator: (generator.user + generator.system) / 1000 / requests,
    },
    walPerRequest,
  };
}

async function run(
  target: string,
  url: string,
  body: string,
  signature: string,
  connections: number,
  overallRate?: number,
  ignoreCoordinatedOmission = false,
): Promise<RunResult> {
  let n = 0;
  const prefix = randomBytes(4).toString("hex");
  const result = await autocannon({
    url,
    method: "POST",
    connections,
    duration: SECONDS,
    ...(overallRate ? { overallRate } : {}),
    ignoreCoordinatedOmission,
    headers: {
      "content-type": "application/json",
      "sentry-hook-resource": "event_alert",
      "sentry-hook-signature": signature,
    },
    body,
    requests: [
      {
        setupRequest: (req: Record<string, unknown>) => {
          n++;
          return {
            ...req,
            headers: { ...(req.headers as Record<string, string>), "request-id": `${prefix}-${n}` },
          };
        },
      },
    ],
  });
  const durable = result["2xx"];
  return {
    target,
    generator: ignoreCoordinatedOmission ? "autocannon-no-co" : "autocannon",
    connections,
    ...(overallRate ? { rate: overallRate } : {}),
    durable,
    rps: Math.round(durable / result.duration),
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/** The same requests at `rate` per second, evenly spaced, latency from each request's due time. */
async function runPaced(
  target: string,
  url: string,
  body: string,
  signature: string,
  connections: number,
  rate: number,
): Promise<RunResult> {
  const prefix = randomBytes(4).toString("hex");
  // BENCH_STALLS=1 lists each 100 ms of due times whose slowest answer took over 50 ms.
  const listStalls = process.env.BENCH_STALLS === "1";
  const worst = new Map<number, number>();
  const measuredFrom = Date.now() + WARMUP_SECONDS * 1000;
  const result = await paced({
    url,
    rate,
    seconds: SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    connections,
    body,
    headers: {
      "content-type": "application/json",
      "sentry-hook-resource": "event_alert",
      "sentry-hook-signature": signature,
    },
    headersFor: (n) => ({ "request-id": `${prefix}-p${n}` }),
    ...(listStalls && {
      onSample: (due: number, latency: number) => {
        const bucket = Math.floor(due / 100);
        worst.set(bucket, Math.max(worst.get(bucket) ?? 0, latency));
      },
    }),
  });
  if (listStalls) {
    const stalls = [...worst].filter(([, ms]) => ms > 50).sort(([a], [b]) => a - b);
    const clock = (ms: number) => new Date(ms).toISOString().slice(14, 21);
    console.error(
      `${target} stalls (row measured from ${clock(measuredFrom)}): ${stalls.map(([b, ms]) => `${clock(measuredFrom + b * 100)}:${Math.round(ms)}ms`).join(" ") || "none"}`,
    );
  }
  return {
    target,
    generator: "paced",
    connections,
    rate,
    durable: result.ok,
    rps: Math.round(result.ok / result.elapsedSeconds),
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    serviceP99: result.service.p99,
    sendLagMax: result.sendLag.max,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/**
 * The node flags Causeway's launchers pass (bin/causeway.js's shebang, `npm start`, the Dockerfile): the
 * bench starts the CLI with node directly, so it passes them itself, to the reference server too.
 */
const NODE_FLAGS = ["--max-semi-space-size=64"];

function start(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [...NODE_FLAGS, ...args], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}),
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return child;
}

/** BENCH_PG_SETTINGS="name=value,…": Postgres parameters for the bench's database (both servers see them). */
function benchSettings(): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const pair of (process.env.BENCH_PG_SETTINGS ?? "").split(",").filter(Boolean)) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new Error(`BENCH_PG_SETTINGS: expected name=value, not ${pair}`);
    settings[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return settings;
}

async function main() {
  let server = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (!server) {
    const dir = await mkdtemp(path.join(tmpdir(), "causeway-bench-"));
    const pg = await startEmbeddedPostgres({ dataDir: dir, port: await freePort(), database: "postgres" });
    server = pg.url;
    stopEmbedded = pg.stop;
  }
  try {
    await withScratchDatabase("causeway_bench", ({ url }) => measure(url), {
      server,
      settings: benchSettings(),
    });
  } finally {
    await stopEmbedded?.();
  }
}

async function measure(url: string): Promise<void> {
  const db = createDatabase({ url, appRole: "causeway_app", poolMax: 2 });
  const { apiKey } = await createOrgWithOwner(db, { name: "Bench", ownerEmail: "bench@example.test" });

  const keys = generateKeys();
  const port = await freePort();
  // BENCH_CPU_PROF=DIR writes a V8 CPU profile of the Causeway server to DIR (for finding hot spots).
  const profile = process.env.BENCH_CPU_PROF
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  const workerShape =
    process.env.BENCH_NO_WORKER === "1" ? "none" : (process.env.BENCH_WORKER ?? "in-process");
  if (!["in-process", "process", "none"].includes(workerShape))
    throw new Error(`BENCH_WORKER must be in-process, process or none, not ${workerShape}`);
  const serverEnv = {
    DATABASE_URL: url,
    CAUSEWAY_MASTER_KEYS: keys.masterKeys,
    CAUSEWAY_SESSION_KEYS: keys.sessionKeys,
    CAUSEWAY_CHECKPOINT_KEY: keys.checkpointKey,
    LOG_LEVEL: "warn",
    DATABASE_POOL_MAX: "10",
    // The ingest knobs (CAUSEWAY_INGEST_BUSY_SHARE, _MAX_DEFER_MS, _BUSY_PER_SECOND) pass through.
    ...Object.fromEntries(
      Object.entries(process.env).filter(
        (e): e is [string, string] => e[0].startsWith("CAUSEWAY_INGEST_") && e[1] !== undefined,
      ),
    ),
  };
  const causeway = start(
    [
      ...profile,
      CLI,
      "serve",
      "--port",
      String(port),
      ...(workerShape === "in-process" ? [] : ["--no-worker"]),
    ],
    serverEnv,
  );
  const worker = workerShape === "process" ? start([CLI, "worker"], serverEnv) : undefined;
  await waitForHttp(`http://127.0.0.1:${port}/health/ready`, 60_000);
  const secret = randomBytes(24).toString("hex");
  const created = await fetch(`http://127.0.0.1:${port}/api/v1/integrations`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    // Sentry chooses its client secret; we play Sentry and choose one.
    body: JSON.stringify({ provider: "sentry", name: "bench", secrets: { webhookSecret: secret } }),
  });
  if (created.status !== 201)
    throw new Error(`integration create: ${created.status} ${await created.text()}`);
  const integration = { ...((await created.json()) as { id: string }), webhookSecret: secret };

  const refPort = await freePort();
  const reference = start(
    [
      path.join(REPO_ROOT, "node_modules/tsx/dist/cli.mjs"),
      // tsx runs the script in a child node process: the flags go to that one as well.
      ...NODE_FLAGS,
      "bench/ingest/reference-server.ts",
      String(refPort),
      url,
      integration.webhookSecret,
    ],
    {},
  );
  await new Promise<void>((resolve) => reference.stdout?.once("data", () => resolve()));

  const fixture = JSON.parse(
    await readFile(path.join(REPO_ROOT, "integrations/sentry/fixtures/event-alert-triggered.json"), "utf8"),
  );
  const body = JSON.stringify(fixture);
  const signature = createHmac("sha256", integration.webhookSecret).update(body).digest("hex");
  const refUrl = `http://127.0.0.1:${refPort}/webhooks/sentry/${integration.id}`;
  const cwUrl = `http://127.0.0.1:${port}/webhooks/sentry/${integration.id}`;

  // With the worker in the server (the default shape), the deliveries a run acknowledged are normalized
  // into anomalies during and after it. The next run starts only once that backlog is gone, so no run
  // (the reference's included) shares the machine with the previous run's leftovers; the drain time is
  // reported as the price of acknowledging first.
  const withWorker = workerShape !== "none";
  const drain = async (): Promise<number | undefined> => {
    if (!withWorker) return undefined;
    const started = Date.now();
    for (;;) {
      const [row] = await db.ownerSql<{ n: number }[]>`
        select count(*)::int as n from deliveries where status = 'received'`;
      if ((row?.n ?? 0) === 0) return Date.now() - started;
      if (Date.now() - started > DRAIN_LIMIT_MS) {
        // Reported, not fatal: the next run then shares the machine with what is left.
        console.error(`backlog of ${row?.n} deliveries not drained in ${DRAIN_LIMIT_MS / 1000} s`);
        return Number.POSITIVE_INFINITY;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const drained = async (result: RunResult): Promise<RunResult> => {
    const drainMs = await drain();
    return drainMs === undefined ? result : { ...result, drainMs };
  };
  const causewayRun = async (target: string, connections: number, rate?: number) =>
    drained(await run(target, cwUrl, body, signature, connections, rate));
  const results: RunResult[] = [];
  // BENCH_RATE=N skips the peak runs and measures the fixed-rate rows at N/s (for chasing the tail).
  const fixedRate = Number(process.env.BENCH_RATE ?? 0);
  if (!fixedRate) {
    for (const c of [50, 200]) {
      results.push(await run("reference", refUrl, body, signature, c));
      results.push(await causewayRun("causeway", c));
    }
  }
  const peak = Math.max(...results.filter((r) => r.target === "causeway").map((r) => r.rps));
  const halfPeak = fixedRate || Math.max(1, Math.floor(peak / 2));
  // The latency target is measured open loop (paced.ts): requests due every 1000 / rate ms over 50
  // keep-alive sockets, each timed from when it was due.
  // CPU per request counts the warm-up's requests too, and for the default shape the worker's share of
  // normalizing them while the row runs (the drain afterwards is left out).
  const pacedRequests = halfPeak * (SECONDS + WARMUP_SECONDS);
  const causewayPids = [causeway.pid!, ...(worker ? [worker.pid!] : [])];
  results.push(
    await drained(
      await withCpu(causewayPids, pacedRequests, db.ownerSql, () =>
        runPaced("causeway@half-peak", cwUrl, body, signature, 50, halfPeak),
      ),
    ),
  );
  // The bare reference at the same rate: what this machine's tail latency is with nothing but the write.
  results.push(
    await withCpu([reference.pid!], pacedRequests, db.ownerSql, () =>
      runPaced("reference@same-rate", refUrl, body, signature, 50, halfPeak),
    ),
  );
  // autocannon's own fixed-rate mode, for comparison (see paced.ts for what it measures instead): once as
  // it reports by default, once without its coordinated-omission correction.
  results.push(await causewayRun("causeway@half-peak", 50, halfPeak));
  results.push(await drained(await run("causeway@half-peak", cwUrl, body, signature, 50, halfPeak, true)));

  const [row] = await db.ownerSql<{ stored: number }[]>`select count(*)::int as stored from deliveries`;
  const stored = row?.stored ?? 0;
  const acknowledged = results
    .filter((r) => r.target.startsWith("causeway"))
    .reduce((s, r) => s + r.durable, 0);

  console.log(
    `\nbody ${body.length} bytes, ${SECONDS} s per run (paced: after ${WARMUP_SECONDS} s of warm-up), worker ${workerShape}, node ${process.version}\n`,
  );
  console.log(
    "target               generator         conn   rate   durable/s   p50 ms   p99 ms   max ms   non-2xx  errors   drain s",
  );
  for (const r of results) {
    const drainS =
      r.drainMs === undefined ? "-" : Number.isFinite(r.drainMs) ? (r.drainMs / 1000).toFixed(1) : "limit";
    console.log(
      `${r.target.padEnd(20)} ${r.generator.padEnd(16)} ${String(r.connections).padStart(5)} ${String(r.rate ?? "max").padStart(6)} ${String(r.rps).padStart(11)} ${String(r.p50).padStart(8)} ${String(r.p99).padStart(8)} ${String(r.max ?? "-").padStart(8)} ${String(r.non2xx).padStart(9)} ${String(r.errors).padStart(7)} ${drainS.padStart(9)}`,
    );
  }
  for (const r of results.filter((r) => r.cpuPerRequest)) {
    console.log(
      `${r.target}: CPU per request ${r.cpuPerRequest!.server.toFixed(3)} ms in the server, ${r.cpuPerRequest!.postgres.toFixed(3)} ms in Postgres, ${r.cpuPerRequest!.generator.toFixed(3)} ms in the load generator`,
    );
  }
  for (const r of results.filter((r) => r.walPerRequest)) {
    console.log(
      `${r.target}: WAL per request ${(r.walPerRequest!.bytes / 1024).toFixed(1)} KB, ${r.walPerRequest!.fullPages.toFixed(2)} full-page images`,
    );
  }
  const target = results.find((r) => r.target === "causeway@half-peak" && r.generator === "paced")!;
  console.log(
    `p99 at half peak (${halfPeak}/s, open loop): ${target.p99} ms (write-to-answer p99 ${target.serviceP99} ms, generator's own send lag at most ${target.sendLagMax} ms); target 50 ms: ${target.p99 <= 50 ? "met" : "not met"}`,
  );
  for (const c of fixedRate ? [] : [50, 200]) {
    const ref = results.find((r) => r.target === "reference" && r.connections === c)!;
    const cw = results.find((r) => r.target === "causeway" && r.connections === c)!;
    console.log(`ratio at c=${c}: causeway / reference = ${(cw.rps / ref.rps).toFixed(2)}`);
  }
  console.log(`acknowledged by causeway: ${acknowledged}, stored deliveries: ${stored}`);
  await mkdir(path.join(REPO_ROOT, "bench/out"), { recursive: true });
  await writeFile(
    path.join(REPO_ROOT, "bench/out/ingest.json"),
    JSON.stringify({ seconds: SECONDS, results, acknowledged, stored }, null, 2),
  );

  const exited = (child: ChildProcess) =>
    child.exitCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once("exit", () => r()));
  causeway.kill("SIGTERM");
  worker?.kill("SIGTERM");
  reference.kill("SIGTERM");
  await Promise.all([exited(causeway), exited(reference), ...(worker ? [exited(worker)] : [])]);
  await db.close();
}

await main();
