import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fingerprintOf } from "../core/hmac.ts";
import type { NormalizeInput, NormalizeResult } from "../core/types.ts";
import { normalizePagerDuty, severityFromUrgency } from "./normalize.ts";

const RECEIVED_AT = new Date("2026-03-10T15:00:00Z");

function fixture(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"));
}

function input(body: unknown): NormalizeInput {
  return { body, headers: { "content-type": "application/json" }, config: {}, receivedAt: RECEIVED_AT };
}

const FINGERPRINT = fingerprintOf(["pagerduty", "incident", "Q2K8ZL4RW9XN1B"]);
const LINKS = [
  { rel: "incident", url: "https://causeway-demo.pagerduty.com/incidents/Q2K8ZL4RW9XN1B" },
  { rel: "service", url: "https://causeway-demo.pagerduty.com/services/PSVC7Q2" },
];

describe("normalizePagerDuty", () => {
  it("turns incident.triggered into a firing signal keyed by the incident id", () => {
    expect(normalizePagerDuty(input(fixture("incident-triggered.json")))).toEqual({
      ok: true,
      eventType: "incident.triggered",
      signals: [
        {
          kind: "metric",
          source: "pagerduty",
          fingerprint: FINGERPRINT,
          title: "Checkout p95 latency > 2s — eu-west-1",
          severity: "high",
          status: "firing",
          service: "checkout-api",
          occurredAt: new Date("2026-03-10T14:06:02.318Z"),
          frames: [],
          labels: {
            pagerduty_status: "triggered",
            pagerduty_urgency: "high",
            pagerduty_priority: "P1",
            pagerduty_incident_number: "4711",
            pagerduty_service_id: "PSVC7Q2",
            pagerduty_escalation_policy: "Payments on-call",
            pagerduty_client: "Datadog",
          },
          links: LINKS,
          data: {
            eventId: "01EGK4V7ZQ3F8H2N6M9R0T1W5Y",
            incidentId: "Q2K8ZL4RW9XN1B",
            incidentNumber: 4711,
            incidentKey: "dd-monitor-88213-checkout-latency",
            agent: "checkout-api",
          },
        },
      ],
    } satisfies NormalizeResult);
  });

  it("keeps an acknowledged incident firing on the same fingerprint and labels it acknowledged", () => {
    const result = normalizePagerDuty(input(fixture("incident-acknowledged.json")));
    expect(result).toEqual({
      ok: true,
      eventType: "incident.acknowledged",
      signals: [
        {
          kind: "metric",
          source: "pagerduty",
          fingerprint: FINGERPRINT,
          title: "Checkout p95 latency > 2s — eu-west-1",
          severity: "high",
          status: "firing",
          service: "checkout-api",
          occurredAt: new Date("2026-03-10T14:09:45.902Z"),
          frames: [],
          labels: {
            pagerduty_status: "acknowledged",
            pagerduty_urgency: "high",
            pagerduty_priority: "P1",
            pagerduty_incident_number: "4711",
            pagerduty_service_id: "PSVC7Q2",
            pagerduty_escalation_policy: "Payments on-call",
          },
          links: LINKS,
          data: {
            eventId: "01EGK5C2H8M4P6R1T3V5X7Z9B0",
            incidentId: "Q2K8ZL4RW9XN1B",
            incidentNumber: 4711,
            incidentKey: "dd-monitor-88213-checkout-latency",
            agent: "Ines Okafor",
          },
        },
      ],
    } satisfies NormalizeResult);
  });

  it("turns incident.resolved into a resolved signal on the same fingerprint", () => {
    expect(normalizePagerDuty(input(fixture("incident-resolved.json")))).toEqual({
      ok: true,
      eventType: "incident.resolved",
      signals: [
        {
          kind: "metric",
          source: "pagerduty",
          fingerprint: FINGERPRINT,
          title: "Checkout p95 latency > 2s — eu-west-1",
          severity: "low",
          status: "resolved",
          service: "checkout-api",
          occurredAt: new Date("2026-03-10T14:41:12.077Z"),
          frames: [],
          labels: {
            pagerduty_status: "resolved",
            pagerduty_urgency: "low",
            pagerduty_incident_number: "4711",
            pagerduty_service_id: "PSVC7Q2",
            pagerduty_escalation_policy: "Payments on-call",
          },
          links: LINKS,
          data: {
            eventId: "01EGK6N9Q1S3U5W7Y9A2C4E6G8",
            incidentId: "Q2K8ZL4RW9XN1B",
            incidentNumber: 4711,
            incidentKey: "dd-monitor-88213-checkout-latency",
            agent: "Ines Okafor",
          },
        },
      ],
    } satisfies NormalizeResult);
  });

  it("treats reopened and unacknowledged as firing again", () => {
    for (const eventType of ["incident.reopened", "incident.unacknowledged"]) {
      const body = fixture("incident-resolved.json") as { event: { event_type: string } };
      body.event.event_type = eventType;
      const result = normalizePagerDuty(input(body));
      expect(result.ok && result.signals[0]?.status).toBe("firing");
      expect(result.ok && result.signals[0]?.labels["pagerduty_status"]).toBe("triggered");
    }
  });

  it.each([
    "incident.escalated",
    "incident.annotated",
    "incident.priority_updated",
    "service.updated",
    "pagey.ping",
  ])("stores and ignores %s", (eventType) => {
    const body = fixture("incident-triggered.json") as { event: { event_type: string } };
    body.event.event_type = eventType;
    expect(normalizePagerDuty(input(body))).toEqual({ ok: true, signals: [], eventType, ignored: true });
  });

  it("falls back to the incident's creation time, then to the receive time", () => {
    const body = fixture("incident-triggered.json") as { event: Record<string, unknown> };
    body.event["occurred_at"] = "not a time";
    const first = normalizePagerDuty(input(body));
    expect(first.ok && first.signals[0]?.occurredAt).toEqual(new Date("2026-03-10T14:06:01Z"));
    (body.event["data"] as Record<string, unknown>)["created_at"] = null;
    const second = normalizePagerDuty(input(body));
    expect(second.ok && second.signals[0]?.occurredAt).toEqual(RECEIVED_AT);
  });

  it("refuses an incident event without an incident, and a body that is not a v3 envelope", () => {
    expect(normalizePagerDuty(input({ event: { event_type: "incident.triggered", data: {} } }))).toEqual({
      ok: false,
      reason: "incident.triggered without an incident in event.data",
    });
    expect(normalizePagerDuty(input({ messages: [] })).ok).toBe(false);
    expect(normalizePagerDuty(input(null)).ok).toBe(false);
  });

  it("maps urgency to severity", () => {
    expect(severityFromUrgency("high")).toBe("high");
    expect(severityFromUrgency("LOW")).toBe("low");
    expect(severityFromUrgency(undefined)).toBe("medium");
    expect(severityFromUrgency("urgent")).toBe("medium");
  });

  it("never throws on arbitrary JSON, nor on envelopes with arbitrary incident data", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        const result = normalizePagerDuty(input(body));
        expect(typeof result.ok).toBe("boolean");
      }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(
          "incident.triggered",
          "incident.acknowledged",
          "incident.resolved",
          "incident.escalated",
        ),
        fc.jsonValue(),
        fc.jsonValue(),
        (eventType, data, occurredAt) => {
          const result = normalizePagerDuty(
            input({ event: { event_type: eventType, occurred_at: occurredAt, data } }),
          );
          if (result.ok) {
            for (const signal of result.signals)
              expect(Number.isNaN(signal.occurredAt.getTime())).toBe(false);
          }
        },
      ),
    );
  });
});
