import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fingerprintOf } from "../core/hmac.ts";
import type { NormalizeResult, Signal } from "../core/types.ts";
import { normalizeSignoz } from "./normalize.ts";

const RECEIVED_AT = new Date("2026-03-10T14:45:00Z");
const RULE = "0195c3a2-7f41-7c2e-9d3b-5a8e1f0c6d24";

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"));
}

function run(body: unknown): NormalizeResult {
  return normalizeSignoz({ body, headers: {}, config: {}, receivedAt: RECEIVED_AT });
}

function onlySignal(result: NormalizeResult): Signal {
  if (!result.ok) throw new Error(`normalize failed: ${result.reason}`);
  expect(result.signals).toHaveLength(1);
  return result.signals[0]!;
}

describe("normalizeSignoz", () => {
  it("maps a firing SigNoz alert using its service_name and deployment_environment labels", () => {
    const result = run(fixture("alert-firing.json"));
    expect(result).toMatchObject({ ok: true, eventType: "group.firing" });
    const signal = onlySignal(result);
    expect(signal).toMatchObject({
      kind: "metric",
      source: "signoz",
      fingerprint: fingerprintOf(["signoz", "alert", "b81e3d5f7a9c0e24"]),
      title: "High p99 latency - checkout: p99 latency of checkout-api is 1840 ms, above 500 ms",
      severity: "critical",
      status: "firing",
      service: "checkout-api",
      environment: "production",
      message: "The p99 latency of POST /api/orders has been above threshold for 5 minutes.",
      labels: { ruleId: RULE, threshold: "500" },
      links: [
        { rel: "source", url: `https://signoz.example.com/alerts/edit?ruleId=${RULE}` },
        { rel: "rule", url: `https://signoz.example.com/alerts/edit?ruleId=${RULE}` },
        { rel: "external", url: "https://signoz.example.com" },
      ],
    });
    expect(signal.occurredAt.toISOString()).toBe("2026-03-10T14:06:00.000Z");
    expect(signal.data).toMatchObject({ endsAt: undefined, alertFingerprint: "b81e3d5f7a9c0e24" });
  });

  it("resolves on the same fingerprint, dated at endsAt", () => {
    const firing = onlySignal(run(fixture("alert-firing.json")));
    const resolved = onlySignal(run(fixture("alert-resolved.json")));
    expect(resolved).toMatchObject({
      status: "resolved",
      fingerprint: firing.fingerprint,
      service: "checkout-api",
    });
    expect(resolved.occurredAt.toISOString()).toBe("2026-03-10T14:40:00.000Z");
  });

  it("is not confused with an Alertmanager alert that has the same upstream fingerprint", () => {
    expect(onlySignal(run(fixture("alert-firing.json"))).fingerprint).not.toBe(
      fingerprintOf(["alertmanager", "alert", "b81e3d5f7a9c0e24"]),
    );
  });

  it("rejects a payload of the wrong shape", () => {
    expect(run({ alert: "High p99" })).toMatchObject({ ok: false });
    expect(run([])).toMatchObject({ ok: false });
  });

  it("never throws on arbitrary JSON", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        const result = run(body);
        expect(typeof result.ok).toBe("boolean");
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { maxLength: 3 }), (alerts) => {
        const result = run({ ...fixture("alert-firing.json"), alerts });
        if (result.ok) expect(result.signals).toHaveLength(alerts.length);
      }),
    );
  });
});
