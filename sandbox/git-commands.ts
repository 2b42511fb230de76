/**
 * argv for the git analysis commands that run inside a sandbox. Only the argv is built here; the output
 * comes back to the server and is parsed there (src/attribution, src/changes).
 *
 * Everything a caller passes is validated so that nothing can become an option: SHAs are hex only,
 * paths never start with '-' and always follow `--`, and pathspec magic is turned off.
 */
import { type FieldError, ValidationError } from "../src/errors.ts";
import type { ExecResult } from "./driver.ts";
import { SandboxError } from "./driver.ts";

/** Where the mirror is inside a sandbox (read-only). The local driver substitutes the real path. */
export const SANDBOX_REPO_PATH = "/repo";
/** The sandbox's only writable place (a tmpfs) and its HOME. */
export const SANDBOX_HOME = "/tmp";
/** The argv element that names the mirror; the local driver rewrites exactly this element. */
export const GIT_DIR_ARG = `--git-dir=${SANDBOX_REPO_PATH}`;

/**
 * The mirror belongs to another uid than the sandbox user, so git's ownership check must be told to
 * trust it; `-c` on the command line is protected configuration, which git honours for safe.directory.
 */
const GIT_PREFIX = ["git", GIT_DIR_ARG, "-c", "safe.directory=*"] as const;

/** Subcommands that only read a repository; `gitArgv` refuses anything else. */
export const READ_ONLY_SUBCOMMANDS = [
  "blame",
  "log",
  "diff",
  "merge-base",
  "ls-tree",
  "show",
  "rev-parse",
  "rev-list",
  "cat-file",
  "for-each-ref",
] as const;
export type ReadOnlySubcommand = (typeof READ_ONLY_SUBCOMMANDS)[number];

const SHA = /^[0-9a-f]{7,64}$/;
const MAX_PATH_LENGTH = 4096;

function checkSha(value: unknown, field: string, errors: FieldError[]): void {
  if (typeof value !== "string" || !SHA.test(value)) {
    errors.push({ path: field, message: "must be a hex commit id of 7 to 64 lowercase characters" });
  }
}

function checkPath(value: unknown, field: string, errors: FieldError[]): void {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_PATH_LENGTH) {
    errors.push({ path: field, message: `must be a path of 1 to ${MAX_PATH_LENGTH} characters` });
  } else if (value.startsWith("-")) {
    errors.push({ path: field, message: "must not start with '-'" });
  } else if (value.includes("\0")) {
    errors.push({ path: field, message: "must not contain NUL" });
  }
}

function checkPositiveInt(value: unknown, field: string, errors: FieldError[]): void {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    errors.push({ path: field, message: "must be a positive integer" });
  }
}

function throwIfAny(errors: FieldError[]): void {
  if (errors.length > 0) throw new ValidationError(errors, "invalid git command input");
}

/**
 * Wraps the argv of a read-only subcommand (without the program name, as src/changes builds them) so it
 * runs against the sandbox's mirror. The caller is responsible for its own arguments being safe.
 */
export function gitArgv(subcommandArgs: readonly string[]): string[] {
  const sub = subcommandArgs[0];
  if (sub === undefined || !(READ_ONLY_SUBCOMMANDS as readonly string[]).includes(sub)) {
    throw new ValidationError([{ path: "argv.0", message: "must be a read-only git subcommand" }]);
  }
  for (const [i, arg] of subcommandArgs.entries()) {
    if (typeof arg !== "string" || arg.includes("\0")) {
      throw new ValidationError([{ path: `argv.${i}`, message: "must be a string without NUL" }]);
    }
  }
  return [...GIT_PREFIX, "--literal-pathspecs", ...subcommandArgs];
}

export interface BlameRange {
  lineStart: number;
  lineEnd: number;
  /** Formatting-only commits to see through (`--ignore-rev`). */
  ignoreRevs?: readonly string[];
}

/**
 * `git blame --porcelain` of lines lineStart..lineEnd of `path` as of `sha`: whitespace ignored, moves
 * and copies followed. Works on the bare mirror: blame at a revision needs no worktree.
 */
