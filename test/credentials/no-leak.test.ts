import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Database } from "../../db/client.ts";
import { generateFernetKey } from "../../src/credentials/fernet.ts";
import { parseMasterKeys } from "../../src/credentials/keyring.ts";
import { rotateKeys } from "../../src/credentials/rotation.ts";
import { CredentialStore } from "../../src/credentials/store.ts";
import { type FakeDatadog, startFakeDatadog } from "../fakes/datadog.ts";
import { type FakeGrafana, startFakeGrafana } from "../fakes/grafana.ts";
import { type FakeSignoz, startFakeSignoz } from "../fakes/signoz.ts";
import { useTestApp } from "../harness/app.ts";
import { makeApiKey, makeOrg } from "../harness/factories.ts";

/** pg_dump when one that can read this server is installed, else every row of every table as JSON. */
async function dumpDatabase(url: string, db: Database): Promise<{ method: string; text: string }> {
  const candidates = ["pg_dump"];
  const lib = "/usr/lib/postgresql";
  if (existsSync(lib)) {
    for (const version of readdirSync(lib).sort().reverse()) candidates.push(`${lib}/${version}/bin/pg_dump`);
  }
  for (const bin of candidates) {
    const run = spawnSync(bin, ["--no-owner", "--dbname", url], {
      encoding: "utf8",
      maxBuffer: 512 * 1024 * 1024,
    });
    if (run.status === 0 && run.stdout.includes("COPY public.credentials"))
      return { method: bin, text: run.stdout };
  }
  // Typically a pg_dump older than the server (which refuses): read the tables ourselves.
  const tables = await db.ownerSql<{ schema: string; name: string }[]>`
    select table_schema as schema, table_name as name from information_schema.tables
    where table_schema in ('public', 'pgboss') and table_type = 'BASE TABLE' order by 1, 2`;
  const parts: string[] = [];
  for (const { schema, name } of tables) {
    const [row] = await db.ownerSql.unsafe<{ rows: string }[]>(
      `select coalesce(json_agg(t), '[]'::json)::text as rows from "${schema}"."${name}" t`,
    );
    parts.push(`-- ${schema}.${name}\n${row?.rows ?? "[]"}`);
  }
  return { method: `select * from ${tables.length} tables`, text: parts.join("\n") };
}

