/** Defensive JSON parsing of raw request bytes: never throws, rejects invalid UTF-8. */

const decoder = new TextDecoder("utf-8", { fatal: true });

export type ParsedJson = { ok: true; value: unknown } | { ok: false };

export function parseJsonBytes(raw: Uint8Array): ParsedJson {
  try {
    const text = decoder.decode(raw);
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** Narrowing helper: a plain JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A scalar JSON value as non-empty text: strings are trimmed, finite numbers and booleans are stringified,
 * anything else (objects, arrays, null, "", whitespace) is undefined. Vendors that render templates send
 * numbers as strings and vice versa; this keeps both.
 */
export function asText(value: unknown): string | undefined {
  if (typeof value === "string") {
    const trimmed = value.trim();
    return trimmed.length > 0 ? trimmed : undefined;
  }
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "boolean") return String(value);
  return undefined;
}

/** The scalar entries of an object as a string map (non-scalars dropped); anything else is `{}`. */
export function toStringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isJsonObject(value)) return out;
  for (const [key, raw] of Object.entries(value)) {
    if (key === "__proto__") continue;
    if (typeof raw === "string") out[key] = raw;
    else if (typeof raw === "number" || typeof raw === "boolean") out[key] = String(raw);
  }
  return out;
}

/** An RFC 3339 / ISO 8601 timestamp as a valid Date; anything else (including Invalid Date) is undefined. */
export function parseTime(value: unknown): Date | undefined {
  if (typeof value !== "string" || value.trim().length === 0) return undefined;
  const date = new Date(value.trim());
  return Number.isNaN(date.getTime()) ? undefined : date;
}
