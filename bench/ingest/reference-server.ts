/**
 * The bare reference for the ingest benchmark: Hono + HMAC check + a group-committed multi-row insert of
 * the raw body, nothing else. Causeway's full path is measured against this on the same machine.
 *   tsx bench/ingest/reference-server.ts <port> <databaseUrl> <secret>
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import postgres from "postgres";

const [portArg, url, secret] = process.argv.slice(2);
if (!portArg || !url || !secret) throw new Error("usage: reference-server <port> <databaseUrl> <secret>");
const sql = postgres(url, { max: 10, onnotice: () => {} });
await sql`create table if not exists ref_deliveries (id uuid primary key, request_id text unique, received_at timestamptz not null, body bytea not null)`;

type Pending = {
  row: { id: string; request_id: string; received_at: string; body: Buffer };
  done: (e?: unknown) => void;
};
const queue: Pending[] = [];
let timer: NodeJS.Timeout | undefined;
let inflight = 0;
function flush() {
  timer = undefined;
  while (queue.length > 0 && inflight < 2) {
    const batch = queue.splice(0, 200);
    inflight++;
    sql`insert into ref_deliveries ${sql(batch.map((p) => p.row))} on conflict do nothing`
      .then(
        () => {
          for (const p of batch) p.done();
        },
        (e) => {
          for (const p of batch) p.done(e);
        },
      )
      .finally(() => {
        inflight--;
        if (queue.length > 0) flush();
      });
  }
}
function write(row: Pending["row"]): Promise<void> {
  return new Promise((resolve, reject) => {
    queue.push({ row, done: (e) => (e ? reject(e) : resolve()) });
    if (queue.length >= 200) flush();
    else if (!timer) timer = setTimeout(flush, 2);
  });
}

const app = new Hono();
app.post("/webhooks/sentry/:id", async (c) => {
  const body = Buffer.from(await c.req.arrayBuffer());
  const given = Buffer.from(c.req.header("sentry-hook-signature") ?? "", "hex");
  const expected = createHmac("sha256", secret).update(body).digest();
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return c.json({ error: "bad signature" }, 401);
  const id = randomUUID();
  await write({
    id,
    request_id: c.req.header("request-id") ?? id,
    received_at: new Date().toISOString(),
    body,
  });
  return c.json({ deliveryId: id }, 202);
});
serve({ fetch: app.fetch, port: Number(portArg), hostname: "127.0.0.1" }, () =>
  process.stdout.write("ready\n"),
);
process.on("SIGTERM", () => sql.end({ timeout: 2 }).finally(() => process.exit(0)));
