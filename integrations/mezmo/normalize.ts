import { z } from "zod";
import { fingerprintOf } from "../core/hmac.ts";
import { asText, parseTime } from "../core/json.ts";
import type { NormalizeInput, NormalizeResult, Severity, Signal } from "../core/types.ts";

/*
 * Mezmo (LogDNA) webhook alert → one `log` Signal. The body is the user's template (README.md) with
 * Mustache-like tokens substituted as text: `{{name}}` (view / alert name), `{{query}}`, `{{url}}`,
 * `{{matches}}`, `{{level}}`, `{{app}}`, `{{host}}`, `{{tag}}`, `{{line}}`, plus our own literal
 * `service` / `env`. Mezmo has no "resolved" notification: every delivery is a firing, point-in-time
 * signal; the anomaly layer dedups repeats by fingerprint within its window.
 */

const scalar = z.union([z.string(), z.number(), z.boolean()]).nullish();

const payloadSchema = z.looseObject({
  name: scalar,
  query: scalar,
  url: scalar,
  matches: scalar,
  level: scalar,
  app: scalar,
  host: scalar,
  tag: scalar,
  line: scalar,
  service: scalar,
  env: scalar,
  timestamp: scalar,
});

/** A token Mezmo could not fill may arrive literally (`"{{app}}"`) or empty: both mean unset. */
function tokenValue(value: unknown): string | undefined {
  const text = asText(value);
  if (text === undefined || /^\{\{\s*[\w.]+\s*\}\}$/.test(text)) return undefined;
  return text;
}

/**
 * Log level → Severity: fatal / critical / emergency / alert → critical; error / err → high;
 * warning / warn → medium; notice / info → low; debug / trace → info. No or unknown level → medium.
 */
export function severityFromLevel(level: string | undefined): Severity {
  switch (level?.toLowerCase()) {
    case "fatal":
    case "critical":
    case "crit":
    case "emergency":
    case "emerg":
    case "alert":
      return "critical";
    case "error":
    case "err":
      return "high";
    case "warning":
    case "warn":
      return "medium";
    case "notice":
    case "info":
      return "low";
    case "debug":
    case "trace":
      return "info";
    default:
      return "medium";
  }
}

export function normalizeMezmo(input: NormalizeInput): NormalizeResult {
  const parsed = payloadSchema.safeParse(input.body);
  if (!parsed.success) return { ok: false, reason: "expected a Mezmo alert object with scalar fields" };
  const p = parsed.data;
  const name = tokenValue(p.name);
  const query = tokenValue(p.query);
  if (name === undefined && query === undefined) {
    return { ok: false, reason: "Mezmo alert without a name or query (see the template in the README)" };
  }
  const app = tokenValue(p.app);
  const level = tokenValue(p.level);
  const matches = tokenValue(p.matches);
  const line = tokenValue(p.line);
  const url = tokenValue(p.url);

  const labels: Record<string, string> = {};
  for (const [key, value] of [
    ["app", app],
    ["host", tokenValue(p.host)],
    ["tag", tokenValue(p.tag)],
    ["level", level],
    ["query", query],
    ["matches", matches],
  ] as const) {
    if (value !== undefined) labels[key] = value;
  }

  const matchCount = matches !== undefined && /^\d+$/.test(matches) ? Number(matches) : undefined;
  const signal: Signal = {
    kind: "log",
    source: "mezmo",
    // The alert (view) and its query identify the problem; the matched lines and counts vary per delivery.
    fingerprint: fingerprintOf(["mezmo", name ?? "", query ?? ""]),
    title: name ?? `Mezmo alert: ${query}`,
    severity: severityFromLevel(level),
    status: "firing",
    service: tokenValue(p.service) ?? app,
    environment: tokenValue(p.env),
    occurredAt: mezmoTime(p.timestamp) ?? input.receivedAt,
    frames: [],
    message:
      line ?? (matches !== undefined && query !== undefined ? `${matches} matches for ${query}` : undefined),
    labels,
    links: url !== undefined && /^https?:\/\//i.test(url) ? [{ rel: "view", url }] : [],
    data: { matches: matchCount, line },
  };
  return { ok: true, eventType: "alert", signals: [signal] };
}

/** An optional `timestamp` the template may add: epoch seconds or milliseconds, or ISO 8601. */
function mezmoTime(value: unknown): Date | undefined {
  const text = tokenValue(value);
  if (text === undefined) return undefined;
  if (/^\d{1,16}$/.test(text)) {
    const n = Number(text);
    const date = new Date(n < 1e11 ? n * 1000 : n);
    return Number.isNaN(date.getTime()) ? undefined : date;
  }
  return parseTime(text);
}
