import { createRoute, z } from "@hono/zod-openapi";
import type { Database } from "../../db/client.ts";
import { instant, listSchema } from "../http/pagination.ts";
import { problemResponses } from "../http/problem.ts";
import { secured } from "../http/route-security.ts";
import { createRouter } from "../http/router.ts";
import { listAuditEntries } from "./audit-entries.ts";
import { AuditEntrySchema, auditEntryToWire } from "./wire.ts";

/** The org's audit trail for owners and admins. (Checkpoints and proofs belong to the evidence routes.) */
export function auditRoutes(deps: { db: Database }) {
  const router = createRouter();
  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/audit/entries",
      tags: ["audit"],
      summary: "Audit log entries, newest first",
      ...secured("admin"),
      request: {
        query: z.object({
          action: z.string().min(1).max(100).optional().openapi({ example: "api_key.created" }),
          from: instant().optional().openapi({ description: "Inclusive" }),
          to: instant().optional().openapi({ description: "Exclusive" }),
          cursor: z.string().max(200).optional(),
          limit: z.coerce.number().int().min(1).max(200).default(50),
        }),
      },
      responses: {
        200: {
          description: "a page of entries",
          content: { "application/json": { schema: listSchema(AuditEntrySchema, "AuditEntryList") } },
        },
        ...problemResponses("unauthenticated", "forbidden", "validation_failed"),
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const page = await listAuditEntries(deps, c.get("auth"), {
        limit: q.limit,
        ...(q.action ? { action: q.action } : {}),
        ...(q.from ? { from: new Date(q.from) } : {}),
        ...(q.to ? { to: new Date(q.to) } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      });
      return c.json({ items: page.items.map(auditEntryToWire), nextCursor: page.nextCursor }, 200);
    },
  );
  return router;
}
