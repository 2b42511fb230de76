import { createRoute, z } from "@hono/zod-openapi";
import { createRouter } from "./router.ts";

export interface ReadinessCheck {
  name: string;
  check(): Promise<{ ok: boolean; detail?: string }>;
}

const HealthSchema = z.object({ status: z.literal("ok") }).openapi("Health");
const ReadinessSchema = z
  .object({
    status: z.enum(["ready", "not_ready"]),
    checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional() })),
  })
  .openapi("Readiness");

const CHECK_TIMEOUT_MS = 2_000;

async function runCheck(check: ReadinessCheck): Promise<{ ok: boolean; detail?: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ ok: boolean; detail: string }>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: "timed out" }), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check.check().catch(() => ({ ok: false, detail: "unreachable" })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(checks: ReadinessCheck[]) {
  const router = createRouter();
  router.openapi(
    createRoute({
      method: "get",
      path: "/health",
      tags: ["health"],
      summary: "Liveness: the process is up",
      responses: { 200: { description: "alive", content: { "application/json": { schema: HealthSchema } } } },
    }),
    (c) => c.json({ status: "ok" as const }, 200),
  );
  router.openapi(
    createRoute({
      method: "get",
      path: "/health/ready",
      tags: ["health"],
      summary: "Readiness: database and job queue reachable",
      responses: {
        200: { description: "ready", content: { "application/json": { schema: ReadinessSchema } } },
        503: { description: "not ready", content: { "application/json": { schema: ReadinessSchema } } },
      },
    }),
    async (c) => {
      const results = await Promise.all(checks.map(async (ch) => [ch.name, await runCheck(ch)] as const));
      const ok = results.every(([, r]) => r.ok);
      const body = {
        status: ok ? ("ready" as const) : ("not_ready" as const),
        checks: Object.fromEntries(results),
      };
      return ok ? c.json(body, 200) : c.json(body, 503);
    },
  );
  return router;
}
