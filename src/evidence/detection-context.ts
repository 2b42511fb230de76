import { sql } from "drizzle-orm";
import { withOrg } from "../../db/client.ts";
import { systemContext } from "../context.ts";
import { AppError, IntegrationError } from "../errors.ts";
import type { EvidenceDeps } from "./checkpoints.ts";

/**
 * Detection context: for an anomaly raised by Datadog, Grafana or SigNoz in an org with an integration of
 * that provider, fetch through the query proxy (server-side credentials, allow-listed read-only
 * operations, each call audited as `proxy.query`) the rule that fired (name, query, threshold, window,
 * notification targets) and the series or log count around first-seen, and store it next to the anomaly.
 * It runs from the worker's schedule, never from ingest, so it cannot hold an anomaly up; a failed fetch
 * is recorded (status failed, last error, attempts) and retried with exponential backoff up to
 * MAX_ATTEMPTS, except failures that cannot get better (no credential, unknown monitor) which stop at once.
 */

export const CONTEXT_PROVIDERS = ["datadog", "grafana", "signoz"] as const;
export const MAX_ATTEMPTS = 5;
/** The proxy refuses ranges over 7 days; anomalies older than this are not fetched. */
const MAX_AGE_DAYS = 6;
const AROUND_MS = 30 * 60_000;
const MAX_POINTS = 120;

export interface ProxyRunner {
  run(
    ctx: ReturnType<typeof systemContext>,
    provider: string,
    operation: string,
    input: { params: Record<string, unknown> },
  ): Promise<{ data: unknown; truncated: boolean }>;
}

type Raw = Record<string, unknown>;

class Permanent extends Error {}

function around(firstSeen: Date, now: Date): { from: string; to: string } {
  const to = new Date(Math.min(firstSeen.getTime() + AROUND_MS, now.getTime()));
  const from = new Date(Math.min(firstSeen.getTime() - AROUND_MS, to.getTime() - 60_000));
  return { from: from.toISOString(), to: to.toISOString() };
}

function summarize(points: Array<[number, number | null]>): Raw {
  const values = points.map(([, v]) => v).filter((v): v is number => typeof v === "number");
  const step = Math.max(1, Math.ceil(points.length / MAX_POINTS));
  return {
    points: points.filter((_, i) => i % step === 0),
    ...(values.length ? { min: Math.min(...values), max: Math.max(...values) } : {}),
  };
}

/** `@slack-ops @pagerduty-checkout please look` → the handles Datadog notifies. */
function mentions(text: unknown): string[] {
  return typeof text === "string" ? [...new Set(text.match(/@[\w.+-]+(@[\w.-]+)?/g) ?? [])].slice(0, 20) : [];
}

async function datadogContext(proxy: ProxyRunner, orgId: string, signal: Raw, firstSeen: Date, now: Date) {
  const ctx = systemContext(orgId, "evidence.detection-context");
  const monitorId = Number((signal.data as Raw | undefined)?.alertId);
  if (!Number.isInteger(monitorId) || monitorId <= 0) throw new Permanent("the alert carries no monitor id");
  const monitor = (await proxy.run(ctx, "datadog", "monitors.get", { params: { monitorId } })).data as Raw;
  const query = String(monitor.query ?? "");
  const options = (monitor.options ?? {}) as Raw;
  const rule = {
    id: monitorId,
    name: monitor.name ?? null,
    type: monitor.type ?? null,
    query,
    threshold: options.thresholds ?? null,
    window: /\(last_(\w+)\)/.exec(query)?.[1] ?? null,
    evaluationDelaySeconds: options.evaluation_delay ?? null,
    targets: mentions(monitor.message),
  };
  const range = around(firstSeen, now);
  const logs = /^logs\("(.*)"\)/.exec(query);
  if (logs) {
    const res = await proxy.run(ctx, "datadog", "logs.search", {
      params: { ...range, query: logs[1]!, limit: 1_000 },
    });
    const count = Array.isArray((res.data as Raw)?.data) ? ((res.data as Raw).data as unknown[]).length : 0;
    return { rule, series: { kind: "log_count", ...range, count, capped: count >= 1_000 } };
  }
  // `avg(last_5m):avg:system.cpu.user{service:checkout} > 80` → the metric query inside.
  const metric = query
    .replace(/^[a-z0-9_]+\(last_\w+\):/i, "")
    .replace(/\s*(>=|<=|>|<|==|!=)\s*-?[\d.]+\s*$/, "")
    .trim();
  if (!metric) return { rule, series: null };
  const res = (await proxy.run(ctx, "datadog", "metrics.query", { params: { ...range, query: metric } }))
    .data as Raw;
  const first = (Array.isArray(res.series) ? res.series[0] : undefined) as Raw | undefined;
  const points = (Array.isArray(first?.pointlist) ? first.pointlist : []) as Array<[number, number | null]>;
  return { rule, series: { kind: "metric", query: metric, ...range, ...summarize(points) } };
}

