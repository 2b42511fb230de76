import { createRoute, z } from "@hono/zod-openapi";
import { type Database, withOrg } from "../../db/client.ts";
import { getAttribution } from "../attribution/service.ts";
import { AttributionSchema, attributionToWire } from "../attribution/wire.ts";
import { instant, listSchema, PageQuery } from "../http/pagination.ts";
import { problemResponses } from "../http/problem.ts";
import { createRouter } from "../http/router.ts";
import { loadReportStatus, ReportStatusSchema } from "../reports/status.ts";
import { getAnomalyInOrg, getIncidentInOrg, listAnomalies, listIncidents } from "./queries.ts";
import {
  AnomalySchema,
  anomalyToWire,
  IncidentSchema,
  incidentToWire,
  SignalSchema,
  signalToWire,
} from "./wire.ts";

const IdParam = z.object({ id: z.uuid().openapi({ param: { name: "id", in: "path" } }) });
const readErrors = problemResponses("unauthenticated", "validation_failed");
const oneErrors = problemResponses("unauthenticated", "not_found", "validation_failed");

export function incidentRoutes(db: Database) {
  const router = createRouter();

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/anomalies",
      tags: ["anomalies"],
      summary: "List anomalies, newest detection first",
      security: [{ bearer: [] }],
      "x-causeway-role": "member",
      request: {
        query: z.object({
          status: z.enum(["open", "resolved"]).optional(),
          service: z.string().max(200).optional(),
          source: z.string().max(50).optional(),
          from: instant().optional(),
          to: instant().optional(),
          ...PageQuery,
        }),
      },
      responses: {
        200: {
          description: "a page of anomalies",
          content: { "application/json": { schema: listSchema(AnomalySchema, "AnomalyList") } },
        },
        ...readErrors,
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const page = await listAnomalies(db, c.get("auth"), {
        ...q,
        from: q.from ? new Date(q.from) : undefined,
        to: q.to ? new Date(q.to) : undefined,
      });
      return c.json({ items: page.items.map(anomalyToWire), nextCursor: page.nextCursor }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/anomalies/{id}",
      tags: ["anomalies"],
      summary: "One anomaly with its signals",
      security: [{ bearer: [] }],
      "x-causeway-role": "member",
      request: { params: IdParam },
      responses: {
        200: {
          description: "the anomaly",
          content: {
            "application/json": {
              schema: AnomalySchema.extend({
                signals: z.array(SignalSchema),
                attribution: AttributionSchema.nullable(),
              }).openapi("AnomalyDetail"),
            },
          },
        },
        ...oneErrors,
      },
    }),
    async (c) => {
      const { anomaly, signals } = await getAnomalyInOrg(db, c.get("auth"), c.req.valid("param").id);
      const attribution = await getAttribution(db, c.get("auth"), anomaly.id);
      return c.json(
        {
          ...anomalyToWire(anomaly),
          signals: signals.map(signalToWire),
          attribution: attribution ? attributionToWire(attribution) : null,
        },
        200,
      );
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/incidents",
      tags: ["incidents"],
      summary: "List incidents, newest first",
      security: [{ bearer: [] }],
      "x-causeway-role": "member",
      request: {
        query: z.object({
          status: z.enum(["open", "acknowledged", "resolved"]).optional(),
          service: z.string().max(200).optional(),
          environment: z.string().max(200).optional(),
          severity: z.enum(["critical", "high", "medium", "low", "info"]).optional(),
          from: instant().optional(),
          to: instant().optional(),
          has_suspect: z.enum(["true", "false"]).optional().openapi({
            description: "only incidents whose attribution named a suspect (true) or did not (false)",
          }),
          ...PageQuery,
        }),
      },
      responses: {
        200: {
          description: "a page of incidents",
          content: { "application/json": { schema: listSchema(IncidentSchema, "IncidentList") } },
        },
        ...readErrors,
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const { has_suspect, ...rest } = q;
      const page = await listIncidents(db, c.get("auth"), {
        ...rest,
        from: q.from ? new Date(q.from) : undefined,
        to: q.to ? new Date(q.to) : undefined,
        hasSuspect: has_suspect === undefined ? undefined : has_suspect === "true",
      });
      return c.json({ items: page.items.map(incidentToWire), nextCursor: page.nextCursor }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/incidents/{id}",
      tags: ["incidents"],
      summary: "One incident with its anomalies",
      security: [{ bearer: [] }],
      "x-causeway-role": "member",
      request: { params: IdParam },
      responses: {
        200: {
          description: "the incident",
          content: {
            "application/json": {
              schema: IncidentSchema.extend({
                anomalies: z.array(AnomalySchema),
                report: ReportStatusSchema.nullable().openapi({
                  description: "the Slack report: where it is, and any failed post, update or escalation",
                }),
              }).openapi("IncidentDetail"),
            },
          },
        },
        ...oneErrors,
      },
    }),
    async (c) => {
      const ctx = c.get("auth");
      const { incident, anomalies } = await getIncidentInOrg(db, ctx, c.req.valid("param").id);
      const report = await withOrg(db, ctx.orgId, (tx) => loadReportStatus(tx, incident.id));
      return c.json({ ...incidentToWire(incident), anomalies: anomalies.map(anomalyToWire), report }, 200);
    },
  );
  return router;
}
