/**
 * One row per change however many sources report it. Git history, GitHub webhooks and the GitHub API each
 * know part of a pull request; `mergeChange` decides field by field who wins:
 *
 *   - PR metadata (title, body, branch, base, login, URL, opened/merged times, reviewers): the API and
 *     webhooks, which see the PR itself; git's reading of a merge message only fills gaps;
 *   - what landed (merge SHA, changed files) and the commit author's name and e-mail: git, which reads the
 *     default branch itself; the others fill gaps;
 *   - commits are a union, sources a union, and "merged" is final (a late "opened" event never reopens).
 *
 * `upsertChange` finds the row by PR number, else by merge SHA (the two unique indexes), folds a direct
 * commit row into the PR row when a later source reveals that the commit was a PR, and retries once when
 * a concurrent writer inserted the same change first.
 */
import { and, eq, inArray } from "drizzle-orm";
import { isUniqueViolation, type OrgTx } from "../../db/client.ts";
import { type Change, type ChangedFile, changes, changeTickets } from "../../db/schema/index.ts";
import { clipText } from "../storable-text.ts";
import { isDocsOrTestsOnly } from "./git-history.ts";

export type ChangeSource = "git" | "webhook" | "api";

/** GitHub caps a PR body at 65,536 characters; anything longer is not a real body. */
export const MAX_BODY_CHARS = 65_536;
const MAX_TITLE_CHARS = 1_000;
const MAX_FILES = 3_000;
const MAX_COMMITS = 1_000;

export interface ChangeRecord {
  kind: "pull_request" | "commit";
  prNumber?: number | null;
  title: string;
  body?: string | null;
  branch?: string | null;
  base?: string | null;
  authorLogin?: string | null;
  authorEmail?: string | null;
  authorName?: string | null;
  state: "open" | "merged" | "closed";
  openedAt?: Date | null;
  mergedAt?: Date | null;
  mergeSha?: string | null;
  headSha?: string | null;
  /** Undefined: this source does not know the files. */
  files?: ChangedFile[];
  commits?: string[];
  revertsSha?: string | null;
  reviewers?: string[];
  htmlUrl?: string | null;
}

export type ChangeValues = Omit<typeof changes.$inferInsert, "id" | "orgId" | "repositoryId" | "createdAt">;

const truncate = (text: string | null | undefined, max: number) =>
  text == null ? null : clipText(text, max);

/** A GitHub noreply address names the login: `12345+octocat@users.noreply.github.com`. */
export function loginFromEmail(email: string | null | undefined): string | null {
  const match = /^(?:\d+\+)?([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))@users\.noreply\.github\.com$/i.exec(
    email ?? "",
  );
  return match ? match[1]! : null;
}

function union(a: readonly string[], b: readonly string[], max: number): string[] {
  return [...new Set([...a, ...b])].slice(0, max);
}

/** The values to write for `incoming` from `source`, given the row as it is (or undefined for a new one). */
export function mergeChange(
  existing: Change | undefined,
  incoming: ChangeRecord,
  source: ChangeSource,
): ChangeValues {
  const prSource = source !== "git";
  const existingFromPr = existing?.sources.some((s) => s !== "git") ?? false;
  // PR metadata: a PR source overrides; git only fills what no PR source said.
  const meta = <T>(mine: T | null | undefined, theirs: T | null | undefined): T | null => {
    if (prSource) return mine ?? theirs ?? null;
    return existingFromPr ? (theirs ?? mine ?? null) : (mine ?? theirs ?? null);
  };
  // What landed: git's reading wins; others fill gaps.
  const landed = <T>(mine: T | null | undefined, theirs: T | null | undefined): T | null =>
    source === "git" ? (mine ?? theirs ?? null) : (theirs ?? mine ?? null);

  const files =
    incoming.files === undefined
      ? (existing?.files ?? [])
      : existing === undefined || existing.files.length === 0 || source === "git"
        ? incoming.files.slice(0, MAX_FILES)
        : existing.files;
  const state =
    existing?.state === "merged" || incoming.state === "merged"
      ? "merged"
      : (incoming.state ?? existing?.state);
  const authorEmail = landed(incoming.authorEmail, existing?.authorEmail);
  return {
    kind: existing?.kind === "pull_request" || incoming.kind === "pull_request" ? "pull_request" : "commit",
    prNumber: existing?.prNumber ?? incoming.prNumber ?? null,
    title: truncate(meta(incoming.title, existing?.title), MAX_TITLE_CHARS) ?? incoming.title,
    body: truncate(meta(incoming.body, existing?.body), MAX_BODY_CHARS),
    branch: meta(incoming.branch, existing?.branch),
    base: meta(incoming.base, existing?.base),
    authorLogin: meta(incoming.authorLogin, existing?.authorLogin) ?? loginFromEmail(authorEmail),
    authorEmail,
    authorName: landed(incoming.authorName, existing?.authorName),
    state,
    openedAt: meta(incoming.openedAt, existing?.openedAt),
    mergedAt: meta(incoming.mergedAt, existing?.mergedAt),
    mergeSha: landed(incoming.mergeSha, existing?.mergeSha),
    headSha: meta(incoming.headSha, existing?.headSha),
    files,
    commits: union(existing?.commits ?? [], incoming.commits ?? [], MAX_COMMITS),
    revertsSha: incoming.revertsSha ?? existing?.revertsSha ?? null,
    revertedBySha: existing?.revertedBySha ?? null,
    docsOrTestsOnly: isDocsOrTestsOnly(files),
    reviewers: union(existing?.reviewers ?? [], incoming.reviewers ?? [], 100),
    htmlUrl: meta(incoming.htmlUrl, existing?.htmlUrl),
    sources: union(existing?.sources ?? [], [source], 3),
    updatedAt: new Date(),
  };
}