async function grafanaContext(proxy: ProxyRunner, orgId: string, signal: Raw, firstSeen: Date, now: Date) {
  const ctx = systemContext(orgId, "evidence.detection-context");
  const labels = (signal.labels ?? {}) as Record<string, string>;
  const data = (signal.data ?? {}) as Raw;
  const links = (Array.isArray(signal.links) ? signal.links : []) as Array<{ rel: string; url: string }>;
  const fromUrl = links
    .map((l) => /\/alerting\/grafana\/([^/]+)\/view/.exec(l.url)?.[1])
    .find((u): u is string => !!u);
  const uid = (data.ruleUid as string | undefined) ?? labels.__alert_rule_uid__ ?? fromUrl;
  const rules = (await proxy.run(ctx, "grafana", "alertRules.list", { params: {} })).data;
  const list = (Array.isArray(rules) ? rules : []) as Raw[];
  const found =
    (uid ? list.find((r) => r.uid === uid) : undefined) ?? list.find((r) => r.title === labels.alertname);
  if (!found) throw new Permanent(`no Grafana alert rule ${uid ?? labels.alertname ?? ""} found`);
  const queries = (Array.isArray(found.data) ? found.data : []) as Raw[];
  const source = queries.find((q) => q.datasourceUid && q.datasourceUid !== "__expr__");
  const threshold = queries.find((q) => (q.model as Raw | undefined)?.type === "threshold");
  const rule = {
    uid: found.uid,
    name: found.title ?? null,
    folder: found.folderUID ?? null,
    group: found.ruleGroup ?? null,
    query: source ? ((source.model as Raw)?.expr ?? source.model ?? null) : null,
    threshold: threshold ? ((threshold.model as Raw)?.conditions ?? null) : null,
    condition: found.condition ?? null,
    window: found.for ?? null,
    targets: [
      ...new Set(
        [(found.notification_settings as Raw | undefined)?.receiver, data.receiver].filter(
          (r): r is string => typeof r === "string",
        ),
      ),
    ],
  };
  if (!source) return { rule, series: null };
  const range = around(firstSeen, now);
  const res = (
    await proxy.run(ctx, "grafana", "datasource.query", {
      params: {
        ...range,
        datasourceUid: source.datasourceUid,
        queries: [{ ...((source.model as Raw) ?? {}), refId: String(source.refId ?? "A") }],
      },
    })
  ).data as Raw;
  const frame = Object.values((res.results ?? {}) as Record<string, Raw>)[0]?.frames as Raw[] | undefined;
  const values = ((frame?.[0]?.data as Raw | undefined)?.values ?? []) as unknown[][];
  const times = (values[0] ?? []) as number[];
  const nums = (values[1] ?? []) as Array<number | null>;
  const points = times.map((t, i) => [t, nums[i] ?? null] as [number, number | null]);
  return { rule, series: { kind: "metric", ...range, ...summarize(points) } };
}

/** SigNoz's comparison operators and match types, numeric (older rules) or named (newer), in words. */
const SIGNOZ_OPS: Record<string, string> = Object.fromEntries(
  (
    [
      [["1", "above", ">"], "above"],
      [["2", "below", "<"], "below"],
      [["3", "equal", "eq", "="], "equal to"],
      [["4", "not_equal", "not_eq", "!="], "not equal to"],
      [["5", "above_or_equal", "above_or_eq", ">="], "at or above"],
      [["6", "below_or_equal", "below_or_eq", "<="], "at or below"],
      [["7", "outside_bounds"], "outside the bounds of"],
    ] as const
  ).flatMap(([codes, words]) => codes.map((c) => [c, words])),
);
const SIGNOZ_MATCH: Record<string, string> = Object.fromEntries(
  (
    [
      [["1", "atleast_once"], "at least once"],
      [["2", "all_the_times"], "all the time"],
      [["3", "on_average", "avg"], "on average"],
      [["4", "in_total", "sum"], "in total"],
      [["5", "last"], "at the last point"],
    ] as const
  ).flatMap(([codes, words]) => codes.map((c) => [c, words])),
);

