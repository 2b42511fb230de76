/**
 * An open-loop load generator for latency at a fixed rate.
 *
 * Requests are due at evenly spaced times (every 1000 / rate ms) whether or not earlier ones have
 * answered, over at most `connections` keep-alive sockets. Latency is measured from the time a request was
 * due, not from when a socket became free to send it, so a slow answer that holds the next request back
 * is counted against that request too (no coordinated omission). The time from the actual write to the
 * answer is reported as service time beside it.
 *
 * Why not autocannon's `overallRate`: autocannon 9 splits the rate into a per-connection quota that is
 * reset once a second, so each second starts with every connection sending as fast as it can and then
 * goes quiet (a burst, not a rate); and its coordinated-omission correction passes `1 / rate` (a rate in
 * requests per second) as the expected interval in milliseconds, so every answer of L ms is recorded
 * about L times. The first measures a different load (bursts, then an idle server), the second
 * over-weights slow answers; bench/RESULTS.md shows both generators side by side.
 *
 * It speaks HTTP/1.1 on plain sockets (one request at a time on each, keep-alive) instead of through
 * node:http's client: the request bytes are a fixed head, the per-request headers and the same body
 * buffer, and an answer is read only as far as its status and length. The generator runs on the same two
 * cores as the servers it measures; node:http's client cost it 0.18–0.25 ms of CPU per request, as much
 * as Postgres spent storing the webhook.
 */
import { connect, type Socket } from "node:net";

export interface PacedOptions {
  url: string;
  /** Requests per second, spread evenly. */
  rate: number;
  seconds: number;
  /**
   * Seconds sent at the same rate just before the measured ones and left out of every figure: the
   * sockets, pools and JIT of both ends settle in them (wrk2 calls this its calibration period).
   */
  warmupSeconds?: number;
  connections: number;
  headers: Record<string, string>;
  body: string;
  /** Extra headers for the nth request (from 1), e.g. a unique delivery id. */
  headersFor?: (n: number) => Record<string, string>;
  /** A request whose socket stays idle this long is abandoned and counted as an error. */
  timeoutMs?: number;
  /** Called per answer with its due time (ms from the start) and latency, e.g. to find stalls. */
  onSample?: (dueMs: number, latencyMs: number) => void;
}

export interface PacedResult {
  /** Measured requests answered or failed (the warm-up's are not counted anywhere). */
  sent: number;
  ok: number;
  non2xx: number;
  errors: number;
  /** Wall time from the first due time to the last answer, in seconds. */
  elapsedSeconds: number;
  /** Latency from due time to answer, ms. */
  latency: Percentiles;
  /** Latency from the write on a socket to the answer, ms. */
  service: Percentiles;
  /** How late the generator itself sent requests (its own timer and event-loop delay), ms. */
  sendLag: Percentiles;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { p50: 0, p90: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(values).sort();
  // Nearest-rank percentile: the smallest value with at least p of the samples at or below it.
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0;
  const round = (v: number) => Math.round(v * 10) / 10;
  return { p50: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), max: round(at(1)) };
}