export function blameArgs(sha: string, filePath: string, range: BlameRange): string[] {
  const errors: FieldError[] = [];
  checkSha(sha, "sha", errors);
  checkPath(filePath, "path", errors);
  checkPositiveInt(range.lineStart, "lineStart", errors);
  checkPositiveInt(range.lineEnd, "lineEnd", errors);
  if (errors.length === 0 && range.lineEnd < range.lineStart) {
    errors.push({ path: "lineEnd", message: "must not be before lineStart" });
  }
  const ignoreRevs = range.ignoreRevs ?? [];
  for (const [i, rev] of ignoreRevs.entries()) checkSha(rev, `ignoreRevs.${i}`, errors);
  throwIfAny(errors);

  const argv: string[] = [...GIT_PREFIX, "blame", "--porcelain", "-w", "-M", "-C"];
  for (const rev of ignoreRevs) argv.push("--ignore-rev", rev);
  argv.push("-L", `${range.lineStart},${range.lineEnd}`, sha, "--", filePath);
  return argv;
}

/**
 * One record per commit, NUL-terminated (`-z`); fields separated by 0x1f: full SHA, parent SHAs
 * (space-separated), author name, author e-mail, author date and committer date (strict ISO 8601),
 * subject.
 */
export const LOG_FORMAT = "%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%cI%x1f%s" as const;

export interface LogOptions {
  maxCount?: number;
  /** Only commits that touch these paths. */
  paths?: readonly string[];
  firstParent?: boolean;
}

/** `git log` from `sha` backwards in LOG_FORMAT, independent of the user's log configuration. */
export function logArgs(sha: string, options: LogOptions = {}): string[] {
  const errors: FieldError[] = [];
  checkSha(sha, "sha", errors);
  if (options.maxCount !== undefined) checkPositiveInt(options.maxCount, "maxCount", errors);
  const paths = options.paths ?? [];
  for (const [i, p] of paths.entries()) checkPath(p, `paths.${i}`, errors);
  throwIfAny(errors);

  const argv: string[] = [
    ...GIT_PREFIX,
    "--literal-pathspecs",
    "log",
    "-z",
    `--format=${LOG_FORMAT}`,
    "--encoding=UTF-8",
    "--no-color",
    "--no-show-signature",
    "--no-notes",
  ];
  if (options.firstParent) argv.push("--first-parent");
  if (options.maxCount !== undefined) argv.push(`--max-count=${options.maxCount}`);
  argv.push(sha, "--", ...paths);
  return argv;
}

/** Zero-context unified diff between two commits, renames detected, optionally limited to paths. */
export function diffArgs(parentSha: string, sha: string, paths: readonly string[] = []): string[] {
  const errors: FieldError[] = [];
  checkSha(parentSha, "parentSha", errors);
  checkSha(sha, "sha", errors);
  for (const [i, p] of paths.entries()) checkPath(p, `paths.${i}`, errors);
  throwIfAny(errors);
  return [
    ...GIT_PREFIX,
    "--literal-pathspecs",
    "diff",
    "-U0",
    "--no-color",
    "--find-renames",
    "--no-ext-diff",
    "--no-textconv",
    parentSha,
    sha,
    "--",
    ...paths,
  ];
}

/** `merge-base --is-ancestor`: exit 0 when `ancestor` is contained in `descendant`, 1 when it is not. */
export function isAncestorArgs(ancestor: string, descendant: string): string[] {
  const errors: FieldError[] = [];
  checkSha(ancestor, "ancestor", errors);
  checkSha(descendant, "descendant", errors);
  throwIfAny(errors);
  return [...GIT_PREFIX, "merge-base", "--is-ancestor", ancestor, descendant];
}

/** Reads the answer of an isAncestorArgs run; any other exit (unknown commit, timeout) is an error. */
export function readIsAncestor(result: ExecResult): boolean {
  if (!result.timedOut && result.exitCode === 0) return true;
  if (!result.timedOut && result.exitCode === 1) return false;
  throw new SandboxError(
    result.timedOut ? "git merge-base timed out" : `git merge-base failed with exit code ${result.exitCode}`,
    { retryable: result.timedOut },
  );
}

/** Every file path in the tree of `sha`, NUL-separated (`-z`), so unusual paths arrive unquoted. */
export function lsTreeArgs(sha: string): string[] {
  const errors: FieldError[] = [];
  checkSha(sha, "sha", errors);
  throwIfAny(errors);
  return [...GIT_PREFIX, "ls-tree", "-r", "--name-only", "-z", sha];
}
