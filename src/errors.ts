/**
 * The one error vocabulary. Services throw AppError (or a subclass) with a code from ERROR_CODES;
 * src/http/problem.ts is the only place that turns a code into an HTTP status and a problem+json body.
 */
export const ERROR_CODES = [
  "bad_request",
  "validation_failed",
  "invalid_json",
  "unsupported_media_type",
  "payload_too_large",
  "unauthenticated",
  "invalid_signature",
  "stale_timestamp",
  "forbidden",
  "not_found",
  "conflict",
  "rate_limited",
  "upstream_error",
  "upstream_timeout",
  "not_ready",
  "internal",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface FieldError {
  path: string;
  message: string;
}

export interface AppErrorOptions {
  /** Human detail safe to show to the caller. Never include secrets or internal messages. */
  detail?: string;
  errors?: FieldError[];
  /** Integration errors say whether retrying may help. */
  retryable?: boolean;
  /** Extra response headers (Retry-After, WWW-Authenticate, ...). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly detail: string | undefined;
  readonly errors: FieldError[] | undefined;
  readonly retryable: boolean | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, options: AppErrorOptions = {}) {
    super(options.detail ?? code, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.detail = options.detail;
    this.errors = options.errors;
    this.retryable = options.retryable;
    this.headers = options.headers;
  }
}

export class NotFoundError extends AppError {
  constructor(what: string) {
    super("not_found", { detail: `${what} not found` });
    this.name = "NotFoundError";
  }
}

export class ForbiddenError extends AppError {
  constructor(detail = "your role does not allow this action") {
    super("forbidden", { detail });
    this.name = "ForbiddenError";
  }
}

export class UnauthenticatedError extends AppError {
  constructor(detail = "missing or invalid credentials") {
    super("unauthenticated", { detail, headers: { "WWW-Authenticate": 'Bearer realm="causeway"' } });
    this.name = "UnauthenticatedError";
  }
}

export class ValidationError extends AppError {
  constructor(errors: FieldError[], detail = "the request did not pass validation") {
    super("validation_failed", { detail, errors });
    this.name = "ValidationError";
  }
}

/** An outbound call to a vendor failed; `retryable` tells the job runner whether to back off and retry. */
export class IntegrationError extends AppError {
  constructor(detail: string, options: { retryable: boolean; timeout?: boolean; cause?: unknown }) {
    super(options.timeout ? "upstream_timeout" : "upstream_error", {
      detail,
      retryable: options.retryable,
      cause: options.cause,
    });
    this.name = "IntegrationError";
  }
}

/** Turns zod issues into our field errors without echoing input values. */
export function fieldErrorsFromZod(
  issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>,
): FieldError[] {
  return issues.map((issue) => ({
    path: issue.path.map((p) => String(p)).join(".") || "(root)",
    message: issue.message,
  }));
}
