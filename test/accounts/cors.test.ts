import { describe, expect, it } from "vitest";
import { jsonOf, useTestApp } from "../harness/app.ts";
import { makeOrg } from "../harness/factories.ts";

const APP_ORIGIN = "https://app.acme.example";
const OPS_ORIGIN = "https://ops.acme.example";

const preflight = (origin: string) => ({
  method: "OPTIONS",
  headers: {
    origin,
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type",
  },
});

describe("CORS", async () => {
  const closed = await useTestApp();
  const open = await useTestApp({ CORS_ORIGINS: ` ${APP_ORIGIN}, ${OPS_ORIGIN} ` });

  it("is off by default: no origin is ever allowed, preflight or not", async () => {
    expect(closed.config.http.corsOrigins).toEqual([]);
    const org = await makeOrg(closed.database.db);
    const pre = await closed.request("/api/v1/api-keys", preflight(APP_ORIGIN));
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    expect(pre.headers.get("access-control-allow-credentials")).toBeNull();
    expect(pre.headers.get("access-control-allow-methods")).toBeNull();
    const get = await closed.request("/api/v1/me", { apiKey: org.apiKey, headers: { origin: APP_ORIGIN } });
    expect(get.status).toBe(200);
    expect(get.headers.get("access-control-allow-origin")).toBeNull();
    // Security headers are still there, CORS or not.
    expect(get.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("allows exactly the configured origins, with credentials, on /api", async () => {
    expect(open.config.http.corsOrigins).toEqual([APP_ORIGIN, OPS_ORIGIN]);
    const org = await makeOrg(open.database.db);
    for (const origin of [APP_ORIGIN, OPS_ORIGIN]) {
      const pre = await open.request("/api/v1/api-keys", preflight(origin));
      expect(pre.status).toBe(204);
      expect(pre.headers.get("access-control-allow-origin")).toBe(origin);
      expect(pre.headers.get("access-control-allow-credentials")).toBe("true");
      expect(pre.headers.get("access-control-allow-methods")).toMatch(/POST/);
      expect(pre.headers.get("access-control-allow-headers")?.toLowerCase()).toMatch(/authorization/);
      expect(pre.headers.get("access-control-max-age")).toBe("600");
      expect(pre.headers.get("vary")?.toLowerCase()).toContain("origin");
    }
    const get = await open.request("/api/v1/me", { apiKey: org.apiKey, headers: { origin: APP_ORIGIN } });
    expect(get.status).toBe(200);
    expect(get.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
    expect(get.headers.get("access-control-allow-credentials")).toBe("true");
  });

  it("does not allow an origin that is not listed, nor a look-alike of one", async () => {
    const org = await makeOrg(open.database.db);
    for (const origin of [
      "https://evil.example",
      "https://app.acme.example.evil.example",
      "http://app.acme.example",
      "null",
    ]) {
      const pre = await open.request("/api/v1/api-keys", preflight(origin));
      expect(pre.headers.get("access-control-allow-origin"), origin).toBeNull();
      const get = await open.request("/api/v1/me", { apiKey: org.apiKey, headers: { origin } });
      expect(get.status).toBe(200);
      expect(get.headers.get("access-control-allow-origin"), origin).toBeNull();
    }
  });

  it("allows a cross-origin preflight through without a credential, but not the request itself", async () => {
    const pre = await open.request("/api/v1/api-keys", preflight(APP_ORIGIN));
    expect(pre.status).toBe(204);
    const res = await open.request("/api/v1/api-keys", { headers: { origin: APP_ORIGIN } });
    expect(res.status).toBe(401);
    expect((await jsonOf(res)).code).toBe("unauthenticated");
    // The browser can read the 401 (the origin is allowed), so the app can tell the user to sign in.
    expect(res.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
  });
});
