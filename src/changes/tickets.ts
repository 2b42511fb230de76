/**
 * Jira tickets as last seen by webhook or REST fetch: key, summary, description, status and its history,
 * assignee, reporter, approvers, fix versions, URL. A ticket of a project the org never declared is not
 * stored (the delivery and its signal are, by ingest). A deleted ticket keeps its row with `deletedAt`,
 * so the links to it remain and show it was deleted.
 */
import { and, desc, eq, gte, isNull, notExists, sql } from "drizzle-orm";
import { z } from "zod";
import { type OrgTx, withOrg } from "../../db/client.ts";
import {
  changes,
  changeTickets,
  integrations,
  type StatusTransition,
  type Ticket,
  type TicketPerson,
  tickets,
} from "../../db/schema/index.ts";
import { CONFIG_SCHEMAS } from "../../integrations/core/config-schemas.ts";
import { UpstreamError } from "../../integrations/core/upstream.ts";
import { createJiraClient, type JiraIssue } from "../../integrations/jira/client.ts";
import { normalizeJira } from "../../integrations/jira/normalize.ts";
import type { OrgContext } from "../context.ts";
import { INTEGRATION_OWNER, KIND_BY_FIELD } from "../credentials/kinds.ts";
import { AppError, NotFoundError, ValidationError } from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import type { ChangesDeps } from "./deps.ts";
import { jiraSettings, linkChanges } from "./linking.ts";
import { integrationErrorOf } from "./upstream-errors.ts";

const TICKET_KEY = /^[A-Z][A-Z0-9_]{1,254}-[1-9][0-9]{0,8}$/;
/** Two reports of one transition (webhook time vs. changelog time) closer than this are the same one. */
const SAME_TRANSITION_MS = 5 * 60_000;
const MAX_HISTORY = 500;
const MAX_DESCRIPTION_CHARS = 65_536;

const person = z
  .looseObject({
    accountId: z.string().nullish(),
    displayName: z.string().nullish(),
    emailAddress: z.string().nullish(),
  })
  .nullish();

/** The `data` of a ticket Signal (integrations/jira/normalize.ts), as far as this stage reads it. */
export const TicketSignalData = z.looseObject({
  issueId: z.string().nullish(),
  key: z.string().regex(TICKET_KEY),
  projectKey: z.string().nullish(),
  summary: z.string().nullish(),
  description: z.string().nullish(),
  status: z.string().nullish(),
  statusCategory: z.string().nullish(),
  assignee: person,
  reporter: person,
  approvers: z.array(person).nullish(),
  fixVersions: z.array(z.string()).nullish(),
  url: z.string().nullish(),
  createdAt: z.string().nullish(),
  updatedAt: z.string().nullish(),
  statusTransitions: z
    .array(z.looseObject({ from: z.string().nullish(), to: z.string().nullish(), at: z.string() }))
    .nullish(),
  deleted: z.boolean().nullish(),
});
export type TicketSignalData = z.infer<typeof TicketSignalData>;

export type TicketOutcome =
  | { status: "stored" | "deleted"; ticket: Ticket }
  | { status: "ignored"; key: string; reason: "unknown_project" };

function personOf(p: z.infer<typeof person>): TicketPerson | null {
  if (!p) return null;
  const out: TicketPerson = {};
  if (p.accountId) out.accountId = p.accountId;
  if (p.displayName) out.displayName = p.displayName;
  if (p.emailAddress) out.email = p.emailAddress;
  return Object.keys(out).length === 0 ? null : out;
}

