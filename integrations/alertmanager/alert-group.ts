import { z } from "zod";
import { fingerprintOf } from "../core/hmac.ts";
import { asText, parseTime, toStringRecord } from "../core/json.ts";
import type { NormalizeResult, ProviderId, Severity, Signal, SignalLink } from "../core/types.ts";

/*
 * The Alertmanager notification format (`version: "4"`): a group of alerts that share a route and group
 * labels, each alert with its own status, labels, annotations, startsAt/endsAt and fingerprint. SigNoz
 * posts it byte for byte (it embeds Alertmanager) and Grafana's webhook contact point posts a superset
 * (`version: "1"`, plus dashboard/panel/silence URLs and values per alert), so all three fan out here:
 * one Signal per entry of `alerts[]`, with the status taken per alert.
 */

/** Go's zero time.Time: Alertmanager and Grafana send it for "not set" (endsAt of a firing alert). */
const GO_ZERO_TIME_PREFIX = "0001-01-01";

const optText = z.string().nullish();
const labelMap = z.record(z.string(), z.unknown());

const alertSchema = z.looseObject({
  status: optText,
  labels: labelMap,
  annotations: labelMap.nullish(),
  startsAt: optText,
  endsAt: optText,
  generatorURL: optText,
  fingerprint: optText,
  // Grafana's additions (absent from Alertmanager and SigNoz).
  silenceURL: optText,
  dashboardURL: optText,
  panelURL: optText,
  imageURL: optText,
  valueString: optText,
  values: labelMap.nullish(),
  ruleUID: optText,
});
type Alert = z.infer<typeof alertSchema>;

const groupSchema = z.looseObject({
  groupKey: optText,
  status: optText,
  receiver: optText,
  externalURL: optText,
  truncatedAlerts: z.number().nullish(),
  alerts: z.array(z.unknown()),
});
export type AlertGroup = z.infer<typeof groupSchema>;

export interface AlertGroupOptions {
  source: Extract<ProviderId, "alertmanager" | "signoz" | "grafana">;
  receivedAt: Date;
}

/** Labels that name the service, most specific first (SigNoz uses the OpenTelemetry `service_name`). */
const SERVICE_LABELS = [
  "service",
  "service_name",
  "service.name",
  "app",
  "app.kubernetes.io/name",
  "job",
  "namespace",
];
const ENVIRONMENT_LABELS = ["env", "environment", "deployment_environment", "deployment.environment"];
const RELEASE_LABELS = ["release", "version", "service_version", "service.version"];

export function parseAlertGroup(
  body: unknown,
): { ok: true; group: AlertGroup } | { ok: false; reason: string } {
  const group = groupSchema.safeParse(body);
  if (!group.success) return { ok: false, reason: "expected an alert group with an alerts[] array" };
  return { ok: true, group: group.data };
}

export function normalizeAlertGroup(group: AlertGroup, options: AlertGroupOptions): NormalizeResult {
  const groupStatus = asText(group.status)?.toLowerCase();
  const signals: Signal[] = [];
  for (const [index, raw] of group.alerts.entries()) {
    const alert = alertSchema.safeParse(raw);
    // A malformed entry fails the whole delivery so it lands in dead letters (and can be replayed) rather
    // than silently losing one alert of the group.
    if (!alert.success) return { ok: false, reason: `alerts[${index}] is not an alert with a labels object` };
    signals.push(alertSignal(alert.data, group, groupStatus, options));
  }
  return { ok: true, eventType: `group.${groupStatus ?? "unknown"}`, signals };
}

