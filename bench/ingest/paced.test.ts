import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type PacedOptions, paced, percentiles, readAnswer } from "./paced.ts";

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** A server that answers at once, except that the first request it sees takes `firstMs`. */
async function serverWithOneSlowAnswer(firstMs: number): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = [];
  server = createServer((req, res) => {
    seen.push(String(req.headers["request-id"]));
    req.resume();
    req.on("end", () => {
      const answer = () => res.writeHead(202, { "content-type": "application/json" }).end("{}");
      if (seen.length === 1) setTimeout(answer, firstMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}/hook`, seen };
}

/** 100 requests a second for a second over one connection, each with request-id r1, r2, … */
function pace(url: string, options: Partial<PacedOptions> = {}) {
  return paced({
    url,
    rate: 100,
    seconds: 1,
    connections: 1,
    body: "{}",
    headers: { "content-type": "application/json" },
    headersFor: (n) => ({ "request-id": `r${n}` }),
    ...options,
  });
}

describe("paced load generator", () => {
  it("times requests from when they were due, so one slow answer delays the ones queued behind it", async () => {
    const { url, seen } = await serverWithOneSlowAnswer(300);
    const samples: Array<{ due: number; latency: number }> = [];
    const result = await pace(url, { onSample: (due, latency) => samples.push({ due, latency }) });
    expect(result).toMatchObject({ sent: 100, ok: 100, non2xx: 0, errors: 0 });
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => `r${i + 1}`));
    // Requests due in the first 300 ms waited for the one connection: each is late by about the rest of
    // the stall. A closed-loop generator would record one slow answer here, not about thirty.
    const late = samples.filter((s) => s.latency > 100);
    expect(late.length).toBeGreaterThanOrEqual(15);
    expect(late.every((s) => s.due < 400)).toBe(true);
    expect(result.latency.max).toBeGreaterThanOrEqual(290);
    // Write-to-answer time leaves the waiting out: only the slow request itself took long on the wire.
    expect(result.service.p90).toBeLessThan(50);
  });

  it("leaves the warm-up out of every figure", async () => {
    const { url, seen } = await serverWithOneSlowAnswer(300);
    const result = await pace(url, { warmupSeconds: 1 });
    expect(seen.length).toBe(200);
    expect(result.sent).toBe(100);
    // The slow answer was the first warm-up request; the measured second never waited for it.
    expect(result.latency.max).toBeLessThan(250);
  });

  it("counts refused connections as errors, not as answers", async () => {
    const { url } = await serverWithOneSlowAnswer(0);
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    const result = await pace(url, { rate: 50, seconds: 0.2, connections: 2 });
    expect(result).toMatchObject({ sent: 10, ok: 0, errors: 10 });
  });

  it("sends every header and the body intact, and reads chunked answers and closed connections", async () => {
    const received: Array<{ id: string; type: string; body: string }> = [];
    server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on("data", (part: Buffer) => parts.push(part));
      req.on("end", () => {
        const id = String(req.headers["request-id"]);
        received.push({
          id,
          type: String(req.headers["content-type"]),
          body: Buffer.concat(parts).toString(),
        });
        const n = Number(id.slice(1));
        if (n % 3 === 0) {
          // Chunked, in pieces written apart.
          res.writeHead(202, { "content-type": "application/json" });
          res.write('{"a":');
          setTimeout(() => res.end("1}"), 2);
        } else if (n % 3 === 1) {
          res.writeHead(n === 1 ? 500 : 202, { connection: "close" }).end("bye");
        } else {
          res.writeHead(202).end("{}");
        }
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server!.address() as AddressInfo).port}/hook?x=1`;
    const body = JSON.stringify({ title: "Café ☕", frames: Array.from({ length: 50 }, (_, i) => i) });
    const result = await pace(url, { body, rate: 200, seconds: 0.5, connections: 3 });
    expect(result).toMatchObject({ sent: 100, ok: 99, non2xx: 1, errors: 0 });
    expect(received).toHaveLength(100);
    expect(new Set(received.map((r) => r.id)).size).toBe(100);
    expect(received.every((r) => r.body === body && r.type === "application/json")).toBe(true);
  });

  it("reads an answer only once all of it has arrived", () => {
    const lengthed = Buffer.from("HTTP/1.1 202 Accepted\r\nContent-Length: 4\r\n\r\n{}{}");
    expect(readAnswer(lengthed.subarray(0, 20))).toBeUndefined();
    expect(readAnswer(lengthed.subarray(0, lengthed.length - 1))).toBeUndefined();
    expect(readAnswer(lengthed)).toEqual({ status: 202, length: lengthed.length, close: false });
    const chunked = Buffer.from(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n0\r\n\r\n\r\n0\r\n\r\n",
    );
    // "0\r\n\r\n" inside the first chunk's data is data, not the end.
    expect(readAnswer(chunked.subarray(0, chunked.length - 5))).toBeUndefined();
    expect(readAnswer(chunked)).toEqual({ status: 200, length: chunked.length, close: true });
    const next = Buffer.concat([lengthed, Buffer.from("HTTP/1.1")]);
    expect(readAnswer(next)?.length).toBe(lengthed.length);
  });

  it("takes nearest-rank percentiles", () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentiles(values)).toEqual({ p50: 50, p90: 90, p99: 99, max: 100 });
    expect(percentiles([])).toEqual({ p50: 0, p90: 0, p99: 0, max: 0 });
  });
});
