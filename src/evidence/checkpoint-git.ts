/**
 * Publishing signed checkpoints to a git repository: each new checkpoint becomes one commit adding
 * `<org id>/checkpoints/<size>` and replacing `<org id>/checkpoint`, so the repository's history is a
 * second, independently hosted record of every tree head Causeway signed (a witness or an auditor clones
 * it; a rewritten history is visible to anyone who pulled before).
 *
 * The repository is bare. Commits are made with plumbing (a private index file, `write-tree`,
 * `commit-tree`) and land with `update-ref <branch> <new> <old>`, a compare-and-swap: a second process
 * committing to the same repository at the same moment makes one of the two swaps fail, and that one
 * rebuilds its commit on the new tip and tries again. Within a process, publishes are queued one at a time.
 * With a remote, the branch is pushed after each commit (never forced); when the remote moved on (another
 * Causeway writing to it), its branch is fetched and merged: every `checkpoints/<size>` file of both sides
 * is kept (a size is signed once, so both sides agree) and `checkpoint` keeps the larger size.
 *
 * git runs through execFile (no shell) with an environment built here: the server's own variables (the
 * database URL, master keys) never reach git or its hooks. Errors name the git step and a classified
 * reason, never git's stderr, which may echo a remote URL with a credential in it.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { classifyGitFailure } from "../changes/git.ts";

export interface GitCheckpointPublisherOptions {
  /** Path of a bare repository (`git init --bare`); the branch HEAD names is the one committed to. */
  repo: string;
  /** A remote configured on that repository (`git remote add`) to push the branch to after each commit. */
  remote?: string;
  /** Deadline of one local git command; pushes and fetches get four times as long. */
  timeoutMs?: number;
}

export interface CheckpointToPublish {
  orgId: string;
  origin: string;
  size: bigint;
  root: Uint8Array;
  note: string;
}

export interface GitPublishResult {
  /** The commit that added this checkpoint; null when the branch already had it. */
  commit: string | null;
  pushed: boolean;
}

/** Commit identity, so a server without a configured git user can still commit. */
const IDENTITY = { name: "Causeway", email: "causeway@localhost" };
const MAX_SWAPS = 8;
const MAX_PUSHES = 3;
const REMOTE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const PATH_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;

export class GitPublishError extends Error {
  constructor(
    message: string,
    readonly step: string,
    readonly exitCode: number | null = null,
  ) {
    super(message);
    this.name = "GitPublishError";
  }
}

interface GitOutput {
  stdout: string;
  stderr: string;
}

/** A git command failed. Its output is kept off the enumerable fields, so no logger or reporter copies it. */
class GitFailure extends GitPublishError {
  readonly #output: GitOutput;

  constructor(step: string, exitCode: number | null, output: GitOutput, timedOut: boolean) {
    const reason = timedOut ? "timeout" : classifyGitFailure({ stderr: output.stderr, timedOut });
    super(
      `git ${step} failed (${exitCode === null ? "killed" : `exit ${exitCode}`}, ${reason})`,
      step,
      exitCode,
    );
    this.#output = output;
  }

  get output(): GitOutput {
    return this.#output;
  }
}

interface Staged {
  path: string;
  blob: string;
  /** `keep`: an existing file wins (a size's note never changes); `newest`: the larger tree size wins. */
  rule: "keep" | "newest";
}

/** The tree size of a checkpoint note (its second line), or null if it is not one. */
function sizeOfNote(note: string): bigint | null {
  const line = note.split("\n")[1];
  return line !== undefined && /^\d{1,20}$/.test(line) ? BigInt(line) : null;
}

function commitMessage(cp: CheckpointToPublish): string {
  return (
    `Checkpoint ${cp.origin} at size ${cp.size}\n\n` +
    `Origin: ${cp.origin}\nSize: ${cp.size}\nRoot: ${Buffer.from(cp.root).toString("base64")}\n`
  );
}

export class GitCheckpointPublisher {
  readonly repo: string;
  readonly remote: string | undefined;
  readonly #timeoutMs: number;
  #queue: Promise<unknown> = Promise.resolve();
  #branch: Promise<string> | undefined;

  constructor(options: GitCheckpointPublisherOptions) {
    if (options.remote !== undefined && !REMOTE_NAME.test(options.remote)) {
      // Also keeps a value like `--upload-pack=…` from reaching git's argv as an option.
      throw new Error("the checkpoint publish remote must be a git remote name");
    }
    this.repo = path.resolve(options.repo);
    this.remote = options.remote;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
  }

