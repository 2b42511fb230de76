/**
 * Reads of changes: the API's list and detail, a ticket with its linked changes, and the candidate query
 * the attribution stage runs (merged changes of one repository up to t0, with their primary ticket and
 * revert facts).
 */
import { and, asc, desc, eq, exists, gte, inArray, lt, lte, or, type SQL, sql } from "drizzle-orm";
import { type OrgTx, withOrg } from "../../db/client.ts";
import {
  type Change,
  type ChangeTicket,
  changes,
  changeTickets,
  type Deploy,
  repositories,
  type Ticket,
  tickets,
} from "../../db/schema/index.ts";
import type { OrgContext } from "../context.ts";
import { NotFoundError } from "../errors.ts";
import type { Cursor } from "../http/pagination.ts";
import { deploysContainingChange } from "./deploys.ts";
import type { ChangesDeps } from "./deps.ts";
import { findRepositoryByRef } from "./repositories.ts";
import { fetchTicket, getTicketInOrg } from "./tickets.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The time changes are listed by: when they landed, else when we first saw them (open PRs). */
export const changeSortAt = sql<Date>`coalesce(${changes.mergedAt}, ${changes.createdAt})`;
/** A bound timestamp for comparisons with SQL expressions (the driver binds Date only for columns). */
const timestamp = (d: Date) => sql`${d.toISOString()}::timestamptz`;

export interface ListChangesInput {
  /** Repository id or name. */
  repository?: string;
  from?: Date;
  to?: Date;
  /** GitHub login or commit e-mail (case-insensitive). */
  author?: string;
  /** A Jira key the change is linked to. */
  ticket?: string;
  state?: "open" | "merged" | "closed";
  limit: number;
  after?: Cursor;
}

export function sortAtOf(change: Change): Date {
  return change.mergedAt ?? change.createdAt;
}

export async function listChanges(
  deps: Pick<ChangesDeps, "db">,
  ctx: OrgContext,
  input: ListChangesInput,
): Promise<{ rows: Change[]; links: Map<string, LinkWithTicket[]> }> {
  return withOrg(deps.db, ctx.orgId, async (tx) => {
    const filters: (SQL | undefined)[] = [eq(changes.orgId, ctx.orgId)];
    if (input.repository !== undefined) {
      const repo = await findRepositoryByRef(tx, ctx.orgId, input.repository);
      if (!repo) return { rows: [], links: new Map() };
      filters.push(eq(changes.repositoryId, repo.id));
    }
    if (input.from) filters.push(sql`${changeSortAt} >= ${timestamp(input.from)}`);
    if (input.to) filters.push(sql`${changeSortAt} <= ${timestamp(input.to)}`);
    if (input.state) filters.push(eq(changes.state, input.state));
    if (input.author) {
      const author = input.author.trim().toLowerCase().replace(/^@/, "");
      filters.push(
        or(sql`lower(${changes.authorLogin}) = ${author}`, sql`lower(${changes.authorEmail}) = ${author}`),
      );
    }
    if (input.ticket) {
      filters.push(
        exists(
          tx
            .select({ one: sql`1` })
            .from(changeTickets)
            .where(
              and(
                eq(changeTickets.changeId, changes.id),
                eq(changeTickets.ticketKey, input.ticket.trim().toUpperCase()),
              ),
            ),
        ),
      );
    }
    if (input.after) {
      const { at, id } = input.after;
      filters.push(
        or(
          sql`${changeSortAt} < ${timestamp(at)}`,
          and(sql`${changeSortAt} = ${timestamp(at)}`, lt(changes.id, id)),
        ),
      );
    }
    const rows = await tx
      .select()
      .from(changes)
      .where(and(...filters))
      .orderBy(desc(changeSortAt), desc(changes.id))
      .limit(input.limit + 1);
    const links = await linksOf(
      tx,
      ctx.orgId,
      rows.map((r) => r.id),
    );
    return { rows, links };
  });
}

export interface LinkWithTicket {
  link: ChangeTicket;
  ticket: Ticket | null;
}

