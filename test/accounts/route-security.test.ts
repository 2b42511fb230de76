import { randomBytes, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { changes } from "../../db/schema/index.ts";
import { createInvitation } from "../../src/accounts/invitations.ts";
import type { CreatedOrg } from "../../src/accounts/orgs.ts";
import { systemContext } from "../../src/context.ts";
import { jsonOf } from "../harness/app.ts";
import { loginAs, makeApiKey, makeOrg, makeUser } from "../harness/factories.ts";
import { type AccountsTestApp, useAccountsApp } from "./app.ts";

/**
 * The route security triplet for every route under /api in the app's OpenAPI document:
 *   no credential → 401; a member (and, for owner routes, an admin) on an admin/owner route → 403;
 *   another org's id in an {id} path → 404.
 *
 * ROUTES below says how to exercise each route. A route missing from it fails this test, so a new route
 * cannot ship without its entry. To add yours: one line `"METHOD /path": { role }` with the role your
 * route declares in `x-causeway-role`; add `body` if the route validates one (so the request reaches the
 * org lookup), and `factory` when you can make a real object in another org (a random UUID stands in
 * otherwise). A factory's object is also fetched by its own org's owner, which must not get 404.
 */

interface Org {
  created: CreatedOrg;
  /** The owner's API key. */
  owner: string;
  admin: string;
  member: string;
}

interface Walk {
  t: AccountsTestApp;
}

interface RouteCase {
  role: "public" | "member" | "admin" | "owner";
  /** A valid request body (JSON). */
  body?: unknown;
  /** Values for path parameters other than {id}; "x" when absent. */
  params?: Record<string, string>;
  /** Makes a real object of this route's kind in `org` and returns its id. */
  factory?: (walk: Walk, org: Org) => Promise<string>;
}

const userIn = async ({ t }: Walk, org: Org) => (await makeUser(t.database.db, org.created.org.id)).id;
const apiKeyIn = async ({ t }: Walk, org: Org) => (await makeApiKey(t.database.db, org.created.org.id)).id;
const sessionIn = async ({ t }: Walk, org: Org) =>
  (await loginAs(t, await makeUser(t.database.db, org.created.org.id))).sessionId;
const invitationIn = async ({ t }: Walk, org: Org) =>
  (
    await createInvitation({ db: t.database.db }, systemContext(org.created.org.id, "test"), {
      email: `invitee-${randomBytes(4).toString("hex")}@example.test`,
    })
  ).invitation.id;
const integrationIn = async ({ t }: Walk, org: Org) => {
  const res = await t.request("/api/v1/integrations", {
    method: "POST",
    apiKey: org.owner,
    json: { provider: "sentry", name: "walker", secrets: { webhookSecret: randomBytes(24).toString("hex") } },
  });
  if (res.status !== 201) throw new Error(`integration factory: ${res.status} ${await res.text()}`);
  return (await jsonOf(res)).id as string;
};

const repositoryIn = async ({ t }: Walk, org: Org) => {
  const suffix = randomBytes(4).toString("hex");
  const res = await t.request("/api/v1/repositories", {
    method: "POST",
    apiKey: org.owner,
    json: { name: `walker-${suffix}`, url: `https://github.com/acme/walker-${suffix}.git` },
  });
  if (res.status !== 201) throw new Error(`repository factory: ${res.status} ${await res.text()}`);
  return (await jsonOf(res)).id as string;
};
const changeIn = async (walk: Walk, org: Org) => {
  const repositoryId = await repositoryIn(walk, org);
  const orgId = org.created.org.id;
  const [row] = await withOrg(walk.t.database.db, orgId, (tx) =>
    tx
      .insert(changes)
      .values({
        orgId,
        repositoryId,
        kind: "commit",
        title: "walker",
        mergeSha: randomBytes(20).toString("hex"),
        sources: ["git"],
      })
      .returning({ id: changes.id }),
  );
  return row!.id;
};

const ROUTES: Record<string, RouteCase> = {
  "GET /api/v1/me": { role: "member" },

  // accounts
  "POST /api/v1/auth/login": { role: "public" },
  "POST /api/v1/auth/refresh": { role: "public" },
  "POST /api/v1/auth/logout": { role: "member" },
  "GET /api/v1/auth/sessions": { role: "member" },
  "DELETE /api/v1/auth/sessions/{id}": { role: "member", factory: sessionIn },
  "POST /api/v1/api-keys": { role: "admin", body: { name: "walker" } },
  "GET /api/v1/api-keys": { role: "admin" },
  "DELETE /api/v1/api-keys/{id}": { role: "admin", factory: apiKeyIn },
  "GET /api/v1/members": { role: "member" },
  "PATCH /api/v1/members/{id}": { role: "admin", body: { role: "admin" }, factory: userIn },
  "DELETE /api/v1/members/{id}": { role: "admin", factory: userIn },
  "POST /api/v1/invitations": { role: "admin", body: { email: "walker@example.test" } },
  "GET /api/v1/invitations": { role: "admin" },
  "DELETE /api/v1/invitations/{id}": { role: "admin", factory: invitationIn },
  "POST /api/v1/invitations/accept": { role: "public" },
  "GET /api/v1/audit/entries": { role: "admin" },
  "GET /api/v1/audit/checkpoint": { role: "member" },
  "GET /api/v1/audit/keys": { role: "member" },
  "GET /api/v1/audit/proof/inclusion": { role: "member" },
  "GET /api/v1/audit/proof/consistency": { role: "member" },
  "GET /api/v1/compliance/cc7.1": { role: "admin" },
  "GET /api/v1/compliance/cc8.1": { role: "admin" },

  // credentials and integrations
  "POST /api/v1/integrations": { role: "admin", body: { provider: "sentry", name: "walker" } },
  "GET /api/v1/integrations": { role: "member" },
  "GET /api/v1/integrations/{id}": { role: "member", factory: integrationIn },
  "PATCH /api/v1/integrations/{id}": { role: "admin", body: { name: "renamed" }, factory: integrationIn },
  "DELETE /api/v1/integrations/{id}": { role: "admin", factory: integrationIn },
  "POST /api/v1/proxy/{provider}/{operation}": {
    role: "member",
    params: { provider: "datadog", operation: "x" },
  },

  // ingest, anomalies, incidents (random ids until factories exist for them)
  "GET /api/v1/deliveries": { role: "member" },
  "GET /api/v1/jobs/dead": { role: "admin" },
  "POST /api/v1/deliveries/{id}/replay": { role: "admin" },
  "GET /api/v1/anomalies": { role: "member" },
  "GET /api/v1/anomalies/{id}": { role: "member" },
  "POST /api/v1/anomalies/{id}/attribution/retry": { role: "admin" },
  "GET /api/v1/incidents": { role: "member" },
  "GET /api/v1/incidents/{id}": { role: "member" },
  "GET /api/v1/incidents/{id}/timeline": { role: "member" },
  "POST /api/v1/incidents/{id}/acknowledge": { role: "admin" },
  "POST /api/v1/incidents/{id}/resolve": { role: "admin", body: { reason: "false_positive" } },
  "POST /api/v1/incidents/{id}/reopen": { role: "admin", body: {} },

  // changes: repositories, deploys, changes, tickets (sync and backfill would reach the network: random ids)
  "POST /api/v1/repositories": {
    role: "admin",
    body: { name: "walker", url: "https://github.com/acme/walker.git" },
  },
  "GET /api/v1/repositories": { role: "member" },
  "GET /api/v1/repositories/{id}": { role: "member", factory: repositoryIn },
  "PATCH /api/v1/repositories/{id}": { role: "admin", body: { name: "renamed" }, factory: repositoryIn },
  "DELETE /api/v1/repositories/{id}": { role: "admin", factory: repositoryIn },
  "POST /api/v1/repositories/{id}/sync": { role: "admin" },
  "POST /api/v1/repositories/{id}/backfill": { role: "admin" },
  "POST /api/v1/deploys": {
    role: "admin",
    body: {
      service: "checkout",
      environment: "prod",
      sha: "a".repeat(40),
      deployedAt: "2026-03-10T14:12:05Z",
    },
  },
  "GET /api/v1/deploys": { role: "member" },
  "GET /api/v1/changes": { role: "member" },
  "GET /api/v1/changes/{id}": { role: "member", factory: changeIn },
  "GET /api/v1/tickets/{key}": { role: "member", params: { key: "OPS-1" } },
};

interface DocumentedRoute {
  key: string;
  method: string;
  path: string;
  role: unknown;
  security: unknown;
}

function documentedRoutes(doc: { paths: Record<string, Record<string, Record<string, unknown>>> }) {
  const out: DocumentedRoute[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    if (!path.startsWith("/api/")) continue;
    for (const [method, op] of Object.entries(item)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      out.push({
        key: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        role: op["x-causeway-role"],
        security: op.security,
      });
    }
  }
  return out;
}

function fill(path: string, id: string, params: Record<string, string> = {}): string {
  return path.replaceAll(/\{([^}]+)\}/g, (_, name: string) => (name === "id" ? id : (params[name] ?? "x")));
}

