import { z } from "@hono/zod-openapi";
import { and, desc, eq } from "drizzle-orm";
import type { OrgTx } from "../../db/client.ts";
import { incidentReports, notifications } from "../../db/schema/reports.ts";

/** The incident's Slack report as the incident API shows it: a failed post is visible, never silent. */
export const ReportStatusSchema = z
  .object({
    status: z.enum(["pending", "posted", "failed"]),
    channel: z.string().nullable(),
    ts: z.string().nullable().openapi({ description: "the Slack message every update edits" }),
    postedAt: z.iso.datetime().nullable(),
    lastError: z.string().nullable().openapi({ description: "Slack's error code of the last failed call" }),
    verdict: z.enum(["confirmed", "rejected", "intended"]).nullable(),
    escalation: z
      .object({
        status: z.enum(["pending", "sent", "failed"]).nullable(),
        channel: z.string().nullable(),
        at: z.iso.datetime(),
      })
      .nullable(),
    failedDispatches: z.array(
      z.object({
        id: z.uuid(),
        kind: z.enum(["post", "update", "thread_reply", "escalation"]),
        reason: z.string(),
        error: z.string().nullable(),
        attempts: z.number().int(),
        at: z.iso.datetime(),
      }),
    ),
  })
  .openapi("IncidentReportStatus");
export type ReportStatus = z.infer<typeof ReportStatusSchema>;

/** The report row and the latest failed dispatches (bounded) of one incident; null before any report. */
export async function loadReportStatus(tx: OrgTx, incidentId: string): Promise<ReportStatus | null> {
  const [report] = await tx.select().from(incidentReports).where(eq(incidentReports.incidentId, incidentId));
  const failed = await tx
    .select()
    .from(notifications)
    .where(and(eq(notifications.incidentId, incidentId), eq(notifications.status, "failed")))
    .orderBy(desc(notifications.createdAt))
    .limit(20);
  if (!report && failed.length === 0) return null;
  return {
    status: report?.status ?? "failed",
    channel: report?.channel ?? null,
    ts: report?.ts ?? null,
    postedAt: report?.postedAt?.toISOString() ?? null,
    lastError: report?.lastError ?? failed[0]?.error ?? null,
    verdict: report?.verdict?.kind ?? null,
    escalation: report?.escalatedAt
      ? {
          status: report.escalationStatus ?? null,
          channel: report.escalationChannel ?? null,
          at: report.escalatedAt.toISOString(),
        }
      : null,
    failedDispatches: failed.map((n) => ({
      id: n.id,
      kind: n.kind,
      reason: n.reason,
      error: n.error,
      attempts: n.attempts,
      at: (n.finishedAt ?? n.createdAt).toISOString(),
    })),
  };
}
