/**
 * The git reads attribution needs, each one command inside the repository's sandbox. Only argv is built
 * here (through sandbox/git-commands.ts, which refuses anything but read-only subcommands); the output
 * comes back as text and is parsed on the server.
 */

import { MAX_BATCH_COMMANDS } from "../../sandbox/batch.ts";
import type { ExecResult, SandboxDriver, SandboxHandle } from "../../sandbox/driver.ts";
import { SandboxError } from "../../sandbox/driver.ts";
import { gitArgv, lsTreeArgs } from "../../sandbox/git-commands.ts";
import { type BlameLine, parseBlamePorcelain } from "./blame-parser.ts";
import { type CommitPatch, parseCommitPatches } from "./diff-parser.ts";
import { type PatchCache, sharedPatchCache } from "./patch-cache.ts";

const FULL_SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const COMMAND_TIMEOUT_MS = 60_000;
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
/** Commits per `git show` when reading candidate diffs: the candidate cap, so one sandbox exec reads them all. */
const SHOW_BATCH = 500;

export function isFullSha(value: string | null | undefined): value is string {
  return typeof value === "string" && FULL_SHA.test(value);
}

/** A branch or ref name safe to hand to git as a revision (never an option). */
function checkRef(ref: string): string {
  if (ref.length === 0 || ref.startsWith("-") || /[\s\u0000-\u001f\u007f~^:?*[\\]|\.\.|@\{/.test(ref)) {
    throw new SandboxError(`refusing the ref name ${JSON.stringify(ref)}`, { retryable: false });
  }
  return ref;
}

interface Pending {
  argv: readonly string[];
  resolve: (result: ExecResult) => void;
  reject: (error: unknown) => void;
}

/**
 * The git reads of one attribution. Commands issued in the same turn of the event loop (the pipeline
 * starts its independent reads together) go to the sandbox as one batch: one Docker exec instead of one
 * each, which is most of the cost of a read on a warm mirror.
 */
export class SandboxGit {
  /** Commands run so far (the pipeline reports it with its timings). */
  commands = 0;
  /** Round trips to the sandbox so far (batches and single commands). */
  execs = 0;
  private queue: Pending[] = [];

  constructor(
    private readonly driver: SandboxDriver,
    private readonly handle: SandboxHandle,
    /** Patches read before (patch-cache.ts); null reads every patch from the sandbox. */
    private readonly cache: PatchCache | null = sharedPatchCache,
  ) {}

  private exec(argv: readonly string[]): Promise<ExecResult> {
    this.commands++;
    return new Promise<ExecResult>((resolve, reject) => {
      this.queue.push({ argv, resolve, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.queue.splice(0, MAX_BATCH_COMMANDS);
    if (this.queue.length > 0) setImmediate(() => this.flush());
    if (batch.length === 0) return;
    this.execs++;
    const opts = { timeoutMs: COMMAND_TIMEOUT_MS, maxOutputBytes: MAX_OUTPUT_BYTES };
    // A batch of one is a plain exec in every driver.
    const run = this.driver.execBatch(
      this.handle,
      batch.map((p) => p.argv),
      opts,
    );
    run.then(
      (results) => {
        for (const [i, p] of batch.entries()) p.resolve(results[i]!);
      },
      (error: unknown) => {
        for (const p of batch) p.reject(error);
      },
    );
  }

  /** Runs argv and returns stdout; a non-zero exit, a timeout or truncated output is an error. */
  private async read(argv: readonly string[], what: string): Promise<string> {
    const r = await this.exec(argv);
    if (r.timedOut) throw new SandboxError(`${what} timed out`, { retryable: true });
    if (r.truncated) throw new SandboxError(`${what} produced too much output`, { retryable: false });
    if (r.exitCode !== 0) {
      const stderr = r.stderr.toString("utf8").trim().split("\n").slice(-1)[0] ?? "";
      throw new SandboxError(`${what} failed (exit ${r.exitCode}): ${stderr.slice(0, 300)}`, {
        retryable: false,
      });
    }
    return r.stdout.toString("utf8");
  }

  /** The full SHA of a commit when the mirror has it, else null. */
  async commitExists(sha: string): Promise<string | null> {
    if (!/^[0-9a-f]{7,64}$/.test(sha)) return null;
    const r = await this.exec(gitArgv(["rev-parse", "--verify", "--quiet", `${sha}^{commit}`]));
    if (r.exitCode !== 0) return null;
    const out = r.stdout.toString("utf8").trim();
    return isFullSha(out) ? out : null;
  }

  /** The last commit of `branch` (first-parent line) committed at or before `at`. */
  async branchAt(branch: string, at: Date): Promise<string | null> {
    const ref = checkRef(branch);
    const r = await this.exec(
      gitArgv(["rev-list", "-1", "--first-parent", `--before=${at.toISOString()}`, ref, "--"]),
    );
    if (r.exitCode !== 0) return null;
    const out = r.stdout.toString("utf8").trim();
    return isFullSha(out) ? out : null;
  }

  /** Every commit reachable from `sha` committed since `since` (one command: set membership = ancestry). */
  async reachableSince(sha: string, since: Date): Promise<Set<string>> {
    const out = await this.read(
      gitArgv(["rev-list", `--since=${since.toISOString()}`, sha, "--"]),
      "git rev-list",
    );
    return new Set(out.split("\n").filter((l) => l.length > 0));
  }

  /** Files of the tree at `sha`. */
  async listFiles(sha: string): Promise<string[]> {
    const out = await this.read(lsTreeArgs(sha), "git ls-tree");
    return out.split("\0").filter((p) => p.length > 0);
  }

  /** A file's text at `sha`, or null when it does not exist there. */
  async fileAt(sha: string, path: string): Promise<string | null> {
    if (path.startsWith("-") || path.includes("\0")) return null;
    const r = await this.exec(gitArgv(["show", `${sha}:${path}`]));
    if (r.exitCode !== 0 || r.truncated) return null;
    return r.stdout.toString("utf8");
  }

  /**
   * Zero-context patches of each commit against its first parent (a merge commit's patch is then the
   * whole pull request), batched into few `git show` runs.
   */
  async patches(shas: readonly string[]): Promise<Map<string, CommitPatch>> {
    const out = new Map<string, CommitPatch>();
    for (const sha of shas) if (!isFullSha(sha)) throw new SandboxError("bad SHA", { retryable: false });
    const repo = this.handle.repositoryId;
    const missing: string[] = [];
    for (const sha of shas) {
      const cached = this.cache?.get(repo, sha);
      if (cached) out.set(sha, cached);
      else missing.push(sha);
    }
    const batches: string[][] = [];
    for (let i = 0; i < missing.length; i += SHOW_BATCH) batches.push(missing.slice(i, i + SHOW_BATCH));
    // The batches go out together (one sandbox round trip); results are merged in batch order.
    const texts = await Promise.all(
      batches.map((batch) =>
        this.read(
          gitArgv([
            "show",
            "-U0",
            "--no-color",
            "--find-renames",
            "--no-ext-diff",
            "--no-textconv",
            "--diff-merges=first-parent",
            "--format=commit %H",
            ...batch,
            "--",
          ]),
          "git show",
        ),
      ),
    );
    for (const text of texts) {
      for (const p of parseCommitPatches(text)) {
        out.set(p.sha, p);
        this.cache?.set(repo, p.sha, p);
      }
    }
    // Callers iterate in the order they asked.
    return new Map(shas.flatMap((sha) => (out.has(sha) ? [[sha, out.get(sha)!] as const] : [])));
  }

  /**
   * Blame of the given lines of one file at `sha` in one run: whitespace ignored, moves and copies
   * followed, the formatting-only commits seen through. Null when git refuses (line past the end).
   */
  async blameLines(
    sha: string,
    path: string,
    lines: readonly number[],
    ignoreRevs: readonly string[],
  ): Promise<BlameLine[] | null> {
    if (path.startsWith("-") || path.includes("\0") || lines.length === 0) return null;
    const args = ["blame", "--porcelain", "-w", "-M", "-C"];
    for (const rev of ignoreRevs) args.push("--ignore-rev", rev);
    for (const line of [...new Set(lines)].sort((a, b) => a - b)) args.push("-L", `${line},${line}`);
    args.push(sha, "--", path);
    const r = await this.exec(gitArgv(args));
    if (r.timedOut) throw new SandboxError("git blame timed out", { retryable: true });
    if (r.exitCode !== 0 || r.truncated) return null;
    return parseBlamePorcelain(r.stdout.toString("utf8"));
  }
}