export interface ChangeDetail {
  change: Change;
  repositoryName: string;
  links: LinkWithTicket[];
  /** The first deploy per (service, environment) that shipped the change. */
  deploys: Deploy[];
}

async function linksOf(
  tx: OrgTx,
  orgId: string,
  changeIds: string[],
): Promise<Map<string, LinkWithTicket[]>> {
  const out = new Map<string, LinkWithTicket[]>(changeIds.map((id) => [id, []]));
  if (changeIds.length === 0) return out;
  const rows = await tx
    .select({ link: changeTickets, ticket: tickets })
    .from(changeTickets)
    .leftJoin(tickets, and(eq(tickets.orgId, changeTickets.orgId), eq(tickets.key, changeTickets.ticketKey)))
    .where(and(eq(changeTickets.orgId, orgId), inArray(changeTickets.changeId, changeIds)))
    .orderBy(desc(changeTickets.primary), asc(changeTickets.createdAt), asc(changeTickets.ticketKey));
  for (const row of rows) out.get(row.link.changeId)?.push(row);
  return out;
}

export async function getChangeDetail(
  deps: Pick<ChangesDeps, "db" | "mirrors">,
  ctx: OrgContext,
  id: string,
): Promise<ChangeDetail> {
  if (!UUID.test(id)) throw new NotFoundError("change");
  return withOrg(deps.db, ctx.orgId, async (tx) => {
    const [row] = await tx
      .select({ change: changes, repositoryName: repositories.name })
      .from(changes)
      .innerJoin(repositories, eq(repositories.id, changes.repositoryId))
      .where(and(eq(changes.id, id), eq(changes.orgId, ctx.orgId)));
    if (!row) throw new NotFoundError("change");
    const links = (await linksOf(tx, ctx.orgId, [row.change.id])).get(row.change.id) ?? [];
    const shipped = await deploysContainingChange(tx, deps.mirrors, row.change);
    return { change: row.change, repositoryName: row.repositoryName, links, deploys: shipped };
  });
}

export interface TicketDetail {
  ticket: Ticket;
  changes: Array<{ change: Change; link: ChangeTicket }>;
}

export async function getTicketDetail(
  deps: Pick<ChangesDeps, "db">,
  ctx: OrgContext,
  key: string,
): Promise<TicketDetail> {
  return withOrg(deps.db, ctx.orgId, async (tx) => {
    const ticket = await getTicketInOrg(tx, ctx.orgId, key);
    const rows = await tx
      .select({ change: changes, link: changeTickets })
      .from(changeTickets)
      .innerJoin(changes, eq(changes.id, changeTickets.changeId))
      .where(and(eq(changeTickets.orgId, ctx.orgId), eq(changeTickets.ticketKey, ticket.key)))
      .orderBy(desc(changeSortAt), desc(changes.id))
      .limit(200);
    return { ticket, changes: rows };
  });
}

/** A merged change as attribution's candidate generation needs it (see src/attribution/types.ts). */
export interface CandidateChangeRecord {
  changeId: string;
  /** Attribution's stable id: "pr-<N>" for a pull request, else the merge SHA. */
  id: string;
  prNumber?: number;
  title: string;
  body: string;
  branch?: string;
  author: { login?: string; email?: string; name?: string };
  mergedAt: Date;
  mergeSha: string;
  /** The merge/squash commit and, for merge workflows, the PR's inner commits. */
  commits: string[];
  files: string[];
  docsOrTestsOnly: boolean;
  revertedBySha: string | null;
  /** When the revert landed, when it is in our rows (compare with t0 for the post-hoc signal). */
  revertedAt: Date | null;
  ticket?: {
    key: string;
    summary: string;
    linkSource: "explicit" | "inferred";
    linkConfidence?: number;
    deleted: boolean;
  };
  htmlUrl: string | null;
}

export interface CandidateQuery {
  repositoryId: string;
  /** t0 (plus any clock skew the caller allows): nothing merged after it is a candidate. */
  mergedBefore: Date;
  /** Oldest merge considered (e.g. t0 − 30 days, or the deploy before the previous one). */
  mergedAfter?: Date;
  limit?: number;
}

