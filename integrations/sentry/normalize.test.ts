import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fingerprintOf } from "../core/hmac.ts";
import type { NormalizeInput, NormalizeResult, Signal } from "../core/types.ts";
import { normalizeSentry } from "./normalize.ts";

const RECEIVED_AT = new Date("2026-03-10T14:45:00Z");

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"));
}

function run(body: unknown, resource?: string): NormalizeResult {
  const headers: Record<string, string> = resource === undefined ? {} : { "sentry-hook-resource": resource };
  const input: NormalizeInput = { body, headers, config: {}, receivedAt: RECEIVED_AT };
  return normalizeSentry(input);
}

function onlySignal(result: NormalizeResult): Signal {
  if (!result.ok) throw new Error(`normalize failed: ${result.reason}`);
  expect(result.signals).toHaveLength(1);
  return result.signals[0]!;
}

const MESSAGE = "Cannot read properties of undefined (reading 'rate') — Rabattcode „SOMMER“ ungültig";
const ISSUE_FINGERPRINT = fingerprintOf(["sentry", "issue", "5123456789"]);

describe("normalizeSentry: event_alert", () => {
  const result = run(fixture("event-alert-triggered.json"), "event_alert");

  it("produces one firing error signal with the event's context", () => {
    expect(result).toMatchObject({ ok: true, eventType: "event_alert.triggered" });
    const signal = onlySignal(result);
    expect(signal).toMatchObject({
      kind: "error",
      source: "sentry",
      fingerprint: ISSUE_FINGERPRINT,
      title: `TypeError: ${MESSAGE}`,
      severity: "high",
      status: "firing",
      service: "checkout-api",
      environment: "production",
      release: "checkout-api@3f2c9d81a6b4e0c7d5f1a2b3c4d5e6f708192a3b",
      commitSha: "3f2c9d81a6b4e0c7d5f1a2b3c4d5e6f708192a3b",
      errorType: "TypeError",
      message: MESSAGE,
    });
    expect(signal.occurredAt.toISOString()).toBe("2026-03-10T14:05:31.512Z");
    expect(signal.labels).toMatchObject({
      environment: "production",
      transaction: "POST /api/orders",
      sentry_rule: "Checkout errors in production",
      sentry_project_id: "4505123",
    });
    expect(signal.links).toEqual([
      {
        rel: "event",
        url: "https://acme-shop.sentry.io/issues/5123456789/events/6b3c1f1d0e2a4a5b9c8d7e6f5a4b3c2d/",
      },
      {
        rel: "event_api",
        url: "https://sentry.io/api/0/projects/acme-shop/checkout-api/events/6b3c1f1d0e2a4a5b9c8d7e6f5a4b3c2d/",
      },
      { rel: "issue_api", url: "https://sentry.io/api/0/organizations/acme-shop/issues/5123456789/" },
    ]);
    expect(signal.data).toMatchObject({ eventId: "6b3c1f1d0e2a4a5b9c8d7e6f5a4b3c2d", issueId: "5123456789" });
  });

  it("orders frames crash site first and keeps in-app flags", () => {
    const signal = onlySignal(result);
    expect(signal.frames).toEqual([
      {
        file: "src/pricing/discount.ts",
        absPath: "/srv/app/src/pricing/discount.ts",
        line: 31,
        column: 38,
        function: "applyDiscount",
        module: "src.pricing:discount",
        inApp: true,
      },
      {
        file: "src/services/checkout.ts",
        absPath: "/srv/app/src/services/checkout.ts",
        line: 118,
        column: 19,
        function: "priceCart",
        module: "src.services:checkout",
        inApp: true,
      },
      {
        file: "src/routes/orders.ts",
        absPath: "/srv/app/src/routes/orders.ts",
        line: 42,
        column: 27,
        function: "createOrder",
        module: "src.routes:orders",
        inApp: true,
      },
      {
        file: "node_modules/express/lib/router/layer.js",
        absPath: "/srv/app/node_modules/express/lib/router/layer.js",
        line: 95,
        column: 5,
        function: "Layer.handle [as handle_request]",
        module: "express.lib.router:layer",
        inApp: false,
      },
      {
        file: "node:internal/process/task_queues",
        absPath: "node:internal/process/task_queues",
        line: 95,
        column: 5,
        function: "process.processTicksAndRejections",
        module: "task_queues",
        inApp: false,
      },
    ]);
  });

  it("infers the resource from data when the header is missing", () => {
    expect(onlySignal(run(fixture("event-alert-triggered.json"))).fingerprint).toBe(ISSUE_FINGERPRINT);
  });

  it("falls back to error type + top in-app frame when the event has no issue id", () => {
    const body = fixture("event-alert-triggered.json");
    const event = (body["data"] as { event: Record<string, unknown> }).event;
    delete event["issue_id"];
    const signal = onlySignal(run(body, "event_alert"));
    expect(signal.fingerprint).toBe(
      fingerprintOf([
        "sentry",
        "error",
        "checkout-api",
        "TypeError",
        "src/pricing/discount.ts:applyDiscount",
      ]),
    );
    // The line moved in a new release: same problem, same fingerprint.
    type Frames = Array<{ lineno: number }>;
    type Exception = { values: Array<{ stacktrace: { frames: Frames } }> };
    const frames = (event["exception"] as Exception).values[0]!.stacktrace.frames;
    frames[frames.length - 1]!.lineno = 77;
    expect(onlySignal(run(body, "event_alert")).fingerprint).toBe(signal.fingerprint);
  });

  it("uses the outermost of chained exceptions for type and frames", () => {
    const body = fixture("event-alert-triggered.json");
    const event = (body["data"] as { event: Record<string, unknown> }).event;
    const exception = event["exception"] as { values: unknown[] };
    exception.values.push({
      type: "CheckoutError",
      value: "pricing failed",
      stacktrace: {
        frames: [
          { filename: "src/routes/orders.ts", lineno: 40, function: "createOrder", in_app: true },
          { filename: "src/errors.ts", lineno: 12, function: "wrap", in_app: true },
        ],
      },
    });
    const signal = onlySignal(run(body, "event_alert"));
    expect(signal.errorType).toBe("CheckoutError");
    expect(signal.frames.map((f) => `${f.file}:${f.line}`)).toEqual([
      "src/errors.ts:12",
      "src/routes/orders.ts:40",
    ]);
  });

  it("maps the error resource (data.error, action created) the same way", () => {
    const body = fixture("event-alert-triggered.json");
    const data = body["data"] as Record<string, unknown>;
    const result = run({ ...body, action: "created", data: { error: data["event"] } }, "error");
    expect(result).toMatchObject({ ok: true, eventType: "error.created" });
    const signal = onlySignal(result);
    expect(signal.fingerprint).toBe(ISSUE_FINGERPRINT);
    expect(signal.labels["sentry_rule"]).toBeUndefined();
  });
});

