import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { captureException, flushSentry, initSentry } from "./sentry.ts";

/** A local stand-in for Sentry's ingest: records every envelope POSTed to /api/{project}/envelope/. */
async function fakeSentry() {
  const envelopes: { path: string; items: unknown[] }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let body = Buffer.concat(chunks);
      if (req.headers["content-encoding"] === "gzip") body = gunzipSync(body);
      const items = body
        .toString("utf8")
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line));
      envelopes.push({ path: req.url ?? "", items });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { envelopes, server, port: (server.address() as AddressInfo).port };
}

describe("Sentry reporting", async () => {
  const sentry = await fakeSentry();
  afterAll(() => new Promise<void>((resolve) => sentry.server.close(() => resolve())));

  it("stays off without a DSN", async () => {
    expect(await initSentry(undefined, "test")).toBe(false);
    captureException(new Error("not sent"), "req-0");
    await flushSentry(200);
    expect(sentry.envelopes).toEqual([]);
  });

  it("sends server errors with the request id, scrubbed of secrets, to the DSN's project", async () => {
    expect(await initSentry(`http://public0key@127.0.0.1:${sentry.port}/42`, "ci")).toBe(true);
    const slackToken = `xoxb-${"1234567890"}-abcdefghijklmnop`;
    const apiKey = `cw_abcdefgh_${"A".repeat(32)}`;
    captureException(
      new Error(`upstream refused ${slackToken}; caller ${apiKey}; db postgres://app:hunter2@db/causeway`),
      "req-42",
    );
    await flushSentry(5_000);
    const events = sentry.envelopes.flatMap((e) =>
      e.items.filter((item) => (item as { exception?: unknown }).exception !== undefined),
    ) as Array<{
      exception: { values: { value: string }[] };
      tags?: Record<string, string>;
      environment?: string;
    }>;
    expect(sentry.envelopes[0]?.path).toMatch(/^\/api\/42\/envelope\/\?/);
    expect(events).toHaveLength(1);
    const [event] = events;
    const message = event!.exception.values[0]!.value;
    expect(message).toContain("upstream refused [redacted]");
    expect(message).toContain("postgres://app:[redacted]@db/causeway");
    expect(event!.tags).toMatchObject({ request_id: "req-42" });
    expect(event!.environment).toBe("ci");
    const raw = JSON.stringify(sentry.envelopes);
    for (const secret of [slackToken, apiKey, "hunter2"]) expect(raw).not.toContain(secret);
  });
});
