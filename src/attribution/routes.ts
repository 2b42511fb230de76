import { createRoute, z } from "@hono/zod-openapi";
import type { Database } from "../../db/client.ts";
import { problemResponses } from "../http/problem.ts";
import { secured } from "../http/route-security.ts";
import { createRouter } from "../http/router.ts";
import { type EnqueueAttribution, retryAttribution } from "./service.ts";

const IdParam = z.object({ id: z.uuid().openapi({ param: { name: "id", in: "path" } }) });

export function attributionRoutes(db: Database, enqueue: EnqueueAttribution) {
  const router = createRouter();
  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/anomalies/{id}/attribution/retry",
      tags: ["anomalies"],
      summary: "Re-run attribution of an anomaly (replaces the stored result when it finishes)",
      ...secured("admin"),
      request: { params: IdParam },
      responses: {
        202: {
          description: "queued",
          content: {
            "application/json": {
              schema: z
                .object({ status: z.literal("pending"), anomalyId: z.uuid() })
                .openapi("AttributionQueued"),
            },
          },
        },
        ...problemResponses("unauthenticated", "forbidden", "not_found", "validation_failed"),
      },
    }),
    async (c) => {
      const anomalyId = c.req.valid("param").id;
      await retryAttribution(db, enqueue, c.get("auth"), anomalyId);
      return c.json({ status: "pending" as const, anomalyId }, 202);
    },
  );
  return router;
}