describe("normalizeSentry: issue", () => {
  it("turns issue.resolved into a resolved signal on the same fingerprint as the event alert", () => {
    const result = run(fixture("issue-resolved.json"), "issue");
    expect(result).toMatchObject({ ok: true, eventType: "issue.resolved" });
    const signal = onlySignal(result);
    expect(signal).toMatchObject({
      kind: "error",
      source: "sentry",
      fingerprint: ISSUE_FINGERPRINT,
      status: "resolved",
      severity: "high",
      service: "checkout-api",
      errorType: "TypeError",
      message: MESSAGE,
      frames: [],
      labels: { sentry_short_id: "CHECKOUT-API-3K7", sentry_priority: "high" },
      links: [
        { rel: "issue", url: "https://acme-shop.sentry.io/issues/5123456789/" },
        { rel: "project", url: "https://acme-shop.sentry.io/projects/checkout-api/" },
      ],
    });
    expect(signal.occurredAt).toEqual(RECEIVED_AT);
    const alert = onlySignal(run(fixture("event-alert-triggered.json"), "event_alert"));
    expect(signal.fingerprint).toBe(alert.fingerprint);
  });

  it("turns issue.created into a firing signal dated at firstSeen", () => {
    const signal = onlySignal(run({ ...fixture("issue-resolved.json"), action: "created" }, "issue"));
    expect(signal.status).toBe("firing");
    expect(signal.occurredAt.toISOString()).toBe("2026-03-10T14:05:31.512Z");
  });

  it.each(["assigned", "ignored", "archived"])("acknowledges issue.%s without signals", (action) => {
    expect(run({ ...fixture("issue-resolved.json"), action }, "issue")).toEqual({
      ok: true,
      signals: [],
      eventType: `issue.${action}`,
      ignored: true,
    });
  });
});

describe("normalizeSentry: metric_alert", () => {
  it("maps a critical metric alert", () => {
    const result = run(fixture("metric-alert-critical.json"), "metric_alert");
    expect(result).toMatchObject({ ok: true, eventType: "metric_alert.critical" });
    const signal = onlySignal(result);
    expect(signal).toMatchObject({
      kind: "metric",
      source: "sentry",
      fingerprint: fingerprintOf(["sentry", "metric_alert", "48213"]),
      title: "p95 latency of POST /api/orders",
      severity: "critical",
      status: "firing",
      service: "checkout-api",
      environment: "production",
      message: "1840ms p95(transaction.duration) in the last 5 minutes",
      frames: [],
      labels: {
        sentry_rule_id: "9911",
        aggregate: "p95(transaction.duration)",
        dataset: "transactions",
        time_window_minutes: "5",
        sentry_incident: "127",
      },
      links: [
        {
          rel: "alert",
          url: "https://acme-shop.sentry.io/organizations/acme-shop/alerts/rules/details/9911/?alert=127",
        },
      ],
    });
    expect(signal.occurredAt.toISOString()).toBe("2026-03-10T14:06:00.000Z");
  });

  it("keeps the fingerprint when the same incident resolves", () => {
    const firing = onlySignal(run(fixture("metric-alert-critical.json"), "metric_alert"));
    const body = fixture("metric-alert-critical.json");
    const data = body["data"] as { metric_alert: Record<string, unknown> };
    data.metric_alert["status"] = 2;
    data.metric_alert["date_closed"] = "2026-03-10T14:40:00Z";
    const resolved = onlySignal(run({ ...body, action: "resolved" }, "metric_alert"));
    expect(resolved).toMatchObject({ status: "resolved", severity: "info", fingerprint: firing.fingerprint });
    expect(resolved.occurredAt.toISOString()).toBe("2026-03-10T14:40:00.000Z");
  });

  it("maps warning to medium severity", () => {
    expect(onlySignal(run({ ...fixture("metric-alert-critical.json"), action: "warning" })).severity).toBe(
      "medium",
    );
  });
});