function alertSignal(
  alert: Alert,
  group: AlertGroup,
  groupStatus: string | undefined,
  { source, receivedAt }: AlertGroupOptions,
): Signal {
  const labels = toStringRecord(alert.labels);
  const annotations = toStringRecord(alert.annotations);
  const alertStatus = asText(alert.status)?.toLowerCase();
  const resolved = (alertStatus ?? groupStatus) === "resolved";
  const startsAt = goTime(alert.startsAt);
  const endsAt = goTime(alert.endsAt);
  const alertname = labels["alertname"] ?? "alert";
  const summary = annotations["summary"];
  const upstreamFingerprint = asText(alert.fingerprint);

  return {
    kind: "metric",
    source,
    fingerprint:
      upstreamFingerprint !== undefined
        ? fingerprintOf([source, "alert", upstreamFingerprint])
        : fingerprintOf([source, "labels", ...labelPairs(labels)]),
    title: summary === undefined ? alertname : `${alertname}: ${summary}`,
    severity: severityFromLabel(labels["severity"] ?? labels["priority"]),
    status: resolved ? "resolved" : "firing",
    service: firstLabel(labels, SERVICE_LABELS),
    environment: firstLabel(labels, ENVIRONMENT_LABELS),
    release: firstLabel(labels, RELEASE_LABELS),
    // A resolved alert happened when it ended; a firing one when it started.
    occurredAt: (resolved ? endsAt : startsAt) ?? receivedAt,
    frames: [],
    message: annotations["description"] ?? annotations["message"] ?? summary,
    labels,
    links: links([
      ["source", alert.generatorURL],
      ["rule", labels["ruleSource"]],
      ["runbook", annotations["runbook_url"]],
      ["dashboard", alert.dashboardURL],
      ["panel", alert.panelURL],
      ["silence", alert.silenceURL],
      ["image", alert.imageURL],
      ["external", group.externalURL],
    ]),
    data: {
      alertFingerprint: upstreamFingerprint,
      startsAt: startsAt?.toISOString(),
      endsAt: endsAt?.toISOString(),
      annotations,
      groupKey: asText(group.groupKey),
      receiver: asText(group.receiver),
      truncatedAlerts: group.truncatedAlerts ?? undefined,
      ruleUid: asText(alert.ruleUID),
      valueString: asText(alert.valueString),
      values: alert.values ?? undefined,
    },
  };
}

/**
 * `severity` label → Severity. Labels are user-defined; these are the common conventions:
 * critical / crit / fatal / emergency / page / p1 → critical; error / high / major / p2 → high;
 * warning / warn / medium / p3 → medium; low / minor / p4 → low; info / informational / none / debug / p5
 * → info. No label, or an unknown value → medium.
 */
export function severityFromLabel(value: string | undefined): Severity {
  switch (value?.trim().toLowerCase()) {
    case "critical":
    case "crit":
    case "fatal":
    case "emergency":
    case "page":
    case "p1":
      return "critical";
    case "error":
    case "high":
    case "major":
    case "p2":
      return "high";
    case "warning":
    case "warn":
    case "medium":
    case "p3":
      return "medium";
    case "low":
    case "minor":
    case "p4":
      return "low";
    case "info":
    case "informational":
    case "none":
    case "debug":
    case "p5":
      return "info";
    default:
      return "medium";
  }
}

/** Sorted `name=value` pairs: the label set as a canonical list, for a fingerprint when none was sent. */
function labelPairs(labels: Record<string, string>): string[] {
  return Object.entries(labels)
    .map(([name, value]) => `${name}=${value}`)
    .sort();
}

function firstLabel(labels: Record<string, string>, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = asText(labels[name]);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** An RFC 3339 time, with Go's zero time meaning "unset". */
export function goTime(value: string | null | undefined): Date | undefined {
  if (typeof value !== "string" || value.trim().startsWith(GO_ZERO_TIME_PREFIX)) return undefined;
  return parseTime(value);
}

function links(pairs: Array<[string, string | null | undefined]>): SignalLink[] {
  return pairs.flatMap(([rel, url]) => {
    const text = asText(url);
    return text !== undefined && /^https?:\/\//i.test(text) ? [{ rel, url: text }] : [];
  });
}