  /** Commits (and pushes) one checkpoint; calls are queued so one runs at a time per publisher. */
  publish(checkpoint: CheckpointToPublish): Promise<GitPublishResult> {
    const run = this.#queue.then(() => this.#publish(checkpoint));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #publish(cp: CheckpointToPublish): Promise<GitPublishResult> {
    if (!PATH_SEGMENT.test(cp.orgId)) throw new GitPublishError("the org id is not a safe path", "paths");
    const ref = await this.#headBranch();
    const blob = (
      await this.#git("hash-object", ["hash-object", "-w", "--stdin"], { input: cp.note })
    ).trim();
    const staged: Staged[] = [
      { path: `${cp.orgId}/checkpoints/${cp.size}`, blob, rule: "keep" },
      { path: `${cp.orgId}/checkpoint`, blob, rule: "newest" },
    ];
    let commit: string | null = null;
    for (let attempt = 1; ; attempt++) {
      const old = await this.#tip(ref);
      commit = await this.#commit({
        base: old,
        parents: old ? [old] : [],
        staged,
        message: commitMessage(cp),
        always: false,
      });
      if (commit === null || (await this.#swap(ref, commit, old))) break;
      if (attempt >= MAX_SWAPS) {
        throw new GitPublishError(`${ref} kept moving under concurrent writers`, "update-ref");
      }
      await backoff(attempt);
    }
    const pushed = this.remote ? await this.#push(ref, this.remote) : false;
    return { commit, pushed };
  }

