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
 */
import { Agent, request } from "node:http";

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
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const body = Buffer.from(options.body);
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
  const send = (n: number, dueAt: number, measured: boolean) =>
    new Promise<void>((resolve) => {
      let wroteAt = dueAt;
      let done = false;
      const finish = (status: number | undefined) => {
        if (done) return;
        done = true;
        const now = performance.now();
        if (!measured) return resolve();
        if (status === undefined) errors++;
        else if (status >= 200 && status < 300) ok++;
        else non2xx++;
        latencies.push(now - dueAt);
        options.onSample?.(dueAt - measuredFrom, now - dueAt);
        services.push(now - wroteAt);
        resolve();
      };
      const req = request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname + target.search,
          method: "POST",
          headers: {
            ...options.headers,
            ...options.headersFor?.(n),
            "content-length": String(body.length),
          },
        },
        (res) => {
          res.on("data", () => {});
          res.on("end", () => finish(res.statusCode));
          res.on("error", () => finish(undefined));
        },
      );
      req.on("socket", (socket) => {
        const mark = () => {
          wroteAt = performance.now();
        };
        if (socket.connecting) socket.once("connect", mark);
        else mark();
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error("timeout")));
      req.on("error", () => finish(undefined));
      req.end(body);
    });

  const inFlight: Promise<void>[] = [];
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      // Everything due by now goes out now; a late tick sends its backlog at once, as a sender would.
      while (next < total && start + next * interval <= now) {
        const measured = next >= warmup;
        if (measured) lags.push(now - (start + next * interval));
        inFlight.push(send(next + 1, start + next * interval, measured));
        next++;
      }
      if (next >= total) return resolve();
      const wait = start + next * interval - performance.now();
      setTimeout(tick, Math.max(0, Math.floor(wait)));
    };
    tick();
  });
  await Promise.all(inFlight);
  const elapsedSeconds = (performance.now() - measuredFrom) / 1000;
  agent.destroy();
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
