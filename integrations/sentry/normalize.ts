import { z } from "zod";
import { fingerprintOf } from "../core/hmac.ts";
import { asText, isJsonObject, parseTime } from "../core/json.ts";
import type {
  NormalizeInput,
  NormalizeResult,
  Severity,
  Signal,
  SignalLink,
  StackFrame,
} from "../core/types.ts";

/*
 * Sentry integration-platform webhooks → Signals. The resource comes from `Sentry-Hook-Resource` (or, when
 * a replay lost the header, from which key `data` carries). Envelope: { action, installation, data, actor }.
 *
 *   event_alert.triggered, error.created → one error Signal from the event (stack, release, environment)
 *   issue.created / unresolved / resolved → an error Signal keyed by the issue id (opens / closes the anomaly)
 *   metric_alert.critical / warning / open / resolved → a metric Signal keyed by the incident id
 *   anything else (installation, comment, issue.assigned, issue.ignored, …) → stored, acknowledged, ignored
 *
 * Fingerprints: every error Signal that knows its Sentry issue id uses fingerprintOf(["sentry", "issue", id]),
 * so an event alert and the later `issue.resolved` land on the same anomaly.
 */

const RESOURCE_HEADER = "sentry-hook-resource";

/** Which `data` key carries each resource we turn into signals. */
const DATA_KEYS = {
  event_alert: "event",
  error: "error",
  issue: "issue",
  metric_alert: "metric_alert",
} as const;
type KnownResource = keyof typeof DATA_KEYS;

const idSchema = z.union([z.string(), z.number()]);
const optText = z.string().nullish();

const envelopeSchema = z.looseObject({
  action: z.string(),
  data: z.looseObject({}),
});

const frameSchema = z.looseObject({
  filename: optText,
  abs_path: optText,
  lineno: z.number().nullish(),
  colno: z.number().nullish(),
  function: optText,
  module: optText,
  in_app: z.boolean().nullish(),
});

const exceptionSchema = z.looseObject({
  type: optText,
  value: optText,
  stacktrace: z.looseObject({ frames: z.array(z.unknown()).nullish() }).nullish(),
});

const eventSchema = z.looseObject({
  event_id: optText,
  issue_id: idSchema.nullish(),
  project: idSchema.nullish(),
  release: optText,
  environment: optText,
  level: optText,
  title: optText,
  message: optText,
  culprit: optText,
  platform: optText,
  datetime: optText,
  timestamp: z.number().nullish(),
  tags: z.array(z.unknown()).nullish(),
  exception: z.looseObject({ values: z.array(z.unknown()).nullish() }).nullish(),
  stacktrace: z.looseObject({ frames: z.array(z.unknown()).nullish() }).nullish(),
  metadata: z.looseObject({ type: optText, value: optText }).nullish(),
  url: optText,
  web_url: optText,
  issue_url: optText,
});
type SentryEvent = z.infer<typeof eventSchema>;

const issueSchema = z.looseObject({
  id: idSchema,
  shortId: optText,
  title: optText,
  culprit: optText,
  level: optText,
  status: optText,
  substatus: optText,
  priority: optText,
  project: z.looseObject({ id: idSchema.nullish(), slug: optText, name: optText }).nullish(),
  metadata: z.looseObject({ type: optText, value: optText, filename: optText, function: optText }).nullish(),
  firstSeen: optText,
  lastSeen: optText,
  count: idSchema.nullish(),
  userCount: z.number().nullish(),
  web_url: optText,
  project_url: optText,
});

const metricAlertSchema = z.looseObject({
  id: idSchema,
  identifier: idSchema.nullish(),
  status: z.number().nullish(),
  title: optText,
  projects: z.array(z.string()).nullish(),
  date_started: optText,
  date_detected: optText,
  date_closed: optText,
  alert_rule: z
    .looseObject({
      id: idSchema.nullish(),
      name: optText,
      environment: optText,
      aggregate: optText,
      query: optText,
      dataset: optText,
      time_window: z.number().nullish(),
      projects: z.array(z.string()).nullish(),
    })
    .nullish(),
});

const metricDataSchema = z.looseObject({
  metric_alert: metricAlertSchema,
  description_title: optText,
  description_text: optText,
  web_url: optText,
});

