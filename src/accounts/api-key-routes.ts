import { createRoute, z } from "@hono/zod-openapi";
import { decodeCursor, listSchema, PageQuery, pageOf } from "../http/pagination.ts";
import { problemResponses } from "../http/problem.ts";
import { secured } from "../http/route-security.ts";
import { createRouter } from "../http/router.ts";
import { createApiKey, listApiKeys, revokeApiKey } from "./api-keys.ts";
import type { AccountsDeps } from "./deps.ts";
import { ApiKeySchema, apiKeyToWire, CreateApiKeyBody, CreatedApiKeySchema, IdParam } from "./wire.ts";

/** Machine credentials: create (shown once), list, revoke. Owners and admins only. */
export function apiKeyRoutes(deps: AccountsDeps) {
  const router = createRouter();

  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/api-keys",
      tags: ["api-keys"],
      summary: "Create an API key (returned once)",
      ...secured("admin"),
      request: { body: { required: true, content: { "application/json": { schema: CreateApiKeyBody } } } },
      responses: {
        201: { description: "created", content: { "application/json": { schema: CreatedApiKeySchema } } },
        ...problemResponses("unauthenticated", "forbidden", "validation_failed"),
      },
    }),
    async (c) => {
      const created = await createApiKey(deps, c.get("auth"), c.req.valid("json"));
      c.header("Cache-Control", "no-store");
      return c.json({ apiKey: apiKeyToWire(created.apiKey), key: created.key }, 201);
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/api-keys",
      tags: ["api-keys"],
      summary: "List the org's API keys, newest first (never the keys themselves)",
      ...secured("admin"),
      request: {
        query: z.object({ active: z.enum(["true", "false"]).optional(), ...PageQuery }),
      },
      responses: {
        200: {
          description: "a page of keys",
          content: { "application/json": { schema: listSchema(ApiKeySchema, "ApiKeyList") } },
        },
        ...problemResponses("unauthenticated", "forbidden", "validation_failed"),
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const rows = await listApiKeys(deps, c.get("auth"), {
        limit: q.limit,
        after: decodeCursor(q.cursor),
        activeOnly: q.active === "true",
      });
      const page = pageOf(rows, q.limit, (k) => ({ at: k.createdAt, id: k.id }));
      return c.json({ items: page.items.map(apiKeyToWire), nextCursor: page.nextCursor }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "delete",
      path: "/api/v1/api-keys/{id}",
      tags: ["api-keys"],
      summary: "Revoke an API key; it is refused from the next request on",
      ...secured("admin"),
      request: { params: IdParam },
      responses: {
        204: { description: "revoked" },
        ...problemResponses("unauthenticated", "forbidden", "not_found", "validation_failed"),
      },
    }),
    async (c) => {
      await revokeApiKey(deps, c.get("auth"), c.req.valid("param").id);
      return c.body(null, 204);
    },
  );
  return router;
}
