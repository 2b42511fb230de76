/**
 * Changes from plain git history (DESIGN.md §5): the first-parent line of the default branch, one change
 * per first-parent commit. GitHub's conventions turn commits back into pull requests: a merge commit
 * "Merge pull request #N from owner/branch" (title on the first body line) and a squash commit
 * "Title (#N)". Anything else is a direct push.
 *
 * These functions are pure: the sandbox runs `git` with the argv built here and hands the output back.
 */
import { AppError, ValidationError } from "../errors.ts";

// ---------------------------------------------------------------------------------------------------
// argv

/**
 * Fields: record separator, then `%H`, `%P`, author date, committer date (strict ISO 8601), each closed
 * by a unit separator. The free-text fields that follow (author name, author e-mail, raw message) are
 * each closed by a fence: unit separator, the commit's own full hash, unit separator. A message can
 * contain any byte git accepts, control characters and fake records included, but it cannot contain
 * its own hash, so no message can forge a fence. With `-z` git closes each record with a NUL and prints
 * the `--name-status` entries NUL-separated after it, so paths need no unquoting.
 */
export const GIT_LOG_FORMAT = "%x1e%H%x1f%P%x1f%aI%x1f%cI%x1f%an%x1f%H%x1f%ae%x1f%H%x1f%B%x1f%H%x1f" as const;

