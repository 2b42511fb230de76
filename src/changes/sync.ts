/**
 * Keeping a repository current: fetch its mirror with its credential, read the new first-parent history,
 * upsert the changes (one row per change, enriched by other sources), resolve reverts, link tickets, and
 * move the repository's head, all of the database part in one transaction with one audit entry. A failed
 * fetch records why on the repository (lastFetchError) and leaves the mirror and the rows as they were.
 */
import { and, eq, inArray, isNull, like, or, sql } from "drizzle-orm";
import { type OrgTx, withOrg } from "../../db/client.ts";
import { changes, changeTickets, type Repository, repositories, tickets } from "../../db/schema/index.ts";
import type { OrgContext } from "../context.ts";
import { AppError } from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import { type ChangeSource, upsertChange } from "./change-records.ts";
import type { ChangesDeps } from "./deps.ts";
import { GitCommandError } from "./git.ts";
import { type HistoryEntry, INITIAL_HISTORY_LIMIT, readHistory } from "./history.ts";
import { type LinkInput, linkChanges } from "./linking.ts";
import type { MirrorFetchResult } from "./mirrors.ts";
import { getRepositoryInOrg, gitAuthFor } from "./repositories.ts";

export interface SyncResult {
  repositoryId: string;
  headSha: string | null;
  previousHeadSha: string | null;
  cloned: boolean;
  forcePushed: boolean;
  /** Changes read from history this time (new or enriched). */
  imported: number;
  pullRequests: number;
  commits: number;
  links: { explicit: number; inferred: number };
}

export interface FreshMirror {
  path: string;
  headSha: string | null;
  /** Whether this call fetched (false: the mirror was fresh enough). */
  fetched: boolean;
}

async function loadRepository(
  deps: Pick<ChangesDeps, "db">,
  ctx: OrgContext,
  id: string,
): Promise<Repository> {
  return withOrg(deps.db, ctx.orgId, (tx) => getRepositoryInOrg(tx, ctx, id));
}

async function recordFetchFailure(
  deps: Pick<ChangesDeps, "db">,
  ctx: OrgContext,
  repo: Repository,
  error: GitCommandError | AppError,
): Promise<void> {
  const message = (error.detail ?? error.code).slice(0, 500);
  await withOrg(deps.db, ctx.orgId, async (tx) => {
    await tx
      .update(repositories)
      .set({ lastFetchError: message, updatedAt: new Date() })
      .where(eq(repositories.id, repo.id));
    await appendAudit(tx, ctx, {
      action: "repository.fetch_failed",
      subjectType: "repository",
      subjectId: repo.id,
      data: { reason: error instanceof GitCommandError ? error.reason : error.code, message },
    });
  });
}

/**
 * Upserts history entries and links their tickets. Exported for the webhook and API paths, which bring
 * their own records; runs in the caller's org transaction.
 */
export async function storeChanges(
  tx: OrgTx,
  orgId: string,
  repositoryId: string,
  entries: readonly Pick<HistoryEntry, "record" | "commitMessages" | "revertsPrNumber">[],
  source: ChangeSource,
): Promise<{
  ids: string[];
  pullRequests: number;
  commits: number;
  links: { explicit: number; inferred: number };
}> {
  const toLink: LinkInput[] = [];
  let pullRequests = 0;
  let commits = 0;
  // Oldest first, so a revert finds the change it reverts already stored.
  for (const entry of [...entries].reverse()) {
    const { change } = await upsertChange(tx, orgId, repositoryId, entry.record, source);
    if (change.kind === "pull_request") pullRequests++;
    else commits++;
    toLink.push({ change, commitMessages: entry.commitMessages });
    if (change.mergeSha && (entry.record.revertsSha || entry.revertsPrNumber !== undefined)) {
      await markReverted(
        tx,
        orgId,
        repositoryId,
        change.mergeSha,
        entry.record.revertsSha ?? null,
        entry.revertsPrNumber,
      );
    }
  }
  const links = await linkChanges(tx, orgId, toLink);
  return {
    ids: toLink.map((l) => l.change.id),
    pullRequests,
    commits,
    links: { explicit: links.explicit, inferred: links.inferred },
  };
}

/** Sets revertedBySha on the change a revert undoes (by SHA or abbreviated SHA, or by PR number). */
async function markReverted(
  tx: OrgTx,
  orgId: string,
  repositoryId: string,
  revertSha: string,
  revertsSha: string | null,
  revertsPrNumber: number | undefined,
): Promise<void> {
  const targets = [];
  if (revertsSha && /^[0-9a-f]{7,64}$/.test(revertsSha)) {
    targets.push(
      revertsSha.length >= 40 ? eq(changes.mergeSha, revertsSha) : like(changes.mergeSha, `${revertsSha}%`),
    );
  }
  if (revertsPrNumber !== undefined) targets.push(eq(changes.prNumber, revertsPrNumber));
  if (targets.length === 0) return;
  await tx
    .update(changes)
    .set({ revertedBySha: revertSha, updatedAt: new Date() })
    .where(
      and(
        eq(changes.orgId, orgId),
        eq(changes.repositoryId, repositoryId),
        or(...targets),
        sql`${changes.mergeSha} is distinct from ${revertSha}`,
        sql`${changes.revertedBySha} is null`,
      ),
    );
}