  /** The branch HEAD points at, once the path is known to be a bare repository. */
  #headBranch(): Promise<string> {
    this.#branch ??= (async () => {
      const bare = await this.#git("rev-parse", ["rev-parse", "--is-bare-repository"]);
      if (bare.trim() !== "true") {
        // Moving the checked-out branch of a working tree would leave its files and index stale.
        throw new GitPublishError("the checkpoint publish repository must be a bare repository", "rev-parse");
      }
      return (await this.#git("symbolic-ref", ["symbolic-ref", "-q", "HEAD"])).trim();
    })();
    // A failure is not remembered: the repository may be created or fixed while the server runs.
    this.#branch.catch(() => {
      this.#branch = undefined;
    });
    return this.#branch;
  }

  async #tip(ref: string): Promise<string | null> {
    try {
      return (await this.#git("rev-parse", ["rev-parse", "-q", "--verify", `${ref}^{commit}`])).trim();
    } catch (error) {
      // Exit 1 and nothing said: the branch has no commit yet.
      if (error instanceof GitFailure && error.exitCode === 1 && error.output.stderr.trim() === "")
        return null;
      throw error;
    }
  }

  /**
   * Builds a commit of `base`'s tree with `staged` applied, in a private index so nothing else sees the
   * intermediate state. Null when nothing changes (unless `always`, for merges).
   */
  async #commit(input: {
    base: string | null;
    parents: string[];
    staged: Staged[];
    message: string;
    always: boolean;
  }): Promise<string | null> {
    const dir = await mkdtemp(path.join(tmpdir(), "causeway-checkpoint-index-"));
    const env = { GIT_INDEX_FILE: path.join(dir, "index") };
    try {
      await this.#git("read-tree", input.base ? ["read-tree", input.base] : ["read-tree", "--empty"], {
        env,
      });
      let changed = false;
      for (const entry of input.staged) {
        if (await this.#stage(entry, env)) changed = true;
      }
      if (!changed && !input.always) return null;
      const tree = (await this.#git("write-tree", ["write-tree"], { env })).trim();
      const args = ["commit-tree", tree, ...input.parents.flatMap((p) => ["-p", p])];
      return (await this.#git("commit-tree", args, { input: input.message })).trim();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async #stage(entry: Staged, env: Record<string, string>): Promise<boolean> {
    const listed = await this.#git("ls-files", ["ls-files", "-s", "--", entry.path], { env });
    const existing = /^\d+ ([0-9a-f]+) \d\t/.exec(listed)?.[1];
    if (existing === entry.blob) return false;
    if (existing && entry.rule === "keep") return false;
    if (existing && entry.rule === "newest") {
      const [ours, theirs] = await Promise.all([this.#blobSize(entry.blob), this.#blobSize(existing)]);
      if (theirs !== null && (ours === null || theirs >= ours)) return false;
    }
    await this.#git(
      "update-index",
      ["update-index", "--add", "--cacheinfo", `100644,${entry.blob},${entry.path}`],
      {
        env,
      },
    );
    return true;
  }

  async #blobSize(blob: string): Promise<bigint | null> {
    return sizeOfNote(await this.#git("cat-file", ["cat-file", "blob", blob]));
  }

  /** Moves `ref` from `old` to `next`; false when another writer moved it first. */
  async #swap(ref: string, next: string, old: string | null): Promise<boolean> {
    try {
      await this.#git("update-ref", [
        "update-ref",
        "-m",
        "causeway: publish checkpoint",
        ref,
        next,
        old ?? "",
      ]);
      return true;
    } catch (error) {
      if (!(error instanceof GitFailure)) throw error;
      // Lost the swap (the ref moved) or met another writer's lock: both are a concurrent writer.
      if ((await this.#tip(ref)) !== old || /cannot lock ref|\.lock/.test(error.output.stderr)) return false;
      throw error;
    }
  }

  /** Pushes the branch; when the remote has moved on, merges its branch in and pushes again. */
  async #push(ref: string, remote: string): Promise<boolean> {
    const branch = ref.replace(/^refs\/heads\//, "");
    const tracking = `refs/remotes/${remote}/${branch}`;
    for (let attempt = 1; attempt <= MAX_PUSHES; attempt++) {
      try {
        await this.#git("push", ["push", "--porcelain", remote, `${ref}:${ref}`], { network: true });
        return true;
      } catch (error) {
        if (!(error instanceof GitFailure && /\[rejected\]/.test(error.output.stdout))) throw error;
      }
      await this.#git("fetch", ["fetch", "--no-tags", remote, `+${ref}:${tracking}`], { network: true });
      const theirs = await this.#tip(tracking);
      const local = await this.#tip(ref);
      if (!theirs || !local) throw new GitPublishError("the pushed branch vanished", "fetch");
      if (await this.#isAncestor(local, theirs)) {
        // The remote already has everything here (another writer pushed it): catch up.
        await this.#swap(ref, theirs, local);
        continue;
      }
      const merge = await this.#commit({
        base: theirs,
        parents: [local, theirs],
        staged: await this.#changesSince(await this.#mergeBase(local, theirs), local),
        message: `Merge checkpoints from ${remote}/${branch}\n`,
        always: true,
      });
      if (merge) await this.#swap(ref, merge, local);
    }
    throw new GitPublishError(`the push to ${remote} was rejected ${MAX_PUSHES} times`, "push");
  }

  async #isAncestor(a: string, b: string): Promise<boolean> {
    try {
      await this.#git("merge-base", ["merge-base", "--is-ancestor", a, b]);
      return true;
    } catch (error) {
      if (error instanceof GitFailure && error.exitCode === 1) return false;
      throw error;
    }
  }

  async #mergeBase(a: string, b: string): Promise<string | null> {
    try {
      return (await this.#git("merge-base", ["merge-base", a, b])).trim();
    } catch (error) {
      // Unrelated histories (the remote was started elsewhere): everything on our side is new.
      if (error instanceof GitFailure && error.exitCode === 1) return null;
      throw error;
    }
  }

  /** The files added or changed on `to` since `from` (all of `to`'s files without a `from`). */
  async #changesSince(from: string | null, to: string): Promise<Staged[]> {
    const out: Array<{ path: string; blob: string }> = [];
    if (from) {
      // `:100644 100644 <old> <new> M\0<path>\0`, one pair of fields per change.
      const fields = (
        await this.#git("diff-tree", ["diff-tree", "-r", "-z", "--no-renames", "--diff-filter=AM", from, to])
      ).split("\0");
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const blob = fields[i]!.split(" ")[3];
        if (blob) out.push({ path: fields[i + 1]!, blob });
      }
    } else {
      // `100644 blob <id>\t<path>\0`
      for (const line of (await this.#git("ls-tree", ["ls-tree", "-r", "-z", to])).split("\0")) {
        const match = /^\d+ blob ([0-9a-f]+)\t(.+)$/s.exec(line);
        if (match) out.push({ path: match[2]!, blob: match[1]! });
      }
    }
    return out.map((f) => ({ ...f, rule: f.path.endsWith("/checkpoint") ? "newest" : "keep" }));
  }

  #git(
    step: string,
    args: string[],
    options: { input?: string; env?: Record<string, string>; network?: boolean } = {},
  ): Promise<string> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      LC_ALL: "C",
      LANG: "C",
      GIT_TERMINAL_PROMPT: "0",
      GIT_LITERAL_PATHSPECS: "1",
      GIT_ALLOW_PROTOCOL: "file:http:https:ssh",
      GIT_AUTHOR_NAME: IDENTITY.name,
      GIT_AUTHOR_EMAIL: IDENTITY.email,
      GIT_COMMITTER_NAME: IDENTITY.name,
      GIT_COMMITTER_EMAIL: IDENTITY.email,
      // A push authenticates as the server's user would from a shell: ssh keys, the agent, or a
      // credential helper in git config. Causeway hands git no credential of its own.
      ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
      ...(process.env.SSH_AUTH_SOCK ? { SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK } : {}),
      GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? "ssh -o BatchMode=yes",
      ...options.env,
    };
    const timeout = options.network ? this.#timeoutMs * 4 : this.#timeoutMs;
    return new Promise((resolve, reject) => {
      const child = execFile(
        "git",
        [`--git-dir=${this.repo}`, ...args],
        { env, timeout, killSignal: "SIGKILL", maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
        (error, stdout, stderr) => {
          if (!error) return resolve(stdout);
          const code = (error as { code?: unknown }).code;
          if (code === "ENOENT") return reject(new GitPublishError("git is not installed", step));
          const timedOut = (error as { killed?: boolean }).killed === true;
          reject(new GitFailure(step, typeof code === "number" ? code : null, { stdout, stderr }, timedOut));
        },
      );
      // Errors on stdin (git exited before reading it) surface through the callback instead.
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(options.input ?? "");
    });
  }
}

function backoff(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
}
