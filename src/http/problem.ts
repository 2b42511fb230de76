import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { AppError, type ErrorCode, type FieldError } from "../errors.ts";

/** The only code → status table. docs/errors.md is generated from it by a test, so they cannot drift. */
export const STATUS_BY_CODE = {
  bad_request: 400,
  validation_failed: 400,
  invalid_json: 400,
  unsupported_media_type: 415,
  payload_too_large: 413,
  unauthenticated: 401,
  invalid_signature: 401,
  stale_timestamp: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  upstream_error: 502,
  upstream_timeout: 504,
  not_ready: 503,
  internal: 500,
} as const satisfies Record<ErrorCode, ContentfulStatusCode>;

export const TITLE_BY_CODE: Record<ErrorCode, string> = {
  bad_request: "Bad request",
  validation_failed: "Validation failed",
  invalid_json: "Body is not valid JSON",
  unsupported_media_type: "Unsupported media type",
  payload_too_large: "Payload too large",
  unauthenticated: "Authentication required",
  invalid_signature: "Signature verification failed",
  stale_timestamp: "Request timestamp outside the allowed window",
  forbidden: "Forbidden",
  not_found: "Not found",
  conflict: "Conflict",
  rate_limited: "Too many requests",
  upstream_error: "Upstream service error",
  upstream_timeout: "Upstream service timed out",
  not_ready: "Service not ready",
  internal: "Internal error",
};

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    code: z.string(),
    requestId: z.string().optional(),
    retryable: z.boolean().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem");

export type Problem = z.infer<typeof ProblemSchema>;

export function problemFor(
  code: ErrorCode,
  options: { detail?: string; requestId?: string; errors?: FieldError[]; retryable?: boolean } = {},
): Problem {
  const status = STATUS_BY_CODE[code];
  const problem: Problem = {
    type: `https://causeway.dev/problems/${code.replaceAll("_", "-")}`,
    title: TITLE_BY_CODE[code],
    status,
    code,
  };
  // A 5xx never carries internal detail: the cause goes to the log and Sentry, the caller gets the id.
  if (status >= 500 && code !== "upstream_error" && code !== "upstream_timeout" && code !== "not_ready") {
    problem.detail = "internal error, quote the requestId when reporting it";
  } else if (options.detail !== undefined) {
    problem.detail = options.detail;
  }
  if (options.requestId) problem.requestId = options.requestId;
  if (options.errors?.length) problem.errors = options.errors;
  if (options.retryable !== undefined) problem.retryable = options.retryable;
  return problem;
}

export function problemResponse(
  c: Context,
  problem: Problem,
  headers: Record<string, string> = {},
): Response {
  return c.body(JSON.stringify(problem), problem.status as ContentfulStatusCode, {
    ...headers,
    "Content-Type": "application/problem+json",
  });
}

/** Maps anything thrown in a handler to problem+json. Unknown errors become an opaque 500. */
export function toProblem(
  error: unknown,
  requestId: string | undefined,
): { problem: Problem; headers: Record<string, string>; unexpected: boolean } {
  if (error instanceof AppError) {
    return {
      problem: problemFor(error.code, {
        detail: error.detail,
        requestId,
        errors: error.errors,
        retryable: error.retryable,
      }),
      headers: error.headers ?? {},
      unexpected: false,
    };
  }
  if (error instanceof HTTPException) {
    const code: ErrorCode =
      error.status === 400 && /json/i.test(error.message)
        ? "invalid_json"
        : error.status === 413
          ? "payload_too_large"
          : error.status === 401
            ? "unauthenticated"
            : error.status === 404
              ? "not_found"
              : error.status === 415
                ? "unsupported_media_type"
                : error.status < 500
                  ? "bad_request"
                  : "internal";
    return { problem: problemFor(code, { requestId }), headers: {}, unexpected: error.status >= 500 };
  }
  return { problem: problemFor("internal", { requestId }), headers: {}, unexpected: true };
}

/** OpenAPI response entries for the errors a route can return. */
export function problemResponses(...codes: ErrorCode[]) {
  const out: Record<
    number,
    { description: string; content: { "application/problem+json": { schema: typeof ProblemSchema } } }
  > = {};
  for (const code of codes) {
    const status = STATUS_BY_CODE[code];
    const prev = out[status];
    out[status] = {
      description: prev ? `${prev.description}; ${TITLE_BY_CODE[code]}` : TITLE_BY_CODE[code],
      content: { "application/problem+json": { schema: ProblemSchema } },
    };
  }
  return out;
}
