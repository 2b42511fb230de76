import { z } from "zod";
import { fingerprintOf } from "../core/hmac.ts";
import { asText, parseTime } from "../core/json.ts";
import type { NormalizeInput, NormalizeResult, Severity, Signal, SignalLink } from "../core/types.ts";

/*
 * PagerDuty v3 webhooks → Signals. Envelope: { event: { id, event_type, resource_type, occurred_at, agent,
 * client, data } }, exactly one event per delivery; `data` is the incident for `incident.*` events.
 *
 *   incident.triggered, incident.reopened, incident.unacknowledged → metric Signal, firing
 *   incident.acknowledged → firing too (someone is on it, the problem is not over), labelled acknowledged
 *   incident.resolved → resolved: closes the anomaly the trigger opened
 *   anything else (escalated, annotated, priority_updated, service.*, …) → stored, acknowledged, ignored
 *
 * The fingerprint is the PagerDuty incident id, so every transition of one incident lands on one anomaly.
 * PagerDuty knows nothing about stacks, releases or environments; it is a paging layer, so the kind is
 * "metric" (a non-stack alert) and the upstream tool that fired (client.name) is kept as a label.
 */

/** Event types that carry an incident in `data` and mean something for the anomaly's life. */
const INCIDENT_STATUS = {
  "incident.triggered": "triggered",
  "incident.reopened": "triggered",
  "incident.unacknowledged": "triggered",
  "incident.acknowledged": "acknowledged",
  "incident.resolved": "resolved",
} as const;
type IncidentEventType = keyof typeof INCIDENT_STATUS;

const optText = z.string().nullish();
const referenceSchema = z.looseObject({ id: optText, summary: optText, html_url: optText }).nullish();

const envelopeSchema = z.looseObject({
  event: z.looseObject({
    id: optText,
    event_type: z.string(),
    occurred_at: optText,
    agent: referenceSchema,
    client: z.looseObject({ name: optText }).nullish(),
    data: z.unknown(),
  }),
});

const incidentSchema = z.looseObject({
  id: z.string().min(1),
  number: z.number().nullish(),
  title: optText,
  html_url: optText,
  incident_key: optText,
  created_at: optText,
  urgency: optText,
  priority: referenceSchema,
  service: referenceSchema,
  escalation_policy: referenceSchema,
});

/** PagerDuty urgency → Severity: high → high, low → low; missing or unknown → medium. */
export function severityFromUrgency(urgency: string | null | undefined): Severity {
  switch (urgency?.toLowerCase()) {
    case "high":
      return "high";
    case "low":
      return "low";
    default:
      return "medium";
  }
}

export function normalizePagerDuty(input: NormalizeInput): NormalizeResult {
  const envelope = envelopeSchema.safeParse(input.body);
  if (!envelope.success)
    return { ok: false, reason: "expected a PagerDuty v3 envelope { event: { event_type } }" };
  const event = envelope.data.event;
  const eventType = event.event_type;
  if (!Object.hasOwn(INCIDENT_STATUS, eventType)) return ignored(eventType);
  const incident = incidentSchema.safeParse(event.data);
  if (!incident.success) return { ok: false, reason: `${eventType} without an incident in event.data` };

  const status = INCIDENT_STATUS[eventType as IncidentEventType];
  const data = incident.data;
  const labels: Record<string, string> = { pagerduty_status: status };
  for (const [name, value] of [
    ["pagerduty_urgency", data.urgency],
    ["pagerduty_priority", data.priority?.summary],
    ["pagerduty_incident_number", data.number],
    ["pagerduty_service_id", data.service?.id],
    ["pagerduty_escalation_policy", data.escalation_policy?.summary],
    ["pagerduty_client", event.client?.name],
  ] as const) {
    const text = asText(value);
    if (text !== undefined) labels[name] = text;
  }

  const signal: Signal = {
    kind: "metric",
    source: "pagerduty",
    fingerprint: fingerprintOf(["pagerduty", "incident", data.id]),
    title: asText(data.title) ?? `PagerDuty incident ${asText(data.number) ?? data.id}`,
    severity: severityFromUrgency(data.urgency),
    status: status === "resolved" ? "resolved" : "firing",
    service: asText(data.service?.summary),
    occurredAt: parseTime(event.occurred_at) ?? parseTime(data.created_at) ?? input.receivedAt,
    frames: [],
    labels,
    links: links([
      ["incident", data.html_url],
      ["service", data.service?.html_url],
    ]),
    data: {
      eventId: asText(event.id),
      incidentId: data.id,
      incidentNumber: data.number ?? undefined,
      incidentKey: asText(data.incident_key),
      agent: asText(event.agent?.summary),
    },
  };
  return { ok: true, eventType, signals: [signal] };
}

function ignored(eventType: string): NormalizeResult {
  return { ok: true, signals: [], eventType, ignored: true };
}

function links(pairs: ReadonlyArray<readonly [string, string | null | undefined]>): SignalLink[] {
  return pairs.flatMap(([rel, url]) => {
    const text = asText(url);
    return text !== undefined && /^https?:\/\//i.test(text) ? [{ rel, url: text }] : [];
  });
}
