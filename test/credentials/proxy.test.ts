import { randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog } from "../../db/schema/index.ts";
import { type FakeDatadog, startFakeDatadog } from "../fakes/datadog.ts";
import { type FakeGrafana, startFakeGrafana } from "../fakes/grafana.ts";
import { type FakeSignoz, startFakeSignoz } from "../fakes/signoz.ts";
import { jsonOf, useTestApp } from "../harness/app.ts";
import { makeApiKey, makeOrg } from "../harness/factories.ts";

// Short enough for the hung-upstream test to be quick, long enough that the multi-MiB answers of the size
// tests arrive in time on a loaded CI machine (1.5 s once gave a 504 there instead of the 502).
const TIMEOUT_MS = 5_000;

describe("query proxy", async () => {
  const t = await useTestApp({ CAUSEWAY_PROXY_TIMEOUT_MS: String(TIMEOUT_MS) });
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

  const key = (label: string) => `${label}-${randomBytes(16).toString("hex")}`;
  const hourAgo = () => new Date(Date.now() - 60 * 60 * 1000).toISOString();
  const now = () => new Date().toISOString();

  async function createIntegration(apiKey: string, body: Record<string, unknown>) {
    const res = await t.request("/api/v1/integrations", { method: "POST", apiKey, json: body });
    expect(res.status, await res.clone().text()).toBe(201);
    return jsonOf(res) as Promise<{ id: string }>;
  }

  /** An org with a Datadog integration pointed at the fake, with keys the fake accepts. */
  async function datadogOrg(options: { accepted?: boolean } = {}) {
    const org = await makeOrg(t.database.db);
    const ddApiKey = key("ddapi");
    const ddAppKey = key("ddapp");
    if (options.accepted !== false) datadog.allow(ddApiKey, ddAppKey);
    const integration = await createIntegration(org.apiKey, {
      provider: "datadog",
      name: "Datadog prod",
      config: { site: "datadoghq.eu", apiBaseUrl: datadog.url },
      secrets: { apiKey: ddApiKey, applicationKey: ddAppKey },
    });
    return { org, integration, ddApiKey, ddAppKey };
  }

  function proxy(apiKey: string, path: string, body: unknown) {
    return t.request(`/api/v1/proxy/${path}`, { method: "POST", apiKey, json: body });
  }

  const lastRequest = (fake: { requests: Array<unknown> }) =>
    fake.requests[fake.requests.length - 1] as never;

  describe("Datadog, through the official client against a fake Datadog", () => {
    it("searches logs with the stored keys in DD-API-KEY and DD-APPLICATION-KEY", async () => {
      const { org, integration, ddApiKey, ddAppKey } = await datadogOrg();
      const from = hourAgo();
      const to = now();
      const res = await proxy(org.apiKey, "datadog/logs.search", {
        params: { query: "service:checkout status:error", from, to, limit: 5 },
      });
      const text = await res.clone().text();
      expect(res.status, text).toBe(200);
      const body = await jsonOf(res);
      expect(body).toMatchObject({
        provider: "datadog",
        operation: "logs.search",
        integrationId: integration.id,
        truncated: false,
      });
      // Datadog's own wire shape comes back, not the SDK's model classes.
      expect(body.data.data).toHaveLength(5);
      expect(body.data.data[0]).toMatchObject({
        type: "log",
        attributes: { service: "checkout", status: "error" },
      });
      expect(body.data.meta.page.after).toBe("eyJhZnRlciI6Im5leHQifQ");

      const received = lastRequest(datadog) as {
        method: string;
        path: string;
        headers: Record<string, string>;
        body: { filter: Record<string, unknown>; page: Record<string, unknown>; sort: string };
      };
      expect(received.method).toBe("POST");
      expect(received.path).toBe("/api/v2/logs/events/search");
      expect(received.headers["dd-api-key"]).toBe(ddApiKey);
      expect(received.headers["dd-application-key"]).toBe(ddAppKey);
      expect(received.body).toEqual({
        filter: {
          query: "service:checkout status:error",
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
        },
        page: { limit: 5 },
        sort: "-timestamp",
      });
      // The caller never sees a credential.
      expect(text).not.toContain(ddApiKey);
      expect(text).not.toContain(ddAppKey);
    });

    it("queries metrics, gets and searches monitors, lists events", async () => {
      const { org } = await datadogOrg();
      datadog.monitors.set(4242, {
        id: 4242,
        name: "Checkout error rate",
        type: "metric alert",
        query: "avg(last_5m):sum:trace.http.request.errors{service:checkout} > 5",
        message: "@slack-ops",
        tags: ["service:checkout"],
        options: { thresholds: { critical: 5 } },
        overall_state: "Alert",
      });
      const from = hourAgo();
      const to = now();

      const metrics = await proxy(org.apiKey, "datadog/metrics.query", {
        params: { query: "avg:system.cpu.user{*}", from, to },
      });
      expect(metrics.status).toBe(200);
      const metricsBody = await jsonOf(metrics);
      expect(metricsBody.data).toMatchObject({ status: "ok", series: [{ metric: "system.cpu.user" }] });
      expect(metricsBody.data.series[0].pointlist).toHaveLength(3);
      expect(lastRequest(datadog)).toMatchObject({
        method: "GET",
        path: "/api/v1/query",
        query: {
          query: "avg:system.cpu.user{*}",
          from: String(Math.floor(Date.parse(from) / 1000)),
          to: String(Math.floor(Date.parse(to) / 1000)),
        },
      });

      const monitor = await proxy(org.apiKey, "datadog/monitors.get", { params: { monitorId: 4242 } });
      expect(monitor.status).toBe(200);
      expect((await jsonOf(monitor)).data).toMatchObject({
        id: 4242,
        name: "Checkout error rate",
        type: "metric alert",
      });
      expect(lastRequest(datadog)).toMatchObject({ method: "GET", path: "/api/v1/monitor/4242" });

      const search = await proxy(org.apiKey, "datadog/monitors.search", {
        params: { query: "service:checkout" },
      });
      expect(search.status).toBe(200);
      expect((await jsonOf(search)).data.monitors).toEqual([expect.objectContaining({ id: 4242 })]);
      expect(lastRequest(datadog)).toMatchObject({
        path: "/api/v1/monitor/search",
        query: { query: "service:checkout", per_page: "30" },
      });

      const events = await proxy(org.apiKey, "datadog/events.list", { params: { from, to, limit: 2 } });
      expect(events.status).toBe(200);
      expect((await jsonOf(events)).data.data).toHaveLength(2);
      expect(lastRequest(datadog)).toMatchObject({
        path: "/api/v2/events",
        query: { "filter[from]": new Date(from).toISOString(), "page[limit]": "2" },
      });
    });

    it("uses the newest key during a rollover", async () => {
      const { org, integration, ddAppKey } = await datadogOrg();
      const rolled = key("ddapi-new");
      datadog.allow(rolled, ddAppKey);
      const patch = await t.request(`/api/v1/integrations/${integration.id}`, {
        method: "PATCH",
        apiKey: org.apiKey,
        json: { addSecret: { kind: "apiKey", value: rolled } },
      });
      expect(patch.status).toBe(200);
      const res = await proxy(org.apiKey, "datadog/monitors.search", { params: {} });
      expect(res.status).toBe(200);
      expect((lastRequest(datadog) as { headers: Record<string, string> }).headers["dd-api-key"]).toBe(
        rolled,
      );
    });

    it("turns refused credentials into a 502 that names no key", async () => {
      const { org, ddApiKey } = await datadogOrg({ accepted: false });
      const res = await proxy(org.apiKey, "datadog/monitors.search", { params: {} });
      expect(res.status).toBe(502);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      const body = await jsonOf(res);
      expect(body).toMatchObject({ code: "upstream_error", retryable: false });
      expect(body.detail).toBe(
        "Datadog refused the integration's stored credentials (HTTP 403); check that they are valid and have read access",
      );
      expect(JSON.stringify(body)).not.toContain(ddApiKey);
    });

    it("maps vendor failures to 502 with retryable, a hung vendor to 504", async () => {
      const { org } = await datadogOrg();
      const cases: Array<[number, boolean]> = [
        [500, true],
        [503, true],
        [429, true],
        [400, false],
      ];
      for (const [status, retryable] of cases) {
        datadog.failNext(status, { errors: [`simulated ${status}`] });
        const res = await proxy(org.apiKey, "datadog/monitors.search", { params: {} });
        const body = await jsonOf(res);
        expect([res.status, body.code, body.retryable]).toEqual([502, "upstream_error", retryable]);
      }
      datadog.failNext(400, { errors: ["Invalid query: unbalanced parenthesis"] });
      const refused = await jsonOf(
        await proxy(org.apiKey, "datadog/monitors.search", { params: { query: "(" } }),
      );
      expect(refused.detail).toBe(
        "Datadog refused the query (HTTP 400): Invalid query: unbalanced parenthesis",
      );

      const missing = await proxy(org.apiKey, "datadog/monitors.get", { params: { monitorId: 999 } });
      expect(missing.status).toBe(502);
      expect((await jsonOf(missing)).detail).toBe(
        "Datadog has no such resource (HTTP 404): Monitor not found",
      );

      datadog.hangNext();
      const started = Date.now();
      const hung = await proxy(org.apiKey, "datadog/monitors.search", { params: {} });
      expect(hung.status).toBe(504);
      expect(await jsonOf(hung)).toMatchObject({ code: "upstream_timeout", retryable: true });
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 2_000);
    });

    it("reports an unreachable vendor as retryable", async () => {
      const org = await makeOrg(t.database.db);
      await createIntegration(org.apiKey, {
        provider: "datadog",
        name: "nowhere",
        config: { apiBaseUrl: "http://127.0.0.1:1" },
        secrets: { apiKey: key("a"), applicationKey: key("b") },
      });
      const res = await proxy(org.apiKey, "datadog/monitors.search", { params: {} });
      expect(res.status).toBe(502);
      expect(await jsonOf(res)).toMatchObject({
        code: "upstream_error",
        retryable: true,
        detail: "could not reach Datadog at the integration's base URL",
      });
    });

    it("caps the answer at 1 MiB and says it truncated; refuses an answer over 8 MiB", async () => {
      const { org } = await datadogOrg();
      datadog.setLogMessageBytes(2_000);
      try {
        const res = await proxy(org.apiKey, "datadog/logs.search", {
          params: { from: hourAgo(), to: now(), limit: 1_000 },
        });
        expect(res.status).toBe(200);
        const text = await res.text();
        const body = JSON.parse(text);
        expect(body.truncated).toBe(true);
        expect(Buffer.byteLength(JSON.stringify(body.data))).toBeLessThanOrEqual(1024 * 1024);
        expect(body.data.data.length).toBeGreaterThan(100);
        expect(body.data.data.length).toBeLessThan(1_000);
        expect(body.data.data[0].id).toBe("AAAAAWgN8Xwgr1vKDQAAAAB0");

        datadog.setLogMessageBytes(9_000);
        const huge = await proxy(org.apiKey, "datadog/logs.search", {
          params: { from: hourAgo(), to: now(), limit: 1_000 },
        });
        expect(huge.status).toBe(502);
        expect(await jsonOf(huge)).toMatchObject({
          retryable: false,
          detail: `Datadog's answer was larger than ${8 * 1024 * 1024} bytes; narrow the query`,
        });
      } finally {
        datadog.setLogMessageBytes(40);
      }
    });
  });

  describe("Grafana and SigNoz", () => {
    it("runs a Grafana datasource query and lists alert rules with the service account token", async () => {
      const org = await makeOrg(t.database.db);
      const token = key("glsa");
      grafana.allow(token);
      await createIntegration(org.apiKey, {
        provider: "grafana",
        name: "Grafana",
        config: { url: grafana.url },
        secrets: { apiToken: token },
      });
      const from = hourAgo();
      const to = now();
      const res = await proxy(org.apiKey, "grafana/datasource.query", {
        params: { datasourceUid: "prom-1", from, to, queries: [{ refId: "A", expr: "rate(errors[5m])" }] },
      });
      const text = await res.clone().text();
      expect(res.status, text).toBe(200);
      expect((await jsonOf(res)).data.results.A.frames[0].data.values[1]).toEqual([0.2, 0.9]);
      expect(lastRequest(grafana)).toMatchObject({
        method: "POST",
        path: "/api/ds/query",
        headers: { authorization: `Bearer ${token}` },
        body: {
          from: String(Date.parse(from)),
          to: String(Date.parse(to)),
          queries: [{ refId: "A", expr: "rate(errors[5m])", datasource: { uid: "prom-1" } }],
        },
      });
      expect(text).not.toContain(token);

      const rules = await proxy(org.apiKey, "grafana/alertRules.list", { params: {} });
      expect(rules.status).toBe(200);
      expect((await jsonOf(rules)).data).toEqual([expect.objectContaining({ uid: "high-error-rate" })]);
      expect(lastRequest(grafana)).toMatchObject({ method: "GET", path: "/api/v1/provisioning/alert-rules" });

      const raw = await proxy(org.apiKey, "grafana/datasource.query", {
        params: { datasourceUid: "pg", from, to, queries: [{ refId: "A", rawSql: "delete from users" }] },
      });
      expect(raw.status).toBe(400);
      expect((await jsonOf(raw)).errors).toEqual([
        { path: "params.queries.0", message: "raw SQL queries are not allowed through the proxy" },
      ]);
    });

    it("runs a SigNoz query_range with the API key header", async () => {
      const org = await makeOrg(t.database.db);
      const apiKey = key("signoz");
      signoz.allow(apiKey);
      await createIntegration(org.apiKey, {
        provider: "signoz",
        name: "SigNoz",
        config: { url: signoz.url },
        secrets: { apiKey },
      });
      const from = hourAgo();
      const to = now();
      const compositeQuery = {
        queries: [
          {
            type: "builder_query",
            spec: { name: "A", signal: "traces", aggregations: [{ expression: "count()" }] },
          },
        ],
      };
      const res = await proxy(org.apiKey, "signoz/query_range", { params: { from, to, compositeQuery } });
      expect(res.status, await res.clone().text()).toBe(200);
      expect((await jsonOf(res)).data).toMatchObject({ status: "success", data: { type: "time_series" } });
      expect(lastRequest(signoz)).toMatchObject({
        method: "POST",
        path: "/api/v5/query_range",
        headers: { "signoz-api-key": apiKey },
        body: { start: Date.parse(from), end: Date.parse(to), requestType: "time_series", compositeQuery },
      });

      const sql = await proxy(org.apiKey, "signoz/query_range", {
        params: {
          from,
          to,
          compositeQuery: { queries: [{ type: "clickhouse_sql", spec: { query: "drop table x" } }] },
        },
      });
      expect(sql.status).toBe(400);

      // One alert rule's definition, by id; the id must be one path segment.
      signoz.rules.set("42", { id: "42", alert: "High error rate", condition: { op: "1", target: 5 } });
      const rule = await proxy(org.apiKey, "signoz/rules.get", { params: { ruleId: "42" } });
      expect(rule.status, await rule.clone().text()).toBe(200);
      expect((await jsonOf(rule)).data).toEqual({
        status: "success",
        data: { id: "42", alert: "High error rate", condition: { op: "1", target: 5 } },
      });
      expect(lastRequest(signoz)).toMatchObject({
        method: "GET",
        path: "/api/v1/rules/42",
        headers: { "signoz-api-key": apiKey },
      });
      const missing = await proxy(org.apiKey, "signoz/rules.get", { params: { ruleId: "43" } });
      expect(missing.status).toBe(502);
      expect(await jsonOf(missing)).toMatchObject({ code: "upstream_error", retryable: false });
      const traversal = await proxy(org.apiKey, "signoz/rules.get", {
        params: { ruleId: "../v5/query_range" },
      });
      expect(traversal.status).toBe(400);
      expect((await jsonOf(traversal)).errors).toEqual([
        { path: "params.ruleId", message: "must be a SigNoz rule id" },
      ]);
    });

    it("says what is missing when an integration cannot make the call", async () => {
      const org = await makeOrg(t.database.db);
      const grafanaIntegration = await createIntegration(org.apiKey, {
        provider: "grafana",
        name: "no token",
        config: { url: grafana.url },
      });
      const noToken = await proxy(org.apiKey, "grafana/alertRules.list", { params: {} });
      expect(noToken.status).toBe(400);
      expect((await jsonOf(noToken)).detail).toMatch(
        new RegExp(`^the Grafana integration ${grafanaIntegration.id} has no apiToken; add one with PATCH`),
      );
      await createIntegration(org.apiKey, {
        provider: "signoz",
        name: "no url",
        secrets: { apiKey: key("s") },
      });
      const noUrl = await proxy(org.apiKey, "signoz/query_range", {
        params: { from: hourAgo(), to: now(), compositeQuery: { queries: [{ type: "promql" }] } },
      });
      expect(noUrl.status).toBe(400);
      expect((await jsonOf(noUrl)).detail).toMatch(/has no url in its config$/);
    });
  });

  describe("input", () => {
    it("bounds time ranges: ordered, at most 7 days, not in the future", async () => {
      const { org } = await datadogOrg();
      const day = 24 * 60 * 60 * 1000;
      const at = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();
      const cases: Array<[Record<string, unknown>, string, string]> = [
        [{ from: at(-8 * day), to: at(-60_000) }, "params.from", "the range must not exceed 7 days"],
        [{ from: at(-day), to: at(60 * 60 * 1000) }, "params.to", "must not be in the future"],
        [{ from: at(-60_000), to: at(-day) }, "params.to", "must be after from"],
      ];
      for (const [range, path, message] of cases) {
        const res = await proxy(org.apiKey, "datadog/metrics.query", {
          params: { query: "avg:x{*}", ...range },
        });
        expect(res.status).toBe(400);
        expect((await jsonOf(res)).errors).toEqual([{ path, message }]);
      }
      const notIso = await proxy(org.apiKey, "datadog/metrics.query", {
        params: { query: "avg:x{*}", from: "yesterday", to: now() },
      });
      expect((await jsonOf(notIso)).errors[0].path).toBe("params.from");
      const sevenDays = await proxy(org.apiKey, "datadog/metrics.query", {
        params: { query: "avg:x{*}", from: at(-7 * day + 1_000), to: at(0) },
      });
      expect(sevenDays.status).toBe(200);
    });

    it("validates params per operation and refuses unknown operations", async () => {
      const { org } = await datadogOrg();
      const before = datadog.requests.length;
      const badId = await proxy(org.apiKey, "datadog/monitors.get", { params: { monitorId: "4242; drop" } });
      expect(badId.status).toBe(400);
      expect((await jsonOf(badId)).errors[0].path).toBe("params.monitorId");
      const extra = await proxy(org.apiKey, "datadog/monitors.get", {
        params: { monitorId: 1, method: "DELETE" },
      });
      expect(extra.status).toBe(400);
      const limit = await proxy(org.apiKey, "datadog/logs.search", {
        params: { from: hourAgo(), to: now(), limit: 5_000 },
      });
      expect((await jsonOf(limit)).errors[0].path).toBe("params.limit");
      for (const path of [
        "datadog/monitors.delete",
        "datadog/__proto__",
        "datadog/constructor",
        "github/repos.get",
      ]) {
        const res = await proxy(org.apiKey, path, { params: {} });
        expect(res.status, path).toBe(404);
        expect((await jsonOf(res)).code).toBe("not_found");
      }
      expect(datadog.requests.length).toBe(before);
    });

    it("picks the integration: the only one, the one named, never another org's", async () => {
      const a = await datadogOrg();
      const b = await datadogOrg();
      const other = await proxy(a.org.apiKey, "datadog/monitors.search", {
        integrationId: b.integration.id,
        params: {},
      });
      expect(other.status).toBe(404);
      const none = await proxy((await makeOrg(t.database.db)).apiKey, "signoz/query_range", {
        params: { from: hourAgo(), to: now(), compositeQuery: { queries: [{ type: "promql" }] } },
      });
      expect(none.status).toBe(404);
      expect((await jsonOf(none)).detail).toBe("signoz integration not found");

      await createIntegration(a.org.apiKey, {
        provider: "datadog",
        name: "second",
        config: { apiBaseUrl: datadog.url },
        secrets: { apiKey: a.ddApiKey, applicationKey: a.ddAppKey },
      });
      const ambiguous = await proxy(a.org.apiKey, "datadog/monitors.search", { params: {} });
      expect(ambiguous.status).toBe(400);
      expect((await jsonOf(ambiguous)).errors).toEqual([
        { path: "integrationId", message: "this org has several datadog integrations; say which" },
      ]);
      const named = await proxy(a.org.apiKey, "datadog/monitors.search", {
        integrationId: a.integration.id,
        params: {},
      });
      expect(named.status).toBe(200);
      expect((await jsonOf(named)).integrationId).toBe(a.integration.id);
    });
  });

  describe("security and audit", () => {
    it("needs a credential, lets members query, and audits every call without the answer", async () => {
      const { org, integration } = await datadogOrg();
      const anonymous = await t.request("/api/v1/proxy/datadog/monitors.search", {
        method: "POST",
        json: { params: {} },
      });
      expect(anonymous.status).toBe(401);

      const member = await makeApiKey(t.database.db, org.org.id, "member");
      const ok = await proxy(member.key, "datadog/monitors.search", { params: {} });
      expect(ok.status).toBe(200);
      datadog.failNext(503);
      expect((await proxy(member.key, "datadog/monitors.search", { params: {} })).status).toBe(502);

      const entries = await withOrg(t.database.db, org.org.id, (tx) =>
        tx.select().from(auditLog).where(eq(auditLog.action, "proxy.query")).orderBy(auditLog.seq),
      );
      expect(entries.map((e) => [e.subjectId, e.actorId, e.data.outcome, e.data.status ?? null])).toEqual([
        [integration.id, member.id, "ok", null],
        [integration.id, member.id, "server_error", 503],
      ]);
      for (const entry of entries) {
        expect(Object.keys(entry.data).sort()).toEqual(
          [
            "durationMs",
            "operation",
            "outcome",
            "provider",
            "truncated",
            ...(entry.data.status ? ["status"] : []),
          ].sort(),
        );
      }
    });

    it("is rate limited in the ai class (20 a minute per org)", async () => {
      const { org } = await datadogOrg();
      const statuses: number[] = [];
      for (let i = 0; i < 21; i++) {
        statuses.push(
          (await proxy(org.apiKey, "datadog/monitors.get", { params: { monitorId: 4242 } })).status,
        );
      }
      expect(statuses.slice(0, 20).every((s) => s !== 429)).toBe(true);
      expect(statuses[20]).toBe(429);
    });
  });
});
