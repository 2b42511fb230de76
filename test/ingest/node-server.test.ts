/**
 * The webhook front door under the real Node HTTP server (@hono/node-server), where the body is read
 * straight from the socket: size limit by declared length and while streaming, raw bytes intact for the
 * signature, Node's headers passed on.
 */
import { createHmac, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { deliveries } from "../../db/schema/index.ts";
import { REDACTED } from "../../src/telemetry/redact.ts";
import { jsonOf, useTestApp } from "../harness/app.ts";
import { makeOrg } from "../harness/factories.ts";

const EVENT_ALERT = readFileSync(
  new URL("../../integrations/sentry/fixtures/event-alert-triggered.json", import.meta.url),
  "utf8",
);

interface Answer {
  status: number;
  type: string | undefined;
  body: string;
}

/** A raw request: `chunks` are written one by one (no content-length unless given). */
function send(
  port: number,
  path: string,
  headers: Record<string, string>,
  chunks: Buffer[],
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: "POST", headers }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          type: res.headers["content-type"],
          body: Buffer.concat(parts).toString("utf8"),
        }),
      );
    });
    // The server may answer 413 and close before the whole body is written.
    req.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE" && error.code !== "ECONNRESET") reject(error);
    });
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

describe("webhooks under the Node server", async () => {
  const t = await useTestApp({ WEBHOOK_MAX_BODY_BYTES: "65536" });
  const db = t.database.db;
  let server: ReturnType<typeof serve>;
  let port = 0;

  beforeAll(async () => {
    server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function integration() {
    const owner = await makeOrg(db);
    const secret = randomBytes(24).toString("hex");
    const res = await t.request("/api/v1/integrations", {
      method: "POST",
      apiKey: owner.apiKey,
      json: { provider: "sentry", name: "Sentry", secrets: { webhookSecret: secret } },
    });
    expect(res.status).toBe(201);
    return { orgId: owner.org.id, id: (await jsonOf(res)).id as string, secret };
  }

  const signed = (secret: string, body: Buffer, requestId: string) => ({
    "content-type": "application/json",
    "sentry-hook-resource": "event_alert",
    "sentry-hook-signature": createHmac("sha256", secret).update(body).digest("hex"),
    "sentry-hook-timestamp": String(Math.floor(Date.now() / 1000)),
    "request-id": requestId,
  });

  it("stores a body sent in many small chunks byte for byte, with the sender's headers", async () => {
    const s = await integration();
    const body = Buffer.from(EVENT_ALERT);
    const chunks: Buffer[] = [];
    for (let i = 0; i < body.length; i += 97) chunks.push(body.subarray(i, i + 97));
    const answer = await send(port, `/webhooks/sentry/${s.id}`, signed(s.secret, body, "req-chunks"), chunks);
    expect(answer.status, answer.body).toBe(202);
    const { deliveryId } = JSON.parse(answer.body);
    const [row] = await withOrg(db, s.orgId, (tx) =>
      tx.select().from(deliveries).where(eq(deliveries.id, deliveryId)),
    );
    expect(row!.body.equals(body)).toBe(true);
    expect(row!.deliveryKey).toBe("req-chunks");
    expect(row!.headers["sentry-hook-resource"]).toBe("event_alert");
    // Node's own header view is what is kept, the signature redacted.
    expect(row!.headers["sentry-hook-signature"]).toBe(REDACTED);
    expect(row!.headers.host).toBe(`127.0.0.1:${port}`);
  });

  it("refuses an oversized body by its declared length and while streaming, storing nothing", async () => {
    const s = await integration();
    const big = Buffer.alloc(200_000, 0x20);
    const declared = await send(
      port,
      `/webhooks/sentry/${s.id}`,
      { ...signed(s.secret, big, "req-big-1"), "content-length": String(big.length) },
      [big],
    );
    expect(declared.status).toBe(413);
    expect(declared.type).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(declared.body).code).toBe("payload_too_large");

    const chunks = Array.from({ length: 20 }, () => Buffer.alloc(10_000, 0x20));
    const streamed = await send(port, `/webhooks/sentry/${s.id}`, signed(s.secret, big, "req-big-2"), chunks);
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body).code).toBe("payload_too_large");

    const stored = await withOrg(db, s.orgId, (tx) => tx.select().from(deliveries));
    expect(stored).toHaveLength(0);
    // The server is still answering.
    const ok = Buffer.from(EVENT_ALERT);
    expect(
      (await send(port, `/webhooks/sentry/${s.id}`, signed(s.secret, ok, "req-after"), [ok])).status,
    ).toBe(202);
  });

  it("answers a wrong signature 401 and an unknown integration 404, as problem+json", async () => {
    const s = await integration();
    const body = Buffer.from(EVENT_ALERT);
    const bad = await send(port, `/webhooks/sentry/${s.id}`, signed("not-the-secret", body, "req-bad"), [
      body,
    ]);
    expect(bad.status).toBe(401);
    expect(JSON.parse(bad.body).code).toBe("invalid_signature");
    const unknown = await send(
      port,
      `/webhooks/sentry/${crypto.randomUUID()}`,
      signed(s.secret, body, "req-unknown"),
      [body],
    );
    expect(unknown.status).toBe(404);
    expect(unknown.type).toMatch(/^application\/problem\+json/);
  });
});
