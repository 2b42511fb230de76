import { z } from "@hono/zod-openapi";
import type { Anomaly, Incident, SignalRow } from "../../db/schema/incidents.ts";

const Severity = z.enum(["critical", "high", "medium", "low", "info"]);
const Frame = z.object({
  file: z.string(),
  absPath: z.string().optional(),
  line: z.number().int().optional(),
  column: z.number().int().optional(),
  function: z.string().optional(),
  module: z.string().optional(),
  inApp: z.boolean(),
});

export const AnomalySchema = z
  .object({
    id: z.uuid(),
    fingerprint: z.string(),
    kind: z.enum(["error", "metric", "log", "deploy", "change", "ticket"]),
    source: z.string(),
    title: z.string(),
    severity: Severity,
    status: z.enum(["open", "resolved"]),
    service: z.string().nullable(),
    environment: z.string().nullable(),
    release: z.string().nullable(),
    errorType: z.string().nullable(),
    message: z.string().nullable(),
    frames: z.array(Frame),
    labels: z.record(z.string(), z.string()),
    firstSeenAt: z.iso.datetime(),
    detectedAt: z.iso.datetime(),
    lastSeenAt: z.iso.datetime(),
    resolvedAt: z.iso.datetime().nullable(),
    count: z.number().int(),
    regressions: z.number().int(),
    incidentId: z.uuid().nullable(),
  })
  .openapi("Anomaly");

export const SignalSchema = z
  .object({
    id: z.uuid(),
    deliveryId: z.uuid(),
    kind: z.string(),
    source: z.string(),
    status: z.enum(["firing", "resolved"]),
    title: z.string(),
    severity: Severity,
    occurredAt: z.iso.datetime(),
    receivedAt: z.iso.datetime(),
  })
  .openapi("Signal");

export const IncidentSchema = z
  .object({
    id: z.uuid(),
    title: z.string(),
    status: z.enum(["open", "acknowledged", "resolved"]),
    severity: Severity,
    service: z.string().nullable(),
    environment: z.string().nullable(),
    release: z.string().nullable(),
    openedAt: z.iso.datetime(),
    lastActivityAt: z.iso.datetime(),
    acknowledgedAt: z.iso.datetime().nullable(),
    resolvedAt: z.iso.datetime().nullable(),
    reopenCount: z.number().int(),
  })
  .openapi("Incident");

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function anomalyToWire(a: Anomaly): z.infer<typeof AnomalySchema> {
  return {
    id: a.id,
    fingerprint: a.fingerprint,
    kind: a.kind,
    source: a.source,
    title: a.title,
    severity: a.severity,
    status: a.status,
    service: a.service,
    environment: a.environment,
    release: a.release,
    errorType: a.errorType,
    message: a.message,
    frames: a.frames,
    labels: a.labels,
    firstSeenAt: a.firstSeenAt.toISOString(),
    detectedAt: a.detectedAt.toISOString(),
    lastSeenAt: a.lastSeenAt.toISOString(),
    resolvedAt: iso(a.resolvedAt),
    count: a.count,
    regressions: a.regressions,
    incidentId: a.incidentId,
  };
}

export function signalToWire(s: SignalRow): z.infer<typeof SignalSchema> {
  return {
    id: s.id,
    deliveryId: s.deliveryId,
    kind: s.kind,
    source: s.source,
    status: s.status,
    title: s.title,
    severity: s.severity,
    occurredAt: s.occurredAt.toISOString(),
    receivedAt: s.receivedAt.toISOString(),
  };
}

export function incidentToWire(i: Incident): z.infer<typeof IncidentSchema> {
  return {
    id: i.id,
    title: i.title,
    status: i.status,
    severity: i.severity,
    service: i.service,
    environment: i.environment,
    release: i.release,
    openedAt: i.openedAt.toISOString(),
    lastActivityAt: i.lastActivityAt.toISOString(),
    acknowledgedAt: iso(i.acknowledgedAt),
    resolvedAt: iso(i.resolvedAt),
    reopenCount: i.reopenCount,
  };
}
