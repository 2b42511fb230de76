import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One Web API call as the fake received it; `args` are the decoded form (or JSON) arguments. */
export interface SlackCall {
  method: string;
  args: Record<string, unknown>;
  authorization: string;
  contentType: string;
  at: number;
  /** HTTP status the fake answered with. */
  status: number;
  /** Slack's `error` when `ok` was false. */
  error?: string;
}

export interface SlackStoredMessage {
  channel: string;
  ts: string;
  threadTs: string | null;
  text: string;
  blocks: Array<Record<string, unknown>>;
  /** Every version, oldest first (chat.update adds one). */
  edits: number;
}

type Override =
  | { kind: "ratelimit"; retryAfter: number }
  | { kind: "error"; error: string }
  | { kind: "http"; status: number };

export interface FakeSlack {
  /** The integration's `apiBaseUrl`: the client posts to `${apiBaseUrl}/chat.postMessage`, … */
  apiBaseUrl: string;
  calls: SlackCall[];
  messages: SlackStoredMessage[];
  /** Slack user id → e-mail, as users.info answers it. */
  users: Map<string, string>;
  /** Channels the bot is not a member of: chat.postMessage answers not_in_channel until conversations.join. */
  notInChannel: Set<string>;
  /** Answer the next `times` calls of `method` with 429 and Retry-After. */
  rateLimitNext(method: string, retryAfterSeconds: number, times?: number): void;
  /** Answer the next `times` calls of `method` with `{ok: false, error}` (HTTP 200, as Slack does). */
  failNext(method: string, error: string, times?: number): void;
  /** Answer the next `times` calls of `method` with a bare HTTP status (a proxy or outage). */
  httpErrorNext(method: string, status: number, times?: number): void;
  callsOf(method: string): SlackCall[];
  /** Resolves once `count` calls of `method` were answered, or rejects after `timeoutMs`. */
  waitFor(method: string, count?: number, timeoutMs?: number): Promise<SlackCall[]>;
  close(): Promise<void>;
}

const CHANNEL_ID = /^[CG][A-Z0-9]{6,20}$/;

/** A stable id for `#name`, as Slack answers with the channel id whatever was asked. */
function channelId(channel: string): string {
  if (CHANNEL_ID.test(channel)) return channel;
  return `C${createHash("sha256").update(channel).digest("hex").slice(0, 9).toUpperCase()}`;
}

/** Form values are strings; Slack's client sends objects and arrays (blocks) JSON-encoded. */
function decodeForm(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    if (value.startsWith("[") || value.startsWith("{")) {
      try {
        out[key] = JSON.parse(value);
        continue;
      } catch {
        // keep the text
      }
    }
    out[key] = value;
  }
  return out;
}

/**
 * Slack's Web API on 127.0.0.1 for the methods Causeway calls (chat.postMessage, chat.update, users.info,
 * conversations.join), in Slack's shape: POST `/api/<method>`, `Authorization: Bearer <bot token>`, form
 * or JSON arguments, HTTP 200 with `{ok: false, error}` for API errors and 429 with `Retry-After` for rate
 * limits. Messages are kept so updates can be checked against the original ts.
 */
