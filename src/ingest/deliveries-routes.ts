import { createRoute, z } from "@hono/zod-openapi";
import type { Database } from "../../db/client.ts";
import { DELIVERY_STATUSES } from "../../db/schema/deliveries.ts";
import { listSchema, PageQuery } from "../http/pagination.ts";
import { problemResponses } from "../http/problem.ts";
import { createRouter } from "../http/router.ts";
import { listDeliveries, replayDeliveries } from "./deliveries.ts";

const DeliverySchema = z
  .object({
    id: z.uuid(),
    integrationId: z.uuid(),
    provider: z.string(),
    status: z.enum(DELIVERY_STATUSES),
    eventType: z.string().nullable(),
    reason: z.string().nullable(),
    attempts: z.number().int(),
    signalCount: z.number().int(),
    receivedAt: z.iso.datetime(),
    processedAt: z.iso.datetime().nullable(),
  })
  .openapi("Delivery");

export function deliveryRoutes(db: Database, onReplayed: () => void) {
  const router = createRouter();
  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/deliveries",
      tags: ["webhooks"],
      summary: "Stored webhook deliveries (filter status=dead for dead letters)",
      security: [{ bearer: [] }],
      "x-causeway-role": "member",
      request: {
        query: z.object({
          status: z.enum(DELIVERY_STATUSES).optional(),
          provider: z.string().max(50).optional(),
          ...PageQuery,
        }),
      },
      responses: {
        200: {
          description: "a page of deliveries",
          content: { "application/json": { schema: listSchema(DeliverySchema, "DeliveryList") } },
        },
        ...problemResponses("unauthenticated", "validation_failed"),
      },
    }),
    async (c) => {
      const page = await listDeliveries(db, c.get("auth"), c.req.valid("query"));
      return c.json(
        {
          items: page.items.map((d) => ({
            ...d,
            receivedAt: d.receivedAt.toISOString(),
            processedAt: d.processedAt?.toISOString() ?? null,
          })),
          nextCursor: page.nextCursor,
        },
        200,
      );
    },
  );
  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/deliveries/{id}/replay",
      tags: ["webhooks"],
      summary: "Re-run normalization of a dead or ignored delivery",
      security: [{ bearer: [] }],
      "x-causeway-role": "admin",
      request: { params: z.object({ id: z.uuid() }) },
      responses: {
        202: {
          description: "queued again",
          content: { "application/json": { schema: z.object({ replayed: z.array(z.uuid()) }) } },
        },
        ...problemResponses("unauthenticated", "forbidden", "not_found", "conflict", "validation_failed"),
      },
    }),
    async (c) => {
      const replayed = await replayDeliveries(db, c.get("auth"), { ids: [c.req.valid("param").id] });
      onReplayed();
      return c.json({ replayed }, 202);
    },
  );
  return router;
}