/** The query a SigNoz rule evaluates when it names none: F1 if present, else the last name (as SigNoz does). */
function signozSelectedQuery(queries: Raw[]): string | null {
  const names = queries
    .map((q) => q.spec as Raw | undefined)
    .filter((spec) => spec && spec.disabled !== true && typeof spec.name === "string")
    .map((spec) => spec!.name as string)
    .sort();
  return names.includes("F1") ? "F1" : (names.at(-1) ?? null);
}

/** The series of a grouped answer that is the alert's own: every label of it matches the alert's labels. */
function signozSeriesOf(series: Raw[], alertLabels: Record<string, string>): Raw | undefined {
  const labelsOf = (s: Raw) =>
    (Array.isArray(s.labels) ? s.labels : []) as Array<{ key?: { name?: string }; value?: unknown }>;
  return (
    series.find((s) => {
      const labels = labelsOf(s);
      return (
        labels.length > 0 &&
        labels.every((l) => {
          const name = l.key?.name ?? "";
          const alertValue = alertLabels[name] ?? alertLabels[name.replace(/\./g, "_")];
          return alertValue !== undefined && alertValue === String(l.value);
        })
      );
    }) ?? series[0]
  );
}

/**
 * SigNoz: the rule by the alert's `ruleId` label (`GET /api/v1/rules/{id}`), then its own query over the
 * window around first-seen (`/api/v5/query_range`). Rules in the pre-v5 query format, and ClickHouse SQL
 * queries (which the proxy refuses to run), get the rule without a series, and the context says why.
 */
