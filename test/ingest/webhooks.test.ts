import { createHmac, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { anomalies, auditLog, deliveries, incidents, signals } from "../../db/schema/index.ts";
import { jsonOf, useTestApp } from "../harness/app.ts";
import { makeOrg } from "../harness/factories.ts";

const fixture = (name: string) =>
  readFileSync(new URL(`../../integrations/sentry/fixtures/${name}`, import.meta.url), "utf8");
const EVENT_ALERT = fixture("event-alert-triggered.json");
const ISSUE_RESOLVED = fixture("issue-resolved.json");
const sign = (secret: string, body: string | Buffer) =>
  createHmac("sha256", secret).update(body).digest("hex");

describe("webhook ingest", async () => {
  const t = await useTestApp();
  const db = t.database.db;

  async function sentryIntegration() {
    const owner = await makeOrg(db);
    // Sentry chooses the client secret; the operator pastes it into Causeway.
    const secret = randomBytes(24).toString("hex");
    const res = await t.request("/api/v1/integrations", {
      method: "POST",
      apiKey: owner.apiKey,
      json: { provider: "sentry", name: "Sentry prod", secrets: { webhookSecret: secret } },
    });
    expect(res.status).toBe(201);
    const body = await jsonOf(res);
    expect(body.webhookSecret).toBeUndefined();
    return { ...owner, integrationId: body.id as string, secret };
  }

  function post(
    integrationId: string,
    body: string | Buffer,
    headers: Record<string, string>,
    provider = "sentry",
  ) {
    return t.request(`/webhooks/${provider}/${integrationId}`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", ...headers },
    });
  }

  function sentryHeaders(secret: string, body: string | Buffer, resource: string, requestId: string) {
    return {
      "sentry-hook-resource": resource,
      "sentry-hook-signature": sign(secret, body),
      "sentry-hook-timestamp": String(Math.floor(Date.now() / 1000)),
      "request-id": requestId,
    };
  }

  it("stores a signed event alert, answers 202 after commit, and turns it into an anomaly and incident", async () => {
    const s = await sentryIntegration();
    const res = await post(
      s.integrationId,
      EVENT_ALERT,
      sentryHeaders(s.secret, EVENT_ALERT, "event_alert", "req-001"),
    );
    expect(res.status).toBe(202);
    const { deliveryId } = await jsonOf(res);
    const [stored] = await withOrg(db, s.org.id, (tx) =>
      tx.select().from(deliveries).where(eq(deliveries.id, deliveryId)),
    );
    expect(stored?.body.toString("utf8")).toBe(EVENT_ALERT);
    expect(stored?.headers["sentry-hook-signature"]).toBe("[redacted]");
    expect(stored?.status).toBe("received");

    await t.processDeliveries();
    const [processed] = await withOrg(db, s.org.id, (tx) =>
      tx.select().from(deliveries).where(eq(deliveries.id, deliveryId)),
    );
    expect(processed).toMatchObject({
      status: "processed",
      eventType: "event_alert.triggered",
      signalCount: 1,
    });
    const list = await jsonOf(await t.request("/api/v1/anomalies", { apiKey: s.apiKey }));
    expect(list.items).toHaveLength(1);
    const anomaly = list.items[0];
    expect(anomaly).toMatchObject({
      source: "sentry",
      kind: "error",
      status: "open",
      count: 1,
      service: "checkout-api",
    });
    expect(anomaly.frames.length).toBeGreaterThan(1);
    expect(anomaly.frames[0].inApp).toBe(true);
    const detail = await jsonOf(await t.request(`/api/v1/anomalies/${anomaly.id}`, { apiKey: s.apiKey }));
    expect(detail.signals).toHaveLength(1);
    expect(detail.signals[0]).toMatchObject({ deliveryId, status: "firing" });
    // Every column of the stored signal row, as the bulk insert wrote it from the normalized Signal.
    const [signalRow] = await withOrg(db, s.org.id, (tx) =>
      tx.select().from(signals).where(eq(signals.deliveryId, deliveryId)),
    );
    expect(signalRow).toMatchObject({
      orgId: s.org.id,
      anomalyId: anomaly.id,
      kind: "error",
      source: "sentry",
      fingerprint: anomaly.fingerprint,
      severity: anomaly.severity,
      status: "firing",
      service: "checkout-api",
      environment: "production",
      release: "checkout-api@3f2c9d81a6b4e0c7d5f1a2b3c4d5e6f708192a3b",
      occurredAt: new Date("2026-03-10T14:05:31.512Z"),
      receivedAt: stored?.receivedAt,
    });
    expect(signalRow?.title).toMatch(/^TypeError: Cannot read properties of undefined/);
    expect(signalRow?.payload).toMatchObject({
      title: signalRow?.title,
      occurredAt: "2026-03-10T14:05:31.512Z",
      frames: anomaly.frames,
    });
    const incident = await jsonOf(
      await t.request(`/api/v1/incidents/${anomaly.incidentId}`, { apiKey: s.apiKey }),
    );
    expect(incident).toMatchObject({ status: "open", service: "checkout-api" });
    expect(incident.anomalies.map((a: { id: string }) => a.id)).toEqual([anomaly.id]);
  });

  it("answers a replayed delivery id with 200 and the original id, and creates nothing new", async () => {
    const s = await sentryIntegration();
    const headers = sentryHeaders(s.secret, EVENT_ALERT, "event_alert", "req-replay");
    const first = await jsonOf(await post(s.integrationId, EVENT_ALERT, headers));
    const again = await post(s.integrationId, EVENT_ALERT, headers);
    expect(again.status).toBe(200);
    expect(await jsonOf(again)).toEqual({ deliveryId: first.deliveryId, duplicate: true });
    await t.processDeliveries();
    const rows = await withOrg(db, s.org.id, (tx) => tx.select().from(signals));
    expect(rows).toHaveLength(1);
    const [anomaly] = await withOrg(db, s.org.id, (tx) => tx.select().from(anomalies));
    expect(anomaly?.count).toBe(1);
  });

  it("closes the anomaly and its incident on a resolved issue", async () => {
    const s = await sentryIntegration();
    await post(s.integrationId, EVENT_ALERT, sentryHeaders(s.secret, EVENT_ALERT, "event_alert", "r-open"));
    await post(s.integrationId, ISSUE_RESOLVED, sentryHeaders(s.secret, ISSUE_RESOLVED, "issue", "r-close"));
    await t.processDeliveries();
    const [anomaly] = await withOrg(db, s.org.id, (tx) => tx.select().from(anomalies));
    expect(anomaly?.status).toBe("resolved");
    const [incident] = await withOrg(db, s.org.id, (tx) => tx.select().from(incidents));
    expect(incident?.status).toBe("resolved");
  });

  it.each([
    ["wrong", (secret: string) => sign(`${secret}x`, EVENT_ALERT)],
    ["missing", () => undefined],
    ["truncated", (secret: string) => sign(secret, EVENT_ALERT).slice(0, 40)],
    ["wrongly prefixed", (secret: string) => `sha256=${sign(secret, EVENT_ALERT)}`],
    [
      "over re-serialized JSON",
      (secret: string) => sign(secret, JSON.stringify(JSON.parse(EVENT_ALERT), null, 1)),
    ],
  ])("rejects a %s signature with 401 and an audit entry", async (_name, signature) => {
    const s = await sentryIntegration();
    const sig = signature(s.secret);
    const res = await post(s.integrationId, EVENT_ALERT, {
      "sentry-hook-resource": "event_alert",
      "request-id": "bad-1",
      ...(sig ? { "sentry-hook-signature": sig } : {}),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect((await jsonOf(res)).code).toBe("invalid_signature");
    const audit = await withOrg(db, s.org.id, (tx) =>
      tx.select().from(auditLog).where(eq(auditLog.action, "webhook.rejected")),
    );
    expect(audit).toHaveLength(1);
    const stored = await withOrg(db, s.org.id, (tx) => tx.select().from(deliveries));
    expect(stored).toEqual([]);
  });

  it("answers bad input with 4xx problem+json and stores nothing", async () => {
    const s = await sentryIntegration();
    const signed = (body: string) => sentryHeaders(s.secret, body, "event_alert", `r-${body.length}`);
    const cases: Array<[string, Promise<Response>, number, string]> = [
      ["empty body", post(s.integrationId, "", signed("")), 400, "bad_request"],
      ["invalid JSON", post(s.integrationId, "{nope", signed("{nope")), 400, "invalid_json"],
      ["JSON of the wrong shape", post(s.integrationId, "[1,2]", signed("[1,2]")), 400, "validation_failed"],
      [
        "wrong content type",
        t.request(`/webhooks/sentry/${s.integrationId}`, {
          method: "POST",
          body: EVENT_ALERT,
          headers: { "content-type": "text/plain", ...signed(EVENT_ALERT) },
        }),
        415,
        "unsupported_media_type",
      ],
      [
        "unknown provider",
        post(s.integrationId, EVENT_ALERT, signed(EVENT_ALERT), "newrelic"),
        404,
        "not_found",
      ],
      [
        "unknown integration",
        post("00000000-0000-4000-8000-000000000000", EVENT_ALERT, signed(EVENT_ALERT)),
        404,
        "not_found",
      ],
      ["malformed integration id", post("not-a-uuid", EVENT_ALERT, signed(EVENT_ALERT)), 404, "not_found"],
      [
        "another provider's path",
        post(s.integrationId, EVENT_ALERT, signed(EVENT_ALERT), "datadog"),
        404,
        "not_found",
      ],
    ];
    for (const [name, response, status, code] of cases) {
      const res = await response;
      expect({ name, status: res.status }).toEqual({ name, status });
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect({ name, code: (await jsonOf(res)).code }).toEqual({ name, code });
    }
    const big = Buffer.alloc(10 * 1024 * 1024, 0x20);
    const tooBig = await post(s.integrationId, big, signed("x"));
    expect(tooBig.status).toBe(413);
    expect((await jsonOf(tooBig)).code).toBe("payload_too_large");
    const stored = await withOrg(db, s.org.id, (tx) => tx.select().from(deliveries));
    expect(stored).toEqual([]);
  });

  it("keeps a signed payload it cannot normalize as a dead letter that can be replayed", async () => {
    const s = await sentryIntegration();
    const body = JSON.stringify({ action: "triggered", data: { unexpected: true } });
    const res = await post(s.integrationId, body, sentryHeaders(s.secret, body, "event_alert", "dead-1"));
    expect(res.status).toBe(202);
    const { deliveryId } = await jsonOf(res);
    await t.processDeliveries();
    const dead = await jsonOf(await t.request("/api/v1/deliveries?status=dead", { apiKey: s.apiKey }));
    expect(dead.items.map((d: { id: string }) => d.id)).toEqual([deliveryId]);
    expect(dead.items[0].reason).toMatch(/event_alert/);
    const replay = await t.request(`/api/v1/deliveries/${deliveryId}/replay`, {
      method: "POST",
      apiKey: s.apiKey,
    });
    expect(replay.status).toBe(202);
    expect(await jsonOf(replay)).toEqual({ replayed: [deliveryId] });
    await t.processDeliveries();
    const [row] = await withOrg(db, s.org.id, (tx) =>
      tx.select().from(deliveries).where(eq(deliveries.id, deliveryId)),
    );
    expect(row).toMatchObject({ status: "dead", attempts: 2 });
    const audit = await withOrg(db, s.org.id, (tx) =>
      tx.select().from(auditLog).where(eq(auditLog.action, "delivery.replayed")),
    );
    expect(audit).toHaveLength(1);
    // A processed delivery cannot be replayed (its signals would count twice).
    const ok = await jsonOf(
      await post(s.integrationId, EVENT_ALERT, sentryHeaders(s.secret, EVENT_ALERT, "event_alert", "ok-1")),
    );
    await t.processDeliveries();
    const refused = await t.request(`/api/v1/deliveries/${ok.deliveryId}/replay`, {
      method: "POST",
      apiKey: s.apiKey,
    });
    expect(refused.status).toBe(409);
  });

  it("processes a payload whose strings hold NUL or a lone surrogate (Postgres text cannot), replacing them", async () => {
    const s = await sentryIntegration();
    const event = JSON.parse(EVENT_ALERT);
    // Legal JSON, and it reaches the stored signal's title, its payload and the anomaly: Postgres text and
    // jsonb refuse U+0000 and unpaired surrogates.
    event.data.event.title = "TypeError: bad\u0000byte \ud800 half a pair — 🚨 kept";
    event.data.event.culprit = "checkout\u0000.ts";
    event.data.event.exception.values[0].stacktrace.frames[0].filename = "src/\udfffcart.ts";
    const body = JSON.stringify(event);
    const res = await post(s.integrationId, body, sentryHeaders(s.secret, body, "event_alert", "nul-1"));
    expect(res.status).toBe(202);
    const { deliveryId } = await jsonOf(res);
    await t.processDeliveries();
    const [row] = await withOrg(db, s.org.id, (tx) =>
      tx.select().from(deliveries).where(eq(deliveries.id, deliveryId)),
    );
    expect(row).toMatchObject({ status: "processed", attempts: 1, signalCount: 1 });
    // The raw delivery keeps the bytes as received.
    expect(row?.body.toString("utf8")).toBe(body);
    const [signal] = await withOrg(db, s.org.id, (tx) =>
      tx.select().from(signals).where(eq(signals.deliveryId, deliveryId)),
    );
    expect(signal?.title).toBe("TypeError: bad\ufffdbyte \ufffd half a pair — 🚨 kept");
    expect(JSON.stringify(signal?.payload)).not.toMatch(/\\u0000|\\ud[89a-f]/i);
    const [anomaly] = await withOrg(db, s.org.id, (tx) =>
      tx.select().from(anomalies).where(eq(anomalies.id, signal!.anomalyId!)),
    );
    expect(anomaly?.title).toBe(signal?.title);

    // A title clipped to 500 UTF-16 units must not keep half of an emoji that straddles the cut.
    const long = JSON.parse(EVENT_ALERT);
    long.data.event.title = `${"x".repeat(499)}🚨 after the cut`;
    long.data.event.issue_id = "7700000001";
    const longBody = JSON.stringify(long);
    const second = await jsonOf(
      await post(s.integrationId, longBody, sentryHeaders(s.secret, longBody, "event_alert", "nul-2")),
    );
    await t.processDeliveries();
    const [clipped] = await withOrg(db, s.org.id, (tx) =>
      tx.select().from(signals).where(eq(signals.deliveryId, second.deliveryId)),
    );
    expect(clipped?.title).toBe("x".repeat(499));
  });

  it("stores and acknowledges unknown event types without error", async () => {
    const s = await sentryIntegration();
    const body = JSON.stringify({ action: "created", installation: { uuid: "x" }, data: { comment: "hi" } });
    const res = await post(s.integrationId, body, sentryHeaders(s.secret, body, "comment", "c-1"));
    expect(res.status).toBe(202);
    await t.processDeliveries();
    const [row] = await withOrg(db, s.org.id, (tx) => tx.select().from(deliveries));
    expect(row?.status).toBe("ignored");
  });

  it("never answers 500 to arbitrary bodies and headers", async () => {
    const s = await sentryIntegration();
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 2048 }),
        fc.dictionary(
          fc.constantFrom(
            "sentry-hook-signature",
            "sentry-hook-resource",
            "request-id",
            "content-type",
            "x-other",
          ),
          fc.string({ maxLength: 80 }).filter((v) => /^[\x20-\x7e]*$/.test(v)),
        ),
        fc.boolean(),
        async (bytes, headers, signIt) => {
          const body = Buffer.from(bytes);
          const h: Record<string, string> = { ...headers };
          if (signIt) h["sentry-hook-signature"] = sign(s.secret, body);
          const res = await post(s.integrationId, body, h);
          expect(res.status).toBeLessThan(500);
        },
      ),
      { numRuns: 150 },
    );
    await t.processDeliveries();
    const stuck = await withOrg(db, s.org.id, (tx) =>
      tx.select().from(deliveries).where(eq(deliveries.status, "received")),
    );
    expect(stuck).toEqual([]);
  });
});
