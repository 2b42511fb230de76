import { createHmac, randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog, deliveries } from "../../db/schema/index.ts";
import { jsonOf, useTestApp } from "../harness/app.ts";
import { makeOrg } from "../harness/factories.ts";
import { runCli } from "../harness/process.ts";

describe("causeway replay", async () => {
  const t = await useTestApp();
  const db = t.database.db;

  async function deadDelivery(requestId: string) {
    const owner = await makeOrg(db);
    const secret = randomBytes(24).toString("hex");
    const created = await t.request("/api/v1/integrations", {
      method: "POST",
      apiKey: owner.apiKey,
      json: { provider: "sentry", name: "Sentry", secrets: { webhookSecret: secret } },
    });
    const { id } = await jsonOf(created);
    const body = JSON.stringify({ action: "triggered", data: { unexpected: true } });
    const res = await t.request(`/webhooks/sentry/${id}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "sentry-hook-resource": "event_alert",
        "sentry-hook-signature": createHmac("sha256", secret).update(body).digest("hex"),
        "request-id": requestId,
      },
      body,
    });
    expect(res.status).toBe(202);
    const { deliveryId } = await jsonOf(res);
    await t.processDeliveries();
    return { org: owner.org, deliveryId: deliveryId as string };
  }

  const statusOf = async (orgId: string, id: string) =>
    (await withOrg(db, orgId, (tx) => tx.select().from(deliveries).where(eq(deliveries.id, id))))[0];

  it("puts a dead delivery back in the queue by id, audited as the CLI", async () => {
    const { org, deliveryId } = await deadDelivery("cli-dead-1");
    expect((await statusOf(org.id, deliveryId))?.status).toBe("dead");
    const result = await runCli(["replay", "--org", org.id, "--id", deliveryId, "--json"], {
      DATABASE_URL: t.database.url,
    });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ replayed: [deliveryId] });
    expect(await statusOf(org.id, deliveryId)).toMatchObject({ status: "received", reason: null });
    const audit = await withOrg(db, org.id, (tx) =>
      tx.select().from(auditLog).where(eq(auditLog.action, "delivery.replayed")),
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actorKind: "system", actorId: "cli" });
    // The worker picks it up again (still unreadable here, so it is dead once more, on a second attempt).
    await t.processDeliveries();
    expect(await statusOf(org.id, deliveryId)).toMatchObject({ status: "dead", attempts: 2 });
  });

  it("replays every dead delivery of an org by status, and nothing of another org", async () => {
    const a = await deadDelivery("cli-dead-a");
    const b = await deadDelivery("cli-dead-b");
    const result = await runCli(["replay", "--org", a.org.id, "--status", "dead"], {
      DATABASE_URL: t.database.url,
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Queued 1 delivery/);
    expect((await statusOf(a.org.id, a.deliveryId))?.status).toBe("received");
    expect((await statusOf(b.org.id, b.deliveryId))?.status).toBe("dead");
  });

  it("refuses a missing selector with usage (64) and unknown ids as not found (65)", {
    timeout: 120_000,
  }, async () => {
    const env = { DATABASE_URL: t.database.url };
    const noSelector = await runCli(["replay", "--org", crypto.randomUUID()], env);
    expect(noSelector.code).toBe(64);
    expect(noSelector.stderr).toMatch(/--id .* or --status/);
    const unknown = await runCli(["replay", "--org", crypto.randomUUID(), "--id", crypto.randomUUID()], env);
    expect(unknown.code).toBe(65);
    expect(unknown.stderr).toMatch(/not found|delivery/i);
  });
});
