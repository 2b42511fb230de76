import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PROXY_OPERATIONS, PROXY_PROVIDERS, proxyOperationNames } from "./proxy-operations.ts";

const operations = PROXY_PROVIDERS.flatMap((provider) =>
  Object.entries(PROXY_OPERATIONS[provider]).map(([name, op]) => ({ id: `${provider}/${name}`, op })),
);

describe("proxy operations", () => {
  it("allow-lists exactly the read-only operations", () => {
    expect(proxyOperationNames()).toEqual([
      "datadog/logs.search",
      "datadog/metrics.query",
      "datadog/monitors.get",
      "datadog/monitors.search",
      "datadog/events.list",
      "grafana/datasource.query",
      "grafana/alertRules.list",
      "signoz/query_range",
      "signoz/rules.get",
    ]);
  });

  it("never throws on arbitrary params, only reports issues", () => {
    const isoish = fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.string(),
      fc.integer(),
      fc.constant(null),
    );
    const params = fc.oneof(
      fc.jsonValue(),
      fc.record({ from: isoish, to: isoish }, { requiredKeys: [] }),
      fc.record(
        { from: isoish, to: isoish, query: fc.string(), monitorId: fc.oneof(fc.integer(), fc.string()) },
        { requiredKeys: [] },
      ),
    );
    for (const { id, op } of operations) {
      fc.assert(
        fc.property(params, (value) => {
          const result = op.params.safeParse(value);
          if (!result.success) expect(result.error.issues.length, id).toBeGreaterThan(0);
        }),
        { numRuns: 200 },
      );
    }
  });
});
