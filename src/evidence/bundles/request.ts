import { ValidationError } from "../../errors.ts";
import type { ExportRequest } from "./export.ts";
import type { Criterion } from "./format.ts";

/*
 * An export's period from the API's query or the CLI's flags. Kept apart from the routes so the CLI does
 * not load the HTTP stack (Hono, the OpenAPI schemas) just to parse its flags.
 */

function parseBound(value: string, end: boolean): Date {
  const date = /^\d{4}-\d{2}-\d{2}$/.test(value)
    ? new Date(`${value}T${end ? "23:59:59.999" : "00:00:00.000"}Z`)
    : new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw new ValidationError([{ path: end ? "to" : "from", message: "not a valid date" }]);
  }
  return date;
}

/** from/to (custom, UTC, inclusive) or period (last N days); both together is ambiguous and refused. */
export function resolveExportRequest(
  criterion: Criterion,
  q: {
    from?: string | undefined;
    to?: string | undefined;
    period?: string | undefined;
    redactPaths?: string | boolean;
  },
  now = new Date(),
): ExportRequest {
  const redactPaths = q.redactPaths === true || q.redactPaths === "true";
  if (q.from !== undefined || q.to !== undefined) {
    if (q.period !== undefined) {
      throw new ValidationError([{ path: "period", message: "give either period or from/to, not both" }]);
    }
    if (q.from === undefined || q.to === undefined) {
      throw new ValidationError([
        { path: q.from === undefined ? "from" : "to", message: "from and to go together" },
      ]);
    }
    return { criterion, from: parseBound(q.from, false), to: parseBound(q.to, true), redactPaths };
  }
  const days = Number(q.period ?? "30");
  if (![7, 30, 90, 365].includes(days)) {
    throw new ValidationError([{ path: "period", message: "one of 7, 30, 90, 365" }]);
  }
  return { criterion, from: new Date(now.getTime() - days * 86_400_000), to: now, redactPaths };
}
