import { createRoute, z } from "@hono/zod-openapi";
import { problemResponses } from "../http/problem.ts";
import { secured } from "../http/route-security.ts";
import { createRouter } from "../http/router.ts";
import {
  acknowledgeIncident,
  type IncidentActionDeps,
  RESOLUTION_REASONS,
  reopenIncident,
  resolveIncident,
  TICKET_KEY,
} from "./actions.ts";
import { getIncidentTimeline, TIMELINE_EVENT_KINDS, type Timeline } from "./timeline.ts";
import { IncidentSchema, incidentToWire } from "./wire.ts";

const IdParam = z.object({ id: z.uuid().openapi({ param: { name: "id", in: "path" } }) });

const Actor = z.object({ kind: z.string(), id: z.string(), display: z.string().optional() });

const TimelineEventSchema = z
  .object({
    at: z.iso.datetime(),
    kind: z.enum(TIMELINE_EVENT_KINDS),
    title: z.string(),
    actor: Actor.nullable(),
    source: z.string().nullable(),
    subject: z.object({ type: z.string(), id: z.string() }),
    link: z.string().nullable(),
    data: z.record(z.string(), z.unknown()),
  })
  .openapi("TimelineEvent");

const TimelineSchema = z
  .object({
    incidentId: z.uuid(),
    windowHours: z.number().int(),
    truncated: z.boolean(),
    events: z.array(TimelineEventSchema),
    summary: z.object({
      firstSeenAt: z.iso.datetime().nullable(),
      detectedAt: z.iso.datetime().nullable(),
      attributedAt: z.iso.datetime().nullable(),
      acknowledgedAt: z.iso.datetime().nullable(),
      resolvedAt: z.iso.datetime().nullable(),
      timeToDetectSeconds: z
        .number()
        .int()
        .nullable()
        .openapi({ description: "first seen → first signal received" }),
      timeToAttributeSeconds: z
        .number()
        .int()
        .nullable()
        .openapi({ description: "detection → attribution finished" }),
      timeToAcknowledgeSeconds: z
        .number()
        .int()
        .nullable()
        .openapi({ description: "detection → first acknowledgement" }),
      timeToResolveSeconds: z.number().int().nullable().openapi({ description: "detection → resolution" }),
    }),
  })
  .openapi("IncidentTimeline");

/** Free text, several lines allowed; Postgres text cannot hold U+0000, so that is refused here. */
const Note = z
  .string()
  .max(2000)
  .refine((s) => !s.includes("\0"), "must not contain the NUL character (U+0000)");

const ResolveBody = z
  .object({
    reason: z.enum(RESOLUTION_REASONS),
    changeId: z.uuid().optional(),
    prUrl: z.url().max(2048).optional(),
    ticketKey: z
      .string()
      .regex(TICKET_KEY)
      .optional()
      .openapi({ description: "required for intended_change" }),
    note: Note.optional(),
  })
  .openapi("ResolveIncident");

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function timelineToWire(t: Timeline): z.infer<typeof TimelineSchema> {
  return {
    incidentId: t.incidentId,
    windowHours: t.windowHours,
    truncated: t.truncated,
    // JSON round trip: event data may hold dates, which the wire carries as RFC 3339 strings.
    events: t.events.map((e) => ({
      ...e,
      at: e.at.toISOString(),
      data: JSON.parse(JSON.stringify(e.data)) as Record<string, unknown>,
    })),
    summary: {
      ...t.summary,
      firstSeenAt: iso(t.summary.firstSeenAt),
      detectedAt: iso(t.summary.detectedAt),
      attributedAt: iso(t.summary.attributedAt),
      acknowledgedAt: iso(t.summary.acknowledgedAt),
      resolvedAt: iso(t.summary.resolvedAt),
    },
  };
}

const mutationErrors = problemResponses(
  "unauthenticated",
  "forbidden",
  "not_found",
  "conflict",
  "validation_failed",
);
const incidentResponse = {
  description: "the incident after the change",
  content: { "application/json": { schema: IncidentSchema } },
};

/** Timeline and the human actions on an incident (acknowledge, resolve with a reason, reopen). */
export function incidentActionRoutes(deps: IncidentActionDeps) {
  const router = createRouter();

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/incidents/{id}/timeline",
      tags: ["incidents"],
      summary: "Every event of the incident in time order, with time-to-detect/attribute/acknowledge/resolve",
      ...secured("member"),
      request: {
        params: IdParam,
        query: z.object({
          windowHours: z.coerce.number().int().min(1).max(336).default(24).openapi({
            description: "how far before first-seen to include deploys and merged changes of the services",
          }),
        }),
      },
      responses: {
        200: { description: "the timeline", content: { "application/json": { schema: TimelineSchema } } },
        ...problemResponses("unauthenticated", "not_found", "validation_failed"),
      },
    }),
    async (c) => {
      const timeline = await getIncidentTimeline(deps.db, c.get("auth"), c.req.valid("param").id, {
        windowHours: c.req.valid("query").windowHours,
      });
      return c.json(timelineToWire(timeline), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/incidents/{id}/acknowledge",
      tags: ["incidents"],
      summary: "Acknowledge the incident (stops escalation)",
      ...secured("admin"),
      request: { params: IdParam },
      responses: { 200: incidentResponse, ...mutationErrors },
    }),
    async (c) => {
      const incident = await acknowledgeIncident(deps, c.get("auth"), c.req.valid("param").id);
      return c.json(incidentToWire(incident), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/incidents/{id}/resolve",
      tags: ["incidents"],
      summary:
        "Resolve the incident with a reason: fix_pr, revert, intended_change (with ticket) or false_positive",
      ...secured("admin"),
      request: {
        params: IdParam,
        body: { required: true, content: { "application/json": { schema: ResolveBody } } },
      },
      responses: { 200: incidentResponse, ...mutationErrors },
    }),
    async (c) => {
      const incident = await resolveIncident(
        deps,
        c.get("auth"),
        c.req.valid("param").id,
        c.req.valid("json"),
      );
      return c.json(incidentToWire(incident), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/incidents/{id}/reopen",
      tags: ["incidents"],
      summary: "Reopen a resolved incident",
      ...secured("admin"),
      request: {
        params: IdParam,
        body: {
          required: false,
          content: {
            "application/json": {
              schema: z.object({ note: Note.optional() }).openapi("ReopenIncident"),
            },
          },
        },
      },
      responses: { 200: incidentResponse, ...mutationErrors },
    }),
    async (c) => {
      const body = c.req.header("content-type")?.includes("json") ? c.req.valid("json") : {};
      const incident = await reopenIncident(deps, c.get("auth"), c.req.valid("param").id, body ?? {});
      return c.json(incidentToWire(incident), 200);
    },
  );

  return router;
}