async function signozContext(proxy: ProxyRunner, orgId: string, signal: Raw, firstSeen: Date, now: Date) {
  const ctx = systemContext(orgId, "evidence.detection-context");
  const labels = (signal.labels ?? {}) as Record<string, string>;
  const links = (Array.isArray(signal.links) ? signal.links : []) as Array<{ rel: string; url: string }>;
  const ruleId =
    labels.ruleId ??
    links.map((l) => /[?&]ruleId=([A-Za-z0-9-]{1,64})/.exec(l.url)?.[1]).find((id): id is string => !!id);
  if (!ruleId) throw new Permanent("the alert carries no SigNoz rule id");
  const answer = (await proxy.run(ctx, "signoz", "rules.get", { params: { ruleId } })).data as Raw | null;
  const found = answer?.data as Raw | undefined;
  if (!found || typeof found !== "object") throw new Permanent(`SigNoz returned no rule ${ruleId}`);
  const condition = (found.condition ?? {}) as Raw;
  const composite = (condition.compositeQuery ?? {}) as Raw;
  const queries = (Array.isArray(composite.queries) ? composite.queries : []) as Raw[];
  // Older rules keep their queries in maps by name (builderQueries, promQueries, chQueries).
  const legacy = Object.fromEntries(
    ["builderQueries", "promQueries", "chQueries"]
      .filter((k) => composite[k] && Object.keys(composite[k] as Raw).length > 0)
      .map((k) => [k, composite[k]]),
  );
  const selected =
    (typeof condition.selectedQueryName === "string" && condition.selectedQueryName) ||
    signozSelectedQuery(queries);
  // Rules of schema v2alpha1 list thresholds (each with its channels); v1 rules have one, inline.
  const specs = (
    Array.isArray((condition.thresholds as Raw | undefined)?.spec) ? (condition.thresholds as Raw).spec : []
  ) as Raw[];
  const thresholds = (
    specs.length
      ? specs
      : [
          {
            name: labels.severity,
            target: condition.target,
            op: condition.op,
            matchType: condition.matchType,
            targetUnit: condition.targetUnit,
          },
        ]
  ).map((t) => ({
    name: t.name ?? null,
    target: t.target ?? null,
    op: t.op ?? null,
    matchType: t.matchType ?? null,
    unit: t.targetUnit ?? null,
  }));
  const evaluation = ((found.evaluation as Raw | undefined)?.spec ?? {}) as Raw;
  const window = (found.evalWindow ?? evaluation.evalWindow ?? null) as string | null;
  const channels = [
    ...(Array.isArray(found.preferredChannels) ? found.preferredChannels : []),
    ...specs.flatMap((t) => (Array.isArray(t.channels) ? t.channels : [])),
  ].filter((c): c is string => typeof c === "string");
  // "A above 500 ms at least once in 5m0s": the rule that broke, as SigNoz's rule editor words it.
  const described = thresholds
    .filter((t) => t.target !== null)
    .map((t) =>
      [
        selected,
        SIGNOZ_OPS[String(t.op)] ?? t.op,
        `${t.target}${t.unit ? ` ${t.unit}` : ""}`,
        SIGNOZ_MATCH[String(t.matchType)] ?? t.matchType,
        window ? `in ${window}` : null,
      ]
        .filter((part) => part !== null && part !== undefined && part !== "")
        .join(" "),
    );
  const rule = {
    id: found.id ?? ruleId,
    name: found.alert ?? labels.alertname ?? null,
    type: found.alertType ?? null,
    ruleType: found.ruleType ?? null,
    queryType: composite.queryType ?? null,
    query: queries.length ? queries : Object.keys(legacy).length ? legacy : null,
    selectedQuery: selected ?? null,
    threshold: thresholds,
    condition: described.length ? described.join("; ") : null,
    window,
    frequency: found.frequency ?? evaluation.frequency ?? null,
    targets: [...new Set(channels)].slice(0, 20),
    source: found.source ?? labels.ruleSource ?? null,
  };

  const runnable = queries.filter((q) => q.type !== "clickhouse_sql");
  if (!queries.length) {
    return { rule, series: null, note: "the rule predates SigNoz's v5 query format; no series was fetched" };
  }
  if (!runnable.length) {
    return {
      rule,
      series: null,
      note: "the rule's queries are ClickHouse SQL, which the query proxy does not run",
    };
  }
  const range = around(firstSeen, now);
  const res = (
    await proxy.run(ctx, "signoz", "query_range", {
      params: { ...range, requestType: "time_series", compositeQuery: { queries: runnable } },
    })
  ).data as Raw | null;
  const results = (
    (((res?.data as Raw | undefined)?.data as Raw | undefined)?.results ?? []) as Raw[]
  ).filter((r) => r && typeof r === "object");
  const result = results.find((r) => r.queryName === selected) ?? results[0];
  const series = ((Array.isArray(result?.aggregations) ? result.aggregations : []) as Raw[]).flatMap(
    (a) => (Array.isArray(a.series) ? a.series : []) as Raw[],
  );
  const own = signozSeriesOf(series, labels);
  const values = (Array.isArray(own?.values) ? own.values : []) as Raw[];
  const points = values.map(
    (v) => [Number(v.timestamp), typeof v.value === "number" ? v.value : null] as [number, number | null],
  );
  const seriesLabels = Object.fromEntries(
    ((Array.isArray(own?.labels) ? own.labels : []) as Array<{ key?: { name?: string }; value?: unknown }>)
      .filter((l) => typeof l.key?.name === "string")
      .map((l) => [l.key!.name!, l.value]),
  );
  return {
    rule,
    series: {
      kind: "metric",
      query: selected ?? null,
      ...range,
      labels: seriesLabels,
      seriesCount: series.length,
      ...summarize(points),
    },
  };
}

function isPermanent(error: unknown): boolean {
  if (error instanceof Permanent) return true;
  if (error instanceof IntegrationError) return error.retryable === false;
  // No integration, no credential of the needed kind, a bad parameter: retrying changes nothing.
  return error instanceof AppError && ["not_found", "bad_request", "validation_failed"].includes(error.code);
}

function describe(error: unknown): string {
  if (error instanceof AppError) return `${error.code}: ${error.detail ?? ""}`.slice(0, 500);
  if (error instanceof Error) return error.message.slice(0, 500);
  return "failed";
}

