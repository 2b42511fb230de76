import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fingerprintOf } from "../core/hmac.ts";
import type { NormalizeResult, Signal } from "../core/types.ts";
import { normalizeDatadog, parseTagList, severityOf } from "./normalize.ts";

const RECEIVED_AT = new Date("2026-03-10T14:45:00Z");

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"));
}

function run(body: unknown): NormalizeResult {
  return normalizeDatadog({ body, headers: {}, config: {}, receivedAt: RECEIVED_AT });
}

function onlySignal(result: NormalizeResult): Signal {
  if (!result.ok) throw new Error(`normalize failed: ${result.reason}`);
  expect(result.signals).toHaveLength(1);
  return result.signals[0]!;
}

const FINGERPRINT = fingerprintOf(["datadog", "monitor", "184223901", "env:production,service:checkout-api"]);

describe("normalizeDatadog", () => {
  it("maps a Triggered monitor notification to a firing metric signal", () => {
    const result = run(fixture("monitor-triggered.json"));
    expect(result).toMatchObject({ ok: true, eventType: "query_alert_monitor.triggered" });
    const signal = onlySignal(result);
    expect(signal).toMatchObject({
      kind: "metric",
      source: "datadog",
      fingerprint: FINGERPRINT,
      title: "Checkout API error rate is high",
      severity: "high",
      status: "firing",
      service: "checkout-api",
      environment: "production",
      release: "3f2c9d8",
      frames: [],
      message:
        "Fehlerquote über 5 % für checkout-api in production. Runbook: https://wiki.example.com/runbooks/checkout-errors @webhook-causeway",
      labels: {
        env: "production",
        monitor: "",
        service: "checkout-api",
        team: "payments",
        version: "3f2c9d8",
      },
      links: [
        {
          rel: "monitor",
          url: "https://app.datadoghq.com/monitors/184223901?group=env%3Aproduction%2Cservice%3Acheckout-api&from_ts=1773150660000&to_ts=1773151860000",
        },
        {
          rel: "snapshot",
          url: "https://p.datadoghq.com/snapshot/view/dd-snapshots-prod/org_112233/2026-03-10/5d1c9a3e.png",
        },
      ],
      data: {
        eventId: "7581234567890123456",
        alertId: "184223901",
        alertCycleKey: "7581234567890123400",
        transition: "Triggered",
        alertType: "error",
        priority: "P2",
        metric: "trace.http.request.errors",
      },
    });
    expect(signal.commitSha).toBeUndefined();
    expect(signal.occurredAt.toISOString()).toBe("2026-03-10T14:06:00.000Z");
  });

  it("maps Recovered to resolved on the same fingerprint", () => {
    const result = run(fixture("monitor-recovered.json"));
    expect(result).toMatchObject({ ok: true, eventType: "query_alert_monitor.recovered" });
    const signal = onlySignal(result);
    expect(signal).toMatchObject({ status: "resolved", fingerprint: FINGERPRINT, service: "checkout-api" });
    expect(signal.occurredAt.toISOString()).toBe("2026-03-10T14:40:00.000Z");
  });

  it("keeps the fingerprint across cycles and scope orderings, and separates monitor groups", () => {
    const body = fixture("monitor-triggered.json");
    const nextCycle = { ...body, alert_cycle_key: "999", alert_scope: "service:checkout-api,env:production" };
    expect(onlySignal(run(nextCycle)).fingerprint).toBe(FINGERPRINT);
    const otherGroup = { ...body, alert_scope: "env:staging,service:checkout-api" };
    expect(onlySignal(run(otherGroup)).fingerprint).not.toBe(FINGERPRINT);
  });

  it.each([
    ["Re-Triggered", "firing"],
    ["Warn", "firing"],
    ["Re-Warn", "firing"],
    ["No Data", "firing"],
    ["Renotify", "firing"],
    ["Recovered", "resolved"],
  ])("maps transition %s to %s", (transition, status) => {
    expect(
      onlySignal(run({ ...fixture("monitor-triggered.json"), alert_transition: transition })).status,
    ).toBe(status);
  });

  it("acknowledges an unknown transition without signals", () => {
    expect(run({ ...fixture("monitor-triggered.json"), alert_transition: "Null" })).toEqual({
      ok: true,
      signals: [],
      eventType: "query_alert_monitor.null",
      ignored: true,
    });
  });

  it("reads status and title from Datadog's default template, which has no transition or monitor id", () => {
    const base = {
      body: "%%%\nCPU high\n%%%",
      last_updated: "1773151560000",
      event_type: "metric_alert_monitor",
      date: "1773151560000",
      org: { id: "112233", name: "Acme Shop" },
      id: "42",
    };
    const firing = onlySignal(run({ ...base, title: "[Triggered on {host:web-1}] CPU high" }));
    const resolved = onlySignal(run({ ...base, id: "43", title: "[Recovered on {host:web-1}] CPU high" }));
    expect(firing).toMatchObject({
      status: "firing",
      title: "CPU high",
      severity: "high",
      service: undefined,
    });
    expect(resolved).toMatchObject({ status: "resolved", title: "CPU high" });
    expect(resolved.fingerprint).toBe(firing.fingerprint);
  });

  it("treats unfilled template variables as unset and takes service/env from tags", () => {
    const signal = onlySignal(
      run({
        ...fixture("monitor-triggered.json"),
        service: "$TAGS[service]",
        env: "",
        alert_scope: "",
        tags: "service:cart-api,env:staging",
        version: "$TAGS[version]",
      }),
    );
    expect(signal).toMatchObject({ service: "cart-api", environment: "staging", release: undefined });
  });

  it("ignores a payload that is not a monitor notification", () => {
    expect(run({ event_type: "change", title: "Deploy finished" })).toEqual({
      ok: true,
      signals: [],
      eventType: "change.unknown",
      ignored: true,
    });
  });

  it.each([
    ["a string", "Triggered"],
    ["an array", [{ alert_id: "1" }]],
    ["an object-valued field", { alert_id: { id: 1 }, alert_transition: "Triggered" }],
  ])("rejects %s", (_name, body) => {
    expect(run(body)).toEqual({
      ok: false,
      reason: "expected a Datadog webhook payload object with scalar fields",
    });
  });

  it("maps priority, then alert type, to severity", () => {
    expect(severityOf("P1", "error", "Triggered")).toBe("critical");
    expect(severityOf("P5", "error", "Triggered")).toBe("info");
    expect(severityOf(undefined, "warning", "Warn")).toBe("medium");
    expect(severityOf("constructor", undefined, "Warn")).toBe("medium");
    expect(severityOf(undefined, "success", "Recovered")).toBe("info");
    expect(severityOf(undefined, undefined, "Triggered")).toBe("high");
  });

  it("parses tag lists", () => {
    expect(parseTagList("env:prod, team:a:b ,flag,,*")).toEqual({ env: "prod", team: "a:b", flag: "" });
    expect(parseTagList(undefined)).toEqual({});
  });

  it("accepts $DATE as seconds or ISO and falls back to the receive time", () => {
    const body = fixture("monitor-triggered.json");
    expect(onlySignal(run({ ...body, date: "1773151560" })).occurredAt.toISOString()).toBe(
      "2026-03-10T14:06:00.000Z",
    );
    expect(onlySignal(run({ ...body, date: "2026-03-10T14:06:00Z" })).occurredAt.toISOString()).toBe(
      "2026-03-10T14:06:00.000Z",
    );
    expect(onlySignal(run({ ...body, date: "$DATE", last_updated: "soon" })).occurredAt).toEqual(RECEIVED_AT);
  });

  it("never throws on arbitrary JSON, or on the template with arbitrary values", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        const result = run(body);
        if (result.ok)
          for (const s of result.signals) expect(Number.isNaN(s.occurredAt.getTime())).toBe(false);
      }),
    );
    const keys = Object.keys(fixture("monitor-triggered.json"));
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom(...keys), fc.oneof(fc.string(), fc.jsonValue())),
        (fields) => {
          const result = run({ ...fixture("monitor-triggered.json"), ...fields });
          if (result.ok) for (const s of result.signals) expect(s.fingerprint).toMatch(/^[0-9a-f]{32}$/);
        },
      ),
    );
  });
});
