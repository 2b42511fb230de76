import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fingerprintOf } from "../core/hmac.ts";
import type { NormalizeResult, Signal } from "../core/types.ts";
import { normalizeMezmo, severityFromLevel } from "./normalize.ts";

const RECEIVED_AT = new Date("2026-03-10T14:06:03Z");

function fixture(): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL("./fixtures/alert.json", import.meta.url), "utf8"));
}

function run(body: unknown): NormalizeResult {
  return normalizeMezmo({ body, headers: {}, config: {}, receivedAt: RECEIVED_AT });
}

function onlySignal(result: NormalizeResult): Signal {
  if (!result.ok) throw new Error(`normalize failed: ${result.reason}`);
  expect(result.signals).toHaveLength(1);
  return result.signals[0]!;
}

describe("normalizeMezmo", () => {
  it("maps a log alert to a firing log signal", () => {
    const result = run(fixture());
    expect(result).toMatchObject({ ok: true, eventType: "alert" });
    expect(onlySignal(result)).toEqual({
      kind: "log",
      source: "mezmo",
      fingerprint: fingerprintOf([
        "mezmo",
        "Checkout payment failures",
        'app:checkout-api level:error "payment declined"',
      ]),
      title: "Checkout payment failures",
      severity: "high",
      status: "firing",
      service: "checkout-api",
      environment: "production",
      occurredAt: RECEIVED_AT,
      frames: [],
      message: "PaymentError: payment declined for order ord_91x2 – Zahlungsanbieter antwortet nicht",
      labels: {
        app: "checkout-api",
        host: "checkout-api-7d9f8c6b5-x2k4p",
        tag: "k8s,shop",
        level: "error",
        query: 'app:checkout-api level:error "payment declined"',
        matches: "47",
      },
      links: [
        { rel: "view", url: "https://app.mezmo.com/3f9a2c71b5/logs/view/8d0e4b6a21?q=app%3Acheckout-api" },
      ],
      data: {
        matches: 47,
        line: "PaymentError: payment declined for order ord_91x2 – Zahlungsanbieter antwortet nicht",
      },
    });
  });

  it("keeps the fingerprint when a later alert matches other lines and counts", () => {
    const first = onlySignal(run(fixture()));
    const later = onlySignal(run({ ...fixture(), matches: "3", line: "other line", host: "other-pod" }));
    expect(later.fingerprint).toBe(first.fingerprint);
    expect(onlySignal(run({ ...fixture(), name: "Another view" })).fingerprint).not.toBe(first.fingerprint);
  });

  it("treats unfilled tokens as unset and falls back to app for the service", () => {
    const signal = onlySignal(
      run({ ...fixture(), service: "{{service}}", env: "", level: "{{level}}", line: "{{ line }}" }),
    );
    expect(signal).toMatchObject({ service: "checkout-api", environment: undefined, severity: "medium" });
    expect(signal.message).toBe('47 matches for app:checkout-api level:error "payment declined"');
  });

  it("uses an optional timestamp field", () => {
    expect(onlySignal(run({ ...fixture(), timestamp: "1773151560" })).occurredAt.toISOString()).toBe(
      "2026-03-10T14:06:00.000Z",
    );
    expect(onlySignal(run({ ...fixture(), timestamp: "1773151560000" })).occurredAt.toISOString()).toBe(
      "2026-03-10T14:06:00.000Z",
    );
    expect(onlySignal(run({ ...fixture(), timestamp: "later" })).occurredAt).toEqual(RECEIVED_AT);
  });

  it("rejects payloads of the wrong shape", () => {
    expect(run("47 matches found for Checkout")).toMatchObject({ ok: false });
    expect(run({ name: ["x"] })).toEqual({
      ok: false,
      reason: "expected a Mezmo alert object with scalar fields",
    });
    expect(run({ matches: "4" })).toEqual({
      ok: false,
      reason: "Mezmo alert without a name or query (see the template in the README)",
    });
    expect(run({ name: "{{name}}", query: "" })).toMatchObject({ ok: false });
  });

  it("maps log levels to severity", () => {
    expect(["FATAL", "error", "warn", "info", "debug", undefined, "weird"].map(severityFromLevel)).toEqual([
      "critical",
      "high",
      "medium",
      "low",
      "info",
      "medium",
      "medium",
    ]);
  });

  it("never throws on arbitrary JSON or arbitrary template values", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        expect(typeof run(body).ok).toBe("boolean");
      }),
    );
    const keys = Object.keys(fixture());
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom(...keys, "timestamp"), fc.oneof(fc.string(), fc.jsonValue())),
        (fields) => {
          const result = run({ ...fixture(), ...fields });
          if (result.ok)
            for (const s of result.signals) expect(Number.isNaN(s.occurredAt.getTime())).toBe(false);
        },
      ),
    );
  });
});
