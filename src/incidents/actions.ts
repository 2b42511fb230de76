import { and, eq } from "drizzle-orm";
import { z } from "zod";
import { type Database, type OrgTx, withOrg } from "../../db/client.ts";
import { anomalies, type Incident, incidents } from "../../db/schema/incidents.ts";
import { type OrgContext, requireRole } from "../context.ts";
import { AppError, fieldErrorsFromZod, NotFoundError, ValidationError } from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";

/** A Jira-style issue key (PROJ-123). */
export const TICKET_KEY = /^[A-Z][A-Z0-9_]{0,19}-[1-9][0-9]{0,9}$/;

export const RESOLUTION_REASONS = ["fix_pr", "revert", "intended_change", "false_positive"] as const;
export type ResolutionReason = (typeof RESOLUTION_REASONS)[number];

export const ResolveIncidentInput = z
  .strictObject({
    reason: z.enum(RESOLUTION_REASONS),
    /** The fix or revert, when it is a change Causeway knows. */
    changeId: z.uuid().optional(),
    prUrl: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .optional(),
    /** Required for intended_change: the ticket that authorized the behaviour change. */
    ticketKey: z.string().regex(TICKET_KEY, "must be a ticket key such as PAY-123").optional(),
    note: z.string().max(2000).optional(),
  })
  .superRefine((value, ctx) => {
    if (value.reason === "intended_change" && !value.ticketKey)
      ctx.addIssue({
        code: "custom",
        path: ["ticketKey"],
        message: "an intended change names its ticket",
      });
  });
export type ResolveIncidentInput = z.input<typeof ResolveIncidentInput>;

export interface IncidentResolution {
  reason: ResolutionReason;
  changeId?: string;
  prUrl?: string;
  ticketKey?: string;
  note?: string;
  by: { kind: string; id: string; display?: string };
  at: string;
}

export type IncidentChange = "acknowledged" | "resolved" | "reopened";

export interface IncidentActionDeps {
  db: Database;
  /** Runs after the transaction commits (the Slack report is updated from here). */
  onChanged?: (orgId: string, incidentId: string, change: IncidentChange) => Promise<void>;
}

function actorOf(ctx: OrgContext) {
  return {
    kind: ctx.actor.kind,
    id: ctx.actor.id,
    ...(ctx.actor.display ? { display: ctx.actor.display } : {}),
  };
}

async function lockIncident(tx: OrgTx, id: string): Promise<Incident> {
  const [row] = await tx.select().from(incidents).where(eq(incidents.id, id)).for("update");
  if (!row) throw new NotFoundError("incident");
  return row;
}

async function notify(deps: IncidentActionDeps, orgId: string, id: string, change: IncidentChange) {
  // The mutation has committed; a Slack hiccup must not turn it into an error for the caller.
  await deps.onChanged?.(orgId, id, change).catch(() => undefined);
}

/** Someone is on it: stops escalation. Acknowledging an acknowledged incident changes nothing. */
export async function acknowledgeIncident(
  deps: IncidentActionDeps,
  ctx: OrgContext,
  id: string,
): Promise<Incident> {
  requireRole(ctx, "admin");
  const { incident, changed } = await withOrg(deps.db, ctx.orgId, async (tx) => {
    const row = await lockIncident(tx, id);
    if (row.status === "resolved")
      throw new AppError("conflict", { detail: "a resolved incident cannot be acknowledged; reopen it" });
    if (row.status === "acknowledged") return { incident: row, changed: false };
    const now = new Date();
    const [updated] = await tx
      .update(incidents)
      .set({ status: "acknowledged", acknowledgedAt: now, lastActivityAt: now })
      .where(eq(incidents.id, id))
      .returning();
    await appendAudit(tx, ctx, {
      action: "incident.acknowledge",
      subjectType: "incident",
      subjectId: id,
      data: { previousStatus: row.status },
    });
    return { incident: updated!, changed: true };
  });
  if (changed) await notify(deps, ctx.orgId, id, "acknowledged");
  return incident;
}

/** Closes the incident and its open anomalies with a recorded reason (CC7.1 asks how it was resolved). */
export async function resolveIncident(
  deps: IncidentActionDeps,
  ctx: OrgContext,
  id: string,
  raw: ResolveIncidentInput,
): Promise<Incident> {
  requireRole(ctx, "admin");
  const parsed = ResolveIncidentInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrorsFromZod(parsed.error.issues));
  const input = parsed.data;
  const incident = await withOrg(deps.db, ctx.orgId, async (tx) => {
    const row = await lockIncident(tx, id);
    if (row.status === "resolved")
      throw new AppError("conflict", { detail: "the incident is already resolved" });
    const now = new Date();
    const resolution: IncidentResolution = {
      reason: input.reason,
      ...(input.changeId ? { changeId: input.changeId } : {}),
      ...(input.prUrl ? { prUrl: input.prUrl } : {}),
      ...(input.ticketKey ? { ticketKey: input.ticketKey } : {}),
      ...(input.note ? { note: input.note } : {}),
      by: actorOf(ctx),
      at: now.toISOString(),
    };
    const [updated] = await tx
      .update(incidents)
      .set({
        status: "resolved",
        resolvedAt: now,
        lastActivityAt: now,
        resolution: resolution as unknown as Record<string, unknown>,
      })
      .where(eq(incidents.id, id))
      .returning();
    await tx
      .update(anomalies)
      .set({ status: "resolved", resolvedAt: now })
      .where(and(eq(anomalies.incidentId, id), eq(anomalies.status, "open")));
    await appendAudit(tx, ctx, {
      action: "incident.resolve",
      subjectType: "incident",
      subjectId: id,
      data: { previousStatus: row.status, ...resolution, by: undefined, at: undefined },
    });
    return updated!;
  });
  await notify(deps, ctx.orgId, id, "resolved");
  return incident;
}

/** Opens a resolved incident again (the fix did not hold, or the resolution was wrong). */
export async function reopenIncident(
  deps: IncidentActionDeps,
  ctx: OrgContext,
  id: string,
  raw: { note?: string | undefined } = {},
): Promise<Incident> {
  requireRole(ctx, "admin");
  const parsed = z.strictObject({ note: z.string().max(2000).optional() }).safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrorsFromZod(parsed.error.issues));
  const incident = await withOrg(deps.db, ctx.orgId, async (tx) => {
    const row = await lockIncident(tx, id);
    if (row.status !== "resolved")
      throw new AppError("conflict", { detail: "only a resolved incident can be reopened" });
    const now = new Date();
    const [updated] = await tx
      .update(incidents)
      .set({
        status: "open",
        resolvedAt: null,
        acknowledgedAt: null,
        resolution: null,
        reopenCount: row.reopenCount + 1,
        lastActivityAt: now,
      })
      .where(eq(incidents.id, id))
      .returning();
    await appendAudit(tx, ctx, {
      action: "incident.reopen",
      subjectType: "incident",
      subjectId: id,
      data: { previousResolution: row.resolution, ...(parsed.data.note ? { note: parsed.data.note } : {}) },
    });
    return updated!;
  });
  await notify(deps, ctx.orgId, id, "reopened");
  return incident;
}