/** Fetches one anomaly's context and records the outcome (ok, or failed with the error and attempts). */
export async function fetchDetectionContext(
  deps: EvidenceDeps & { proxy: ProxyRunner },
  orgId: string,
  anomalyId: string,
  now = new Date(),
): Promise<"ok" | "failed" | "skipped"> {
  // Claim: a row per anomaly, attempts + 1; two workers never fetch the same anomaly at once.
  const claimed = await withOrg(deps.db, orgId, async (tx) => {
    const rows = await tx.execute<{
      attempts: number;
      provider: string;
      first_seen_at: Date;
      payload: Raw;
    }>(sql`
      with a as (select id, org_id, source, first_seen_at from anomalies where id = ${anomalyId}),
      claim as (
        insert into anomaly_detection_context (org_id, anomaly_id, provider, status, attempts, updated_at)
        select org_id, id, source, 'pending', 1, now() from a
        on conflict (anomaly_id) do update set attempts = anomaly_detection_context.attempts + 1, updated_at = now()
          where anomaly_detection_context.status <> 'ok' and anomaly_detection_context.attempts < ${MAX_ATTEMPTS}
        returning attempts, provider
      )
      select claim.attempts, claim.provider, a.first_seen_at,
        (select s.payload from signals s where s.anomaly_id = a.id order by s.occurred_at limit 1) as payload
      from claim, a`);
    return rows[0];
  });
  if (!claimed) return "skipped";
  const firstSeen = new Date(claimed.first_seen_at);
  const signal = (claimed.payload ?? {}) as Raw;
  try {
    const context =
      claimed.provider === "datadog"
        ? await datadogContext(deps.proxy, orgId, signal, firstSeen, now)
        : claimed.provider === "grafana"
          ? await grafanaContext(deps.proxy, orgId, signal, firstSeen, now)
          : await signozContext(deps.proxy, orgId, signal, firstSeen, now);
    await withOrg(deps.db, orgId, (tx) =>
      tx.execute(sql`
        update anomaly_detection_context
        set status = 'ok', context = ${JSON.stringify(context)}::jsonb, last_error = null, fetched_at = now(),
            updated_at = now()
        where anomaly_id = ${anomalyId}`),
    );
    return "ok";
  } catch (error) {
    const permanent = isPermanent(error);
    deps.logger.warn(
      { orgId, anomalyId, attempt: claimed.attempts, permanent, code: (error as AppError).code },
      "detection context fetch failed",
    );
    await withOrg(deps.db, orgId, (tx) =>
      tx.execute(sql`
        update anomaly_detection_context
        set status = 'failed', last_error = ${describe(error)}, updated_at = now(),
            attempts = case when ${permanent} then greatest(attempts, ${MAX_ATTEMPTS}) else attempts end
        where anomaly_id = ${anomalyId}`),
    );
    return "failed";
  }
}

/**
 * One scheduled pass: anomalies of the last days from a context provider, in orgs with a live integration
 * of that provider, with no context yet or a failed one whose backoff (1, 2, 4, 8 minutes) has passed.
 */
export async function detectionContextDue(
  deps: EvidenceDeps & { proxy: ProxyRunner },
  limit = 50,
): Promise<Array<{ anomalyId: string; outcome: string }>> {
  const rows = await deps.db.owner.execute<{ id: string; org_id: string }>(sql`
    select a.id, a.org_id
    from anomalies a
    left join anomaly_detection_context dc on dc.anomaly_id = a.id
    where a.source in ('datadog', 'grafana', 'signoz')
      and a.detected_at > now() - ${`${MAX_AGE_DAYS} days`}::interval
      and exists (
        select 1 from integrations i
        where i.org_id = a.org_id and i.provider = a.source and i.deleted_at is null
      )
      and (
        dc.anomaly_id is null
        or (dc.status <> 'ok' and dc.attempts < ${MAX_ATTEMPTS}
            and dc.updated_at < now() - make_interval(mins => power(2, greatest(dc.attempts - 1, 0))::int))
      )
    order by a.detected_at
    limit ${limit}`);
  const out: Array<{ anomalyId: string; outcome: string }> = [];
  for (const r of rows) {
    out.push({ anomalyId: r.id, outcome: await fetchDetectionContext(deps, r.org_id, r.id) });
  }
  return out;
}