/**
 * Merged changes of one repository in (mergedAfter, mergedBefore], newest first, with their primary ticket.
 * Runs in the caller's org transaction (`withOrg`). Containment in the deployed SHA is attribution's
 * check (in the sandbox): this is only the time window.
 */
export async function listCandidateChanges(
  tx: OrgTx,
  orgId: string,
  query: CandidateQuery,
): Promise<CandidateChangeRecord[]> {
  const rows = await tx
    .select()
    .from(changes)
    .where(
      and(
        eq(changes.orgId, orgId),
        eq(changes.repositoryId, query.repositoryId),
        eq(changes.state, "merged"),
        lte(changes.mergedAt, query.mergedBefore),
        query.mergedAfter ? gte(changes.mergedAt, query.mergedAfter) : undefined,
        sql`${changes.mergeSha} is not null`,
      ),
    )
    .orderBy(desc(changes.mergedAt), desc(changes.id))
    .limit(query.limit ?? 500);
  const links = await linksOf(
    tx,
    orgId,
    rows.map((r) => r.id),
  );
  const revertShas = rows.flatMap((r) => (r.revertedBySha ? [r.revertedBySha] : []));
  const reverts =
    revertShas.length === 0
      ? []
      : await tx
          .select({ sha: changes.mergeSha, at: changes.mergedAt })
          .from(changes)
          .where(
            and(
              eq(changes.orgId, orgId),
              eq(changes.repositoryId, query.repositoryId),
              inArray(changes.mergeSha, revertShas),
            ),
          );
  const revertAt = new Map(reverts.map((r) => [r.sha, r.at]));
  return rows.map((c) => {
    const primary = (links.get(c.id) ?? []).find((l) => l.link.primary) ?? links.get(c.id)?.[0];
    const author: CandidateChangeRecord["author"] = {};
    if (c.authorLogin) author.login = c.authorLogin;
    if (c.authorEmail) author.email = c.authorEmail;
    if (c.authorName) author.name = c.authorName;
    const out: CandidateChangeRecord = {
      changeId: c.id,
      id: c.prNumber != null ? `pr-${c.prNumber}` : c.mergeSha!,
      title: c.title,
      body: c.body ?? "",
      author,
      mergedAt: c.mergedAt!,
      mergeSha: c.mergeSha!,
      commits: c.commits.length > 0 ? c.commits : [c.mergeSha!],
      files: c.files.map((f) => f.path),
      docsOrTestsOnly: c.docsOrTestsOnly,
      revertedBySha: c.revertedBySha,
      revertedAt: c.revertedBySha ? (revertAt.get(c.revertedBySha) ?? null) : null,
      htmlUrl: c.htmlUrl,
    };
    if (c.prNumber != null) out.prNumber = c.prNumber;
    if (c.branch) out.branch = c.branch;
    if (primary) {
      out.ticket = {
        key: primary.link.ticketKey,
        summary: primary.ticket?.summary ?? "",
        linkSource: primary.link.linkType,
        deleted: primary.ticket?.deletedAt != null,
      };
      if (primary.link.score != null) out.ticket.linkConfidence = primary.link.score;
    }
    return out;
  });
}

/**
 * A ticket by key; when it has never been seen and the org has a Jira integration for its project, it is
 * fetched from Jira first (read-through), so a key a PR names can be looked at before any webhook came.
 */
export async function readTicket(
  deps: Pick<ChangesDeps, "db" | "credentials" | "httpLimits">,
  ctx: OrgContext,
  key: string,
): Promise<TicketDetail> {
  try {
    return await getTicketDetail(deps, ctx, key);
  } catch (error) {
    if (!(error instanceof NotFoundError) || !/^[A-Za-z][A-Za-z0-9_]{1,254}-[1-9][0-9]{0,8}$/.test(key))
      throw error;
    const fetched = await fetchTicket(deps, ctx, key);
    if (!fetched || fetched.status === "ignored") throw error;
    return getTicketDetail(deps, ctx, key);
  }
}