export interface UpsertedChange {
  change: Change;
  created: boolean;
}

async function upsertOnce(
  tx: OrgTx,
  orgId: string,
  repositoryId: string,
  incoming: ChangeRecord,
  source: ChangeSource,
): Promise<UpsertedChange> {
  const scope = and(eq(changes.orgId, orgId), eq(changes.repositoryId, repositoryId));
  const byPr =
    incoming.prNumber == null
      ? undefined
      : (
          await tx
            .select()
            .from(changes)
            .where(and(scope, eq(changes.prNumber, incoming.prNumber)))
            .for("update")
        )[0];
  const bySha =
    incoming.mergeSha == null
      ? undefined
      : (
          await tx
            .select()
            .from(changes)
            .where(and(scope, eq(changes.mergeSha, incoming.mergeSha)))
            .for("update")
        )[0];

  let target = byPr ?? bySha;
  let record = incoming;
  if (byPr && bySha && byPr.id !== bySha.id) {
    if (bySha.kind === "commit" && bySha.prNumber === null) {
      // The direct commit was this PR all along (a rebase merge seen by git first): fold it in.
      const folded = mergeChange(byPr, commitAsRecord(bySha), "git");
      const kept = await tx
        .select({ key: changeTickets.ticketKey })
        .from(changeTickets)
        .where(eq(changeTickets.changeId, byPr.id));
      if (kept.length > 0) {
        await tx.delete(changeTickets).where(
          and(
            eq(changeTickets.changeId, bySha.id),
            inArray(
              changeTickets.ticketKey,
              kept.map((k) => k.key),
            ),
          ),
        );
      }
      await tx.update(changeTickets).set({ changeId: byPr.id }).where(eq(changeTickets.changeId, bySha.id));
      await tx.delete(changes).where(eq(changes.id, bySha.id));
      const [updated] = await tx.update(changes).set(folded).where(eq(changes.id, byPr.id)).returning();
      target = updated ?? byPr;
    } else {
      // Two PRs cannot share a merge commit; keep the SHA where it is.
      record = { ...incoming, mergeSha: null };
      target = byPr;
    }
  }
  const values = mergeChange(target, record, source);
  if (target) {
    const [updated] = await tx.update(changes).set(values).where(eq(changes.id, target.id)).returning();
    return { change: updated!, created: false };
  }
  const [inserted] = await tx
    .insert(changes)
    .values({ ...values, orgId, repositoryId })
    .returning();
  return { change: inserted!, created: true };
}

function commitAsRecord(row: Change): ChangeRecord {
  return {
    kind: "commit",
    title: row.title,
    body: row.body,
    authorEmail: row.authorEmail,
    authorName: row.authorName,
    state: "merged",
    mergedAt: row.mergedAt,
    mergeSha: row.mergeSha,
    files: row.files,
    commits: row.commits,
    revertsSha: row.revertsSha,
  };
}

/** Inserts or enriches the one row of this change. Runs in the caller's org transaction. */
export async function upsertChange(
  tx: OrgTx,
  orgId: string,
  repositoryId: string,
  incoming: ChangeRecord,
  source: ChangeSource,
): Promise<UpsertedChange> {
  for (let attempt = 0; ; attempt++) {
    try {
      // A savepoint, so a lost race rolls back only this attempt.
      return await tx.transaction((sp) => upsertOnce(sp, orgId, repositoryId, incoming, source));
    } catch (error) {
      if (attempt >= 2 || !isUniqueViolation(error)) throw error;
    }
  }
}