export async function startFakeSlack(options: { botToken: string }): Promise<FakeSlack> {
  const calls: SlackCall[] = [];
  const messages: SlackStoredMessage[] = [];
  const users = new Map<string, string>();
  const notInChannel = new Set<string>();
  const overrides = new Map<string, Override[]>();
  const waiters = new Set<() => void>();
  let tsCounter = 0;
  const nextTs = () => {
    tsCounter += 1;
    return `${Math.floor(Date.now() / 1000)}.${String(tsCounter).padStart(6, "0")}`;
  };

  const answer = (
    res: ServerResponse,
    call: SlackCall,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    call.status = status;
    const b = body as { ok?: boolean; error?: string } | undefined;
    if (b && b.ok === false) call.error = b.error;
    calls.push(call);
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
    res.end(JSON.stringify(body ?? {}));
    for (const w of waiters) w();
  };

  const handle = (method: string, args: Record<string, unknown>): unknown => {
    switch (method) {
      case "chat.postMessage": {
        const asked = String(args["channel"] ?? "");
        if (!asked) return { ok: false, error: "channel_not_found" };
        const channel = channelId(asked);
        if (notInChannel.has(asked) || notInChannel.has(channel))
          return { ok: false, error: "not_in_channel" };
        if (!args["text"] && !args["blocks"]) return { ok: false, error: "no_text" };
        const threadTs = typeof args["thread_ts"] === "string" ? args["thread_ts"] : null;
        if (threadTs && !messages.some((m) => m.channel === channel && m.ts === threadTs))
          return { ok: false, error: "thread_not_found" };
        const message: SlackStoredMessage = {
          channel,
          ts: nextTs(),
          threadTs,
          text: String(args["text"] ?? ""),
          blocks: Array.isArray(args["blocks"]) ? (args["blocks"] as Array<Record<string, unknown>>) : [],
          edits: 0,
        };
        messages.push(message);
        return {
          ok: true,
          channel,
          ts: message.ts,
          message: { type: "message", text: message.text, ts: message.ts, blocks: message.blocks },
        };
      }
      case "chat.update": {
        const channel = channelId(String(args["channel"] ?? ""));
        const message = messages.find((m) => m.channel === channel && m.ts === args["ts"]);
        if (!message) return { ok: false, error: "message_not_found" };
        message.text = String(args["text"] ?? message.text);
        if (Array.isArray(args["blocks"])) message.blocks = args["blocks"] as Array<Record<string, unknown>>;
        message.edits += 1;
        return { ok: true, channel, ts: message.ts, text: message.text };
      }
      case "users.info": {
        const id = String(args["user"] ?? "");
        const email = users.get(id);
        if (email === undefined) return { ok: false, error: "user_not_found" };
        return {
          ok: true,
          user: { id, team_id: "T0FAKE", name: email.split("@")[0], profile: { email, real_name: id } },
        };
      }
      case "conversations.join": {
        const asked = String(args["channel"] ?? "");
        const channel = channelId(asked);
        notInChannel.delete(asked);
        notInChannel.delete(channel);
        return { ok: true, channel: { id: channel, is_member: true } };
      }
      default:
        return { ok: false, error: "unknown_method" };
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://fake");
      const method = url.pathname.replace(/^\/api\//, "");
      const text = Buffer.concat(chunks).toString("utf8");
      const contentType = String(req.headers["content-type"] ?? "");
      let args: Record<string, unknown> = {};
      if (contentType.includes("application/json")) {
        try {
          args = JSON.parse(text) as Record<string, unknown>;
        } catch {
          args = {};
        }
      } else {
        args = decodeForm(text);
      }
      const call: SlackCall = {
        method,
        args,
        authorization: String(req.headers.authorization ?? ""),
        contentType,
        at: Date.now(),
        status: 0,
      };
      if (req.method !== "POST" || !url.pathname.startsWith("/api/"))
        return answer(res, call, 404, { ok: false, error: "unknown_method" });
      if (call.authorization !== `Bearer ${options.botToken}`)
        return answer(res, call, 200, { ok: false, error: "invalid_auth" });
      const override = overrides.get(method)?.shift();
      if (override?.kind === "ratelimit")
        return answer(
          res,
          call,
          429,
          { ok: false, error: "ratelimited" },
          {
            "retry-after": String(override.retryAfter),
          },
        );
      if (override?.kind === "error") return answer(res, call, 200, { ok: false, error: override.error });
      if (override?.kind === "http") return answer(res, call, override.status, { ok: false });
      return answer(res, call, 200, handle(method, args));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const push = (method: string, o: Override, times: number) => {
    const list = overrides.get(method) ?? [];
    for (let i = 0; i < times; i++) list.push(o);
    overrides.set(method, list);
  };
  const callsOf = (method: string) => calls.filter((c) => c.method === method);
  return {
    apiBaseUrl: `http://127.0.0.1:${port}/api`,
    calls,
    messages,
    users,
    notInChannel,
    rateLimitNext: (method, retryAfter, times = 1) => push(method, { kind: "ratelimit", retryAfter }, times),
    failNext: (method, error, times = 1) => push(method, { kind: "error", error }, times),
    httpErrorNext: (method, status, times = 1) => push(method, { kind: "http", status }, times),
    callsOf,
    waitFor: (method, count = 1, timeoutMs = 20_000) =>
      new Promise<SlackCall[]>((resolve, reject) => {
        const check = () => {
          const found = callsOf(method);
          if (found.length >= count) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fake Slack: ${count} × ${method} not received in ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
