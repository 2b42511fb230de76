import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fingerprintOf } from "../core/hmac.ts";
import type { NormalizeResult, Signal } from "../core/types.ts";
import { normalizeGrafana } from "./normalize.ts";

const RECEIVED_AT = new Date("2026-03-10T14:45:00Z");

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"));
}

function run(body: unknown): NormalizeResult {
  return normalizeGrafana({ body, headers: {}, config: {}, receivedAt: RECEIVED_AT });
}

function signalsOf(result: NormalizeResult): Signal[] {
  if (!result.ok) throw new Error(`normalize failed: ${result.reason}`);
  return result.signals;
}

describe("normalizeGrafana", () => {
  it("maps a firing group of two alerts to two metric signals", () => {
    const result = run(fixture("group-firing.json"));
    expect(result).toMatchObject({ ok: true, eventType: "group.firing" });
    const signals = signalsOf(result);
    expect(signals).toHaveLength(2);
    const [checkout, cart] = signals;
    expect(checkout).toMatchObject({
      kind: "metric",
      source: "grafana",
      fingerprint: fingerprintOf(["grafana", "alert", "a3b5c7d9e1f20468"]),
      title: "HighErrorRate: checkout-api 5xx ratio is 8.3 % (> 5 %)",
      severity: "critical",
      status: "firing",
      service: "checkout-api",
      environment: "production",
      message: "5xx ratio over the last 5 minutes, from the ingress logs.",
      labels: { grafana_folder: "Shop", team: "payments" },
      links: [
        { rel: "source", url: "https://grafana.example.com/alerting/grafana/fe1b2c3d4a/view?orgId=1" },
        { rel: "runbook", url: "https://wiki.example.com/runbooks/high-error-rate" },
        { rel: "dashboard", url: "https://grafana.example.com/d/shop-overview?orgId=1" },
        { rel: "panel", url: "https://grafana.example.com/d/shop-overview?orgId=1&viewPanel=4" },
        {
          rel: "silence",
          url: "https://grafana.example.com/alerting/silence/new?alertmanager=grafana&matcher=__alert_rule_uid__%3Dfe1b2c3d4a&orgId=1",
        },
        { rel: "external", url: "https://grafana.example.com/" },
      ],
      data: {
        alertFingerprint: "a3b5c7d9e1f20468",
        startsAt: "2026-03-10T14:06:00.000Z",
        endsAt: undefined,
        values: { A: 0.083, C: 1 },
      },
    });
    expect(checkout?.occurredAt.toISOString()).toBe("2026-03-10T14:06:00.000Z");
    // No service label: job names it (namespace would be next).
    expect(cart).toMatchObject({
      service: "cart-api",
      severity: "medium",
      status: "firing",
      environment: "production",
    });
  });

  it("keeps fingerprints when one alert of the group resolves and the other keeps firing", () => {
    const firing = signalsOf(run(fixture("group-firing.json")));
    const result = run(fixture("group-resolved.json"));
    // The group is still firing because one alert is.
    expect(result).toMatchObject({ ok: true, eventType: "group.firing" });
    const later = signalsOf(result);
    expect(later.map((s) => [s.fingerprint, s.status])).toEqual([
      [firing[0]?.fingerprint, "resolved"],
      [firing[1]?.fingerprint, "firing"],
    ]);
    expect(later[0]?.occurredAt.toISOString()).toBe("2026-03-10T14:40:00.000Z");
    expect(later[1]?.occurredAt.toISOString()).toBe("2026-03-10T14:07:00.000Z");
  });

  it("acknowledges the contact point's test notification without signals", () => {
    const body = fixture("group-firing.json");
    body["alerts"] = [
      {
        status: "firing",
        labels: { alertname: "TestAlert", instance: "Grafana" },
        annotations: { summary: "Notification test" },
        startsAt: "2026-03-10T14:06:00Z",
        endsAt: "0001-01-01T00:00:00Z",
        fingerprint: "57c6d9296de2ad39",
      },
    ];
    expect(run(body)).toEqual({ ok: true, signals: [], eventType: "test", ignored: true });
  });

  it("does not ignore a real alert that merely shares the test alert's name", () => {
    const body = fixture("group-firing.json");
    body["alerts"] = [{ status: "firing", labels: { alertname: "TestAlert", instance: "db-1" } }];
    expect(signalsOf(run(body))).toHaveLength(1);
  });

  it("rejects payloads of the wrong shape", () => {
    expect(run({ title: "[FIRING:1]", state: "alerting" })).toEqual({
      ok: false,
      reason: "expected an alert group with an alerts[] array",
    });
    expect(run(42)).toMatchObject({ ok: false });
  });

  it("never throws on arbitrary JSON or arbitrary alerts", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        expect(typeof run(body).ok).toBe("boolean");
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { maxLength: 3 }), fc.jsonValue(), (alerts, status) => {
        const result = run({ ...fixture("group-firing.json"), status, alerts });
        if (result.ok && !("ignored" in result)) expect(result.signals).toHaveLength(alerts.length);
      }),
    );
  });
});
