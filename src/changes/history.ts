/**
 * Reads changes out of a repository's mirror: the first-parent line of the default branch from `fromSha`
 * (exclusive; the whole recent history when unknown) to `headSha`, turned into change records with the
 * colleague's parsers (git-history.ts). For a merge-commit PR, its inner commits (the ones the merge
 * brought in) are found with a second, all-parents walk over the same range, so blame on an inner commit
 * maps back to the PR, and the PR author is the inner commits' author rather than whoever pressed merge.
 */
import type { ChangedFile as RowFile } from "../../db/schema/index.ts";
import type { ChangeRecord } from "./change-records.ts";
import {
  type Change,
  type ChangedFile,
  changesFromHistory,
  type GitCommit,
  gitLogArgs,
  parseGitLog,
} from "./git-history.ts";
import type { MirrorStore, MirrorTarget } from "./mirrors.ts";

/** How many first-parent commits a first import (or a re-import after a force-push) reads. */
export const INITIAL_HISTORY_LIMIT = 2_000;

export interface HistoryEntry {
  record: ChangeRecord;
  /** Messages of the change's own commits (inner commits of a merge), for explicit Jira keys. */
  commitMessages: Array<{ sha: string; message: string }>;
  /** The PR number this change reverts, when GitHub's revert body named it. */
  revertsPrNumber?: number;
}

export interface HistoryRange {
  headSha: string;
  /** The last head already imported (an ancestor of headSha), or null for a full read. */
  fromSha: string | null;
  maxCount?: number;
}

function rowFile(file: ChangedFile): RowFile {
  const status = file.status === "type_changed" ? "modified" : file.status;
  const out: RowFile = { path: file.path, status };
  if (file.oldPath !== undefined) out.oldPath = file.oldPath;
  return out;
}

function messageOf(commit: GitCommit): string {
  return commit.body === "" ? commit.subject : `${commit.subject}\n\n${commit.body}`;
}

/** The author most of the commits name; ties go to the oldest commit's author. */
function mainAuthor(commits: GitCommit[]): { name: string; email: string } | undefined {
  const counts = new Map<string, { n: number; first: number; author: { name: string; email: string } }>();
  commits.forEach((c, i) => {
    const key = c.authorEmail.toLowerCase();
    const entry = counts.get(key);
    if (entry) entry.n++;
    else counts.set(key, { n: 1, first: i, author: { name: c.authorName, email: c.authorEmail } });
  });
  let best: { n: number; first: number; author: { name: string; email: string } } | undefined;
  for (const entry of counts.values()) {
    if (!best || entry.n > best.n || (entry.n === best.n && entry.first < best.first)) best = entry;
  }
  return best?.author;
}

/**
 * Assigns every commit of the range to the first-parent change that brought it in: walking the merges
 * oldest first, a merge owns what is reachable from its second (and later) parents that no older change
 * and no first-parent commit owns.
 */
function innerCommits(changes: Change[], all: Map<string, GitCommit>): Map<string, GitCommit[]> {
  const owned = new Set(changes.map((c) => c.mergeSha));
  const out = new Map<string, GitCommit[]>();
  for (const change of [...changes].reverse()) {
    if (change.parents.length < 2) continue;
    const inner: GitCommit[] = [];
    const stack = change.parents.slice(1);
    while (stack.length > 0) {
      const sha = stack.pop()!;
      if (owned.has(sha)) continue;
      const commit = all.get(sha);
      if (!commit) continue;
      owned.add(sha);
      inner.push(commit);
      stack.push(...commit.parents);
    }
    // Oldest first, as GitHub lists a PR's commits.
    inner.sort((a, b) => a.committerDate.getTime() - b.committerDate.getTime() || a.sha.localeCompare(b.sha));
    out.set(change.mergeSha, inner);
  }
  return out;
}

export async function readHistory(
  mirrors: MirrorStore,
  repo: MirrorTarget,
  range: HistoryRange,
): Promise<HistoryEntry[]> {
  const exclude = range.fromSha ? [range.fromSha] : [];
  const firstParent = parseGitLog(
    (
      await mirrors.read(
        repo,
        "reading the history",
        gitLogArgs({
          ref: range.headSha,
          exclude,
          ...(range.fromSha ? {} : { maxCount: range.maxCount ?? INITIAL_HISTORY_LIMIT }),
        }),
      )
    ).toString("utf8"),
  );
  if (firstParent.length === 0) return [];
  const changes = changesFromHistory(firstParent, { defaultBranch: repo.defaultBranch });

  // Everything the window brought in: exclude what the commit before the window already had.
  const oldest = firstParent[firstParent.length - 1]!;
  const boundary = range.fromSha ? [range.fromSha] : oldest.parents.slice(0, 1);
  let all = new Map<string, GitCommit>();
  if (changes.some((c) => c.parents.length >= 2)) {
    const everything = parseGitLog(
      (
        await mirrors.read(
          repo,
          "reading merged branches",
          gitLogArgs({ ref: range.headSha, exclude: boundary, firstParent: false, nameStatus: false }),
        )
      ).toString("utf8"),
    );
    all = new Map(everything.map((c) => [c.sha, c]));
  }
  const inner = innerCommits(changes, all);
  const bySha = new Map(firstParent.map((c) => [c.sha, c]));

  return changes.map((change): HistoryEntry => {
    const own = inner.get(change.mergeSha) ?? [];
    const ownNonMerge = own.filter((c) => c.parents.length < 2);
    const author = change.kind === "merge" ? (mainAuthor(ownNonMerge) ?? change.author) : change.author;
    const isPr = change.kind !== "commit";
    const record: ChangeRecord = {
      kind: isPr ? "pull_request" : "commit",
      prNumber: change.prNumber ?? null,
      title: change.title,
      body: change.body === "" ? null : change.body,
      branch: change.branch ?? null,
      base: change.baseBranch,
      authorName: author.name,
      authorEmail: author.email,
      state: "merged",
      mergedAt: change.mergedAt,
      mergeSha: change.mergeSha,
      headSha: change.kind === "merge" ? (change.parents[1] ?? null) : null,
      files: change.files.map(rowFile),
      commits: [change.mergeSha, ...own.map((c) => c.sha)],
      revertsSha: change.revertsSha ?? null,
    };
    const commitMessages =
      change.kind === "merge"
        ? own.map((c) => ({ sha: c.sha, message: messageOf(c) }))
        : [{ sha: change.mergeSha, message: messageOf(bySha.get(change.mergeSha)!) }];
    const entry: HistoryEntry = { record, commitMessages };
    if (change.revertsPrNumber !== undefined) entry.revertsPrNumber = change.revertsPrNumber;
    return entry;
  });
}
