import { createRoute, z } from "@hono/zod-openapi";
import { problemResponses } from "../http/problem.ts";
import { createRouter } from "../http/router.ts";
import { ProxyRequestInput, type QueryProxy } from "./proxy.ts";
import { MAX_RANGE_DAYS, proxyOperationNames } from "./proxy-operations.ts";

const ProxyResultSchema = z
  .object({
    provider: z.string(),
    operation: z.string(),
    integrationId: z.uuid(),
    truncated: z.boolean().openapi({ description: "lists in data were shortened to fit the response cap" }),
    data: z.unknown().openapi({ description: "the vendor's answer, in the vendor's own JSON shape" }),
  })
  .openapi("ProxyResult");

const ProxyParams = z.object({
  provider: z.string().openapi({ param: { name: "provider", in: "path" }, example: "datadog" }),
  operation: z.string().openapi({ param: { name: "operation", in: "path" }, example: "logs.search" }),
});

/** `POST /api/v1/proxy/{provider}/{operation}`: read-only vendor queries with the org's stored credentials. */
export function proxyRoutes(proxy: QueryProxy) {
  const router = createRouter();
  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/proxy/{provider}/{operation}",
      tags: ["proxy"],
      summary: "Run an allow-listed, read-only query against a connected Datadog, Grafana or SigNoz",
      description:
        `Operations: ${proxyOperationNames().join(", ")}. Time ranges are RFC 3339 \`from\`/\`to\`, at most ` +
        `${MAX_RANGE_DAYS} days, not in the future. Vendor failures are 502 (504 on timeout) with \`retryable\`.`,
      security: [{ bearer: [] }],
      "x-causeway-role": "member",
      // The per-org AI/proxy rate class (DESIGN.md §8); the rate-limit middleware reads this declaration.
      "x-causeway-rate-limit": "ai",
      request: {
        params: ProxyParams,
        body: {
          required: true,
          content: { "application/json": { schema: ProxyRequestInput.openapi("ProxyRequest") } },
        },
      },
      responses: {
        200: {
          description: "the vendor's answer",
          content: { "application/json": { schema: ProxyResultSchema } },
        },
        ...problemResponses(
          "validation_failed",
          "bad_request",
          "invalid_json",
          "unauthenticated",
          "not_found",
          "upstream_error",
          "upstream_timeout",
        ),
      },
    }),
    async (c) => {
      const { provider, operation } = c.req.valid("param");
      const result = await proxy.run(c.get("auth"), provider, operation, c.req.valid("json"));
      return c.json(result, 200);
    },
  );
  return router;
}
