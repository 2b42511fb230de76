/**
 * The front door's durable write alone: deliveries through the group-commit writer (DeliveryWriter) from
 * 200 concurrent callers, with no HTTP in the way, reporting rows/s and the CPU each row costs in this
 * process and in Postgres (every `postgres` process on the machine, so run it on an otherwise idle server).
 *
 *   npx tsx bench/ingest/writer.ts      (BENCH_DATABASE_URL or TEST_DATABASE_URL; BENCH_ROWS per round,
 *                                        default 20000; BENCH_ROUNDS, default 3; BENCH_IDS=v4 keys the
 *                                        rows with random UUIDs instead of the time-ordered v7 that
 *                                        the webhook path uses; BENCH_SQL runs on the scratch
 *                                        database before the rounds, e.g. "alter table deliveries
 *                                        alter column body set compression pglz" for the old storage)
 *
 * Each round starts right after a CHECKPOINT and reports the write-ahead log per row, full-page images
 * included (the first change to each page after a checkpoint logs the whole page).
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { createDatabase } from "../../db/client.ts";
import { createOrgWithOwner } from "../../src/accounts/orgs.ts";
import { DeliveryWriter } from "../../src/ingest/delivery-writer.ts";
import { uuidv7 } from "../../src/uuid7.ts";
import { REPO_ROOT } from "../../test/harness/process.ts";
import { postgresCpu, spentBetween } from "./cpu.ts";
import { withScratchDatabase } from "./scratch-database.ts";

const ROWS = Number(process.env.BENCH_ROWS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CALLERS = 200;
const newId = process.env.BENCH_IDS === "v4" ? () => randomUUID() : () => uuidv7();

async function main() {
  await withScratchDatabase("causeway_writer", async ({ url, adminSql }) => {
    const db = createDatabase({ url, appRole: "causeway_app", poolMax: 10 });
    const { org } = await createOrgWithOwner(db, { name: "Bench", ownerEmail: "bench@example.test" });
    const [integration] = await db.ownerSql<{ id: string }[]>`
      insert into integrations (org_id, provider, name) values (${org.id}, 'sentry', 'bench') returning id`;
    if (process.env.BENCH_SQL) await db.ownerSql.unsafe(process.env.BENCH_SQL);
    const body = await readFile(
      path.join(REPO_ROOT, "integrations/sentry/fixtures/event-alert-triggered.json"),
    );
    console.log(
      `delivery writer, ${ROWS} rows per round of ${body.length} bytes, ${CALLERS} callers, ids ${process.env.BENCH_IDS === "v4" ? "v4" : "v7"}`,
    );
    for (let round = 1; round <= ROUNDS; round++) {
      const writer = new DeliveryWriter(db.ownerSql);
      await adminSql`checkpoint`;
      const [wal0] = await adminSql<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`;
      const cpu0 = process.cpuUsage();
      const pg0 = await postgresCpu();
      const started = performance.now();
      let sent = 0;
      await Promise.all(
        Array.from({ length: CALLERS }, async () => {
          while (sent < ROWS) {
            sent++;
            await writer.write({
              id: newId(),
              orgId: org.id,
              integrationId: integration!.id,
              provider: "sentry",
              deliveryKey: randomUUID(),
              receivedAt: new Date(),
              headers: { "content-type": "application/json", "sentry-hook-resource": "event_alert" },
              contentType: "application/json",
              body: Buffer.from(body),
            });
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const pg = spentBetween(pg0, await postgresCpu());
      const [wal] = await adminSql<{ bytes: string }[]>`
        select pg_wal_lsn_diff(pg_current_wal_lsn(), ${wal0!.lsn}::pg_lsn)::text as bytes`;
      console.log(
        `round ${round}: ${(ROWS / seconds).toFixed(0)} rows/s  node ${((cpu.user + cpu.system) / ROWS).toFixed(1)} µs/row  postgres ${((pg * 1000) / ROWS).toFixed(1)} µs/row  WAL ${(Number(wal!.bytes) / ROWS).toFixed(0)} B/row`,
      );
      await writer.close();
    }
    await db.close();
  });
}

await main();
