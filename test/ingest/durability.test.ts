import { createHmac, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateKeys } from "../../src/keys.ts";
import { useTestDatabase } from "../harness/db.ts";
import { makeOrg } from "../harness/factories.ts";
import { freePort, startCli, waitForHttp } from "../harness/process.ts";

const EVENT_ALERT = readFileSync(
  new URL("../../integrations/sentry/fixtures/event-alert-triggered.json", import.meta.url),
  "utf8",
);

describe("ingest durability", async () => {
  const { url, db } = await useTestDatabase();

  it("keeps every acknowledged delivery across a kill -9 and processes none twice", async () => {
    const keys = generateKeys();
    const env = {
      DATABASE_URL: url,
      CAUSEWAY_MASTER_KEYS: keys.masterKeys,
      CAUSEWAY_SESSION_KEYS: keys.sessionKeys,
      CAUSEWAY_CHECKPOINT_KEY: keys.checkpointKey,
      LOG_LEVEL: "warn",
    };
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const owner = await makeOrg(db);
    let server = startCli(["serve", "--port", String(port)], env);
    try {
      await waitForHttp(`${base}/health/ready`, 30_000);
      const secret = randomBytes(24).toString("hex");
      const created = await fetch(`${base}/api/v1/integrations`, {
        method: "POST",
        headers: { authorization: `Bearer ${owner.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ provider: "sentry", name: "durability", secrets: { webhookSecret: secret } }),
      });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      const signature = createHmac("sha256", secret).update(EVENT_ALERT).digest("hex");

      // A bounded load: 600 requests, 20 at a time; the server is killed once 200 have been answered.
      const acknowledged = new Set<string>();
      let sent = 0;
      let killed = false;
      const worker = async () => {
        while (sent < 600) {
          const n = sent++;
          try {
            const res = await fetch(`${base}/webhooks/sentry/${id}`, {
              method: "POST",
              headers: {
                "content-type": "application/json",
                "sentry-hook-resource": "event_alert",
                "sentry-hook-signature": signature,
                "request-id": `durability-${n}`,
              },
              body: EVENT_ALERT,
            });
            if (res.status === 202)
              acknowledged.add(((await res.json()) as { deliveryId: string }).deliveryId);
          } catch {
            // Connection refused or reset once the server is gone: not acknowledged, nothing promised.
          }
          if (!killed && acknowledged.size >= 200) {
            killed = true;
            server.child.kill("SIGKILL");
          }
        }
      };
      await Promise.all(Array.from({ length: 20 }, worker));
      await server.stop("SIGKILL");
      expect(killed).toBe(true);
      expect(acknowledged.size).toBeGreaterThanOrEqual(200);

      server = startCli(["serve", "--port", String(port)], env);
      await waitForHttp(`${base}/health/ready`, 30_000);
      // Workers drain whatever was stored but not yet processed when the first server died.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const [row] = await db.ownerSql<{ n: number }[]>`
          select count(*)::int as n from deliveries where org_id = ${owner.org.id} and status = 'received'`;
        if (row?.n === 0) break;
        if (Date.now() > deadline) throw new Error("deliveries were not processed after restart");
        await new Promise((r) => setTimeout(r, 250));
      }

      const stored = await db.ownerSql<{ id: string; status: string }[]>`
        select id, status from deliveries where org_id = ${owner.org.id}`;
      const storedIds = new Set(stored.map((d) => d.id));
      const missing = [...acknowledged].filter((d) => !storedIds.has(d));
      expect(missing).toEqual([]);
      expect(stored.every((d) => d.status === "processed")).toBe(true);
      // Exactly one signal per delivery, and the anomaly counted each delivery once.
      const [counts] = await db.ownerSql<{ signals: number; perDeliveryMax: number; anomalyCount: number }[]>`
        select (select count(*)::int from signals where org_id = ${owner.org.id}) as signals,
               (select coalesce(max(c), 0)::int from (select count(*) as c from signals where org_id = ${owner.org.id} group by delivery_id) x) as "perDeliveryMax",
               (select coalesce(sum(count), 0)::int from anomalies where org_id = ${owner.org.id}) as "anomalyCount"`;
      expect(counts).toEqual({ signals: stored.length, perDeliveryMax: 1, anomalyCount: stored.length });
    } catch (error) {
      throw new Error(`${String(error)}\n--- server output ---\n${server.output().slice(-3000)}`);
    } finally {
      await server.stop("SIGKILL");
    }
  }, 180_000);
});