describe("secrets never leak", async () => {
  const t = await useTestApp({ CAUSEWAY_PROXY_TIMEOUT_MS: "1000" });
  const db = t.database.db;
  let datadog: FakeDatadog;
  let grafana: FakeGrafana;
  let signoz: FakeSignoz;
  const consoleLines: string[] = [];
  beforeAll(async () => {
    [datadog, grafana, signoz] = await Promise.all([
      startFakeDatadog(),
      startFakeGrafana(),
      startFakeSignoz(),
    ]);
    // Anything a library prints (the Datadog SDK logs failed requests to the console) is captured too.
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        consoleLines.push(
          args.map((a) => (a instanceof Error ? `${a.stack} ${String(a.cause)}` : String(a))).join(" "),
        );
      });
    }
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await Promise.all([datadog?.close(), grafana?.close(), signoz?.close()]);
  });

  it("finds none of the stored secrets in a full database dump, the logs or any response", async () => {
    const responses: string[] = [];
    const call = async (path: string, init: Parameters<typeof t.request>[1] = {}) => {
      const res = await t.request(path, init);
      const text = await res.clone().text();
      responses.push(
        `${init.method ?? "GET"} ${path} -> ${res.status} ${JSON.stringify([...res.headers])}\n${text}`,
      );
      return { status: res.status, text, json: () => JSON.parse(text) };
    };
    const mark = (label: string) => `${label}-${randomBytes(18).toString("base64url")}`;
    const provided = {
      ddApi: mark("DDAPI"),
      ddApp: mark("DDAPP"),
      ddApiRolled: mark("DDAPIROLLED"),
      ddRefused: mark("DDREFUSED"),
      grafanaToken: mark("GLSA"),
      signozKey: mark("SIGNOZ"),
      sentrySecret: mark("SENTRYCLIENT"),
      slackSigning: mark("SLACKSIGN"),
      slackBot: `xoxb-${mark("SLACKBOT")}`,
      githubHook: mark("GHHOOK"),
      githubKey: `-----BEGIN PRIVATE KEY-----\n${mark("GHPEM")}\n-----END PRIVATE KEY-----`,
      jiraToken: mark("JIRATOKEN"),
      pagerduty: mark("PDSECRET"),
      pasted: mark("PASTEDINTOCONFIG"),
      repoToken: `ghp_${mark("REPOTOKEN")}`,
      repoTokenRolled: `ghp_${mark("REPOTOKENROLLED")}`,
      deployKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${mark("DEPLOYKEY")}\n-----END OPENSSH PRIVATE KEY-----\n`,
      urlPassword: mark("URLPASSWORD"),
    };
    const generated: string[] = [];

    const { apiKey, org } = await makeOrg(db);
    const member = await makeApiKey(db, org.id, "member");
    const stranger = await makeOrg(db);
    datadog.allow(provided.ddApi, provided.ddApp);
    datadog.allow(provided.ddApiRolled, provided.ddApp);
    grafana.allow(provided.grafanaToken);
    signoz.allow(provided.signozKey);

    const create = async (body: Record<string, unknown>) => {
      const res = await call("/api/v1/integrations", { method: "POST", apiKey, json: body });
      expect(res.status, res.text).toBe(201);
      const created = res.json();
      if (created.webhookSecret) generated.push(created.webhookSecret);
      return created as { id: string; secrets: Array<{ id: string; kind: string }> };
    };
    const dd = await create({
      provider: "datadog",
      name: "Datadog",
      config: { apiBaseUrl: datadog.url },
      secrets: { apiKey: provided.ddApi, applicationKey: provided.ddApp },
    });
    const ddRefused = await create({
      provider: "datadog",
      name: "Datadog (revoked keys)",
      config: { apiBaseUrl: datadog.url },
      secrets: { apiKey: provided.ddRefused, applicationKey: provided.ddApp },
    });
    const gf = await create({
      provider: "grafana",
      name: "Grafana",
      config: { url: grafana.url, timestampHeader: "X-Grafana-Alerting-Timestamp" },
      secrets: { apiToken: provided.grafanaToken },
    });
    const sz = await create({
      provider: "signoz",
      name: "SigNoz",
      config: { url: signoz.url },
      secrets: { apiKey: provided.signozKey },
    });
    await create({ provider: "sentry", name: "Sentry", secrets: { webhookSecret: provided.sentrySecret } });
    await create({
      provider: "slack",
      name: "Slack",
      config: { defaultChannel: "#incidents" },
      secrets: { webhookSecret: provided.slackSigning, botToken: provided.slackBot },
    });
    const gh = await create({
      provider: "github",
      name: "GitHub",
      config: { appId: 1234 },
      secrets: { webhookSecret: provided.githubHook, privateKey: provided.githubKey },
    });
    const jira = await create({
      provider: "jira",
      name: "Jira",
      config: { baseUrl: "https://acme.atlassian.net", projectKeys: ["OPS"] },
      secrets: { apiToken: provided.jiraToken },
    });
    await create({
      provider: "pagerduty",
      name: "PagerDuty",
      secrets: { webhookSecret: provided.pagerduty },
    });
    await create({ provider: "alertmanager", name: "Alertmanager" });
    await create({ provider: "mezmo", name: "Mezmo" });
    expect(generated.length).toBeGreaterThanOrEqual(5);

    // Reads, as an owner, a member and another org.
    await call("/api/v1/integrations", { apiKey });
    await call("/api/v1/integrations?limit=2", { apiKey: member.key });
    for (const id of [dd.id, gf.id, sz.id, gh.id, jira.id]) {
      await call(`/api/v1/integrations/${id}`, { apiKey });
      expect((await call(`/api/v1/integrations/${id}`, { apiKey: stranger.apiKey })).status).toBe(404);
    }

    // Changes: rename, config, a key rollover, a generated webhook secret, a retirement.
    await call(`/api/v1/integrations/${dd.id}`, { method: "PATCH", apiKey, json: { name: "Datadog EU" } });
    const rolled = await call(`/api/v1/integrations/${dd.id}`, {
      method: "PATCH",
      apiKey,
      json: { addSecret: { kind: "apiKey", value: provided.ddApiRolled } },
    });
    expect(rolled.status).toBe(200);
    const oldApiKey = dd.secrets.find((s) => s.kind === "apiKey")!.id;
    expect(
      (
        await call(`/api/v1/integrations/${dd.id}`, {
          method: "PATCH",
          apiKey,
          json: { retireSecret: oldApiKey },
        })
      ).status,
    ).toBe(200);
    const newHook = await call(`/api/v1/integrations/${gh.id}`, {
      method: "PATCH",
      apiKey,
      json: { addSecret: { kind: "webhookSecret" }, config: { appId: 1234, installationId: 99 } },
    });
    generated.push(newHook.json().webhookSecret);

    // Repository credentials (changes stage): a token, then a rolled one, and a deploy key.
    const repo = await call("/api/v1/repositories", {
      method: "POST",
      apiKey,
      json: {
        name: "checkout-api",
        url: "https://github.com/acme/checkout-api.git",
        credential: { kind: "token", token: provided.repoToken },
      },
    });
    expect(repo.status).toBe(201);
    expect(
      (
        await call(`/api/v1/repositories/${repo.json().id}`, {
          method: "PATCH",
          apiKey,
          json: { credential: { kind: "token", token: provided.repoTokenRolled } },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await call("/api/v1/repositories", {
          method: "POST",
          apiKey,
          json: {
            name: "ledger",
            url: "ssh://git@github.com/acme/ledger.git",
            credential: { kind: "ssh_key", privateKey: provided.deployKey },
          },
        })
      ).status,
    ).toBe(201);
    // A credential pasted into the URL is refused without being echoed.
    expect(
      (
        await call("/api/v1/repositories", {
          method: "POST",
          apiKey,
          json: { name: "pasted", url: `https://bot:${provided.urlPassword}@github.com/acme/pasted.git` },
        })
      ).status,
    ).toBe(400);

    // Refusals that carry a secret in the request.
    const refusals = [
      await call("/api/v1/integrations", {
        method: "POST",
        apiKey,
        json: { provider: "datadog", name: "x", config: { apiKey: provided.pasted } },
      }),
      await call("/api/v1/integrations", {
        method: "POST",
        apiKey,
        json: {
          provider: "github",
          name: "x",
          secrets: { webhookSecret: provided.pasted, token: provided.pasted },
        },
      }),
      await call("/api/v1/integrations", {
        method: "POST",
        apiKey: member.key,
        json: { provider: "github", name: "x", secrets: { webhookSecret: provided.pasted } },
      }),
      await call(`/api/v1/integrations/${gh.id}`, {
        method: "PATCH",
        apiKey,
        json: { addSecret: { kind: "webhookSecret", value: provided.pasted } },
      }),
      await call(`/api/v1/integrations/${jira.id}`, {
        method: "PATCH",
        apiKey,
        json: { config: { baseUrl: `https://bot:${provided.pasted}@acme.atlassian.net` } },
      }),
      await call("/api/v1/integrations", { headers: { authorization: `Bearer ${provided.pasted}` } }),
    ];
    expect(refusals.map((r) => r.status)).toEqual([400, 400, 403, 409, 400, 401]);

    // The proxy: successes and every kind of failure.
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date().toISOString();
    const proxy = (path: string, body: unknown, key = apiKey) =>
      call(`/api/v1/proxy/${path}`, { method: "POST", apiKey: key, json: body });
    expect(
      (await proxy("datadog/logs.search", { integrationId: dd.id, params: { from, to, limit: 3 } })).status,
    ).toBe(200);
    expect(
      (await proxy("datadog/monitors.get", { integrationId: dd.id, params: { monitorId: 7 } })).status,
    ).toBe(502);
    // A vendor that echoes the key it was sent in its error: the proxy scrubs it.
    datadog.failNext(400, { errors: [`bad query for key ${provided.ddApiRolled} and ${provided.ddApp}`] });
    const echoed = await proxy(
      "datadog/monitors.search",
      { integrationId: dd.id, params: { query: "x" } },
      member.key,
    );
    expect(echoed.status).toBe(502);
    expect(echoed.json().detail).toContain("[redacted]");
    expect((await proxy("datadog/monitors.search", { integrationId: ddRefused.id, params: {} })).status).toBe(
      502,
    );
    datadog.hangNext();
    expect((await proxy("datadog/monitors.search", { integrationId: dd.id, params: {} })).status).toBe(504);
    expect(
      (
        await proxy("grafana/datasource.query", {
          params: { datasourceUid: "p", from, to, queries: [{ refId: "A" }] },
        })
      ).status,
    ).toBe(200);
    grafana.failNext(401, { message: `invalid API key ${provided.grafanaToken}` });
    expect((await proxy("grafana/alertRules.list", { params: {} })).status).toBe(502);
    expect(
      (
        await proxy("signoz/query_range", {
          params: { from, to, compositeQuery: { queries: [{ type: "promql" }] } },
        })
      ).status,
    ).toBe(200);
    expect(
      (await proxy("datadog/logs.search", { integrationId: dd.id, params: { from: to, to: from } })).status,
    ).toBe(400);

    // What the fakes received proves the credentials were used server-side.
    expect(datadog.requests.some((r) => r.headers["dd-api-key"] === provided.ddApiRolled)).toBe(true);
    expect(grafana.requests.some((r) => r.headers.authorization === `Bearer ${provided.grafanaToken}`)).toBe(
      true,
    );
    expect(signoz.requests.some((r) => r.headers["signoz-api-key"] === provided.signozKey)).toBe(true);

    // The webhook lookup decrypts, then a deletion retires; finally every key is rotated and re-encrypted.
    const lookup = new CredentialStore(parseMasterKeys(t.keys.masterKeys));
    expect((await lookup.getIntegrationForWebhook(db, gh.id))?.secrets).toHaveLength(2);
    expect((await call(`/api/v1/integrations/${sz.id}`, { method: "DELETE", apiKey })).status).toBe(204);
    const rotated = await rotateKeys(
      db,
      parseMasterKeys(`later:${generateFernetKey()},${t.keys.masterKeys}`),
      {
        reencrypt: true,
        batchSize: 3,
      },
    );
    expect(rotated.reencrypted).toBeGreaterThan(10);

    const dump = await dumpDatabase(t.database.url, db);
    // Not vacuous: the dump holds the credential rows (as Fernet tokens) and the integrations.
    expect(dump.text, dump.method).toContain(oldApiKey);
    expect(dump.text).toMatch(/gAAAAA[A-Za-z0-9_-]{60,}/);
    expect(dump.text).toContain("Datadog (revoked keys)");
    expect(dump.text).toContain(provided.ddApiRolled.slice(-4));
    const logs = t.logs.text();
    expect(logs).toContain("/api/v1/proxy/datadog/logs.search");
    const everything = { dump: dump.text, logs, console: consoleLines.join("\n") };

    for (const [label, value] of Object.entries(provided)) {
      for (const [where, text] of Object.entries(everything)) {
        expect(text.includes(value), `${label} found in ${where}`).toBe(false);
      }
      const inResponses = responses.filter((r) => r.includes(value));
      expect(inResponses, `${label} found in a response`).toEqual([]);
    }
    for (const value of generated) {
      for (const [where, text] of Object.entries(everything)) {
        expect(text.includes(value), `a generated webhook secret found in ${where}`).toBe(false);
      }
      // Shown exactly once: in the answer to the request that generated it.
      expect(responses.filter((r) => r.includes(value))).toHaveLength(1);
    }
  });
});
