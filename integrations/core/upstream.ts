/**
 * Outbound calls to vendor APIs: a deadline, a cap on the bytes we read, and one error type that says
 * what went wrong without carrying the request (headers hold credentials) or the response body.
 */

export type UpstreamFailure =
  /** 401/403: the stored credentials were refused. */
  | "unauthorized"
  /** Another 4xx: the vendor refused the request itself (bad query, bad id). */
  | "rejected"
  | "not_found"
  | "rate_limited"
  | "server_error"
  | "timeout"
  | "network"
  | "too_large"
  | "invalid_response";

export class UpstreamError extends Error {
  readonly provider: string;
  readonly failure: UpstreamFailure;
  readonly status: number | undefined;
  /** The vendor's own short explanation for a refused request, when it gave one. May need scrubbing. */
  readonly upstreamMessage: string | undefined;

  constructor(
    provider: string,
    failure: UpstreamFailure,
    options: { status?: number; upstreamMessage?: string; cause?: unknown } = {},
  ) {
    super(
      `${provider} request failed: ${failure}${options.status === undefined ? "" : ` (HTTP ${options.status})`}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "UpstreamError";
    this.provider = provider;
    this.failure = failure;
    this.status = options.status;
    this.upstreamMessage = options.upstreamMessage;
  }

  /** Whether the same call may succeed later. */
  get retryable(): boolean {
    return ["rate_limited", "server_error", "timeout", "network"].includes(this.failure);
  }
}

export function failureForStatus(status: number): UpstreamFailure {
  if (status === 401 || status === 403) return "unauthorized";
  if (status === 404) return "not_found";
  if (status === 429) return "rate_limited";
  if (status >= 500) return "server_error";
  return "rejected";
}

export interface HttpLimits {
  /** Deadline for the whole exchange, body included. */
  timeoutMs: number;
  /** Bytes of response body we are willing to hold in memory. */
  maxBytes: number;
}

function isTimeout(error: unknown): boolean {
  let e: unknown = error;
  for (let depth = 0; e instanceof Error && depth < 4; depth++) {
    if (e.name === "TimeoutError") return true;
    e = e.cause;
  }
  return false;
}

async function readCapped(provider: string, response: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new UpstreamError(provider, "too_large", { status: response.status });
  }
  if (!response.body) return new Uint8Array();
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new UpstreamError(provider, "too_large", { status: response.status });
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * `fetch` with a deadline and a body cap. The body is read in full (up to the cap) before returning, so
 * the result is a plain buffered Response whatever the caller does with it; failures to connect, time
 * out or stay under the cap become UpstreamError. HTTP error statuses are returned, not thrown.
 */
export async function fetchWithLimits(
  provider: string,
  input: string | URL,
  init: RequestInit,
  limits: HttpLimits,
  fetchImpl: typeof fetch = fetch,
): Promise<Response> {
  const signal = init.signal
    ? AbortSignal.any([init.signal, AbortSignal.timeout(limits.timeoutMs)])
    : AbortSignal.timeout(limits.timeoutMs);
  try {
    const response = await fetchImpl(input, { ...init, signal, redirect: "error" });
    const body = await readCapped(provider, response, limits.maxBytes);
    const headers = new Headers(response.headers);
    // The bytes are already decoded; the length and encoding of the wire form no longer apply.
    headers.delete("content-encoding");
    headers.delete("content-length");
    const nullBody = response.status === 204 || response.status === 304;
    return new Response(nullBody ? null : body, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  } catch (error) {
    if (error instanceof UpstreamError) throw error;
    if (isTimeout(error)) throw new UpstreamError(provider, "timeout", { cause: error });
    throw new UpstreamError(provider, "network", { cause: error });
  }
}

/** A short, single-line excerpt of a vendor's error text, for humans. */
export function excerpt(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** Pulls a human message out of common JSON error shapes: {errors: [...]}, {message}, {error}. */
export function errorMessageOf(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const record = body as Record<string, unknown>;
  if (Array.isArray(record.errors)) {
    const parts = record.errors.map((e) =>
      typeof e === "string"
        ? e
        : typeof e === "object" && e !== null
          ? String((e as { message?: unknown }).message ?? "")
          : "",
    );
    const joined = parts.filter(Boolean).join("; ");
    if (joined) return excerpt(joined);
  }
  for (const key of ["message", "error"] as const) {
    if (typeof record[key] === "string" && record[key]) return excerpt(record[key] as string);
  }
  return undefined;
}

/**
 * Sends a JSON request and returns the parsed JSON body of a 2xx answer; any other status becomes an
 * UpstreamError that keeps the vendor's short message (for 4xx only: 5xx bodies are not for callers).
 */
export async function requestJson(
  provider: string,
  url: string | URL,
  init: { method: "GET" | "POST"; headers: Record<string, string>; body?: unknown },
  limits: HttpLimits,
  fetchImpl: typeof fetch = fetch,
): Promise<unknown> {
  const headers: Record<string, string> = { accept: "application/json", ...init.headers };
  let body: string | undefined;
  if (init.body !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(init.body);
  }
  const response = await fetchWithLimits(
    provider,
    url,
    { method: init.method, headers, body },
    limits,
    fetchImpl,
  );
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === "" ? null : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.status < 200 || response.status > 299) {
    const failure = failureForStatus(response.status);
    const upstreamMessage =
      failure === "rejected" || failure === "not_found" ? errorMessageOf(parsed) : undefined;
    throw new UpstreamError(provider, failure, { status: response.status, upstreamMessage });
  }
  if (parsed === undefined)
    throw new UpstreamError(provider, "invalid_response", { status: response.status });
  return parsed;
}