export interface GitLogArgsInput {
  /** Branch, tag or SHA to walk, normally the default branch. */
  ref: string;
  /** Only commits newer than this (`--since`). */
  since?: Date | string;
  /** At most this many first-parent commits. */
  maxCount?: number;
  /** Leave out commits reachable from these SHAs (`^<sha>`): an incremental walk from a known head. */
  exclude?: readonly string[];
  /** Walk every parent, not only the first (default true: first parent only). */
  firstParent?: boolean;
  /** List changed paths (default true). */
  nameStatus?: boolean;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * Arguments for `git` (without the program name). `--end-of-options` keeps a ref such as `--output=x`
 * from being read as an option; the pretty-printing switches make the output independent of the
 * user's git config (signatures, notes, colour, encoding).
 */
export function gitLogArgs(input: GitLogArgsInput): string[] {
  const { ref, since, maxCount } = input;
  const exclude = input.exclude ?? [];
  const firstParent = input.firstParent ?? true;
  const nameStatus = input.nameStatus ?? true;
  const errors: { path: string; message: string }[] = [];
  exclude.forEach((sha, i) => {
    if (!SHA.test(sha)) errors.push({ path: `exclude.${i}`, message: "must be a full commit SHA" });
  });
  if (ref.length === 0 || ref.startsWith("-") || /[\u0000-\u0020\u007f]/.test(ref) || ref.includes("..")) {
    errors.push({ path: "ref", message: "must be a single ref name or SHA" });
  }
  let sinceArg: string | undefined;
  if (since !== undefined) {
    if (since instanceof Date) {
      if (Number.isNaN(since.getTime())) errors.push({ path: "since", message: "must be a valid date" });
      else sinceArg = since.toISOString();
    } else if (ISO_DATE.test(since)) {
      sinceArg = since;
    } else {
      errors.push({ path: "since", message: "must be an ISO 8601 date" });
    }
  }
  if (maxCount !== undefined && (!Number.isSafeInteger(maxCount) || maxCount < 1)) {
    errors.push({ path: "maxCount", message: "must be a positive integer" });
  }
  if (errors.length > 0) throw new ValidationError(errors);

  const args = [
    "log",
    ...(firstParent
      ? [
          "--first-parent",
          // A merge commit's files are its diff against the first parent: what the PR brought in.
          "--diff-merges=first-parent",
        ]
      : []),
    "--root",
    ...(nameStatus ? ["--name-status", "-M"] : []),
    "-z",
    `--format=${GIT_LOG_FORMAT}`,
    "--encoding=UTF-8",
    "--no-show-signature",
    "--no-notes",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
  ];
  if (sinceArg !== undefined) args.push(`--since=${sinceArg}`);
  if (maxCount !== undefined) args.push(`--max-count=${maxCount}`);
  args.push("--end-of-options", ref, ...exclude.map((sha) => `^${sha}`), "--");
  return args;
}

// ---------------------------------------------------------------------------------------------------
// parsing

export type FileStatus = "added" | "modified" | "deleted" | "renamed" | "copied" | "type_changed" | "other";

export interface ChangedFile {
  status: FileStatus;
  /** Path after the change (for a deletion: the deleted path). */
  path: string;
  /** Path before a rename or copy. */
  oldPath?: string;
  /** Rename / copy similarity in percent. */
  similarity?: number;
}

export interface GitCommit {
  sha: string;
  parents: string[];
  authorName: string;
  authorEmail: string;
  authorDate: Date;
  committerDate: Date;
  /** First paragraph of the message, lines joined by a space (git's `%s`). */
  subject: string;
  /** The message after the first paragraph, trimmed (git's `%b`, trimmed). */
  body: string;
  files: ChangedFile[];
}

/** git's output did not have the shape GIT_LOG_FORMAT produces. A server-side fault, never user input. */
export class GitLogParseError extends AppError {
  constructor(
    reason: string,
    readonly offset: number,
  ) {
    super("internal", { detail: `git log output, offset ${offset}: ${reason}` });
    this.name = "GitLogParseError";
  }
}

const RS = "\x1e";
const US = "\x1f";
const NUL = "\0";
const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const STATUS = /^([ACDMRTUXB])(\d{0,3})$/;

const STATUS_NAMES: Record<string, FileStatus> = {
  A: "added",
  M: "modified",
  D: "deleted",
  R: "renamed",
  C: "copied",
  T: "type_changed",
};

/** Splits a raw message the way git derives `%s` and `%b`. */
export function splitMessage(message: string): { subject: string; body: string } {
  const lines = message.replace(/\r\n/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length && lines[i]!.trim() === "") i++;
  const subjectLines: string[] = [];
  while (i < lines.length && lines[i]!.trim() !== "") {
    subjectLines.push(lines[i]!.trim());
    i++;
  }
  return { subject: subjectLines.join(" "), body: lines.slice(i).join("\n").trim() };
}

function parseDate(text: string, offset: number, what: string): Date {
  const date = new Date(text);
  if (text === "" || Number.isNaN(date.getTime())) throw new GitLogParseError(`invalid ${what}`, offset);
  return date;
}

/** Parses the output of `git` run with gitLogArgs(). Throws GitLogParseError on anything else. */
export function parseGitLog(stdout: string): GitCommit[] {
  const commits: GitCommit[] = [];
  let pos = 0;
  const n = stdout.length;

  const readUntil = (terminator: string, what: string): string => {
    const end = stdout.indexOf(terminator, pos);
    if (end < 0) throw new GitLogParseError(`unterminated ${what}`, pos);
    const value = stdout.slice(pos, end);
    pos = end + terminator.length;
    return value;
  };

  // Leading whitespace only (an empty history prints nothing).
  while (pos < n && stdout[pos] === "\n") pos++;

  while (pos < n) {
    if (stdout[pos] !== RS) throw new GitLogParseError("expected a record separator", pos);
    pos++;
    const start = pos;
    const sha = readUntil(US, "sha");
    if (!SHA.test(sha)) throw new GitLogParseError("invalid sha", start);
    const parentsText = readUntil(US, "parents");
    const parents = parentsText === "" ? [] : parentsText.split(" ");
    if (!parents.every((p) => SHA.test(p))) throw new GitLogParseError("invalid parent list", start);
    const authorDate = parseDate(readUntil(US, "author date"), start, "author date");
    const committerDate = parseDate(readUntil(US, "committer date"), start, "committer date");
    const fence = `${US}${sha}${US}`;
    const authorName = readUntil(fence, "author name");
    const authorEmail = readUntil(fence, "author email");
    const message = readUntil(fence, "message");
    if (stdout[pos] !== NUL) throw new GitLogParseError("expected NUL after the record", pos);
    pos++;

    const files: ChangedFile[] = [];
    // The diff follows after a newline; an empty diff prints nothing.
    if (stdout[pos] === "\n") pos++;
    while (pos < n && stdout[pos] !== RS) {
      const statusAt = pos;
      const status = readUntil(NUL, "file status");
      const match = STATUS.exec(status);
      if (!match) throw new GitLogParseError("invalid file status", statusAt);
      const letter = match[1]!;
      const score = match[2] === "" ? undefined : Number(match[2]);
      if (letter === "R" || letter === "C") {
        const oldPath = readUntil(NUL, "old path");
        const path = readUntil(NUL, "new path");
        const file: ChangedFile = { status: STATUS_NAMES[letter]!, path, oldPath };
        if (score !== undefined) file.similarity = score;
        files.push(file);
      } else {
        const path = readUntil(NUL, "path");
        files.push({ status: STATUS_NAMES[letter] ?? "other", path });
      }
      if (stdout[pos] === "\n") pos++;
    }

    const { subject, body } = splitMessage(message);
    commits.push({
      sha,
      parents,
      authorName,
      authorEmail,
      authorDate,
      committerDate,
      subject,
      body,
      files,
    });
  }
  return commits;
}

// ---------------------------------------------------------------------------------------------------
// file classes

export type FileClass = "docs" | "tests" | "code";
export type ChangeFileClass = "empty" | "docs" | "tests" | "docs_and_tests" | "code";

const DOC_DIRS = new Set(["docs", "doc", "documentation"]);
const DOC_EXTENSIONS = new Set(["md", "markdown", "mdx", "rst", "txt", "adoc", "asciidoc"]);
const DOC_BASENAMES = new Set(["readme", "changelog", "changes", "license", "licence", "authors", "notice"]);
// .txt files that configure a build or a dependency set: changing them changes what runs.
const NOT_DOC_TXT = /^(?:requirements.*|constraints.*|cmakelists|robots)\.txt$/;
const TEST_DIRS = new Set(["test", "tests", "__tests__", "spec", "specs", "testdata", "__snapshots__"]);
const TEST_FILE = /(?:\.(?:test|spec)\.[^./]+$|_test\.(?:go|py|rb|exs?)$|^test_[^/]*\.py$|_spec\.rb$)/;

/** Class of one repository path: documentation, tests, or anything else (code, config, build). */
export function classifyPath(path: string): FileClass {
  const segments = path.toLowerCase().split("/");
  const base = segments[segments.length - 1] ?? "";
  const dirs = segments.slice(0, -1);
  if (dirs.some((d) => TEST_DIRS.has(d)) || TEST_FILE.test(base)) return "tests";
  if (dirs.some((d) => DOC_DIRS.has(d))) return "docs";
  const dot = base.lastIndexOf(".");
  const ext = dot > 0 ? base.slice(dot + 1) : "";
  const stem = dot > 0 ? base.slice(0, dot) : base;
  if (DOC_EXTENSIONS.has(ext) && !NOT_DOC_TXT.test(base)) return "docs";
  if ((ext === "" || DOC_EXTENSIONS.has(ext)) && DOC_BASENAMES.has(stem)) return "docs";
  return "code";
}

function pathsOf(file: ChangedFile): string[] {
  return file.oldPath === undefined ? [file.path] : [file.oldPath, file.path];
}

/** Both sides of a rename count: moving code into docs/ still removes code. */
export function classifyChangeFiles(files: readonly ChangedFile[]): ChangeFileClass {
  if (files.length === 0) return "empty";
  let docs = false;
  let tests = false;
  for (const file of files) {
    for (const path of pathsOf(file)) {
      const cls = classifyPath(path);
      if (cls === "code") return "code";
      if (cls === "docs") docs = true;
      else tests = true;
    }
  }
  if (docs && tests) return "docs_and_tests";
  return docs ? "docs" : "tests";
}

/** True when every changed path (both sides of renames) is documentation or tests; false when empty. */
export function isDocsOrTestsOnly(files: readonly ChangedFile[]): boolean {
  const cls = classifyChangeFiles(files);
  return cls === "docs" || cls === "tests" || cls === "docs_and_tests";
}

// ---------------------------------------------------------------------------------------------------
// changes

export type ChangeKind = "merge" | "squash" | "commit";

export interface Change {
  /** "pr-<N>" for a pull request, else the commit SHA. */
  id: string;
  kind: ChangeKind;
  prNumber?: number;
  title: string;
  /** For a merge: the message after the title line; for squash and direct commits: the commit body. */
  body: string;
  /** Head branch of a merged PR ("feature/PAY-1-x" from "owner/feature/PAY-1-x"). */
  branch?: string;
  /** Owner of the head repository (the fork or the organisation) of a merged PR. */
  headOwner?: string;
  baseBranch: string;
  /** The first-parent commit: the merge, squash or pushed commit. */
  mergeSha: string;
  parents: string[];
  /** Committer date of that commit: when the change landed on the default branch. */
  mergedAt: Date;
  authoredAt: Date;
  /**
   * Author of the first-parent commit. For a merge commit this is whoever pressed merge, not
   * necessarily the PR author (that comes from the GitHub API when it is connected).
   */
  author: { name: string; email: string };
  files: ChangedFile[];
  fileClass: ChangeFileClass;
  docsOrTestsOnly: boolean;
  /** The commit this change reverts: from "This reverts commit <sha>." or resolved by PR number / title. */
  revertsSha?: string;
  /** PR number from GitHub's revert body "Reverts owner/repo#N". */
  revertsPrNumber?: number;
  /** The quoted title of a `Revert "…"` subject. */
  revertsTitle?: string;
  /** mergeSha of the later change that reverts this one, when that change is in the same history. */
  revertedBy?: string;
}

export interface ChangesFromHistoryOptions {
  defaultBranch: string;
}

const MERGE_PR = /^Merge pull request #(\d{1,9}) from (\S+)$/;
const SQUASH_PR = /^(.*\S)\s+\(#(\d{1,9})\)$/;
const REVERT_SUBJECT = /^Revert "(.*)"$/;
const REVERTS_COMMIT = /This reverts commit ([0-9a-f]{7,64})\b/;
const REVERTS_PR = /^Reverts [\w.-]+\/[\w.-]+#(\d{1,9})\s*$/m;

function firstLineAndRest(text: string): { first: string; rest: string } {
  const trimmed = text.trim();
  const nl = trimmed.indexOf("\n");
  if (nl < 0) return { first: trimmed, rest: "" };
  return { first: trimmed.slice(0, nl).trim(), rest: trimmed.slice(nl + 1).trim() };
}

function changeFromCommit(commit: GitCommit, baseBranch: string): Change {
  const common = {
    baseBranch,
    mergeSha: commit.sha,
    parents: commit.parents,
    mergedAt: commit.committerDate,
    authoredAt: commit.authorDate,
    author: { name: commit.authorName, email: commit.authorEmail },
    files: commit.files,
    fileClass: classifyChangeFiles(commit.files),
    docsOrTestsOnly: isDocsOrTestsOnly(commit.files),
  };

  const merge = commit.parents.length >= 2 ? MERGE_PR.exec(commit.subject) : null;
  if (merge) {
    const prNumber = Number(merge[1]);
    const head = merge[2]!;
    const slash = head.indexOf("/");
    const { first, rest } = firstLineAndRest(commit.body);
    const change: Change = {
      ...common,
      id: `pr-${prNumber}`,
      kind: "merge",
      prNumber,
      title: first === "" ? commit.subject : first,
      body: rest,
      branch: slash < 0 ? head : head.slice(slash + 1),
    };
    if (slash > 0) change.headOwner = head.slice(0, slash);
    return change;
  }

  const squash = commit.parents.length <= 1 ? SQUASH_PR.exec(commit.subject) : null;
  if (squash) {
    const prNumber = Number(squash[2]);
    return {
      ...common,
      id: `pr-${prNumber}`,
      kind: "squash",
      prNumber,
      title: squash[1]!,
      body: commit.body,
    };
  }

  return { ...common, id: commit.sha, kind: "commit", title: commit.subject, body: commit.body };
}

function applyRevertFields(change: Change, commit: GitCommit): void {
  const revert = REVERT_SUBJECT.exec(change.title);
  if (revert) change.revertsTitle = revert[1]!;
  const sha = REVERTS_COMMIT.exec(commit.body);
  if (sha) change.revertsSha = sha[1]!;
  const pr = REVERTS_PR.exec(change.body);
  if (pr) change.revertsPrNumber = Number(pr[1]);
}

/**
 * One Change per first-parent commit, in the order given (git log prints newest first). Reverts are
 * linked to the change they undo when it is in the same history: an abbreviated SHA is expanded, a
 * GitHub "Reverts owner/repo#N" body or a `Revert "<title>"` subject is resolved to that change's SHA.
 */
export function changesFromHistory(
  commits: readonly GitCommit[],
  options: ChangesFromHistoryOptions,
): Change[] {
  const subjects = new Map(commits.map((c) => [c.sha, c.subject]));
  const changes = commits.map((commit) => {
    const change = changeFromCommit(commit, options.defaultBranch);
    applyRevertFields(change, commit);
    return change;
  });

  for (let i = 0; i < changes.length; i++) {
    const change = changes[i]!;
    if (
      change.revertsSha === undefined &&
      change.revertsPrNumber === undefined &&
      change.revertsTitle === undefined
    ) {
      continue;
    }
    // Only older changes (later in newest-first order) can be the reverted one.
    const older = changes.slice(i + 1);
    let target: Change | undefined;
    if (change.revertsSha !== undefined) {
      const prefix = change.revertsSha;
      const matches = older.filter((c) => c.mergeSha.startsWith(prefix));
      if (matches.length === 1) target = matches[0];
    }
    if (target === undefined && change.revertsSha === undefined && change.revertsPrNumber !== undefined) {
      target = older.find((c) => c.prNumber === change.revertsPrNumber);
    }
    if (target === undefined && change.revertsSha === undefined && change.revertsTitle !== undefined) {
      const title = change.revertsTitle;
      target = older.find((c) => c.title === title || subjects.get(c.mergeSha) === title);
    }
    if (target !== undefined) {
      change.revertsSha = target.mergeSha;
      if (change.revertsPrNumber === undefined && target.prNumber !== undefined) {
        change.revertsPrNumber = target.prNumber;
      }
      target.revertedBy ??= change.mergeSha;
    }
  }
  return changes;
}
