import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { jsonOf } from "../harness/app.ts";
import { makeApiKey, makeOrg, makeUser } from "../harness/factories.ts";
import { randomIp, useAccountsApp } from "./app.ts";

describe("rate limits", async () => {
  // Production's auth, AI and export limits; standard lowered so a test needs a handful of requests.
  const t = await useAccountsApp({
    rateLimits: { auth: { limit: 5 }, standard: { limit: 3 }, ai: { limit: 20 }, export: { limit: 5 } },
  });
  const db = t.database.db;

  const attempt = (email: string, password: string, ip: string) =>
    t.request("/api/v1/auth/login", { method: "POST", json: { email, password }, ip });

  it("stops brute force on one account with 429, Retry-After and RateLimit headers", async () => {
    const org = await makeOrg(db);
    const user = await makeUser(db, org.org.id);
    const ip = randomIp();
    for (let i = 0; i < 5; i++) {
      const res = await attempt(user.email, `guess-${i}`, ip);
      expect(res.status).toBe(401);
      expect(res.headers.get("ratelimit-limit")).toBe("5");
      expect(res.headers.get("ratelimit-remaining")).toBe(String(4 - i));
    }
    const blocked = await attempt(user.email, user.password, ip);
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get("content-type")).toBe("application/problem+json");
    const body = await jsonOf(blocked);
    expect(body).toMatchObject({ status: 429, code: "rate_limited" });
    const retryAfter = Number(blocked.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(blocked.headers.get("ratelimit-limit")).toBe("5");
    expect(blocked.headers.get("ratelimit-remaining")).toBe("0");
    expect(Number(blocked.headers.get("ratelimit-reset"))).toBe(retryAfter);
    // No session came out of it.
    expect(blocked.headers.get("set-cookie")).toBeNull();
  });

  it("limits per account even when every attempt comes from a new address", async () => {
    const org = await makeOrg(db);
    const user = await makeUser(db, org.org.id);
    for (let i = 0; i < 5; i++)
      expect((await attempt(user.email, `guess-${i}`, randomIp())).status).toBe(401);
    const blocked = await attempt(user.email, user.password, randomIp());
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("limits per address across accounts, unknown ones included", async () => {
    const ip = randomIp();
    for (let i = 0; i < 5; i++) {
      expect((await attempt(`probe-${randomUUID()}@example.test`, "password", ip)).status).toBe(401);
    }
    expect((await attempt(`probe-${randomUUID()}@example.test`, "password", ip)).status).toBe(429);
    // The refresh route shares the address's auth budget.
    const refresh = await t.request("/api/v1/auth/refresh", { method: "POST", ip });
    expect(refresh.status).toBe(429);
  });

  it("limits standard routes per credential and per org", async () => {
    const org = await makeOrg(db);
    const other = await makeOrg(db);
    const first = await makeApiKey(db, org.org.id, "member");
    const second = await makeApiKey(db, org.org.id, "member");
    const remaining = [];
    for (let i = 0; i < 3; i++) {
      const res = await t.request("/api/v1/me", { apiKey: first.key });
      expect(res.status).toBe(200);
      remaining.push(res.headers.get("ratelimit-remaining"));
    }
    expect(remaining).toEqual(["2", "1", "0"]);
    const over = await t.request("/api/v1/me", { apiKey: first.key });
    expect(over.status).toBe(429);
    expect((await jsonOf(over)).code).toBe("rate_limited");
    expect(over.headers.get("retry-after")).toMatch(/^\d+$/);
    // Another key of the same org shares the org's budget; another org has its own.
    expect((await t.request("/api/v1/me", { apiKey: second.key })).status).toBe(429);
    expect((await t.request("/api/v1/me", { apiKey: other.apiKey })).status).toBe(200);
  });

  it("keeps its counters in Postgres, so two app instances enforce one limit, and a new window resets it", async () => {
    const replica = await useAccountsApp({ rateLimits: { standard: { limit: 3 } } });
    const org = await makeOrg(db);
    expect((await t.request("/api/v1/me", { apiKey: org.apiKey })).status).toBe(200);
    expect((await replica.request("/api/v1/me", { apiKey: org.apiKey })).status).toBe(200);
    expect((await t.request("/api/v1/me", { apiKey: org.apiKey })).status).toBe(200);
    expect((await replica.request("/api/v1/me", { apiKey: org.apiKey })).status).toBe(429);
    // Move every counter into an earlier window: the next request starts a fresh one.
    await db.owner.execute(
      sql`update rate_limit_counters set window_start = window_start - interval '1 hour'`,
    );
    const fresh = await replica.request("/api/v1/me", { apiKey: org.apiKey });
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get("ratelimit-remaining")).toBe("2");
  });

  it("stores no email or address in clear in the counter keys", async () => {
    const email = `clear-${randomUUID()}@example.test`;
    const ip = randomIp();
    await attempt(email, "password", ip);
    const rows = await db.owner.execute<{ key: string }>(sql`select key from rate_limit_counters`);
    const keys = rows.map((r) => r.key).join("\n");
    expect(keys).not.toContain(email);
    expect(keys).not.toContain(ip);
  });

  it("applies each class's own window (export: 5 per 5 minutes)", async () => {
    const subject = `org:${randomUUID()}`;
    let last = await t.accounts.limiter.hit("export", [subject]);
    for (let i = 0; i < 4; i++) last = await t.accounts.limiter.hit("export", [subject]);
    expect(last).toMatchObject({ allowed: true, limit: 5, remaining: 0 });
    expect(last.resetSeconds).toBeLessThanOrEqual(300);
    const over = await t.accounts.limiter.hit("export", [subject]);
    expect(over.allowed).toBe(false);
    const ai = await t.accounts.limiter.hit("ai", [subject]);
    expect(ai).toMatchObject({ allowed: true, limit: 20, remaining: 19 });
    expect(ai.resetSeconds).toBeLessThanOrEqual(60);
  });
});