describe("normalizeSentry: unknown and malformed payloads", () => {
  it.each([
    ["installation", { action: "created", data: { installation: { uuid: "x" } } }],
    ["comment", { action: "created", data: { comment: "hi" } }],
    ["seer", { action: "root_cause_completed", data: {} }],
  ])("acknowledges the %s resource without signals", (resource, body) => {
    expect(run(body, resource)).toEqual({
      ok: true,
      signals: [],
      eventType: `${resource}.${body.action}`,
      ignored: true,
    });
  });

  it("ignores a header naming an Object.prototype key", () => {
    expect(run({ action: "x", data: {} }, "toString")).toMatchObject({ ok: true, ignored: true });
  });

  it.each([
    ["not an object", "hello"],
    ["an array", [1, 2]],
    ["no action", { data: {} }],
    ["data not an object", { action: "triggered", data: [] }],
  ])("rejects a body that is %s", (_name, body) => {
    const result = run(body, "event_alert");
    expect(result.ok).toBe(false);
  });

  it("rejects an event alert without data.event, and one whose event has the wrong types", () => {
    expect(run({ action: "triggered", data: {} }, "event_alert")).toEqual({
      ok: false,
      reason: "event_alert payload without data.event",
    });
    expect(run({ action: "triggered", data: { event: { level: 5 } } }, "event_alert")).toEqual({
      ok: false,
      reason: "malformed data.event",
    });
    expect(run({ action: "resolved", data: { issue: { title: "no id" } } }, "issue")).toEqual({
      ok: false,
      reason: "malformed data.issue",
    });
  });

  it("skips malformed frames instead of failing the event", () => {
    const body = {
      action: "triggered",
      data: {
        event: {
          issue_id: 9,
          exception: {
            values: [
              { type: "E", stacktrace: { frames: [null, { lineno: "x" }, { filename: "a.py", lineno: 3 }] } },
            ],
          },
        },
      },
    };
    const signal = onlySignal(run(body, "event_alert"));
    expect(signal.frames).toEqual([{ file: "a.py", line: 3, inApp: false }]);
    expect(signal.title).toBe("E");
    expect(signal.occurredAt).toEqual(RECEIVED_AT);
  });
});

describe("normalizeSentry: properties", () => {
  const resources = fc.constantFrom(
    "event_alert",
    "error",
    "issue",
    "metric_alert",
    "installation",
    "nonsense",
  );

  function checkShape(result: NormalizeResult): void {
    if (!result.ok) {
      expect(typeof result.reason).toBe("string");
      return;
    }
    for (const signal of result.signals) {
      expect(signal.source).toBe("sentry");
      expect(signal.fingerprint).toMatch(/^[0-9a-f]{32}$/);
      expect(Number.isNaN(signal.occurredAt.getTime())).toBe(false);
      expect(["firing", "resolved"]).toContain(signal.status);
    }
  }

  it("never throws on arbitrary JSON", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.option(resources, { nil: undefined }), (body, resource) => {
        checkShape(run(body, resource));
      }),
    );
  });

  it("never throws on envelopes with arbitrary data", () => {
    const key = fc.constantFrom("event", "error", "issue", "metric_alert");
    fc.assert(
      fc.property(
        fc.constantFrom("triggered", "created", "resolved", "critical", "unresolved"),
        key,
        fc.jsonValue(),
        fc.option(resources, { nil: undefined }),
        (action, dataKey, value, resource) => {
          checkShape(run({ action, data: { [dataKey]: value } }, resource));
        },
      ),
    );
  });

  it("never throws on an event whose fields are replaced by arbitrary JSON", () => {
    const event = (fixture("event-alert-triggered.json")["data"] as { event: Record<string, unknown> }).event;
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(event)), fc.jsonValue(), (field, value) => {
        checkShape(
          run({ action: "triggered", data: { event: { ...event, [field]: value } } }, "event_alert"),
        );
      }),
    );
  });
});
