import { z } from "zod";
import type { DatadogClient } from "../../integrations/datadog/client.ts";
import type { GrafanaClient } from "../../integrations/grafana/client.ts";
import type { SignozClient } from "../../integrations/signoz/client.ts";

/**
 * The query proxy's allow-list: every operation is read-only, has its own input schema and maps to one
 * client call. Anything not listed here cannot be reached through the proxy.
 */

export const MAX_RANGE_DAYS = 7;
const MAX_RANGE_MS = MAX_RANGE_DAYS * 24 * 60 * 60 * 1000;
// Clocks disagree a little; "now" on the caller's side may be a few seconds ahead of ours.
const FUTURE_SKEW_MS = 60_000;

const instant = z.iso.datetime({ offset: true }).transform((s) => new Date(s));

/** An operation's params with a bounded `from`/`to` range: ordered, at most 7 days, not in the future. */
function withTimeRange<T extends z.ZodRawShape>(shape: T) {
  return z.strictObject({ ...shape, from: instant, to: instant }).superRefine((value, ctx) => {
    const { from, to } = value as { from: unknown; to: unknown };
    // zod still runs this refinement when a field failed; those issues are reported already.
    if (!(from instanceof Date) || !(to instanceof Date)) return;
    if (to.getTime() <= from.getTime()) {
      ctx.addIssue({ code: "custom", path: ["to"], message: "must be after from" });
    } else if (to.getTime() - from.getTime() > MAX_RANGE_MS) {
      ctx.addIssue({
        code: "custom",
        path: ["from"],
        message: `the range must not exceed ${MAX_RANGE_DAYS} days`,
      });
    }
    if (to.getTime() > Date.now() + FUTURE_SKEW_MS) {
      ctx.addIssue({ code: "custom", path: ["to"], message: "must not be in the future" });
    }
  });
}

export interface ProxyOperation<Client> {
  params: z.ZodType;
  run(client: Client, params: unknown): Promise<unknown>;
}

/** Ties an operation's schema to its call at compile time, then erases the params type for the table. */
function operation<Client, S extends z.ZodType>(
  params: S,
  run: (client: Client, params: z.output<S>) => Promise<unknown>,
): ProxyOperation<Client> {
  return { params, run: (client, p) => run(client, p as z.output<S>) };
}

const datadogOperations = {
  "logs.search": operation(
    withTimeRange({
      query: z.string().max(4_000).default("*"),
      indexes: z
        .array(z.string().regex(/^[A-Za-z0-9_.*-]{1,100}$/, "must be a log index name"))
        .max(20)
        .optional(),
      limit: z.int().min(1).max(1_000).default(50),
      cursor: z.string().max(2_000).optional(),
      sort: z.enum(["timestamp", "-timestamp"]).default("-timestamp"),
    }),
    (client: DatadogClient, p) => client.searchLogs(p),
  ),
  "metrics.query": operation(
    withTimeRange({ query: z.string().min(1).max(4_000) }),
    (client: DatadogClient, p) => client.queryMetrics(p),
  ),
  "monitors.get": operation(z.strictObject({ monitorId: z.int().positive() }), (client: DatadogClient, p) =>
    client.getMonitor(p),
  ),
  "monitors.search": operation(
    z.strictObject({
      query: z.string().max(2_000).optional(),
      page: z.int().min(0).max(10_000).optional(),
      perPage: z.int().min(1).max(100).default(30),
    }),
    (client: DatadogClient, p) => client.searchMonitors(p),
  ),
  "events.list": operation(
    withTimeRange({
      query: z.string().max(2_000).optional(),
      limit: z.int().min(1).max(1_000).default(50),
      cursor: z.string().max(2_000).optional(),
    }),
    (client: DatadogClient, p) => client.listEvents(p),
  ),
};

const grafanaQuery = z
  .looseObject({ refId: z.string().min(1).max(40) })
  // SQL datasources would run whatever statement they are given; only their own (read-only) query
  // editors' structured forms may come through here.
  .refine((q) => !("rawSql" in q), "raw SQL queries are not allowed through the proxy");

const grafanaOperations = {
  "datasource.query": operation(
    withTimeRange({
      datasourceUid: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, "must be a datasource uid"),
      queries: z.array(grafanaQuery).min(1).max(10),
    }),
    (client: GrafanaClient, p) => client.queryDatasource(p),
  ),
  "alertRules.list": operation(z.strictObject({}), (client: GrafanaClient) => client.listAlertRules()),
};

const signozQuery = z
  .looseObject({ type: z.string().regex(/^[a-z_]{1,40}$/, "must be a query type") })
  .refine((q) => q.type !== "clickhouse_sql", "raw ClickHouse SQL is not allowed through the proxy");

const signozOperations = {
  query_range: operation(
    withTimeRange({
      requestType: z.enum(["time_series", "scalar", "raw", "trace", "distribution"]).default("time_series"),
      compositeQuery: z.looseObject({ queries: z.array(signozQuery).min(1).max(20) }),
      variables: z.record(z.string(), z.unknown()).optional(),
    }),
    (client: SignozClient, p) => client.queryRange(p),
  ),
  "rules.get": operation(
    // Numeric in older SigNoz, a UUID in newer: either way a single path segment.
    z.strictObject({ ruleId: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "must be a SigNoz rule id") }),
    (client: SignozClient, p) => client.getRule(p),
  ),
};

export const PROXY_OPERATIONS = {
  datadog: datadogOperations,
  grafana: grafanaOperations,
  signoz: signozOperations,
} as const;

export type ProxyProvider = keyof typeof PROXY_OPERATIONS;

export const PROXY_PROVIDERS = Object.keys(PROXY_OPERATIONS) as ProxyProvider[];

/** Every `provider/operation` the proxy serves, for documentation and error messages. */
export function proxyOperationNames(): string[] {
  return PROXY_PROVIDERS.flatMap((p) => Object.keys(PROXY_OPERATIONS[p]).map((o) => `${p}/${o}`));
}
