import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fingerprintOf } from "../core/hmac.ts";
import type { NormalizeResult, Signal } from "../core/types.ts";
import { goTime, severityFromLabel } from "./alert-group.ts";
import { normalizeAlertmanager } from "./normalize.ts";

const RECEIVED_AT = new Date("2026-03-10T14:45:00Z");

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"));
}

function run(body: unknown): NormalizeResult {
  return normalizeAlertmanager({ body, headers: {}, config: {}, receivedAt: RECEIVED_AT });
}

function signalsOf(result: NormalizeResult): Signal[] {
  if (!result.ok) throw new Error(`normalize failed: ${result.reason}`);
  return result.signals;
}

const GENERATOR_URL =
  "http://prometheus-0.monitoring:9090/graph?g0.expr=histogram_quantile%280.99%2C+sum+by+%28le%2C+job%29+%28rate%28http_request_duration_seconds_bucket%5B5m%5D%29%29%29+%3E+0.5&g0.tab=1";

describe("normalizeAlertmanager", () => {
  it("fans a firing group out into one metric signal per alert", () => {
    const result = run(fixture("group-firing.json"));
    expect(result).toMatchObject({ ok: true, eventType: "group.firing" });
    const [checkout, worker] = signalsOf(result);
    expect(signalsOf(result)).toHaveLength(2);
    expect(checkout).toMatchObject({
      kind: "metric",
      source: "alertmanager",
      fingerprint: fingerprintOf(["alertmanager", "alert", "9c1f5e7a3b2d4c60"]),
      title: "HighRequestLatency: p99 latency of checkout-api is 1.84s (> 0.5s)",
      severity: "critical",
      status: "firing",
      service: "checkout-api",
      environment: "production",
      frames: [],
      message: "p99 latency of checkout-api is 1.84s (> 0.5s)",
      labels: {
        alertname: "HighRequestLatency",
        env: "production",
        job: "checkout-api",
        namespace: "shop",
        service: "checkout-api",
        severity: "critical",
        prometheus: "monitoring/k8s",
      },
      links: [
        { rel: "source", url: GENERATOR_URL },
        { rel: "runbook", url: "https://wiki.example.com/runbooks/latency" },
        { rel: "external", url: "http://alertmanager-0.monitoring:9093" },
      ],
      data: {
        alertFingerprint: "9c1f5e7a3b2d4c60",
        startsAt: "2026-03-10T14:06:00.123Z",
        endsAt: undefined,
        groupKey: '{}/{severity=~"warning|critical"}:{alertname="HighRequestLatency"}',
        receiver: "causeway",
      },
    });
    expect(checkout?.release).toBeUndefined();
    expect(checkout?.occurredAt.toISOString()).toBe("2026-03-10T14:06:00.123Z");
    // No `service` label: the job names the service.
    expect(worker).toMatchObject({ service: "orders-worker", severity: "medium", status: "firing" });
  });

  it("resolves the same alerts on the same fingerprints, dated at endsAt", () => {
    const firing = signalsOf(run(fixture("group-firing.json")));
    const result = run(fixture("group-resolved.json"));
    expect(result).toMatchObject({ ok: true, eventType: "group.resolved" });
    const resolved = signalsOf(result);
    expect(resolved.map((s) => s.status)).toEqual(["resolved", "resolved"]);
    expect(resolved.map((s) => s.fingerprint)).toEqual(firing.map((s) => s.fingerprint));
    expect(resolved.map((s) => s.occurredAt.toISOString())).toEqual([
      "2026-03-10T14:40:00.789Z",
      "2026-03-10T14:39:30.000Z",
    ]);
    expect(resolved[0]?.data).toMatchObject({ endsAt: "2026-03-10T14:40:00.789Z" });
  });

  it("takes the status per alert, not per group", () => {
    const body = fixture("group-firing.json");
    const alerts = body["alerts"] as Array<Record<string, unknown>>;
    alerts[1]!["status"] = "resolved";
    alerts[1]!["endsAt"] = "2026-03-10T14:20:00Z";
    expect(signalsOf(run(body)).map((s) => s.status)).toEqual(["firing", "resolved"]);
  });

  it("fingerprints by the sorted label set when the alert has no fingerprint", () => {
    const body = fixture("group-firing.json");
    const alert = (body["alerts"] as Array<Record<string, unknown>>)[0]!;
    delete alert["fingerprint"];
    const [first] = signalsOf(run(body));
    const reordered = Object.fromEntries(Object.entries(alert["labels"] as object).reverse());
    alert["labels"] = reordered;
    const [second] = signalsOf(run(body));
    expect(first?.fingerprint).toBe(second?.fingerprint);
    expect(first?.fingerprint).toBe(
      fingerprintOf([
        "alertmanager",
        "labels",
        "alertname=HighRequestLatency",
        "env=production",
        "job=checkout-api",
        "namespace=shop",
        "prometheus=monitoring/k8s",
        "service=checkout-api",
        "severity=critical",
      ]),
    );
  });

  it("falls back to the received time when startsAt is Go's zero time or garbage", () => {
    const body = fixture("group-firing.json");
    const alert = (body["alerts"] as Array<Record<string, unknown>>)[0]!;
    alert["startsAt"] = "0001-01-01T00:00:00Z";
    expect(signalsOf(run(body))[0]?.occurredAt).toEqual(RECEIVED_AT);
    alert["startsAt"] = "yesterday-ish";
    expect(signalsOf(run(body))[0]?.occurredAt).toEqual(RECEIVED_AT);
  });

  it("returns no signals for an empty group", () => {
    expect(run({ ...fixture("group-firing.json"), alerts: [] })).toEqual({
      ok: true,
      eventType: "group.firing",
      signals: [],
    });
  });

  it.each([
    ["a string", "firing"],
    ["null", null],
    ["an object without alerts", { status: "firing" }],
    ["alerts that is not an array", { alerts: { 0: {} } }],
  ])("rejects a body that is %s", (_name, body) => {
    expect(run(body)).toEqual({ ok: false, reason: "expected an alert group with an alerts[] array" });
  });

  it("rejects a group with a malformed alert rather than dropping it", () => {
    const body = fixture("group-firing.json");
    (body["alerts"] as unknown[]).push({ status: "firing", labels: "alertname=x" });
    expect(run(body)).toEqual({ ok: false, reason: "alerts[2] is not an alert with a labels object" });
  });

  it("maps severity labels and treats Go's zero time as unset", () => {
    expect(
      ["critical", "P1", "error", "warning", "low", "info", "whatever", undefined].map(severityFromLabel),
    ).toEqual(["critical", "critical", "high", "medium", "low", "info", "medium", "medium"]);
    expect(goTime("0001-01-01T00:00:00Z")).toBeUndefined();
    expect(goTime("2026-03-10T14:06:00Z")?.toISOString()).toBe("2026-03-10T14:06:00.000Z");
  });

  it("never throws on arbitrary JSON", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        const result = run(body);
        if (result.ok) for (const s of result.signals) expect(s.fingerprint).toMatch(/^[0-9a-f]{32}$/);
        else expect(result.reason.length).toBeGreaterThan(0);
      }),
    );
  });

  it("never throws on alert groups with arbitrary alerts", () => {
    const alert = fc.record(
      {
        status: fc.oneof(fc.constantFrom("firing", "resolved"), fc.jsonValue()),
        labels: fc.oneof(fc.dictionary(fc.string(), fc.jsonValue()), fc.jsonValue()),
        annotations: fc.jsonValue(),
        startsAt: fc.oneof(
          fc.date().map((d) => (Number.isNaN(d.getTime()) ? "x" : d.toISOString())),
          fc.jsonValue(),
        ),
        endsAt: fc.jsonValue(),
        fingerprint: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.array(alert, { maxLength: 4 }), fc.jsonValue(), (alerts, status) => {
        const result = run({ status, groupKey: "k", alerts });
        if (result.ok) {
          expect(result.signals).toHaveLength(alerts.length);
          for (const s of result.signals) expect(Number.isNaN(s.occurredAt.getTime())).toBe(false);
        }
      }),
    );
  });
});
