import { z } from "zod";
import { fingerprintOf } from "../core/hmac.ts";
import { parseTime } from "../core/json.ts";
import type { NormalizeInput, NormalizeResult, Severity, Signal, SignalLink } from "../core/types.ts";
import { templateValue } from "./template.ts";

/*
 * Datadog monitor notifications (Webhooks integration, the recommended payload template in README.md) →
 * one metric Signal. Every value is template text, so fields are scalars that may be empty or unfilled.
 *
 * Status comes from `$ALERT_TRANSITION`: Recovered → resolved; Triggered / Re-Triggered / Warn / Re-Warn /
 * No Data / Re-No Data / Renotify → firing. Datadog's default template has no transition, so the
 * `[Triggered …]` / `[Recovered …]` prefix of `$EVENT_TITLE` is the fallback. Other transitions (e.g.
 * the legacy "Null") and payloads that are not monitor notifications are acknowledged and ignored.
 */

const scalar = z.union([z.string(), z.number(), z.boolean()]).nullish();

const payloadSchema = z.looseObject({
  id: scalar,
  title: scalar,
  date: scalar,
  last_updated: scalar,
  event_type: scalar,
  body: scalar,
  alert_id: scalar,
  alert_cycle_key: scalar,
  aggreg_key: scalar,
  alert_transition: scalar,
  alert_type: scalar,
  alert_priority: scalar,
  alert_title: scalar,
  alert_scope: scalar,
  alert_query: scalar,
  alert_metric: scalar,
  alert_status: scalar,
  tags: scalar,
  service: scalar,
  env: scalar,
  version: scalar,
  hostname: scalar,
  link: scalar,
  snapshot: scalar,
});
type Payload = z.infer<typeof payloadSchema>;

const FIRING_TRANSITIONS = new Set([
  "triggered",
  "re-triggered",
  "warn",
  "re-warn",
  "no data",
  "re-no data",
  "renotify",
]);

const TITLE_TRANSITION =
  /\[(Re-Triggered|Triggered|Recovered|Re-Warn|Warn|Re-No Data|No Data|Renotify)\b[^\]]*\]/i;

export function normalizeDatadog(input: NormalizeInput): NormalizeResult {
  const parsed = payloadSchema.safeParse(input.body);
  if (!parsed.success)
    return { ok: false, reason: "expected a Datadog webhook payload object with scalar fields" };
  const payload = parsed.data;

  const alertId = templateValue(payload.alert_id);
  const rawTitle = templateValue(payload.title);
  const transition = templateValue(payload.alert_transition) ?? TITLE_TRANSITION.exec(rawTitle ?? "")?.[1];
  const eventKind = templateValue(payload.event_type) ?? "monitor";
  const eventType = `${eventKind}.${(transition ?? "unknown").toLowerCase().replace(/\s+/g, "_")}`;

  // Not a monitor notification (no monitor id and no transition anywhere): keep it, make nothing of it.
  if (alertId === undefined && transition === undefined) return ignored(eventType);
  const status = statusOf(transition, templateValue(payload.alert_type));
  if (status === undefined) return ignored(eventType);

  return {
    ok: true,
    eventType,
    signals: [monitorSignal(payload, alertId, rawTitle, transition, status, input)],
  };
}

function ignored(eventType: string): NormalizeResult {
  return { ok: true, signals: [], eventType, ignored: true };
}

function statusOf(
  transition: string | undefined,
  alertType: string | undefined,
): Signal["status"] | undefined {
  if (transition === undefined) return alertType?.toLowerCase() === "success" ? "resolved" : "firing";
  const normalized = transition.toLowerCase();
  if (normalized === "recovered") return "resolved";
  return FIRING_TRANSITIONS.has(normalized) ? "firing" : undefined;
}