describe("route security: every /api route", async () => {
  const t = await useAccountsApp();
  const db = t.database.db;
  const walk: Walk = { t };

  async function org(): Promise<Org> {
    const created = await makeOrg(db);
    return {
      created,
      owner: created.apiKey,
      admin: (await makeApiKey(db, created.org.id, "admin")).key,
      member: (await makeApiKey(db, created.org.id, "member")).key,
    };
  }

  const doc = await jsonOf(await t.request("/openapi.json"));
  const routes = documentedRoutes(doc);

  it("has an entry in ROUTES for every route, each with the role the route declares", () => {
    expect(routes.length).toBeGreaterThan(10);
    const problems: string[] = [];
    for (const r of routes) {
      const entry = ROUTES[r.key];
      if (!entry) {
        problems.push(`${r.key}: missing from ROUTES in test/accounts/route-security.test.ts`);
        continue;
      }
      if (r.role !== entry.role) {
        problems.push(`${r.key}: declares x-causeway-role ${String(r.role)}, ROUTES says ${entry.role}`);
      }
      const bearer = Array.isArray(r.security) && r.security.some((s) => s && "bearer" in s);
      if (bearer !== (entry.role !== "public")) {
        problems.push(`${r.key}: OpenAPI security must list bearer exactly when the route is not public`);
      }
    }
    for (const key of Object.keys(ROUTES)) {
      if (!routes.some((r) => r.key === key)) problems.push(`${key}: in ROUTES but not a route of the app`);
    }
    expect(problems.join("\n")).toBe("");
  });

  it("answers 401 without a credential, 403 to a lower role and 404 for another org's id", async () => {
    const a = await org();
    const b = await org();
    const failures: string[] = [];
    const check = async (label: string, res: Response, status: number, code: string) => {
      const body = res.headers.get("content-type")?.includes("json") ? await jsonOf(res) : {};
      if (res.status !== status || body.code !== code) {
        failures.push(`${label}: expected ${status} ${code}, got ${res.status} ${body.code ?? ""}`);
      }
    };

    for (const route of routes) {
      const entry = ROUTES[route.key];
      if (!entry || entry.role === "public") continue;
      const call = (id: string, bearer?: string) =>
        t.request(fill(route.path, id, entry.params), {
          method: route.method,
          ...(bearer ? { bearer } : {}),
          ...(entry.body !== undefined ? { json: entry.body } : {}),
        });

      await check(`${route.key} without a credential`, await call(randomUUID()), 401, "unauthenticated");
      await check(
        `${route.key} with a forged credential`,
        await call(randomUUID(), `cw_${"A".repeat(8)}_${"B".repeat(32)}`),
        401,
        "unauthenticated",
      );
      if (entry.role === "admin" || entry.role === "owner") {
        await check(`${route.key} as a member`, await call(randomUUID(), a.member), 403, "forbidden");
      }
      if (entry.role === "owner") {
        await check(`${route.key} as an admin`, await call(randomUUID(), a.admin), 403, "forbidden");
      }
      if (route.path.includes("{id}")) {
        const id = entry.factory ? await entry.factory(walk, b) : randomUUID();
        await check(`${route.key} with org B's id from org A`, await call(id, a.owner), 404, "not_found");
        if (entry.factory) {
          // Control: the object is real, and its own org's owner reaches it.
          const own = await call(id, b.owner);
          if (own.status >= 400)
            failures.push(`${route.key}: factory's object not reachable in its own org (${own.status})`);
        }
      }
    }
    expect(failures.join("\n")).toBe("");
  });

  it("lets public routes through without a credential", async () => {
    const publicRoutes = routes.filter((r) => ROUTES[r.key]?.role === "public");
    expect(publicRoutes.map((r) => r.key).sort()).toEqual([
      "POST /api/v1/auth/login",
      "POST /api/v1/auth/refresh",
      "POST /api/v1/invitations/accept",
    ]);
    // An empty body reaches validation (400), not the auth wall; refresh without its cookie is its own 401.
    for (const key of ["POST /api/v1/auth/login", "POST /api/v1/invitations/accept"]) {
      const route = publicRoutes.find((r) => r.key === key)!;
      const res = await t.request(route.path, { method: route.method, json: {} });
      expect(res.status, key).toBe(400);
      expect((await jsonOf(res)).code, key).toBe("validation_failed");
    }
    const refresh = await t.request("/api/v1/auth/refresh", { method: "POST" });
    expect(refresh.status).toBe(401);
    expect((await jsonOf(refresh)).detail).toMatch(/refresh token/);
  });
});