/**
 * Sentry level → Severity. fatal → critical; error → high; warning → medium; info → low; debug → info.
 * A missing or unknown level is treated as an error (Sentry's own default for exceptions).
 */
export function severityFromLevel(level: string | null | undefined): Severity {
  switch (level?.toLowerCase()) {
    case "fatal":
      return "critical";
    case "warning":
      return "medium";
    case "info":
      return "low";
    case "debug":
      return "info";
    default:
      return "high";
  }
}

/**
 * Metric-alert action → Severity: critical → critical, warning / open → medium, resolved → info (the
 * incident is over; the anomaly it opened keeps the severity it was opened with).
 */
function severityFromMetricAction(action: string): Severity {
  if (action === "critical") return "critical";
  if (action === "resolved") return "info";
  return "medium";
}

export function normalizeSentry(input: NormalizeInput): NormalizeResult {
  const envelope = envelopeSchema.safeParse(input.body);
  if (!envelope.success) return { ok: false, reason: "expected a Sentry webhook envelope { action, data }" };
  const { action, data } = envelope.data;

  const named = resourceName(input.headers, data);
  const eventType = `${named ?? "unknown"}.${action}`;
  if (named === undefined || !Object.hasOwn(DATA_KEYS, named)) return ignored(eventType);
  const resource = named as KnownResource;
  const key = DATA_KEYS[resource];
  if (!isJsonObject(data[key])) return { ok: false, reason: `${resource} payload without data.${key}` };

  switch (resource) {
    case "event_alert":
    case "error": {
      if (resource === "event_alert" ? action !== "triggered" : action !== "created")
        return ignored(eventType);
      const event = eventSchema.safeParse(data[key]);
      if (!event.success) return { ok: false, reason: `malformed data.${key}` };
      const rule = resource === "event_alert" ? asText(data["triggered_rule"]) : undefined;
      return { ok: true, eventType, signals: [eventSignal(event.data, rule, input.receivedAt)] };
    }
    case "issue": {
      if (action !== "created" && action !== "unresolved" && action !== "resolved") return ignored(eventType);
      const issue = issueSchema.safeParse(data[key]);
      if (!issue.success) return { ok: false, reason: "malformed data.issue" };
      return { ok: true, eventType, signals: [issueSignal(issue.data, action, input.receivedAt)] };
    }
    case "metric_alert": {
      if (!["critical", "warning", "open", "resolved"].includes(action)) return ignored(eventType);
      const metric = metricDataSchema.safeParse(data);
      if (!metric.success) return { ok: false, reason: "malformed data.metric_alert" };
      return { ok: true, eventType, signals: [metricSignal(metric.data, action, input.receivedAt)] };
    }
  }
}

function ignored(eventType: string): NormalizeResult {
  return { ok: true, signals: [], eventType, ignored: true };
}

/** The header's resource name, or (for a replayed delivery stored without it) the one `data` implies. */
function resourceName(headers: unknown, data: Record<string, unknown>): string | undefined {
  const header = isJsonObject(headers) ? asText(headers[RESOURCE_HEADER]) : undefined;
  if (header !== undefined) return header;
  for (const [resource, key] of Object.entries(DATA_KEYS)) {
    if (isJsonObject(data[key])) return resource;
  }
  return undefined;
}

