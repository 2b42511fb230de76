import "@hono/zod-openapi"; // extends zod with .openapi() before the proxy module loads
import { randomBytes, randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { anomalyDetectionContext, auditLog, deliveries, signals } from "../../db/schema/index.ts";
import { createDatadogClient } from "../../integrations/datadog/client.ts";
import { createGrafanaClient } from "../../integrations/grafana/client.ts";
import { createSignozClient } from "../../integrations/signoz/client.ts";
import { parseMasterKeys } from "../../src/credentials/keyring.ts";
import { QueryProxy } from "../../src/credentials/proxy.ts";
import { CredentialStore } from "../../src/credentials/store.ts";
import { detectionContextDue, MAX_ATTEMPTS } from "../../src/evidence/detection-context.ts";
import { parseCheckpointKey } from "../../src/evidence/signer.ts";
import { type FakeDatadog, startFakeDatadog } from "../fakes/datadog.ts";
import { type FakeGrafana, startFakeGrafana } from "../fakes/grafana.ts";
import { type FakeSignoz, startFakeSignoz } from "../fakes/signoz.ts";
import { jsonOf, useTestApp } from "../harness/app.ts";
import { makeOrg } from "../harness/factories.ts";
import { EvidenceSeed } from "./seed.ts";

describe("detection context", async () => {
  const t = await useTestApp();
  const db = t.database.db;
  let datadog: FakeDatadog;
  let grafana: FakeGrafana;
  let signoz: FakeSignoz;
  beforeAll(async () => {
    [datadog, grafana, signoz] = await Promise.all([
      startFakeDatadog(),
      startFakeGrafana(),
      startFakeSignoz(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([datadog?.close(), grafana?.close(), signoz?.close()]);
  });

  const deps = () => ({
    db,
    logger: pino({ level: "silent" }),
    key: parseCheckpointKey(t.keys.checkpointKey),
    // The real proxy and the real vendor clients, pointed at the fakes through the integrations' config.
    proxy: new QueryProxy({
      db,
      store: new CredentialStore(parseMasterKeys(t.keys.masterKeys)),
      clients: { datadog: createDatadogClient, grafana: createGrafanaClient, signoz: createSignozClient },
      timeoutMs: 2_000,
      maxUpstreamBytes: 8 * 1024 * 1024,
      maxResponseBytes: 1024 * 1024,
    }),
  });

  async function integration(apiKey: string, body: Record<string, unknown>) {
    const res = await t.request("/api/v1/integrations", { method: "POST", apiKey, json: body });
    expect(res.status, await res.clone().text()).toBe(201);
    return (await jsonOf(res)).id as string;
  }

  /** An anomaly with the signal that opened it, as ingest stores them. */
  async function anomalyWithSignal(
    orgId: string,
    integrationId: string,
    source: string,
    signal: Record<string, unknown>,
  ) {
    const seed = new EvidenceSeed(db, orgId);
    const detectedAt = new Date(Date.now() - 10 * 60_000);
    const anomaly = await seed.anomaly({ title: String(signal.title), detectedAt, source });
    await withOrg(db, orgId, async (tx) => {
      const deliveryId = randomUUID();
      await tx.insert(deliveries).values({
        id: deliveryId,
        orgId,
        integrationId,
        provider: source,
        deliveryKey: randomBytes(8).toString("hex"),
        receivedAt: detectedAt,
        headers: {},
        body: Buffer.from("{}"),
        status: "processed",
      });
      await tx.insert(signals).values({
        orgId,
        deliveryId,
        anomalyId: anomaly.id,
        kind: "metric",
        source,
        fingerprint: anomaly.fingerprint,
        title: String(signal.title),
        severity: "high",
        status: "firing",
        occurredAt: detectedAt,
        receivedAt: detectedAt,
        payload: signal,
      });
    });
    return anomaly;
  }

  const contextOf = (orgId: string, anomalyId: string) =>
    withOrg(db, orgId, async (tx) => {
      const [row] = await tx
        .select()
        .from(anomalyDetectionContext)
        .where(eq(anomalyDetectionContext.anomalyId, anomalyId));
      return row;
    });

  /** Moves a failed fetch's last attempt past the backoff; the next scan retries it and succeeds. */
  async function expectRetrySucceeds(orgId: string, anomalyId: string) {
    await withOrg(db, orgId, (tx) =>
      tx
        .update(anomalyDetectionContext)
        .set({ updatedAt: new Date(Date.now() - 5 * 60_000) })
        .where(eq(anomalyDetectionContext.anomalyId, anomalyId)),
    );
    expect(await detectionContextDue(deps())).toContainEqual({ anomalyId, outcome: "ok" });
    expect(await contextOf(orgId, anomalyId)).toMatchObject({ status: "ok", attempts: 2, lastError: null });
  }

  it("fetches a Datadog monitor's definition and series through the proxy and shows it in CC7.1", async () => {
    const o = await makeOrg(db);
    const [ddApi, ddApp] = [randomBytes(16).toString("hex"), randomBytes(16).toString("hex")];
    datadog.allow(ddApi, ddApp);
    datadog.monitors.set(4242, {
      id: 4242,
      name: "Checkout CPU high",
      type: "metric alert",
      query: "avg(last_5m):avg:system.cpu.user{service:checkout} > 80",
      message: "CPU is high @slack-ops @pagerduty-checkout",
      options: { thresholds: { critical: 80, warning: 70 }, evaluation_delay: 60 },
    });
    const integrationId = await integration(o.apiKey, {
      provider: "datadog",
      name: "dd",
      config: { apiBaseUrl: datadog.url },
      secrets: { apiKey: ddApi, applicationKey: ddApp },
    });
    const anomaly = await anomalyWithSignal(o.org.id, integrationId, "datadog", {
      title: "Checkout CPU high",
      labels: { service: "checkout" },
      data: { alertId: "4242" },
    });

    const ran = await detectionContextDue(deps());
    expect(ran).toContainEqual({ anomalyId: anomaly.id, outcome: "ok" });
    const row = await contextOf(o.org.id, anomaly.id);
    expect(row?.status).toBe("ok");
    expect(row?.context).toMatchObject({
      rule: {
        id: 4242,
        name: "Checkout CPU high",
        threshold: { critical: 80, warning: 70 },
        window: "5m",
        targets: ["@slack-ops", "@pagerduty-checkout"],
      },
      series: { kind: "metric", query: "avg:system.cpu.user{service:checkout}", max: 80.25 },
    });
    // What the fake received: the monitor read, then the metric query around first-seen.
    const paths = datadog.requests.slice(-2).map((r) => r.path);
    expect(paths).toEqual(["/api/v1/monitor/4242", "/api/v1/query"]);
    expect(datadog.requests.at(-1)?.query.query).toBe("avg:system.cpu.user{service:checkout}");
    // Each vendor call is audited as a proxy query by the evidence job.
    const audited = await withOrg(db, o.org.id, (tx) => tx.select().from(auditLog));
    expect(
      audited.filter((e) => e.action === "proxy.query" && e.actorId === "evidence.detection-context"),
    ).toHaveLength(2);
    // Done once: the next pass leaves it alone.
    expect((await detectionContextDue(deps())).map((r) => r.anomalyId)).not.toContain(anomaly.id);

    const admin = await t.request("/api/v1/compliance/cc7.1?period=7", { apiKey: o.apiKey });
    const bundle = await jsonOf(admin);
    const facts = bundle.rows.find(
      (r: { entry: { subject: { id: string } } }) => r.entry.subject.id === anomaly.id,
    ).entry.data.facts;
    expect(facts.rule.detectionContext).toMatchObject({
      status: "ok",
      context: { rule: { name: "Checkout CPU high" } },
    });
  });

  it("fetches a Grafana rule by uid and its datasource series", async () => {
    const o = await makeOrg(db);
    const token = `glsa_${randomBytes(16).toString("hex")}`;
    grafana.allow(token);
    const integrationId = await integration(o.apiKey, {
      provider: "grafana",
      name: "grafana",
      config: { url: grafana.url },
      secrets: { apiToken: token },
    });
    const anomaly = await anomalyWithSignal(o.org.id, integrationId, "grafana", {
      title: "High error rate",
      labels: { alertname: "High error rate" },
      data: { ruleUid: "high-error-rate", receiver: "ops-pager" },
    });
    await detectionContextDue(deps());
    const row = await contextOf(o.org.id, anomaly.id);
    expect(row?.status).toBe("ok");
    expect(row?.context).toMatchObject({
      rule: {
        uid: "high-error-rate",
        name: "High error rate",
        query: "rate(errors[5m])",
        window: "5m",
        targets: ["ops-pager"],
      },
      series: { kind: "metric", max: 0.9 },
    });
    expect(grafana.requests.at(-1)?.path).toBe("/api/ds/query");
  });

  /** A SigNoz integration whose API key the fake accepts. */
  async function signozIntegration(apiKey: string) {
    const key = `sz_${randomBytes(16).toString("hex")}`;
    signoz.allow(key);
    const id = await integration(apiKey, {
      provider: "signoz",
      name: "signoz",
      config: { url: signoz.url },
      secrets: { apiKey: key },
    });
    return { id, key };
  }

  /** A rule as SigNoz's GET /api/v1/rules/{id} returns it (v5 queries, schema v1 inline threshold). */
  const p99Query = {
    type: "builder_query",
    spec: {
      name: "A",
      signal: "metrics",
      aggregations: [
        { metricName: "http_server_duration", timeAggregation: "rate", spaceAggregation: "p99" },
      ],
      filter: { expression: "deployment.environment = 'production'" },
      groupBy: [{ name: "service.name", fieldContext: "resource" }],
    },
  };
  const signozRule = (id: string) => ({
    id,
    state: "firing",
    alert: "High p99 latency",
    alertType: "METRIC_BASED_ALERT",
    ruleType: "threshold_rule",
    evalWindow: "5m0s",
    frequency: "1m0s",
    condition: {
      compositeQuery: { queryType: "builder", panelType: "graph", queries: [p99Query] },
      op: "1",
      target: 500,
      matchType: "1",
      targetUnit: "ms",
      selectedQueryName: "A",
    },
    labels: { severity: "critical" },
    annotations: { summary: "p99 latency of {{$service_name}} is {{$value}}" },
    disabled: false,
    source: `https://signoz.example.com/alerts/edit?ruleId=${id}`,
    preferredChannels: ["slack-ops", "pagerduty-checkout"],
    version: "v5",
  });

  it("reads a SigNoz rule by the alert's ruleId and runs the rule's own query around first-seen", async () => {
    const o = await makeOrg(db);
    const { id: integrationId, key } = await signozIntegration(o.apiKey);
    const ruleId = randomUUID();
    signoz.rules.set(ruleId, signozRule(ruleId));
    const anomaly = await anomalyWithSignal(o.org.id, integrationId, "signoz", {
      title: "High p99 latency",
      labels: { alertname: "High p99 latency", ruleId, service_name: "checkout", severity: "critical" },
      links: [{ rel: "rule", url: `https://signoz.example.com/alerts/edit?ruleId=${ruleId}` }],
      data: { annotations: { summary: "p99 latency of checkout is 1840" } },
    });

    expect(await detectionContextDue(deps())).toContainEqual({ anomalyId: anomaly.id, outcome: "ok" });
    const row = await contextOf(o.org.id, anomaly.id);
    expect(row?.status).toBe("ok");
    expect(row?.context).toMatchObject({
      rule: {
        id: ruleId,
        name: "High p99 latency",
        type: "METRIC_BASED_ALERT",
        queryType: "builder",
        query: [p99Query],
        selectedQuery: "A",
        threshold: [{ name: "critical", target: 500, op: "1", matchType: "1", unit: "ms" }],
        condition: "A above 500 ms at least once in 5m0s",
        window: "5m0s",
        frequency: "1m0s",
        targets: ["slack-ops", "pagerduty-checkout"],
      },
      // The alert's own series (service.name = checkout) out of the grouped answer.
      series: {
        kind: "metric",
        query: "A",
        labels: { "service.name": "checkout" },
        seriesCount: 2,
        min: 3,
        max: 41,
      },
    });
    expect(row?.context).not.toHaveProperty("note");

    // What the fake received: the rule read, then query_range with the rule's query around first-seen.
    const [read, query] = signoz.requests.slice(-2);
    expect(read).toMatchObject({
      method: "GET",
      path: `/api/v1/rules/${ruleId}`,
      headers: { "signoz-api-key": key },
    });
    expect(query).toMatchObject({
      method: "POST",
      path: "/api/v5/query_range",
      headers: { "signoz-api-key": key },
      body: { requestType: "time_series", compositeQuery: { queries: [p99Query] } },
    });
    const body = query!.body as { start: number; end: number };
    expect(body.start).toBe(anomaly.firstSeenAt.getTime() - 30 * 60_000);
    expect(body.end).toBeGreaterThan(anomaly.firstSeenAt.getTime());
    const audited = await withOrg(db, o.org.id, (tx) => tx.select().from(auditLog));
    expect(
      audited
        .filter((e) => e.action === "proxy.query" && e.actorId === "evidence.detection-context")
        .map((e) => (e.data as { operation: string }).operation)
        .sort(),
    ).toEqual(["query_range", "rules.get"]);
    // The stored credential is used server-side only: nothing of it is in the evidence.
    expect(JSON.stringify(row)).not.toContain(key);

    const bundle = await jsonOf(await t.request("/api/v1/compliance/cc7.1?period=7", { apiKey: o.apiKey }));
    const facts = bundle.rows.find(
      (r: { entry: { subject: { id: string } } }) => r.entry.subject.id === anomaly.id,
    ).entry.data.facts;
    expect(facts.rule.detectionContext).toMatchObject({
      status: "ok",
      context: { rule: { condition: "A above 500 ms at least once in 5m0s" } },
    });
    const markdown = await (
      await t.request("/api/v1/compliance/cc7.1?period=7&format=markdown", { apiKey: o.apiKey })
    ).text();
    expect(markdown).toContain("  - Fires when: A above 500 ms at least once in 5m0s");
  });

  it("reads SigNoz v2alpha1 thresholds and their channels, and fetches no series for ClickHouse SQL", async () => {
    const o = await makeOrg(db);
    const { id: integrationId } = await signozIntegration(o.apiKey);
    const ruleId = randomUUID();
    const chQuery = { type: "clickhouse_sql", spec: { name: "A", query: "SELECT count() FROM logs" } };
    signoz.rules.set(ruleId, {
      ...signozRule(ruleId),
      alert: "Error logs",
      alertType: "LOGS_BASED_ALERT",
      schemaVersion: "v2alpha1",
      evalWindow: undefined,
      frequency: undefined,
      evaluation: { kind: "rolling", spec: { evalWindow: "10m0s", frequency: "2m0s" } },
      preferredChannels: undefined,
      condition: {
        compositeQuery: { queryType: "clickhouse_sql", panelType: "graph", queries: [chQuery] },
        selectedQueryName: "A",
        thresholds: {
          kind: "basic",
          spec: [
            { name: "critical", target: 100, op: "above", matchType: "in_total", channels: ["pager"] },
            { name: "warning", target: 50, op: "above", matchType: "in_total", channels: ["slack-ops"] },
          ],
        },
      },
    });
    const anomaly = await anomalyWithSignal(o.org.id, integrationId, "signoz", {
      title: "Error logs",
      labels: { alertname: "Error logs", ruleId },
    });
    const before = signoz.requests.length;
    await detectionContextDue(deps());
    const row = await contextOf(o.org.id, anomaly.id);
    expect(row?.status).toBe("ok");
    expect(row?.context).toMatchObject({
      rule: {
        name: "Error logs",
        queryType: "clickhouse_sql",
        query: [chQuery],
        threshold: [
          { name: "critical", target: 100 },
          { name: "warning", target: 50 },
        ],
        condition: "A above 100 in total in 10m0s; A above 50 in total in 10m0s",
        window: "10m0s",
        frequency: "2m0s",
        targets: ["pager", "slack-ops"],
      },
      series: null,
      note: "the rule's queries are ClickHouse SQL, which the query proxy does not run",
    });
    // Only the rule was read: no query_range.
    expect(signoz.requests.slice(before).map((r) => r.path)).toEqual([`/api/v1/rules/${ruleId}`]);
  });

  it("records SigNoz failures: a 503 is retried after backoff, an unknown rule is not", async () => {
    const o = await makeOrg(db);
    const { id: integrationId } = await signozIntegration(o.apiKey);
    const ruleId = randomUUID();
    signoz.rules.set(ruleId, signozRule(ruleId));
    const flaky = await anomalyWithSignal(o.org.id, integrationId, "signoz", {
      title: "High p99 latency",
      labels: { alertname: "High p99 latency", ruleId },
    });
    signoz.failNext(503, { status: "error", error: { code: "unavailable", message: "try later" } });
    await detectionContextDue(deps());
    let row = await contextOf(o.org.id, flaky.id);
    expect(row).toMatchObject({ status: "failed", attempts: 1 });
    expect(row?.lastError).toMatch(/SigNoz failed to answer \(HTTP 503\)/);
    await expectRetrySucceeds(o.org.id, flaky.id);

    const gone = await anomalyWithSignal(o.org.id, integrationId, "signoz", {
      title: "Deleted rule",
      labels: { alertname: "Deleted rule", ruleId: randomUUID() },
    });
    const noRule = await anomalyWithSignal(o.org.id, integrationId, "signoz", {
      title: "No rule id",
      labels: { alertname: "No rule id" },
    });
    await detectionContextDue(deps());
    row = await contextOf(o.org.id, gone.id);
    expect(row).toMatchObject({ status: "failed", attempts: MAX_ATTEMPTS });
    expect(row?.lastError).toMatch(/SigNoz has no such resource \(HTTP 404\)/);
    expect(await contextOf(o.org.id, noRule.id)).toMatchObject({
      status: "failed",
      attempts: MAX_ATTEMPTS,
      lastError: "the alert carries no SigNoz rule id",
    });
  });

  it("records a failed fetch, retries it after backoff, and stops on a permanent failure", async () => {
    const o = await makeOrg(db);
    const [ddApi, ddApp] = [randomBytes(16).toString("hex"), randomBytes(16).toString("hex")];
    datadog.allow(ddApi, ddApp);
    datadog.monitors.set(77, {
      id: 77,
      name: "Errors",
      type: "metric alert",
      query: "sum(last_1m):sum:errors{*} > 5",
      options: {},
    });
    const integrationId = await integration(o.apiKey, {
      provider: "datadog",
      name: "dd",
      config: { apiBaseUrl: datadog.url },
      secrets: { apiKey: ddApi, applicationKey: ddApp },
    });
    const flaky = await anomalyWithSignal(o.org.id, integrationId, "datadog", {
      title: "Errors",
      data: { alertId: "77" },
    });
    datadog.failNext(503, { errors: ["Service unavailable"] });
    await detectionContextDue(deps());
    let row = await contextOf(o.org.id, flaky.id);
    expect(row).toMatchObject({ status: "failed", attempts: 1 });
    expect(row?.lastError).toBeTruthy();
    // The anomaly itself is untouched and exports fine with the failure shown.
    const bundle = await jsonOf(await t.request("/api/v1/compliance/cc7.1?period=7", { apiKey: o.apiKey }));
    expect(bundle.rows[0].entry.data.facts.rule.detectionContext).toMatchObject({
      status: "failed",
      attempts: 1,
    });

    // Within the backoff nothing happens; after it, the retry succeeds.
    expect((await detectionContextDue(deps())).map((r) => r.anomalyId)).not.toContain(flaky.id);
    await expectRetrySucceeds(o.org.id, flaky.id);

    // An unknown monitor (404) cannot get better: recorded once, never retried.
    const gone = await anomalyWithSignal(o.org.id, integrationId, "datadog", {
      title: "Gone",
      data: { alertId: "999" },
    });
    await detectionContextDue(deps());
    row = await contextOf(o.org.id, gone.id);
    expect(row?.status).toBe("failed");
    expect(row?.attempts).toBe(MAX_ATTEMPTS);
  });

  it("does nothing for anomalies of orgs without an integration of the provider", async () => {
    const o = await makeOrg(db);
    const seed = new EvidenceSeed(db, o.org.id);
    const lone = await seed.anomaly({ title: "no integration", detectedAt: new Date(), source: "datadog" });
    expect((await detectionContextDue(deps())).map((r) => r.anomalyId)).not.toContain(lone.id);
    expect(await contextOf(o.org.id, lone.id)).toBeUndefined();
  });
});
