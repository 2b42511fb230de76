/**
 * Normalization throughput: how fast the delivery processor turns stored webhooks into signals,
 * anomalies and incidents (the work a worker does after the 202). The real composition root, the real
 * webhook route (signed Sentry event alerts, in-process), then `processor.drain()` timed per round.
 *
 *   npx tsx bench/ingest/drain.ts      (BENCH_DATABASE_URL or TEST_DATABASE_URL; BENCH_ROUND, default
 *                                       2000 deliveries per round; BENCH_ROUNDS, default 3;
 *                                       BENCH_PROFILE_DIR=dir writes a CPU profile of each drain alone)
 *
 * Two shapes: a storm (every delivery is the same alert: one anomaly, one incident, updated thousands of
 * times) and distinct alerts (every delivery its own Sentry issue across 20 services: an anomaly each).
 * The storm runs several rounds on the same rows, so a slowdown as the rows' history grows shows up.
 */
import { createHmac, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import path from "node:path";
import { createDatabase } from "../../db/client.ts";
import { createOrgWithOwner } from "../../src/accounts/orgs.ts";
import { loadConfig } from "../../src/config.ts";
import { buildContainer, TOKENS } from "../../src/container.ts";
import type { IngestDeps } from "../../src/ingest/deps.ts";
import type { JobRunner } from "../../src/jobs/runner.ts";
import { generateKeys } from "../../src/keys.ts";
import { createLogger } from "../../src/telemetry/logger.ts";
import { REPO_ROOT } from "../../test/harness/process.ts";
import { withScratchDatabase } from "./scratch-database.ts";

const ROUND = Number(process.env.BENCH_ROUND ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;

/** Runs `work` under the V8 CPU profiler when BENCH_PROFILE_DIR is set (the posting is left out). */
async function profiled<T>(label: string, work: () => Promise<T>): Promise<T> {
  if (!PROFILE_DIR) return work();
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  try {
    return await work();
  } finally {
    const { profile } = await session.post("Profiler.stop");
    await mkdir(PROFILE_DIR, { recursive: true });
    await writeFile(
      path.join(PROFILE_DIR, `${label.replace(/\W+/g, "-")}.cpuprofile`),
      JSON.stringify(profile),
    );
    session.disconnect();
  }
}

async function main() {
  // Every statement in the server log, with its duration.
  const settings: Record<string, string> =
    process.env.BENCH_LOG_STATEMENTS === "1" ? { log_min_duration_statement: "0" } : {};
  await withScratchDatabase(
    "causeway_drain",
    async ({ url, adminSql }) => {
      const db = createDatabase({ url, appRole: "causeway_app", poolMax: 10 });
      const { apiKey } = await createOrgWithOwner(db, { name: "Bench", ownerEmail: "bench@example.test" });
      const config = loadConfig({ NODE_ENV: "production", DATABASE_URL: url, LOG_LEVEL: "warn" });
      const container = buildContainer({
        config,
        logger: createLogger("warn"),
        db,
        databaseUrl: url,
        sentryEnabled: false,
        keys: generateKeys(),
      });
      const app = container.resolve<{
        request: (p: string, i?: RequestInit) => Response | Promise<Response>;
      }>(TOKENS.App);
      const { processor } = container.resolve<IngestDeps>(TOKENS.Ingest);
      // The job queue runs as in `serve` (new anomalies enqueue attribution jobs).
      const jobs = container.resolve<JobRunner>(TOKENS.JobRunner);
      await jobs.start();
      const secret = randomBytes(24).toString("hex");
      const created = await app.request("/api/v1/integrations", {
        method: "POST",
        headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ provider: "sentry", name: "bench", secrets: { webhookSecret: secret } }),
      });
      if (created.status !== 201) throw new Error(`integration create: ${created.status}`);
      const { id: integrationId } = (await created.json()) as { id: string };
      const fixture = JSON.parse(
        await readFile(
          path.join(REPO_ROOT, "integrations/sentry/fixtures/event-alert-triggered.json"),
          "utf8",
        ),
      );

      let n = 0;
      const post = async (body: string) => {
        const res = await app.request(`/webhooks/sentry/${integrationId}`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "sentry-hook-resource": "event_alert",
            "sentry-hook-signature": createHmac("sha256", secret).update(body).digest("hex"),
            "request-id": `drain-${++n}`,
          },
          body,
        });
        if (res.status !== 202) throw new Error(`webhook: ${res.status} ${await res.text()}`);
      };
      const storm = JSON.stringify(fixture);
      const distinct = (i: number) => {
        const copy = structuredClone(fixture);
        copy.data.event.issue_id = String(9_000_000_000 + i);
        copy.data.event.project = 4_505_000 + (i % 20);
        return JSON.stringify(copy);
      };

      // Write-ahead log written per delivery (cluster-wide, so run on an otherwise idle server): what the
      // front door's insert costs and what normalizing costs, full-page images included.
      const walNow = async () => {
        const [w] = await adminSql<{ lsn: string; fpi: string }[]>`
        select pg_current_wal_lsn()::text as lsn, (select wal_fpi::text from pg_stat_wal) as fpi`;
        return w!;
      };
      const walBytes = async (from: { lsn: string }, to: { lsn: string }) => {
        const [d] = await adminSql<
          { n: string }[]
        >`select pg_wal_lsn_diff(${to.lsn}, ${from.lsn})::text as n`;
        return Number(d!.n);
      };
      const round = async (label: string, bodyOf: (i: number) => string) => {
        const beforePost = await walNow();
        // Post in parallel batches (like concurrent senders), then drain with nothing else running.
        for (let i = 0; i < ROUND; i += 50) {
          await Promise.all(Array.from({ length: Math.min(50, ROUND - i) }, (_, k) => post(bodyOf(i + k))));
        }
        await new Promise((r) => setTimeout(r, 200));
        const beforeDrain = await walNow();
        const started = performance.now();
        const handled = await profiled(label, () => processor.drain());
        const seconds = (performance.now() - started) / 1000;
        const [left] = await db.ownerSql<{ n: number }[]>`
        select count(*)::int as n from deliveries where status <> 'processed'`;
        const afterDrain = await walNow();
        const perDelivery = async (from: { lsn: string; fpi: string }, to: { lsn: string; fpi: string }) =>
          `${((await walBytes(from, to)) / ROUND).toFixed(0)} B (${((Number(to.fpi) - Number(from.fpi)) / ROUND).toFixed(2)} page images)`;
        console.log(
          `${label.padEnd(22)} ${String(handled).padStart(6)} deliveries  ${seconds.toFixed(2).padStart(7)} s  ${(handled / seconds).toFixed(0).padStart(6)} /s  not processed: ${left?.n ?? "?"}`,
          ` WAL per delivery: posting ${await perDelivery(beforePost, beforeDrain)}, normalizing ${await perDelivery(beforeDrain, afterDrain)}`,
        );
      };
      console.log(`normalization throughput, ${ROUND} deliveries per round, node ${process.version}`);
      for (let r = 1; r <= ROUNDS; r++) await round(`storm round ${r}`, () => storm);
      await round("distinct alerts", distinct);
      const [counts] = await db.ownerSql<{ anomalies: number; incidents: number; count: number }[]>`
      select (select count(*)::int from anomalies) as anomalies, (select count(*)::int from incidents) as incidents,
        (select max(count)::int from anomalies) as count`;
      console.log(
        `anomalies ${counts?.anomalies}, incidents ${counts?.incidents}, largest anomaly count ${counts?.count}`,
      );
      await jobs.stop(2_000);
      await db.close();
    },
    { settings },
  );
}

await main();
