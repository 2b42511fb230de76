import { randomBytes } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog, credentials, integrations } from "../../db/schema/index.ts";
import { parseMasterKeys } from "../../src/credentials/keyring.ts";
import { CredentialStore } from "../../src/credentials/store.ts";
import { jsonOf, useTestApp } from "../harness/app.ts";
import { makeApiKey, makeOrg } from "../harness/factories.ts";

const PUBLIC_URL = "https://causeway.example.com";

describe("integrations API", async () => {
  const t = await useTestApp({ PUBLIC_URL });
  const db = t.database.db;
  // Reads what the webhook route would read, with the app's own master keys.
  const lookup = new CredentialStore(parseMasterKeys(t.keys.masterKeys));
  const secret = (label: string) => `${label}-${randomBytes(16).toString("hex")}`;

  async function create(apiKey: string, body: unknown) {
    return t.request("/api/v1/integrations", { method: "POST", apiKey, json: body });
  }
  async function createOk(apiKey: string, body: Record<string, unknown>) {
    const res = await create(apiKey, body);
    expect(res.status, await res.clone().text()).toBe(201);
    return jsonOf(res);
  }
  function patch(apiKey: string, id: string, body: unknown) {
    return t.request(`/api/v1/integrations/${id}`, { method: "PATCH", apiKey, json: body });
  }

  describe("create", () => {
    it("connects Datadog: config with defaults, secrets as metadata, a generated webhook secret shown once", async () => {
      const { apiKey } = await makeOrg(db);
      const ddApiKey = secret("ddapi");
      const res = await create(apiKey, {
        provider: "datadog",
        name: "  Datadog EU  ",
        config: { site: "datadoghq.eu" },
        secrets: { apiKey: ddApiKey, applicationKey: secret("ddapp") },
      });
      expect(res.status).toBe(201);
      expect(res.headers.get("cache-control")).toBe("no-store");
      const body = await jsonOf(res);
      expect(body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        provider: "datadog",
        name: "Datadog EU",
        webhookUrl: `${PUBLIC_URL}/webhooks/datadog/${body.id}`,
        config: { site: "datadoghq.eu", webhookAuth: "header", authHeader: "X-Causeway-Token" },
        secrets: expect.any(Array),
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
        webhookSecret: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
      expect(body.secrets.map((s: { kind: string }) => s.kind).sort()).toEqual([
        "apiKey",
        "applicationKey",
        "webhookSecret",
      ]);
      expect(body.secrets.find((s: { kind: string }) => s.kind === "apiKey").last4).toBe(ddApiKey.slice(-4));
      expect(body.secrets[0]).toEqual({
        id: expect.any(String),
        kind: expect.any(String),
        last4: expect.any(String),
        createdAt: expect.any(String),
        rotatedAt: null,
      });

      // The generated secret is what the webhook route will verify against; it is not shown again.
      const target = await lookup.getIntegrationForWebhook(db, body.id);
      expect(target?.secrets).toEqual([body.webhookSecret]);
      const again = await jsonOf(await t.request(`/api/v1/integrations/${body.id}`, { apiKey }));
      expect(again.webhookSecret).toBeUndefined();
      expect(JSON.stringify(again)).not.toContain(body.webhookSecret);
      expect(JSON.stringify(again)).not.toContain(ddApiKey);
    });

    it("keeps a given webhook secret and returns none", async () => {
      const { apiKey } = await makeOrg(db);
      const given = secret("github-hook");
      const body = await createOk(apiKey, {
        provider: "github",
        name: "GitHub",
        secrets: { webhookSecret: given },
      });
      expect(body.webhookSecret).toBeUndefined();
      expect(body.config).toEqual({ apiBaseUrl: "https://api.github.com", webUrl: "https://github.com" });
      expect((await lookup.getIntegrationForWebhook(db, body.id))?.secrets).toEqual([given]);
    });

    it("does not invent secrets that the vendor issues (Sentry, Slack, PagerDuty)", async () => {
      const { apiKey } = await makeOrg(db);
      const sentry = await createOk(apiKey, { provider: "sentry", name: "Sentry" });
      expect(sentry.webhookSecret).toBeUndefined();
      expect(sentry.secrets).toEqual([]);
      const slack = await createOk(apiKey, {
        provider: "slack",
        name: "Slack",
        config: { defaultChannel: "#incidents" },
        secrets: { webhookSecret: secret("slack-signing"), botToken: secret("xoxb") },
      });
      expect(slack.webhookUrl).toBe(`${PUBLIC_URL}/webhooks/slack/${slack.id}/interactions`);
      expect(slack.webhookSecret).toBeUndefined();
    });

    it("validates provider, name, config per provider and secrets, without echoing values", async () => {
      const { apiKey, org } = await makeOrg(db);
      const leaked = secret("pasted-into-config");
      const cases: Array<[unknown, string]> = [
        [{ provider: "splunk", name: "x" }, "provider"],
        [{ provider: "jira", name: "", config: { baseUrl: "https://acme.atlassian.net" } }, "name"],
        [{ provider: "datadog", name: "x", config: { site: "datadoghq.example" } }, "config.site"],
        [{ provider: "grafana", name: "x", config: { url: "file:///etc/passwd" } }, "config.url"],
        [{ provider: "grafana", name: "x", config: { url: "javascript:alert(1)" } }, "config.url"],
        [{ provider: "jira", name: "x", config: {} }, "config.baseUrl"],
        [
          {
            provider: "jira",
            name: "x",
            config: { baseUrl: "https://a.atlassian.net", projectKeys: ["ops"] },
          },
          "config.projectKeys.0",
        ],
        [{ provider: "slack", name: "x", config: {} }, "config.defaultChannel"],
        [{ provider: "datadog", name: "x", config: { apiKey: leaked } }, "config"],
        [{ provider: "alertmanager", name: "x", secrets: { apiToken: leaked } }, "secrets.apiToken"],
        [{ provider: "github", name: "x", secrets: { webhookSecret: "short" } }, "secrets.webhookSecret"],
        [{ provider: "github", name: "x", secrets: { password: leaked } }, "secrets"],
      ];
      for (const [input, path] of cases) {
        const res = await create(apiKey, input);
        const text = await res.text();
        expect(res.status, text).toBe(400);
        const body = JSON.parse(text);
        expect(body.code).toBe("validation_failed");
        expect(body.errors.map((e: { path: string }) => e.path)).toContain(path);
        expect(text).not.toContain(leaked);
      }
      // Nothing half-made was left behind by the refused requests.
      const rows = await withOrg(db, org.id, (tx) => tx.select().from(integrations));
      expect(rows).toEqual([]);
    });
  });

  describe("list and get", () => {
    it("pages newest first with a cursor and filters by provider", async () => {
      const { apiKey } = await makeOrg(db);
      const made: string[] = [];
      for (const name of ["one", "two", "three"]) {
        made.push((await createOk(apiKey, { provider: "alertmanager", name })).id);
      }
      const github = await createOk(apiKey, { provider: "github", name: "gh" });
      const first = await jsonOf(await t.request("/api/v1/integrations?limit=3", { apiKey }));
      expect(first.items.map((i: { id: string }) => i.id)).toEqual([github.id, made[2], made[1]]);
      expect(first.nextCursor).toEqual(expect.any(String));
      const second = await jsonOf(
        await t.request(`/api/v1/integrations?limit=3&cursor=${encodeURIComponent(first.nextCursor)}`, {
          apiKey,
        }),
      );
      expect(second).toEqual({ items: [expect.objectContaining({ id: made[0] })], nextCursor: null });
      const filtered = await jsonOf(await t.request("/api/v1/integrations?provider=github", { apiKey }));
      expect(filtered.items.map((i: { id: string }) => i.id)).toEqual([github.id]);
      for (const item of first.items) expect(item.webhookSecret).toBeUndefined();

      const bad = await t.request("/api/v1/integrations?cursor=not-a-cursor", { apiKey });
      expect(bad.status).toBe(400);
      expect((await jsonOf(bad)).errors).toEqual([
        { path: "cursor", message: "not a cursor returned by this list" },
      ]);
    });
  });

  describe("update", () => {
    it("renames and replaces the config, validated for its provider", async () => {
      const { apiKey } = await makeOrg(db);
      const created = await createOk(apiKey, {
        provider: "jira",
        name: "Jira",
        config: { baseUrl: "https://acme.atlassian.net", projectKeys: ["OPS"] },
      });
      const res = await patch(apiKey, created.id, {
        name: "Jira DC",
        config: {
          baseUrl: "https://jira.acme.internal/",
          deployment: "data_center",
          projectKeys: ["OPS", "PAY"],
        },
      });
      expect(res.status).toBe(200);
      const body = await jsonOf(res);
      expect(body).toMatchObject({
        name: "Jira DC",
        config: {
          baseUrl: "https://jira.acme.internal",
          deployment: "data_center",
          projectKeys: ["OPS", "PAY"],
        },
      });
      expect(Date.parse(body.updatedAt)).toBeGreaterThan(Date.parse(created.updatedAt));
      const invalid = await patch(apiKey, created.id, { config: { baseUrl: "ftp://jira" } });
      expect(invalid.status).toBe(400);
      expect((await jsonOf(invalid)).errors[0].path).toBe("config.baseUrl");
      expect((await patch(apiKey, created.id, {})).status).toBe(400);
    });

    it("rolls a webhook secret over: two valid, then the old one retired", async () => {
      const { apiKey } = await makeOrg(db);
      const created = await createOk(apiKey, { provider: "grafana", name: "Grafana" });
      const oldId = created.secrets[0].id;

      const added = await patch(apiKey, created.id, { addSecret: { kind: "webhookSecret" } });
      expect(added.status).toBe(200);
      const addedBody = await jsonOf(added);
      expect(addedBody.webhookSecret).toMatch(/^[0-9a-f]{64}$/);
      expect(addedBody.secrets.filter((s: { kind: string }) => s.kind === "webhookSecret")).toHaveLength(2);
      expect((await lookup.getIntegrationForWebhook(db, created.id))?.secrets).toEqual([
        addedBody.webhookSecret,
        created.webhookSecret,
      ]);

      const third = await patch(apiKey, created.id, {
        addSecret: { kind: "webhookSecret", value: secret("third") },
      });
      expect(third.status).toBe(409);
      expect((await jsonOf(third)).detail).toBe(
        "this integration already has 2 active webhookSecret values; retire one first",
      );

      const retired = await patch(apiKey, created.id, { retireSecret: oldId });
      expect(retired.status).toBe(200);
      const retiredBody = await jsonOf(retired);
      expect(retiredBody.webhookSecret).toBeUndefined();
      expect(retiredBody.secrets.map((s: { id: string }) => s.id)).not.toContain(oldId);
      expect((await lookup.getIntegrationForWebhook(db, created.id))?.secrets).toEqual([
        addedBody.webhookSecret,
      ]);

      const last = retiredBody.secrets.find((s: { kind: string }) => s.kind === "webhookSecret").id;
      const lonely = await patch(apiKey, created.id, { retireSecret: last });
      expect(lonely.status).toBe(409);
      expect((await patch(apiKey, created.id, { retireSecret: oldId })).status).toBe(404);
      expect((await patch(apiKey, created.id, { retireSecret: crypto.randomUUID() })).status).toBe(404);
    });

    it("adds and retires API credentials; refuses kinds the provider does not use", async () => {
      const { apiKey } = await makeOrg(db);
      const created = await createOk(apiKey, {
        provider: "sentry",
        name: "Sentry",
        secrets: { apiToken: secret("old") },
      });
      const unused = await patch(apiKey, created.id, {
        addSecret: { kind: "applicationKey", value: secret("x") },
      });
      expect(unused.status).toBe(400);
      expect((await jsonOf(unused)).errors[0].path).toBe("addSecret.kind");
      const vendorIssued = await patch(apiKey, created.id, { addSecret: { kind: "webhookSecret" } });
      expect(vendorIssued.status).toBe(400);
      expect((await jsonOf(vendorIssued)).errors).toEqual([
        { path: "addSecret.value", message: "sentry issues the webhook secret; paste it in" },
      ]);
      const noValue = await patch(apiKey, created.id, { addSecret: { kind: "apiToken" } });
      expect((await jsonOf(noValue)).errors).toEqual([{ path: "addSecret.value", message: "required" }]);

      const fresh = secret("new-token");
      const swapped = await jsonOf(
        await patch(apiKey, created.id, {
          addSecret: { kind: "apiToken", value: fresh },
          retireSecret: created.secrets[0].id,
        }),
      );
      expect(swapped.secrets).toEqual([
        expect.objectContaining({ kind: "apiToken", last4: fresh.slice(-4) }),
      ]);
    });
  });

  describe("delete", () => {
    it("soft-deletes: gone from the API and the webhook route, secrets retired, row kept", async () => {
      const { apiKey, org } = await makeOrg(db);
      const created = await createOk(apiKey, {
        provider: "github",
        name: "GitHub",
        secrets: { apiToken: secret("t") },
      });
      const res = await t.request(`/api/v1/integrations/${created.id}`, { method: "DELETE", apiKey });
      expect(res.status).toBe(204);
      expect((await t.request(`/api/v1/integrations/${created.id}`, { apiKey })).status).toBe(404);
      expect((await jsonOf(await t.request("/api/v1/integrations", { apiKey }))).items).toEqual([]);
      expect(await lookup.getIntegrationForWebhook(db, created.id)).toBeNull();
      const [row] = await withOrg(db, org.id, (tx) =>
        tx.select().from(integrations).where(eq(integrations.id, created.id)),
      );
      expect(row?.deletedAt).toBeInstanceOf(Date);
      const creds = await withOrg(db, org.id, (tx) =>
        tx
          .select()
          .from(credentials)
          .where(and(eq(credentials.ownerId, created.id))),
      );
      expect(creds).toHaveLength(2);
      for (const c of creds) expect(c.retiredAt).toBeInstanceOf(Date);
      expect(
        (await t.request(`/api/v1/integrations/${created.id}`, { method: "DELETE", apiKey })).status,
      ).toBe(404);
      expect((await patch(apiKey, created.id, { name: "back" })).status).toBe(404);
    });
  });

  describe("audit", () => {
    it("records every mutation with config and secret kinds, never secret values", async () => {
      const { apiKey, org } = await makeOrg(db);
      const token = secret("audited");
      const created = await createOk(apiKey, {
        provider: "jira",
        name: "Jira",
        config: { baseUrl: "https://acme.atlassian.net", email: "bot@acme.example" },
        secrets: { apiToken: token },
      });
      await patch(apiKey, created.id, { name: "Jira Cloud", addSecret: { kind: "webhookSecret" } });
      await t.request(`/api/v1/integrations/${created.id}`, { method: "DELETE", apiKey });
      const entries = await withOrg(db, org.id, (tx) =>
        tx.select().from(auditLog).where(eq(auditLog.orgId, org.id)).orderBy(auditLog.seq),
      );
      const mine = entries.filter((e) => e.subjectType === "integration");
      expect(mine.map((e) => e.action)).toEqual([
        "integration.created",
        "integration.updated",
        "integration.deleted",
      ]);
      expect(mine[0]?.data).toMatchObject({
        provider: "jira",
        config: { baseUrl: "https://acme.atlassian.net", email: "bot@acme.example" },
        kinds: ["apiToken", "webhookSecret"],
        generated: true,
      });
      expect(mine[1]?.data).toMatchObject({
        changed: ["name", "secrets"],
        name: "Jira Cloud",
        added: { kind: "webhookSecret" },
      });
      expect(mine[2]?.data).toMatchObject({ retired: 3 });
      expect(entries.filter((e) => e.action === "credential.created")).toHaveLength(3);
      expect(entries.filter((e) => e.action === "credential.retired")).toHaveLength(3);
      const text = JSON.stringify(entries.map((e) => e.data));
      expect(text).not.toContain(token);
      expect(text).not.toContain(created.webhookSecret);
    });
  });

  describe("route security", () => {
    it("needs a credential on every route", async () => {
      const id = crypto.randomUUID();
      const calls: Array<[string, string]> = [
        ["POST", "/api/v1/integrations"],
        ["GET", "/api/v1/integrations"],
        ["GET", `/api/v1/integrations/${id}`],
        ["PATCH", `/api/v1/integrations/${id}`],
        ["DELETE", `/api/v1/integrations/${id}`],
      ];
      for (const [method, path] of calls) {
        const res = await t.request(path, {
          method,
          json: method === "GET" || method === "DELETE" ? undefined : {},
        });
        expect(res.status, `${method} ${path}`).toBe(401);
      }
    });

    it("lets members read and only admins change", async () => {
      const { apiKey, org } = await makeOrg(db);
      const created = await createOk(apiKey, { provider: "alertmanager", name: "AM" });
      const member = await makeApiKey(db, org.id, "member");
      const admin = await makeApiKey(db, org.id, "admin");
      expect((await t.request("/api/v1/integrations", { apiKey: member.key })).status).toBe(200);
      expect((await t.request(`/api/v1/integrations/${created.id}`, { apiKey: member.key })).status).toBe(
        200,
      );
      const denied = [
        await create(member.key, { provider: "alertmanager", name: "nope" }),
        await patch(member.key, created.id, { name: "nope" }),
        await t.request(`/api/v1/integrations/${created.id}`, { method: "DELETE", apiKey: member.key }),
      ];
      for (const res of denied) {
        expect(res.status).toBe(403);
        expect((await jsonOf(res)).code).toBe("forbidden");
      }
      expect((await patch(admin.key, created.id, { name: "by admin" })).status).toBe(200);
      expect((await create(admin.key, { provider: "alertmanager", name: "admin made" })).status).toBe(201);
    });

    it("answers 404 for another org's integration, on every route", async () => {
      const a = await makeOrg(db);
      const b = await makeOrg(db);
      const theirs = await createOk(b.apiKey, { provider: "alertmanager", name: "B's" });
      expect((await t.request(`/api/v1/integrations/${theirs.id}`, { apiKey: a.apiKey })).status).toBe(404);
      expect((await patch(a.apiKey, theirs.id, { name: "taken" })).status).toBe(404);
      expect(
        (await t.request(`/api/v1/integrations/${theirs.id}`, { method: "DELETE", apiKey: a.apiKey })).status,
      ).toBe(404);
      expect((await jsonOf(await t.request("/api/v1/integrations", { apiKey: a.apiKey }))).items).toEqual([]);
      const still = await jsonOf(await t.request(`/api/v1/integrations/${theirs.id}`, { apiKey: b.apiKey }));
      expect(still.name).toBe("B's");
    });

    it("declares each route's role (and the proxy's rate class) in the OpenAPI document", async () => {
      const doc = await jsonOf(await t.request("/openapi.json"));
      const ops = {
        "post /api/v1/integrations": "admin",
        "get /api/v1/integrations": "member",
        "get /api/v1/integrations/{id}": "member",
        "patch /api/v1/integrations/{id}": "admin",
        "delete /api/v1/integrations/{id}": "admin",
        "post /api/v1/proxy/{provider}/{operation}": "member",
      };
      for (const [key, role] of Object.entries(ops)) {
        const [method, path] = key.split(" ") as [string, string];
        expect(doc.paths[path]?.[method]?.["x-causeway-role"], key).toBe(role);
      }
      expect(doc.paths["/api/v1/proxy/{provider}/{operation}"].post["x-causeway-rate-limit"]).toBe("ai");
    });
  });
});
