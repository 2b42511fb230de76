import { createRoute, z } from "@hono/zod-openapi";
import { problemResponses } from "../http/problem.ts";
import { secured } from "../http/route-security.ts";
import { createRouter } from "../http/router.ts";
import { redactDeep } from "../telemetry/redact.ts";
import type { DeadJob } from "./runner.ts";

export type ListDeadJobs = (orgId: string, limit: number) => Promise<DeadJob[]>;

const DeadJobSchema = z
  .object({
    id: z.string(),
    queue: z.string().openapi({ description: "the job's queue, e.g. attribution.run or reports.deliver" }),
    reason: z.string().openapi({ description: "an error code, or 'failed after retries'" }),
    failedAt: z.string(),
    payload: z.unknown().openapi({ description: "the job's payload (ids only), redacted" }),
  })
  .openapi("DeadJob");

/** Background jobs of the caller's org that failed for good (the dead-letter queues). */
export function jobRoutes(listDead: ListDeadJobs) {
  const router = createRouter();
  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/jobs/dead",
      tags: ["jobs"],
      summary: "Background jobs of this org that failed permanently or exhausted their retries",
      ...secured("admin"),
      request: {
        query: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }),
      },
      responses: {
        200: {
          description: "dead jobs, newest first",
          content: {
            "application/json": {
              schema: z.object({ items: z.array(DeadJobSchema) }).openapi("DeadJobList"),
            },
          },
        },
        ...problemResponses("unauthenticated", "forbidden", "validation_failed"),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      const dead = await listDead(auth.orgId, c.req.valid("query").limit);
      return c.json({ items: dead.map((d) => ({ ...d, payload: redactDeep(d.payload) })) }, 200);
    },
  );
  return router;
}