function eventSignal(event: SentryEvent, rule: string | undefined, receivedAt: Date): Signal {
  const tags = tagsOf(event.tags);
  const exception = primaryException(event);
  const frames = framesOf(exception?.stacktrace?.frames ?? event.stacktrace?.frames);
  const errorType = asText(exception?.type) ?? asText(event.metadata?.type);
  const message = asText(exception?.value) ?? asText(event.metadata?.value) ?? asText(event.message);
  const project = projectSlugFromApiUrl(event.url);
  const release = asText(event.release) ?? tags["sentry:release"] ?? tags["release"];
  const issueId = event.issue_id == null ? undefined : asText(event.issue_id);
  const projectKey = project ?? (event.project == null ? "" : String(event.project));

  const labels: Record<string, string> = { ...tags };
  if (rule !== undefined) labels["sentry_rule"] = rule;
  if (event.project != null) labels["sentry_project_id"] = String(event.project);

  return {
    kind: "error",
    source: "sentry",
    fingerprint:
      issueId !== undefined
        ? issueFingerprint(issueId)
        : fingerprintOf(["sentry", "error", projectKey, errorType ?? "", topInAppFrameKey(frames)]),
    title: asText(event.title) ?? joinTitle(errorType, message) ?? "Sentry event",
    severity: severityFromLevel(event.level),
    status: "firing",
    service: project,
    environment: asText(event.environment) ?? tags["environment"],
    release,
    commitSha: commitShaOf(release),
    occurredAt: parseTime(event.datetime) ?? epochSeconds(event.timestamp) ?? receivedAt,
    frames,
    errorType,
    message,
    labels,
    links: links([
      ["event", event.web_url],
      ["event_api", event.url],
      ["issue_api", event.issue_url],
    ]),
    data: {
      eventId: asText(event.event_id),
      issueId,
      culprit: asText(event.culprit),
      platform: asText(event.platform),
    },
  };
}

function issueSignal(issue: z.infer<typeof issueSchema>, action: string, receivedAt: Date): Signal {
  const issueId = String(issue.id);
  const resolved = action === "resolved";
  const labels: Record<string, string> = {};
  const shortId = asText(issue.shortId);
  if (shortId !== undefined) labels["sentry_short_id"] = shortId;
  const priority = asText(issue.priority);
  if (priority !== undefined) labels["sentry_priority"] = priority;

  return {
    kind: "error",
    source: "sentry",
    fingerprint: issueFingerprint(issueId),
    title: asText(issue.title) ?? shortId ?? `Sentry issue ${issueId}`,
    severity: severityFromLevel(issue.level),
    status: resolved ? "resolved" : "firing",
    service: asText(issue.project?.slug),
    // A new issue dates from its first event, a regression from its latest; a resolution carries no time.
    occurredAt:
      (action === "created"
        ? parseTime(issue.firstSeen)
        : action === "unresolved"
          ? parseTime(issue.lastSeen)
          : undefined) ?? receivedAt,
    // The issue payload has no stack; metadata names the crash location but not whether it is in-app.
    frames: [],
    errorType: asText(issue.metadata?.type),
    message: asText(issue.metadata?.value),
    labels,
    links: links([
      ["issue", issue.web_url],
      ["project", issue.project_url],
    ]),
    data: {
      issueId,
      shortId,
      culprit: asText(issue.culprit),
      status: asText(issue.status),
      substatus: asText(issue.substatus),
      count: issue.count == null ? undefined : String(issue.count),
      userCount: issue.userCount ?? undefined,
      crashFile: asText(issue.metadata?.filename),
      crashFunction: asText(issue.metadata?.function),
    },
  };
}

function metricSignal(data: z.infer<typeof metricDataSchema>, action: string, receivedAt: Date): Signal {
  const incident = data.metric_alert;
  const rule = incident.alert_rule;
  const resolved = action === "resolved";
  const labels: Record<string, string> = {};
  for (const [name, value] of [
    ["sentry_rule_id", rule?.id],
    ["sentry_rule", rule?.name],
    ["aggregate", rule?.aggregate],
    ["query", rule?.query],
    ["dataset", rule?.dataset],
    ["time_window_minutes", rule?.time_window],
    ["sentry_incident", incident.identifier],
  ] as const) {
    const text = asText(value);
    if (text !== undefined) labels[name] = text;
  }

  return {
    kind: "metric",
    source: "sentry",
    // One Sentry metric incident spans critical → warning → resolved, so its id is the anomaly key.
    fingerprint: fingerprintOf(["sentry", "metric_alert", String(incident.id)]),
    title:
      asText(rule?.name) ?? asText(incident.title) ?? asText(data.description_title) ?? "Sentry metric alert",
    severity: severityFromMetricAction(action),
    status: resolved ? "resolved" : "firing",
    service: asText(incident.projects?.[0]) ?? asText(rule?.projects?.[0]),
    environment: asText(rule?.environment),
    occurredAt:
      (resolved
        ? parseTime(incident.date_closed)
        : (parseTime(incident.date_detected) ?? parseTime(incident.date_started))) ?? receivedAt,
    frames: [],
    message: asText(data.description_text),
    labels,
    links: links([["alert", data.web_url]]),
    data: {
      incidentId: String(incident.id),
      status: incident.status ?? undefined,
      descriptionTitle: asText(data.description_title),
    },
  };
}

