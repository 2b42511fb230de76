import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One request as a fake vendor received it. Header names are lower-case. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
}

export interface FakeReply {
  status: number;
  body: unknown;
  /** Sent as is instead of JSON-encoding `body`. */
  raw?: string;
}

/** How the next request is answered instead of normally (one-shot). */
export type Override = { kind: "reply"; reply: FakeReply } | { kind: "hang" };

export interface RecordingServer {
  url: string;
  requests: RecordedRequest[];
  /** Answer the next request with this status and body. */
  failNext(status: number, body?: unknown): void;
  /** Never answer the next request (until the server closes). */
  hangNext(): void;
  close(): Promise<void>;
}

/**
 * A vendor API double on 127.0.0.1:0: parses JSON bodies, records every request, and answers through
 * `route` unless a one-shot override is set.
 */
export async function startRecordingServer(
  route: (req: RecordedRequest) => FakeReply,
): Promise<RecordingServer> {
  const requests: RecordedRequest[] = [];
  const overrides: Override[] = [];
  const hanging = new Set<ServerResponse>();
  const send = (res: ServerResponse, reply: FakeReply) => {
    const text = reply.raw ?? JSON.stringify(reply.body);
    res.writeHead(reply.status, { "content-type": "application/json" });
    res.end(text);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://fake");
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown = text;
      try {
        body = text === "" ? undefined : JSON.parse(text);
      } catch {
        // keep the text
      }
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === "string") headers[name] = value;
        else if (Array.isArray(value)) headers[name] = value.join(", ");
      }
      const recorded: RecordedRequest = {
        method: req.method ?? "GET",
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers,
        body,
      };
      requests.push(recorded);
      const override = overrides.shift();
      if (override?.kind === "hang") {
        hanging.add(res);
        return;
      }
      send(res, override?.kind === "reply" ? override.reply : route(recorded));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    failNext: (status, body = { errors: ["Internal Server Error"] }) =>
      overrides.push({ kind: "reply", reply: { status, body } }),
    hangNext: () => overrides.push({ kind: "hang" }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
