import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { jsonOf, useTestApp } from "../harness/app.ts";
import { makeOrg } from "../harness/factories.ts";

describe("HTTP foundation", async () => {
  const t = await useTestApp();

  it("answers liveness and readiness", async () => {
    const live = await t.request("/health");
    expect(live.status).toBe(200);
    expect(await jsonOf(live)).toEqual({ status: "ok" });
    const ready = await t.request("/health/ready");
    expect(ready.status).toBe(200);
    expect(await jsonOf(ready)).toEqual({
      status: "ready",
      checks: { database: { ok: true }, queue: { ok: true }, sandbox: { ok: true, detail: "docker" } },
    });
  });

  it("renders unknown routes as problem+json with the request id", async () => {
    const res = await t.request("/no/such/route", { headers: { "x-request-id": "req-abcdef123" } });
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.headers.get("x-request-id")).toBe("req-abcdef123");
    const body = await jsonOf(res);
    expect(body).toMatchObject({
      status: 404,
      code: "not_found",
      title: "Not found",
      requestId: "req-abcdef123",
    });
    expect(body.type).toMatch(/^https:\/\//);
  });

  it("replaces a malformed incoming request id", async () => {
    const res = await t.request("/health", { headers: { "x-request-id": "bad id\twith tabs" } });
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("sets security headers on every response", async () => {
    const res = await t.request("/health");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-frame-options")).toBe("SAMEORIGIN");
    expect(res.headers.get("strict-transport-security")).toMatch(/max-age=/);
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
  });

  it("rejects /api without or with a wrong credential, in the same way", async () => {
    const none = await t.request("/api/v1/me");
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    const noneBody = await jsonOf(none);
    expect(noneBody.code).toBe("unauthenticated");
    const wrong = await t.request("/api/v1/me", { apiKey: "cw_AAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB" });
    expect(wrong.status).toBe(401);
    const wrongBody = await jsonOf(wrong);
    expect(wrongBody.detail).toBe(noneBody.detail);
    const garbage = await t.request("/api/v1/me", { headers: { authorization: "Bearer cw_short" } });
    expect(garbage.status).toBe(401);
  });

  it("authenticates an API key to its org and role", async () => {
    const created = await makeOrg(t.database.db);
    const res = await t.request("/api/v1/me", { apiKey: created.apiKey });
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expect(body).toMatchObject({ orgId: created.org.id, role: "owner", actor: { kind: "api_key" } });
    // The key is never logged.
    expect(t.logs.text()).not.toContain(created.apiKey);
  });

  it("refuses an /api body over 1 MiB with 413 before authenticating or parsing it", async () => {
    const created = await makeOrg(t.database.db);
    const big = JSON.stringify({ name: "x".repeat(1024 * 1024 + 1), provider: "sentry" });
    for (const apiKey of [created.apiKey, undefined]) {
      const res = await t.request("/api/v1/integrations", {
        method: "POST",
        ...(apiKey ? { apiKey } : {}),
        headers: { "content-type": "application/json" },
        body: big,
      });
      expect(res.status).toBe(413);
      expect(res.headers.get("content-type")).toMatch(/application\/problem\+json/);
      expect((await jsonOf(res)).code).toBe("payload_too_large");
    }
    // Nothing was created.
    const list = await jsonOf(await t.request("/api/v1/integrations", { apiKey: created.apiKey }));
    expect(list.items).toEqual([]);
  });

  it("serves a valid OpenAPI 3.1 document", async () => {
    const res = await t.request("/openapi.json");
    expect(res.status).toBe(200);
    const doc = await jsonOf(res);
    expect(doc.openapi).toBe("3.1.0");
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/health", "/health/ready", "/api/v1/me"]),
    );
  });

  it("logs each request without secrets", async () => {
    await t.request("/health", {
      headers: { authorization: "Bearer cw_SECRETXX_abcdefghijklmnopqrstuvwxyzABCDEF" },
    });
    const text = t.logs.text();
    expect(text).toContain('"path":"/health"');
    expect(text).not.toContain("abcdefghijklmnopqrstuvwxyzABCDEF");
  });
});
