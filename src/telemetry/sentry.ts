import { redactDeep, redactString } from "./redact.ts";

type SentrySdk = typeof import("@sentry/node");
/** Loaded only when SENTRY_DSN is set: the SDK costs about a second of start-up. */
let Sentry: SentrySdk | undefined;

/** Reports the server's own errors to Sentry when SENTRY_DSN is set, scrubbed like the logs. */
export async function initSentry(dsn: string | undefined, environment: string | undefined): Promise<boolean> {
  if (!dsn) return false;
  Sentry = await import("@sentry/node");
  Sentry.init({
    dsn,
    environment,
    sendDefaultPii: false,
    tracesSampleRate: 0,
    beforeSend(event) {
      if (event.request) {
        delete event.request.cookies;
        delete event.request.data;
        if (event.request.headers)
          event.request.headers = redactDeep(event.request.headers) as Record<string, string>;
        if (typeof event.request.query_string === "string")
          event.request.query_string = redactString(event.request.query_string);
      }
      if (event.user) event.user = event.user.id ? { id: event.user.id } : {};
      if (event.extra) event.extra = redactDeep(event.extra) as Record<string, unknown>;
      if (event.contexts) event.contexts = redactDeep(event.contexts) as typeof event.contexts;
      for (const ex of event.exception?.values ?? []) {
        if (ex.value) ex.value = redactString(ex.value);
        // Source lines around each frame and (when enabled) local variables can hold secrets too.
        for (const frame of ex.stacktrace?.frames ?? []) {
          if (frame.context_line) frame.context_line = redactString(frame.context_line);
          if (frame.pre_context) frame.pre_context = frame.pre_context.map(redactString);
          if (frame.post_context) frame.post_context = frame.post_context.map(redactString);
          if (frame.vars) frame.vars = redactDeep(frame.vars) as Record<string, unknown>;
        }
      }
      if (event.message) event.message = redactString(event.message);
      return event;
    },
    beforeBreadcrumb(crumb) {
      if (crumb.message) crumb.message = redactString(crumb.message);
      if (crumb.data) crumb.data = redactDeep(crumb.data) as Record<string, unknown>;
      return crumb;
    },
  });
  return true;
}

export function captureException(error: unknown, requestId: string | undefined): void {
  const sdk = Sentry;
  if (!sdk) return;
  sdk.withScope((scope) => {
    if (requestId) scope.setTag("request_id", requestId);
    sdk.captureException(error);
  });
}

export async function flushSentry(timeoutMs: number): Promise<void> {
  await Sentry?.flush(timeoutMs).catch(() => false);
}
