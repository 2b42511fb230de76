import { createRoute, z } from "@hono/zod-openapi";
import { problemResponses } from "./problem.ts";
import { createRouter } from "./router.ts";

const MeSchema = z
  .object({
    orgId: z.uuid(),
    role: z.enum(["owner", "admin", "member"]),
    actor: z.object({ kind: z.string(), id: z.string(), display: z.string().optional() }),
  })
  .openapi("Me");

/** Who the presented credential acts as: the quickest way to check an API key works. */
export function meRoutes() {
  const router = createRouter();
  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/me",
      tags: ["accounts"],
      summary: "The org, role and actor of the presented credential",
      security: [{ bearer: [] }],
      "x-causeway-role": "member",
      responses: {
        200: { description: "the caller", content: { "application/json": { schema: MeSchema } } },
        ...problemResponses("unauthenticated"),
      },
    }),
    (c) => {
      const auth = c.get("auth");
      return c.json(
        {
          orgId: auth.orgId,
          role: auth.role,
          actor: {
            kind: auth.actor.kind,
            id: auth.actor.id,
            ...(auth.actor.display ? { display: auth.actor.display } : {}),
          },
        },
        200,
      );
    },
  );
  return router;
}
