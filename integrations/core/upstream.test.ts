import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureForStatus, fetchWithLimits, requestJson, UpstreamError } from "./upstream.ts";

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    switch (url.pathname) {
      case "/ok":
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ hello: "world", auth: req.headers.authorization ?? null }));
        return;
      case "/big":
        // No content-length: the cap has to be enforced while streaming.
        res.writeHead(200, { "content-type": "application/json" });
        for (let i = 0; i < 64; i++) res.write("x".repeat(1024));
        res.end();
        return;
      case "/slow":
        setTimeout(() => res.end("{}"), 2_000).unref();
        return;
      case "/bad-query":
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ errors: ["unknown facet @foo", "line 1"] }));
        return;
      case "/denied":
        res.writeHead(403, { "content-type": "application/json" });
        res.end(JSON.stringify({ errors: ["Forbidden"] }));
        return;
      case "/boom":
        res.writeHead(503, { "content-type": "text/plain" });
        res.end("internal stack trace here");
        return;
      case "/redirect":
        res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data" });
        res.end();
        return;
      default:
        res.writeHead(200, { "content-type": "application/json" });
        res.end("not json");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const limits = { timeoutMs: 1_000, maxBytes: 16 * 1024 };

async function failureOf(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

describe("outbound vendor calls", () => {
  it("maps statuses to failures", () => {
    expect([401, 403, 404, 429, 400, 422, 500, 503].map(failureForStatus)).toEqual([
      "unauthorized",
      "unauthorized",
      "not_found",
      "rate_limited",
      "rejected",
      "rejected",
      "server_error",
      "server_error",
    ]);
  });

  it("returns parsed JSON of a 2xx answer", async () => {
    const body = await requestJson(
      "test",
      `${base}/ok`,
      { method: "GET", headers: { authorization: "Bearer t" } },
      limits,
    );
    expect(body).toEqual({ hello: "world", auth: "Bearer t" });
  });

  it("stops reading past the byte cap", async () => {
    const error = await failureOf(fetchWithLimits("test", `${base}/big`, {}, limits));
    expect(error.failure).toBe("too_large");
    expect(error.retryable).toBe(false);
  });

  it("gives up at the deadline as a retryable timeout", async () => {
    const started = Date.now();
    const error = await failureOf(fetchWithLimits("test", `${base}/slow`, {}, { ...limits, timeoutMs: 200 }));
    expect(error.failure).toBe("timeout");
    expect(error.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("reports a refused connection as a retryable network failure", async () => {
    const error = await failureOf(fetchWithLimits("test", "http://127.0.0.1:1/", {}, limits));
    expect(error.failure).toBe("network");
    expect(error.retryable).toBe(true);
  });

  it("does not follow redirects (they could carry credential headers elsewhere)", async () => {
    const error = await failureOf(fetchWithLimits("test", `${base}/redirect`, {}, limits));
    expect(error.failure).toBe("network");
  });

  it("keeps a refused query's own message but nothing of a 5xx body", async () => {
    const rejected = await failureOf(
      requestJson("test", `${base}/bad-query`, { method: "GET", headers: {} }, limits),
    );
    expect(rejected).toMatchObject({
      failure: "rejected",
      status: 400,
      upstreamMessage: "unknown facet @foo; line 1",
    });
    const denied = await failureOf(
      requestJson("test", `${base}/denied`, { method: "GET", headers: {} }, limits),
    );
    expect(denied).toMatchObject({ failure: "unauthorized", status: 403, upstreamMessage: undefined });
    const boom = await failureOf(requestJson("test", `${base}/boom`, { method: "GET", headers: {} }, limits));
    expect(boom).toMatchObject({ failure: "server_error", status: 503, upstreamMessage: undefined });
    expect(boom.retryable).toBe(true);
    expect(boom.message).not.toContain("stack trace");
  });

  it("refuses a 2xx answer that is not JSON", async () => {
    const error = await failureOf(
      requestJson("test", `${base}/garbage`, { method: "GET", headers: {} }, limits),
    );
    expect(error.failure).toBe("invalid_response");
  });
});
