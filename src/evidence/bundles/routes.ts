import { createRoute, z } from "@hono/zod-openapi";
import { problemResponses } from "../../http/problem.ts";
import { secured } from "../../http/route-security.ts";
import { createRouter } from "../../http/router.ts";
import type { EvidenceDeps } from "../checkpoints.ts";
import { bundleJson, bundleMarkdown, prepareExport } from "./export.ts";
import { CRITERIA } from "./format.ts";
import { resolveExportRequest } from "./request.ts";

const DATE_OR_TIME = z
  .string()
  .regex(
    /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/,
    "a date (YYYY-MM-DD) or an RFC 3339 time",
  );

export const ExportQuery = z.object({
  from: DATE_OR_TIME.optional().openapi({ description: "Start, UTC; a date means 00:00:00.000 that day" }),
  to: DATE_OR_TIME.optional().openapi({
    description: "End, UTC, inclusive; a date means 23:59:59.999 that day",
  }),
  period: z
    .enum(["7", "30", "90", "365"])
    .optional()
    .openapi({ description: "The last N days up to now (default 30 when from/to are absent)" }),
  format: z.enum(["json", "markdown"]).default("json"),
  redactPaths: z.enum(["true", "false"]).default("false"),
});
export type ExportQuery = z.infer<typeof ExportQuery>;

/** Pulls the generator as the client reads: nothing is built ahead of the socket. */
export function streamOf(
  gen: AsyncGenerator<string>,
  onError: (error: unknown) => void,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await gen.next();
        if (done) controller.close();
        else controller.enqueue(encoder.encode(value));
      } catch (error) {
        onError(error);
        controller.error(error);
      }
    },
    async cancel() {
      await gen.return(undefined);
    },
  });
}

/** `GET /api/v1/compliance/cc7.1` and `/cc8.1`: admins, export rate class, every export audited. */
export function complianceRoutes(deps: EvidenceDeps) {
  const router = createRouter();
  for (const criterion of CRITERIA) {
    router.openapi(
      createRoute({
        method: "get",
        path: `/api/v1/compliance/${criterion}`,
        tags: ["compliance"],
        summary: `SOC 2 ${criterion.toUpperCase()} evidence bundle for a period (streamed)`,
        description:
          "Records every row in the audit log, signs a checkpoint and streams the bundle: JSON (verifiable " +
          "offline with `causeway verify`) or Markdown for auditors. The export itself is audited " +
          "(action evidence.exported).",
        ...secured("admin", "export"),
        request: { query: ExportQuery },
        responses: {
          200: {
            description: "the evidence bundle",
            content: {
              "application/json": {
                schema: z.object({}).passthrough().openapi(`EvidenceBundle_${criterion}`),
              },
              "text/markdown": { schema: z.string() },
            },
          },
          ...problemResponses("unauthenticated", "forbidden", "validation_failed"),
        },
      }),
      async (c) => {
        const q = c.req.valid("query");
        const prepared = await prepareExport(deps, c.get("auth"), resolveExportRequest(criterion, q));
        const markdown = q.format === "markdown";
        const gen = markdown ? bundleMarkdown(deps, prepared) : bundleJson(deps, prepared);
        const logger = deps.logger;
        const name = `causeway-${criterion}-${prepared.period.from.slice(0, 10)}-${prepared.period.to.slice(0, 10)}.${markdown ? "md" : "json"}`;
        const body = streamOf(gen, (error) =>
          logger.error({ err: error, exportId: prepared.exportId }, "evidence bundle stream failed"),
        );
        // Through the context, so the RateLimit-* headers the limiter set stay on the response.
        return c.body(body, 200, {
          "content-type": markdown ? "text/markdown; charset=utf-8" : "application/json",
          "content-disposition": `attachment; filename="${name}"`,
          "cache-control": "no-store",
          "x-causeway-export-id": prepared.exportId,
        }) as never;
      },
    );
  }
  return router;
}
