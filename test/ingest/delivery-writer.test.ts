import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { deliveries, integrations } from "../../db/schema/index.ts";
import { DeliveryWriter, type NewDelivery } from "../../src/ingest/delivery-writer.ts";
import { useTestDatabase } from "../harness/db.ts";
import { makeOrg } from "../harness/factories.ts";

describe("delivery writer (group commit)", async () => {
  const { db } = await useTestDatabase();

  async function setup() {
    const { org } = await makeOrg(db);
    const [integration] = await withOrg(db, org.id, (tx) =>
      tx.insert(integrations).values({ orgId: org.id, provider: "sentry", name: "s" }).returning(),
    );
    const make = (key: string): NewDelivery => ({
      id: randomUUID(),
      orgId: org.id,
      integrationId: integration!.id,
      provider: "sentry",
      deliveryKey: key,
      receivedAt: new Date(),
      headers: { "content-type": "application/json" },
      contentType: "application/json",
      body: Buffer.from(`{"key":"${key}"}`),
    });
    return { org, make };
  }

  it("writes concurrent deliveries in shared transactions and answers each one", async () => {
    const { org, make } = await setup();
    const writer = new DeliveryWriter(db.ownerSql, { maxBatch: 25, maxDelayMs: 5 });
    const batch = Array.from({ length: 120 }, (_, i) => make(`k${i}`));
    const results = await Promise.all(batch.map((d) => writer.write(d)));
    expect(results.map((r) => r.deliveryId)).toEqual(batch.map((d) => d.id));
    expect(results.every((r) => !r.duplicate)).toBe(true);
    const stored = await withOrg(db, org.id, (tx) => tx.select().from(deliveries));
    expect(stored).toHaveLength(120);
    expect(stored.find((d) => d.deliveryKey === "k7")?.body.toString()).toBe('{"key":"k7"}');
    await writer.close();
  });

  it("stores every body byte for byte: UTF-8 text, invalid UTF-8, NUL bytes, empty, in one batch", async () => {
    const { org, make } = await setup();
    const writer = new DeliveryWriter(db.ownerSql, { maxBatch: 10, maxDelayMs: 5 });
    const bodies = {
      utf8: Buffer.from('{"title":"Café ☕ — 🚨 naïve \\u0000 \\"q\\""}', "utf8"),
      invalid: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0xff, 0xfe, 0xc3, 0x7d]),
      nul: Buffer.from([0x7b, 0x00, 0x7d]),
      bom: Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
      empty: Buffer.alloc(0),
      backslashes: Buffer.from("\\x41 \\\\ '\\'", "utf8"),
    };
    const written = Object.entries(bodies).map(([key, body]) => ({ ...make(key), body }));
    const results = await Promise.all(written.map((d) => writer.write(d)));
    expect(results.every((r) => !r.duplicate)).toBe(true);
    const stored = await withOrg(db, org.id, (tx) => tx.select().from(deliveries));
    expect(stored).toHaveLength(written.length);
    for (const [key, body] of Object.entries(bodies)) {
      const row = stored.find((d) => d.deliveryKey === key);
      expect(row?.body.equals(body), key).toBe(true);
    }
    await writer.close();
  });

  it("compresses large bodies with LZ4 where the server has it, and gives them back byte for byte", async () => {
    const { org, make } = await setup();
    const writer = new DeliveryWriter(db.ownerSql, { maxBatch: 10, maxDelayMs: 5 });
    const frames = Array.from({ length: 200 }, (_, i) => ({ filename: `app/handlers/h${i}.ts`, lineno: i }));
    const large = { ...make("large"), body: Buffer.from(JSON.stringify({ frames }), "utf8") };
    expect(large.body.length).toBeGreaterThan(8_000);
    await writer.write(large);
    await writer.close();
    const [server] = await db.ownerSql<{ lz4: boolean }[]>`
      select 'lz4' = any (enumvals) as lz4 from pg_settings where name = 'default_toast_compression'`;
    const [row] = await db.ownerSql<{ method: string | null; stored: number }[]>`
      select pg_column_compression(body) as method, pg_column_size(body) as stored
      from deliveries where id = ${large.id}`;
    // Debian's and the official images are built with LZ4; a server without it keeps pglz.
    expect(row?.method).toBe(server?.lz4 ? "lz4" : "pglz");
    expect(row!.stored).toBeLessThan(large.body.length / 2);
    const stored = await withOrg(db, org.id, (tx) => tx.select().from(deliveries));
    expect(stored.map((d) => d.body.equals(large.body))).toEqual([true]);
  });

  it("resolves a replay to the original delivery, within a batch and across batches", async () => {
    const { org, make } = await setup();
    const writer = new DeliveryWriter(db.ownerSql, { maxBatch: 10, maxDelayMs: 5 });
    const first = make("same");
    const twin = make("same");
    const [a, b] = await Promise.all([writer.write(first), writer.write(twin)]);
    expect(a).toEqual({ deliveryId: first.id, duplicate: false });
    expect(b).toEqual({ deliveryId: first.id, duplicate: true });
    const later = await writer.write(make("same"));
    expect(later).toEqual({ deliveryId: first.id, duplicate: true });
    const stored = await withOrg(db, org.id, (tx) => tx.select().from(deliveries));
    expect(stored).toHaveLength(1);
    await writer.close();
  });

  it("answers the same original to two writers racing with one delivery key (two replicas)", async () => {
    const { org, make } = await setup();
    const one = new DeliveryWriter(db.ownerSql, { maxBatch: 10, maxDelayMs: 1 });
    const two = new DeliveryWriter(db.ownerSql, { maxBatch: 10, maxDelayMs: 1 });
    for (let round = 0; round < 5; round++) {
      const [a, b] = await Promise.all([one.write(make(`race-${round}`)), two.write(make(`race-${round}`))]);
      expect(a.deliveryId).toBe(b.deliveryId);
      expect([a.duplicate, b.duplicate].sort()).toEqual([false, true]);
    }
    const stored = await withOrg(db, org.id, (tx) => tx.select().from(deliveries));
    expect(stored).toHaveLength(5);
    await Promise.all([one.close(), two.close()]);
  });

  it("flushes what is queued on close and then refuses new writes", async () => {
    const { make } = await setup();
    const writer = new DeliveryWriter(db.ownerSql, { maxBatch: 100, maxDelayMs: 1_000 });
    const pending = writer.write(make("late"));
    await writer.close();
    await expect(pending).resolves.toMatchObject({ duplicate: false });
    await expect(writer.write(make("after"))).rejects.toThrow(/closed/);
  });
});