function dateOf(value: string | null | undefined): Date | null {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Adds transitions not already recorded (one report per transition, whichever source saw it). */
export function mergeHistory(
  existing: readonly StatusTransition[],
  incoming: readonly StatusTransition[],
): StatusTransition[] {
  const out = [...existing];
  for (const t of incoming) {
    const at = Date.parse(t.at);
    const duplicate = out.some(
      (e) => e.from === t.from && e.to === t.to && Math.abs(Date.parse(e.at) - at) <= SAME_TRANSITION_MS,
    );
    if (!duplicate) out.push(t);
  }
  return out.sort((a, b) => a.at.localeCompare(b.at)).slice(-MAX_HISTORY);
}

/**
 * Stores what a webhook or a REST fetch said about one ticket. `at` is when that was true (the webhook's
 * timestamp); an older report than the one stored only adds to the history, it does not roll fields back.
 */
export async function upsertTicket(
  tx: OrgTx,
  ctx: OrgContext,
  raw: unknown,
  at: Date,
  origin: "webhook" | "rest",
): Promise<TicketOutcome> {
  const parsed = TicketSignalData.safeParse(raw);
  if (!parsed.success) throw new ValidationError([{ path: "ticket", message: "not a Jira ticket" }]);
  const data = parsed.data;
  const projectKey = (data.projectKey ?? data.key.split("-")[0]!).toUpperCase();
  const { projectKeys } = await jiraSettings(tx, ctx.orgId);
  if (!projectKeys.includes(projectKey))
    return { status: "ignored", key: data.key, reason: "unknown_project" };

  const [existing] = await tx
    .select()
    .from(tickets)
    .where(and(eq(tickets.orgId, ctx.orgId), eq(tickets.key, data.key)))
    .for("update");
  const updatedAt = dateOf(data.updatedAt);
  const stale =
    existing?.ticketUpdatedAt != null && updatedAt !== null && updatedAt < existing.ticketUpdatedAt;

  let transitions: StatusTransition[] = (data.statusTransitions ?? []).flatMap((t) =>
    t.to ? [{ from: t.from ?? null, to: t.to, at: t.at }] : [],
  );
  if (transitions.length === 0 && data.status && !stale) {
    if (!existing) {
      transitions = [{ from: null, to: data.status, at: (dateOf(data.createdAt) ?? at).toISOString() }];
    } else if (existing.status !== data.status) {
      transitions = [{ from: existing.status, to: data.status, at: (updatedAt ?? at).toISOString() }];
    }
  }
  const statusHistory = mergeHistory(existing?.statusHistory ?? [], transitions);
  const deleted = data.deleted === true;

  const fields = stale
    ? {}
    : {
        projectKey,
        externalId: data.issueId ?? existing?.externalId ?? null,
        summary: data.summary ?? existing?.summary ?? data.key,
        description:
          (data.description ?? existing?.description ?? null)?.slice(0, MAX_DESCRIPTION_CHARS) ?? null,
        status: data.status ?? existing?.status ?? null,
        statusCategory: data.statusCategory ?? existing?.statusCategory ?? null,
        assignee: data.assignee === undefined ? (existing?.assignee ?? null) : personOf(data.assignee),
        reporter: personOf(data.reporter) ?? existing?.reporter ?? null,
        approvers:
          data.approvers && data.approvers.length > 0
            ? data.approvers.flatMap((a) => {
                const p = personOf(a);
                return p ? [p] : [];
              })
            : (existing?.approvers ?? []),
        fixVersions: data.fixVersions ?? existing?.fixVersions ?? [],
        url: data.url ?? existing?.url ?? null,
        ticketCreatedAt: dateOf(data.createdAt) ?? existing?.ticketCreatedAt ?? null,
        ticketUpdatedAt: updatedAt ?? existing?.ticketUpdatedAt ?? null,
      };
  const values = {
    ...fields,
    statusHistory,
    ...(deleted ? { deletedAt: existing?.deletedAt ?? at } : {}),
    updatedAt: new Date(),
  };
  let row: Ticket;
  if (existing) {
    [row] = (await tx.update(tickets).set(values).where(eq(tickets.id, existing.id)).returning()) as [Ticket];
  } else {
    [row] = (await tx
      .insert(tickets)
      .values({ summary: data.summary ?? data.key, ...values, projectKey, orgId: ctx.orgId, key: data.key })
      .returning()) as [Ticket];
  }
  await appendAudit(tx, ctx, {
    action: deleted ? "ticket.deleted" : "ticket.recorded",
    subjectType: "ticket",
    subjectId: row.id,
    data: { key: row.key, status: row.status, origin, stale },
  });
  if (!deleted && !existing) await relinkUnlinkedChanges(tx, ctx.orgId, row);
  return { status: deleted ? "deleted" : "stored", ticket: row };
}

/** A new ticket may be what a recent PR without a key was for: try inference again for those PRs. */
async function relinkUnlinkedChanges(tx: OrgTx, orgId: string, ticket: Ticket): Promise<void> {
  const since = new Date((ticket.ticketCreatedAt ?? ticket.createdAt).getTime() - 7 * 86_400_000);
  const unlinked = await tx
    .select()
    .from(changes)
    .where(
      and(
        eq(changes.orgId, orgId),
        eq(changes.state, "merged"),
        gte(changes.mergedAt, since),
        notExists(
          tx.select({ one: sql`1` }).from(changeTickets).where(eq(changeTickets.changeId, changes.id)),
        ),
      ),
    )
    .orderBy(desc(changes.mergedAt))
    .limit(200);
  if (unlinked.length > 0)
    await linkChanges(
      tx,
      orgId,
      unlinked.map((change) => ({ change })),
    );
}

/** A ticket of the org by key, with the changes linked to it. 404 when unknown. */
export async function getTicketInOrg(tx: OrgTx, orgId: string, key: string): Promise<Ticket> {
  const normalized = key.toUpperCase();
  if (!TICKET_KEY.test(normalized)) throw new NotFoundError("ticket");
  const [row] = await tx
    .select()
    .from(tickets)
    .where(and(eq(tickets.orgId, orgId), eq(tickets.key, normalized)));
  if (!row) throw new NotFoundError("ticket");
  return row;
}

/** The REST issue as the ticket data the webhook path produces, plus its full status history. */
export function ticketDataFromIssue(
  issue: JiraIssue,
  baseUrl: string,
  now: Date,
): Record<string, unknown> | null {
  const result = normalizeJira({
    body: {
      webhookEvent: "jira:issue_updated",
      issue: { id: issue.id, key: issue.key, self: issue.self, fields: issue.fields ?? {} },
    },
    headers: {},
    config: { baseUrl },
    receivedAt: now,
  });
  if (!result.ok || result.signals.length === 0) return null;
  const data = { ...(result.signals[0]!.data ?? {}) };
  data.statusTransitions = (issue.changelog?.histories ?? []).flatMap((h) => {
    const at = dateOf(h.created);
    if (!at) return [];
    return (h.items ?? [])
      .filter((i) => i.fieldId === "status" || (i.fieldId == null && i.field === "status"))
      .map((i) => ({ from: i.fromString ?? null, to: i.toString ?? null, at: at.toISOString() }));
  });
  return data;
}

interface JiraAccess {
  baseUrl: string;
  deployment: "cloud" | "data_center";
  email: string | undefined;
  apiToken: string;
}

async function jiraAccess(
  deps: Pick<ChangesDeps, "credentials">,
  tx: OrgTx,
  ctx: OrgContext,
  projectKey: string,
): Promise<JiraAccess | null> {
  const rows = await tx
    .select()
    .from(integrations)
    .where(
      and(
        eq(integrations.orgId, ctx.orgId),
        eq(integrations.provider, "jira"),
        isNull(integrations.deletedAt),
      ),
    )
    .orderBy(integrations.createdAt);
  const configs = rows.flatMap((row) => {
    const parsed = CONFIG_SCHEMAS.jira.safeParse(row.config);
    return parsed.success ? [{ row, config: parsed.data }] : [];
  });
  const chosen = configs.find((c) => c.config.projectKeys.includes(projectKey)) ?? configs[0];
  if (!chosen) return null;
  const [token] = await deps.credentials.listSecrets(tx, ctx, {
    ownerType: INTEGRATION_OWNER,
    ownerId: chosen.row.id,
    kind: KIND_BY_FIELD.apiToken,
  });
  if (!token) return null;
  return {
    baseUrl: chosen.config.baseUrl,
    deployment: chosen.config.deployment,
    email: chosen.config.email,
    apiToken: token.secret,
  };
}

/**
 * Fetches one ticket from Jira's REST API and stores it. Null when the org has no usable Jira
 * integration or Jira has no such issue; `ignored` when its project is not one the org declared.
 */
export async function fetchTicket(
  deps: Pick<ChangesDeps, "db" | "credentials" | "httpLimits">,
  ctx: OrgContext,
  key: string,
  now = new Date(),
): Promise<TicketOutcome | null> {
  const normalized = key.toUpperCase();
  if (!TICKET_KEY.test(normalized))
    throw new ValidationError([{ path: "key", message: "not a Jira issue key" }]);
  const project = normalized.split("-")[0]!;
  const access = await withOrg(deps.db, ctx.orgId, (tx) => jiraAccess(deps, tx, ctx, project));
  if (!access) return null;
  let issue: JiraIssue | null;
  try {
    const client = createJiraClient({
      baseUrl: access.baseUrl,
      deployment: access.deployment,
      apiToken: access.apiToken,
      limits: deps.httpLimits,
      ...(access.email ? { email: access.email } : {}),
    });
    issue = await client.getIssue(normalized);
  } catch (error) {
    if (error instanceof UpstreamError) throw integrationErrorOf("Jira", error);
    if (error instanceof Error && /needs the account e-mail/.test(error.message)) {
      throw new AppError("bad_request", { detail: "the Jira integration needs `email` for Jira Cloud" });
    }
    throw error;
  }
  if (!issue) return null;
  const data = ticketDataFromIssue(issue, access.baseUrl, now);
  if (!data)
    throw new AppError("upstream_error", {
      detail: "Jira sent an issue that could not be read",
      retryable: false,
    });
  return withOrg(deps.db, ctx.orgId, (tx) => upsertTicket(tx, ctx, data, now, "rest"));
}