export async function paced(options: PacedOptions): Promise<PacedResult> {
  const target = new URL(options.url);
  if (target.protocol !== "http:") throw new Error(`paced speaks plain HTTP only, not ${target.protocol}`);
  const port = Number(target.port || 80);
  const body = Buffer.from(options.body);
  const fixedHead =
    `POST ${target.pathname}${target.search} HTTP/1.1\r\nhost: ${target.host}\r\n` +
    Object.entries(options.headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join("") +
    `content-length: ${body.length}\r\n`;
  const warmup = Math.round(options.rate * (options.warmupSeconds ?? 0));
  const total = warmup + Math.max(1, Math.round(options.rate * options.seconds));
  const interval = 1000 / options.rate;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const latencies: number[] = [];
  const services: number[] = [];
  const lags: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;

  const start = performance.now();
  const measuredFrom = start + warmup * interval;
  interface Due {
    n: number;
    dueAt: number;
    measured: boolean;
  }
  const finish = (due: Due, wroteAt: number, status: number | undefined) => {
    if (!due.measured) return;
    const now = performance.now();
    if (status === undefined) errors++;
    else if (status >= 200 && status < 300) ok++;
    else non2xx++;
    latencies.push(now - due.dueAt);
    options.onSample?.(due.dueAt - measuredFrom, now - due.dueAt);
    services.push(now - wroteAt);
  };

  // Requests wait here for a free connection; at most `connections` are open, each carrying one request.
  const waiting: Due[] = [];
  const idle: Connection[] = [];
  let open = 0;
  let answered = 0;
  let allAnswered: () => void = () => {};
  const settled = () => {
    answered++;
    if (answered === total) allAnswered();
  };

  class Connection {
    private readonly socket: Socket;
    private current: { due: Due; wroteAt: number } | undefined;
    private buffered: Buffer = Buffer.alloc(0);
    private closed = false;

    constructor(first: Due) {
      open++;
      this.socket = connect({ host: target.hostname, port, noDelay: true });
      this.socket.setTimeout(timeoutMs, () => this.socket.destroy(new Error("timeout")));
      this.socket.once("connect", () => this.send(first));
      this.current = { due: first, wroteAt: first.dueAt };
      this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
      this.socket.on("error", () => {});
      this.socket.on("close", () => this.onClose());
    }

    send(due: Due): void {
      this.current = { due, wroteAt: performance.now() };
      const extra = options.headersFor?.(due.n) ?? {};
      let head = fixedHead;
      for (const name in extra) head += `${name}: ${extra[name]}\r\n`;
      this.socket.cork();
      this.socket.write(`${head}\r\n`, "latin1");
      this.socket.write(body);
      this.socket.uncork();
    }

    private onData(chunk: Buffer): void {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      let answer: ReturnType<typeof readAnswer>;
      try {
        answer = readAnswer(this.buffered);
      } catch {
        this.socket.destroy(); // an answer it cannot read: the request on it failed (onClose)
        return;
      }
      if (!answer || !this.current) return;
      this.buffered = this.buffered.subarray(answer.length);
      const { due, wroteAt } = this.current;
      this.current = undefined;
      finish(due, wroteAt, answer.status);
      settled();
      if (answer.close) this.socket.destroy();
      else this.release();
    }

    /** Takes the next waiting request, or waits for one. */
    release(): void {
      const next = waiting.shift();
      if (next) this.send(next);
      else idle.push(this);
    }

    private onClose(): void {
      if (this.closed) return;
      this.closed = true;
      open--;
      const index = idle.indexOf(this);
      if (index >= 0) idle.splice(index, 1);
      if (this.current) {
        // Refused, reset or timed out with a request on it: that request failed.
        finish(this.current.due, this.current.wroteAt, undefined);
        this.current = undefined;
        settled();
      }
      const next = waiting.shift();
      if (next) new Connection(next);
    }

    end(): void {
      this.socket.destroy();
    }
  }

  const dispatch = (due: Due) => {
    const connection = idle.pop();
    if (connection) connection.send(due);
    else if (open < options.connections) new Connection(due);
    else waiting.push(due);
  };

  const done = new Promise<void>((resolve) => {
    allAnswered = resolve;
  });
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      // Everything due by now goes out now; a late tick sends its backlog at once, as a sender would.
      while (next < total && start + next * interval <= now) {
        const measured = next >= warmup;
        if (measured) lags.push(now - (start + next * interval));
        dispatch({ n: next + 1, dueAt: start + next * interval, measured });
        next++;
      }
      if (next >= total) return resolve();
      const wait = start + next * interval - performance.now();
      setTimeout(tick, Math.max(0, Math.floor(wait)));
    };
    tick();
  });
  await done;
  const elapsedSeconds = (performance.now() - measuredFrom) / 1000;
  for (const connection of idle.splice(0)) connection.end();
  return {
    sent: ok + non2xx + errors,
    ok,
    non2xx,
    errors,
    elapsedSeconds,
    latency: percentiles(latencies),
    service: percentiles(services),
    sendLag: percentiles(lags),
  };
}

const HEAD_END = Buffer.from("\r\n\r\n");
const CRLF = Buffer.from("\r\n");

/**
 * One complete HTTP/1.1 answer at the start of `data`: its status, its length in bytes and whether the
 * server will close the connection; undefined while it is incomplete. Handles a Content-Length body and
 * a chunked one (chunk by chunk, no trailers); the body itself is not kept.
 */
export function readAnswer(data: Buffer): { status: number; length: number; close: boolean } | undefined {
  const headEnd = data.indexOf(HEAD_END);
  if (headEnd < 0) return undefined;
  const head = data.toString("latin1", 0, headEnd).toLowerCase();
  const status = Number(head.slice(9, 12));
  const close = /\r\nconnection:\s*close/.test(head);
  const bodyStart = headEnd + HEAD_END.length;
  const lengthMatch = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (lengthMatch) {
    const length = bodyStart + Number(lengthMatch[1]);
    return data.length >= length ? { status, length, close } : undefined;
  }
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) {
    let at = bodyStart;
    for (;;) {
      const lineEnd = data.indexOf(CRLF, at);
      if (lineEnd < 0) return undefined;
      const size = Number.parseInt(data.toString("latin1", at, lineEnd), 16);
      if (Number.isNaN(size)) throw new Error("malformed chunked answer");
      // The chunk's bytes and their CRLF; the last (zero-length) chunk ends with an empty line.
      at = lineEnd + CRLF.length + size + CRLF.length;
      if (data.length < at) return undefined;
      if (size === 0) return { status, length: at, close };
    }
  }
  // No length and not chunked: a 204 / 304 has no body; anything else runs to the end of the connection.
  return status === 204 || status === 304 ? { status, length: bodyStart, close } : undefined;
}