function issueFingerprint(issueId: string): string {
  return fingerprintOf(["sentry", "issue", issueId]);
}

/** The outermost exception is the last entry of `exception.values`; fall back to any entry with frames. */
function primaryException(event: SentryEvent): z.infer<typeof exceptionSchema> | undefined {
  const values = (event.exception?.values ?? [])
    .map((value) => exceptionSchema.safeParse(value))
    .flatMap((parsed) => (parsed.success ? [parsed.data] : []));
  const last = values.at(-1);
  if (last === undefined || (last.stacktrace?.frames?.length ?? 0) > 0) return last;
  const withFrames = values.findLast((value) => (value.stacktrace?.frames?.length ?? 0) > 0);
  return withFrames === undefined ? last : { ...withFrames, type: last.type, value: last.value };
}

/** Sentry lists frames oldest first, crash site last; Signals want the crash site first. */
function framesOf(rawFrames: unknown[] | null | undefined): StackFrame[] {
  const frames: StackFrame[] = [];
  for (const raw of rawFrames ?? []) {
    const parsed = frameSchema.safeParse(raw);
    if (!parsed.success) continue;
    const f = parsed.data;
    const file = asText(f.filename) ?? asText(f.abs_path) ?? asText(f.module);
    if (file === undefined) continue;
    frames.push({
      file,
      absPath: asText(f.abs_path),
      line: positiveInt(f.lineno),
      column: positiveInt(f.colno),
      function: asText(f.function),
      module: asText(f.module),
      inApp: f.in_app === true,
    });
  }
  return frames.reverse();
}

function topInAppFrameKey(frames: StackFrame[]): string {
  // Line numbers move between releases, so the fallback fingerprint uses file and function only.
  const top = frames.find((frame) => frame.inApp) ?? frames[0];
  return top === undefined ? "" : `${top.file}:${top.function ?? ""}`;
}

/** Sentry sends tags as `[key, value]` pairs; some serializers emit `{ key, value }` objects instead. */
function tagsOf(rawTags: unknown[] | null | undefined): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const tag of rawTags ?? []) {
    const [key, value] = Array.isArray(tag)
      ? [asText(tag[0]), asText(tag[1])]
      : isJsonObject(tag)
        ? [asText(tag["key"]), asText(tag["value"])]
        : [undefined, undefined];
    if (key !== undefined && value !== undefined && key !== "__proto__") tags[key] = value;
  }
  return tags;
}

/** `url` is the API address of the event: /api/0/projects/{org}/{project}/events/{id}/. */
function projectSlugFromApiUrl(url: string | null | undefined): string | undefined {
  const match = /\/api\/0\/projects\/[^/]+\/([^/?#]+)\/events\//.exec(url ?? "");
  const slug = match?.[1];
  if (slug === undefined) return undefined;
  try {
    return decodeURIComponent(slug);
  } catch {
    return slug;
  }
}

/** Releases are often a commit SHA or `package@sha`; only a full 40-hex SHA counts as a commit. */
function commitShaOf(release: string | undefined): string | undefined {
  const match = /(?:^|[@+_/-])([0-9a-f]{40})$/i.exec(release ?? "");
  return match?.[1]?.toLowerCase();
}

function joinTitle(type: string | undefined, message: string | undefined): string | undefined {
  if (type !== undefined && message !== undefined) return `${type}: ${message}`;
  return type ?? message;
}

function links(pairs: Array<[string, string | null | undefined]>): SignalLink[] {
  return pairs.flatMap(([rel, url]) => {
    const text = asText(url);
    return text !== undefined && /^https?:\/\//i.test(text) ? [{ rel, url: text }] : [];
  });
}

function epochSeconds(value: number | null | undefined): Date | undefined {
  if (typeof value !== "number" || !Number.isFinite(value)) return undefined;
  const date = new Date(value * 1000);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function positiveInt(value: number | null | undefined): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined;
}