function monitorSignal(
  payload: Payload,
  alertId: string | undefined,
  rawTitle: string | undefined,
  transition: string | undefined,
  status: Signal["status"],
  input: NormalizeInput,
): Signal {
  const tags = parseTagList(templateValue(payload.tags));
  const scope = parseTagList(templateValue(payload.alert_scope));
  const title =
    templateValue(payload.alert_title) ?? stripTransitionPrefix(rawTitle) ?? `Datadog monitor ${alertId}`;
  // The scope is the monitor group ("env:production,service:checkout-api"): one anomaly per monitor + group.
  const canonicalScope = Object.entries(scope)
    .map(([key, value]) => (value === "" ? key : `${key}:${value}`))
    .sort()
    .join(",");
  const release = templateValue(payload.version) ?? tags["version"];

  return {
    kind: "metric",
    source: "datadog",
    fingerprint:
      alertId !== undefined
        ? fingerprintOf(["datadog", "monitor", alertId, canonicalScope])
        : fingerprintOf(["datadog", "title", title, canonicalScope]),
    title,
    severity: severityOf(
      templateValue(payload.alert_priority),
      templateValue(payload.alert_type),
      transition,
    ),
    status,
    service: templateValue(payload.service) ?? scope["service"] ?? tags["service"],
    environment: templateValue(payload.env) ?? scope["env"] ?? tags["env"],
    release,
    commitSha: release !== undefined && /^[0-9a-f]{40}$/i.test(release) ? release.toLowerCase() : undefined,
    occurredAt: datadogTime(payload.date) ?? datadogTime(payload.last_updated) ?? input.receivedAt,
    frames: [],
    message: templateValue(payload.body),
    labels: { ...tags, ...scope },
    links: links([
      ["monitor", templateValue(payload.link)],
      ["snapshot", templateValue(payload.snapshot)],
    ]),
    data: {
      eventId: templateValue(payload.id),
      alertId,
      alertCycleKey: templateValue(payload.alert_cycle_key),
      aggregationKey: templateValue(payload.aggreg_key),
      transition,
      alertType: templateValue(payload.alert_type),
      priority: templateValue(payload.alert_priority),
      query: templateValue(payload.alert_query),
      metric: templateValue(payload.alert_metric),
      alertStatus: templateValue(payload.alert_status),
      hostname: templateValue(payload.hostname),
    },
  };
}

const PRIORITY_SEVERITY = new Map<string, Severity>([
  ["p1", "critical"],
  ["p2", "high"],
  ["p3", "medium"],
  ["p4", "low"],
  ["p5", "info"],
]);
const ALERT_TYPE_SEVERITY = new Map<string, Severity>([
  ["error", "high"],
  ["warning", "medium"],
  ["info", "info"],
  ["success", "info"],
]);

/**
 * Severity: the monitor priority wins (P1 → critical, P2 → high, P3 → medium, P4 → low, P5 → info); else
 * `$ALERT_TYPE` (error → high, warning → medium, info / success → info); else a Warn transition → medium;
 * else high.
 */
export function severityOf(
  priority: string | undefined,
  alertType: string | undefined,
  transition: string | undefined,
): Severity {
  const fromPriority = PRIORITY_SEVERITY.get(priority?.toLowerCase() ?? "");
  if (fromPriority !== undefined) return fromPriority;
  const fromType = ALERT_TYPE_SEVERITY.get(alertType?.toLowerCase() ?? "");
  if (fromType !== undefined) return fromType;
  if (transition !== undefined && /warn/i.test(transition)) return "medium";
  return "high";
}

/** `"env:production,monitor,service:checkout-api"` → { env: "production", monitor: "", service: "checkout-api" }. */
export function parseTagList(text: string | undefined): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const raw of (text ?? "").split(",")) {
    const tag = raw.trim();
    if (tag === "" || tag === "*") continue;
    const colon = tag.indexOf(":");
    const key = colon < 0 ? tag : tag.slice(0, colon);
    if (key === "" || key === "__proto__") continue;
    tags[key] = colon < 0 ? "" : tag.slice(colon + 1);
  }
  return tags;
}

/** `[P2] [Triggered on {…}] Checkout API error rate is high` → `Checkout API error rate is high`. */
function stripTransitionPrefix(title: string | undefined): string | undefined {
  if (title === undefined) return undefined;
  const stripped = title
    .replace(
      /^(\s*\[(?:P[1-5]|Re-Triggered|Triggered|Recovered|Re-Warn|Warn|Re-No Data|No Data|Renotify)\b[^\]]*\])+\s*/i,
      "",
    )
    .trim();
  return stripped === "" ? title : stripped;
}

/** `$DATE` is epoch milliseconds as text; accept epoch seconds and ISO 8601 too. */
function datadogTime(value: unknown): Date | undefined {
  const text = templateValue(value);
  if (text === undefined) return undefined;
  if (/^\d{1,16}$/.test(text)) {
    const n = Number(text);
    const date = new Date(n < 1e11 ? n * 1000 : n);
    return Number.isNaN(date.getTime()) ? undefined : date;
  }
  return parseTime(text);
}

function links(pairs: Array<[string, string | undefined]>): SignalLink[] {
  return pairs.flatMap(([rel, url]) =>
    url !== undefined && /^https?:\/\//i.test(url) ? [{ rel, url }] : [],
  );
}
