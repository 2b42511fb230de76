import pino, { type DestinationStream, type Logger } from "pino";
import { REDACTED, redactDeep, redactString } from "./redact.ts";

export type { Logger };

/**
 * Errors are logged as type, message, code and stack only: driver errors carry whole client objects
 * (connection parameters included) that have no place in a log line.
 */
export function serializeError(error: unknown, depth = 0): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: redactString(String(error)) };
  const out: Record<string, unknown> = { type: error.name, message: redactString(error.message) };
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" || typeof code === "number") out.code = code;
  if (error.stack) out.stack = redactString(error.stack);
  if (error.cause !== undefined && depth < 3) out.cause = serializeError(error.cause, depth + 1);
  return out;
}

/**
 * JSON logs with secrets removed twice: by path for the places we know (headers, bodies of auth calls)
 * and by a formatter that scrubs secret-named keys and secret-looking strings everywhere else.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "causeway" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          "req.headers.authorization",
          "req.headers.cookie",
          "req.headers['x-api-key']",
          'res.headers["set-cookie"]',
          "*.password",
          "*.secret",
          "*.token",
        ],
        censor: REDACTED,
      },
      formatters: {
        // Errors are serialized here, whatever their key: pino runs this formatter before any serializer,
        // and a deep copy of an Error keeps only its enumerable fields (no message, no stack).
        log: (object) =>
          redactDeep(
            Object.fromEntries(
              Object.entries(object).map(([k, v]) => [k, v instanceof Error ? serializeError(v) : v]),
            ),
          ) as Record<string, unknown>,
      },
      // Replaces pino's default `err` serializer, which would re-wrap the formatter's output.
      serializers: { err: (value: unknown) => (value instanceof Error ? serializeError(value) : value) },
      hooks: {
        logMethod(args, method) {
          // The message string itself may carry a secret (an upstream error text, say).
          const scrubbed = args.map((a) => (typeof a === "string" ? redactString(a) : a)) as typeof args;
          method.apply(this, scrubbed);
        },
      },
    },
    destination,
  );
}