/** Fetches the mirror and imports what is new. Throws GitCommandError (recorded on the row) when git fails. */
export async function syncRepository(
  deps: ChangesDeps,
  ctx: OrgContext,
  repositoryId: string,
  options: { reason: string; maxCount?: number } = { reason: "manual" },
): Promise<SyncResult> {
  const repo = await loadRepository(deps, ctx, repositoryId);
  let fetched: MirrorFetchResult;
  try {
    const auth = await gitAuthFor(deps, ctx, repo);
    fetched = await deps.mirrors.fetch(repo, auth);
  } catch (error) {
    if (
      error instanceof GitCommandError ||
      (error instanceof AppError && error.code.startsWith("upstream"))
    ) {
      deps.logger.warn(
        {
          repositoryId: repo.id,
          orgId: ctx.orgId,
          code: error.code,
          reason: (error as GitCommandError).reason,
        },
        "repository fetch failed",
      );
      await recordFetchFailure(deps, ctx, repo, error);
    }
    throw error;
  }

  // The last imported head, when the new head still contains it; else a bounded full read.
  const knownHead = repo.headSha;
  const incremental =
    knownHead !== null &&
    fetched.headSha !== null &&
    (knownHead === fetched.headSha || (await deps.mirrors.isAncestor(repo, knownHead, fetched.headSha)));
  const entries =
    fetched.headSha === null || (incremental && knownHead === fetched.headSha && !fetched.cloned)
      ? []
      : await readHistory(deps.mirrors, repo, {
          headSha: fetched.headSha,
          fromSha: incremental && !fetched.cloned ? knownHead : null,
          maxCount: options.maxCount ?? INITIAL_HISTORY_LIMIT,
        });

  const stored = await withOrg(deps.db, ctx.orgId, async (tx) => {
    // One importer per repository at a time; a second one waits and then finds the rows in place.
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`changes:${repo.id}`}))`);
    const result = await storeChanges(tx, ctx.orgId, repo.id, entries, "git");
    const missingBranch =
      fetched.headSha === null ? `the default branch "${repo.defaultBranch}" does not exist yet` : null;
    await tx
      .update(repositories)
      .set({
        headSha: fetched.headSha,
        lastFetchedAt: new Date(),
        lastFetchError: missingBranch,
        updatedAt: new Date(),
      })
      .where(eq(repositories.id, repo.id));
    await appendAudit(tx, ctx, {
      action: "repository.synced",
      subjectType: "repository",
      subjectId: repo.id,
      data: {
        reason: options.reason,
        headSha: fetched.headSha,
        previousHeadSha: knownHead,
        forcePushed: fetched.forcePushed || (knownHead !== null && fetched.headSha !== null && !incremental),
        cloned: fetched.cloned,
        imported: entries.length,
        pullRequests: result.pullRequests,
        commits: result.commits,
        links: result.links,
      },
    });
    return result;
  });
  if (deps.enqueue) {
    const missing = await missingTicketKeys(deps, ctx, stored.ids);
    for (const key of missing) await deps.enqueue({ job: "fetch-ticket", orgId: ctx.orgId, key });
  }
  return {
    repositoryId: repo.id,
    headSha: fetched.headSha,
    previousHeadSha: knownHead,
    cloned: fetched.cloned,
    forcePushed: fetched.forcePushed || (knownHead !== null && fetched.headSha !== null && !incremental),
    imported: entries.length,
    pullRequests: stored.pullRequests,
    commits: stored.commits,
    links: stored.links,
  };
}

/** Explicitly linked keys of these changes with no ticket row yet. */
async function missingTicketKeys(
  deps: Pick<ChangesDeps, "db">,
  ctx: OrgContext,
  changeIds: string[],
): Promise<string[]> {
  if (changeIds.length === 0) return [];
  const rows = await withOrg(deps.db, ctx.orgId, (tx) =>
    tx
      .selectDistinct({ key: changeTickets.ticketKey })
      .from(changeTickets)
      .leftJoin(
        tickets,
        and(eq(tickets.orgId, changeTickets.orgId), eq(tickets.key, changeTickets.ticketKey)),
      )
      .where(
        and(
          inArray(changeTickets.changeId, changeIds),
          eq(changeTickets.linkType, "explicit"),
          isNull(tickets.id),
        ),
      ),
  );
  return rows.map((r) => r.key);
}

/**
 * The mirror of a repository, fetched first unless its last successful fetch is at most `maxAgeMs` old.
 * Attribution calls this before reading the repository at a deployed SHA.
 */
export async function ensureMirrorFresh(
  deps: ChangesDeps,
  ctx: OrgContext,
  repositoryId: string,
  maxAgeMs: number,
): Promise<FreshMirror> {
  const repo = await loadRepository(deps, ctx, repositoryId);
  const path = deps.mirrors.mirrorPath(repo);
  if (
    repo.lastFetchedAt !== null &&
    Date.now() - repo.lastFetchedAt.getTime() <= maxAgeMs &&
    (await deps.mirrors.exists(repo))
  ) {
    return { path, headSha: repo.headSha, fetched: false };
  }
  const result = await syncRepository(deps, ctx, repositoryId, { reason: "freshness" });
  return { path, headSha: result.headSha, fetched: true };
}

/** Marks a repository's mirror stale (a push arrived) so the next ensureMirrorFresh fetches. */
export async function markStale(
  deps: Pick<ChangesDeps, "db">,
  ctx: OrgContext,
  repositoryIds: readonly string[],
): Promise<void> {
  if (repositoryIds.length === 0) return;
  await withOrg(deps.db, ctx.orgId, (tx) =>
    tx
      .update(repositories)
      .set({ lastFetchedAt: null })
      .where(and(eq(repositories.orgId, ctx.orgId), inArray(repositories.id, [...repositoryIds]))),
  );
}
