/**
 * One bare mirror per repository under `<dataDir>/mirrors/<orgId>/<repositoryId>.git`, made with
 * `git clone --mirror` and kept current with `git fetch --prune --atomic`. A mirror is never left half
 * made or half updated:
 *
 *   - a first clone (or a re-clone after the URL changed or the mirror broke) goes to a temporary folder
 *     next to the mirror and is renamed into place only once complete;
 *   - a fetch writes its pack under a temporary name first and updates every ref in one transaction
 *     (`--atomic`), so a dropped connection or a refused credential leaves refs and objects as they were;
 *   - a force-pushed branch simply moves (the mirror refspec is forced); the commits it left behind stay
 *     in the object store (`gc.pruneExpire=never`) so an old deployed SHA can still be read.
 *
 * One fetch per mirror at a time: callers in this process share the running fetch, and a lock file next
 * to the mirror keeps other processes on this host out (a lock left by a dead process is taken over,
 * together with any lock files git itself left inside the mirror).
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import type { Logger } from "pino";
import { AppError } from "../errors.ts";
import { type GitAuth, GitCommandError, type GitRunner } from "./git.ts";

export interface MirrorTarget {
  id: string;
  orgId: string;
  url: string;
  defaultBranch: string;
}

export interface MirrorFetchResult {
  path: string;
  /** True when this call cloned (first time, URL changed, or the old mirror was unusable). */
  cloned: boolean;
  /** The default branch's commit after the fetch; null when the branch does not exist (empty repository). */
  headSha: string | null;
  previousHeadSha: string | null;
  /** The default branch moved to a commit that does not contain the previous one. */
  forcePushed: boolean;
}

export interface MirrorStoreOptions {
  dataDir: string;
  git: GitRunner;
  logger: Logger;
  /** Limit for one clone or fetch. */
  fetchTimeoutMs?: number;
  /** How long to wait for another process's fetch of the same mirror. */
  lockWaitMs?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LOCAL_TIMEOUT_MS = 60_000;

export class MirrorStore {
  readonly root: string;
  readonly #git: GitRunner;
  readonly #logger: Logger;
  readonly #fetchTimeoutMs: number;
  readonly #lockWaitMs: number;
  readonly #inFlight = new Map<string, Promise<MirrorFetchResult>>();

  constructor(options: MirrorStoreOptions) {
    this.root = path.resolve(options.dataDir, "mirrors");
    this.#git = options.git;
    this.#logger = options.logger;
    this.#fetchTimeoutMs = options.fetchTimeoutMs ?? 10 * 60_000;
    this.#lockWaitMs = options.lockWaitMs ?? 5 * 60_000;
  }

  /** Where the repository's bare mirror is (whether or not it exists yet). */
  mirrorPath(repo: Pick<MirrorTarget, "id" | "orgId">): string {
    // Ids come from our own rows; checking them keeps any path outside the mirrors folder impossible.
    if (!UUID.test(repo.orgId) || !UUID.test(repo.id)) throw new Error("mirror ids must be UUIDs");
    return path.join(this.root, repo.orgId.toLowerCase(), `${repo.id.toLowerCase()}.git`);
  }

  async exists(repo: Pick<MirrorTarget, "id" | "orgId">): Promise<boolean> {
    return this.#isMirror(this.mirrorPath(repo));
  }

  /** Clones or fetches the mirror. Concurrent calls for one repository share one fetch. */
  fetch(repo: MirrorTarget, auth: GitAuth): Promise<MirrorFetchResult> {
    const key = this.mirrorPath(repo);
    const running = this.#inFlight.get(key);
    if (running) return running;
    const work = this.#withLock(key, () => this.#fetchLocked(repo, auth)).finally(() =>
      this.#inFlight.delete(key),
    );
    this.#inFlight.set(key, work);
    return work;
  }

  /** The commit a ref names in the mirror, or null when it does not exist. */
  async resolveCommit(repo: Pick<MirrorTarget, "id" | "orgId">, ref: string): Promise<string | null> {
    if (ref.startsWith("-") || /[\s\u0000-\u001f\u007f]/.test(ref)) return null;
    const result = await this.#git.run(
      [
        "--git-dir",
        this.mirrorPath(repo),
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        `${ref}^{commit}`,
      ],
      { timeoutMs: LOCAL_TIMEOUT_MS },
    );
    const sha = result.stdout.toString("utf8").trim();
    return result.code === 0 && /^[0-9a-f]{40,64}$/.test(sha) ? sha : null;
  }

  /** Whether `ancestor` is contained in `descendant` (both full SHAs present in the mirror). */
  async isAncestor(
    repo: Pick<MirrorTarget, "id" | "orgId">,
    ancestor: string,
    descendant: string,
  ): Promise<boolean> {
    if (!/^[0-9a-f]{40,64}$/.test(ancestor) || !/^[0-9a-f]{40,64}$/.test(descendant)) return false;
    const result = await this.#git.run(
      ["--git-dir", this.mirrorPath(repo), "merge-base", "--is-ancestor", ancestor, descendant],
      { timeoutMs: LOCAL_TIMEOUT_MS },
    );
    return result.code === 0;
  }

  /** Runs a read-only git command in the mirror (log, rev-list, …) and returns stdout. */
  async read(
    repo: Pick<MirrorTarget, "id" | "orgId">,
    operation: string,
    args: readonly string[],
  ): Promise<Buffer> {
    return this.#git.ok(operation, ["--git-dir", this.mirrorPath(repo), ...args], {
      timeoutMs: this.#fetchTimeoutMs,
    });
  }

  /** Deletes the mirror (a deleted repository). */
  async remove(repo: Pick<MirrorTarget, "id" | "orgId">): Promise<void> {
    const target = this.mirrorPath(repo);
    await this.#withLock(target, async () => {
      const trash = `${target}.trash-${randomBytes(4).toString("hex")}`;
      await rename(target, trash).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "ENOENT") throw error;
      });
      await rm(trash, { recursive: true, force: true });
      await rm(path.join(path.dirname(target), `${repo.id.toLowerCase()}.known_hosts`), { force: true });
    });
  }

  async #fetchLocked(repo: MirrorTarget, auth: GitAuth): Promise<MirrorFetchResult> {
    const target = this.mirrorPath(repo);
    const knownHostsFile = path.join(path.dirname(target), `${repo.id.toLowerCase()}.known_hosts`);
    const usable = (await this.#isMirror(target)) && (await this.#originUrl(target)) === repo.url;
    const previousHeadSha = usable
      ? await this.resolveCommit(repo, `refs/heads/${repo.defaultBranch}`)
      : null;

    if (usable) {
      await this.#removeStaleGitLocks(target);
      await this.#git.ok(
        "fetching the repository",
        ["--git-dir", target, "fetch", "--prune", "--atomic", "--no-write-fetch-head", "--quiet", "origin"],
        { timeoutMs: this.#fetchTimeoutMs, auth, knownHostsFile },
      );
    } else {
      await this.#cloneInto(repo, target, auth, knownHostsFile);
    }

    await this.#writeCommitGraph(repo, target);
    const headSha = await this.resolveCommit(repo, `refs/heads/${repo.defaultBranch}`);
    const forcePushed =
      previousHeadSha !== null &&
      headSha !== null &&
      previousHeadSha !== headSha &&
      !(await this.isAncestor(repo, previousHeadSha, headSha));
    if (forcePushed) {
      this.#logger.warn(
        { repositoryId: repo.id, previousHeadSha, headSha },
        "default branch was force-pushed; the old commits stay readable in the mirror",
      );
    }
    return { path: target, cloned: !usable, headSha, previousHeadSha, forcePushed };
  }

  /**
   * Keeps the mirror's commit-graph (with changed-path Bloom filters) current: the sandbox's rev-list,
   * blame and log read it instead of parsing commits, several times faster on a long history. Split
   * layers make each update proportional to what the fetch brought. Best effort: git works without it.
   */
  async #writeCommitGraph(repo: MirrorTarget, target: string): Promise<void> {
    const result = await this.#git.run(
      ["--git-dir", target, "commit-graph", "write", "--reachable", "--changed-paths", "--split"],
      { timeoutMs: this.#fetchTimeoutMs },
    );
    if (result.code !== 0) {
      this.#logger.warn(
        { repositoryId: repo.id, code: result.code },
        "could not update the mirror's commit-graph; analysis still works, more slowly",
      );
    }
  }

  async #cloneInto(repo: MirrorTarget, target: string, auth: GitAuth, knownHostsFile: string): Promise<void> {
    const dir = path.dirname(target);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = path.join(dir, `.clone-${repo.id.toLowerCase()}-${randomBytes(6).toString("hex")}.git`);
    try {
      await this.#git.ok(
        "cloning the repository",
        ["clone", "--mirror", "--no-hardlinks", "--quiet", "--", repo.url, temp],
        { timeoutMs: this.#fetchTimeoutMs, auth, knownHostsFile },
      );
      // Commits a force-push leaves behind must stay readable: a deploy may still run them.
      await this.#git.ok("configuring the mirror", ["--git-dir", temp, "config", "gc.pruneExpire", "never"], {
        timeoutMs: LOCAL_TIMEOUT_MS,
      });
      if (await this.#exists(target)) {
        const trash = `${target}.trash-${randomBytes(4).toString("hex")}`;
        await rename(target, trash);
        await rename(temp, target);
        await rm(trash, { recursive: true, force: true });
      } else {
        await rename(temp, target);
      }
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }

  async #isMirror(dir: string): Promise<boolean> {
    if (!(await this.#exists(dir))) return false;
    const result = await this.#git.run(["--git-dir", dir, "rev-parse", "--is-bare-repository"], {
      timeoutMs: LOCAL_TIMEOUT_MS,
    });
    return result.code === 0 && result.stdout.toString("utf8").trim() === "true";
  }

  async #originUrl(dir: string): Promise<string | null> {
    const result = await this.#git.run(["--git-dir", dir, "config", "--get", "remote.origin.url"], {
      timeoutMs: LOCAL_TIMEOUT_MS,
    });
    return result.code === 0 ? result.stdout.toString("utf8").trim() : null;
  }

  async #exists(p: string): Promise<boolean> {
    try {
      await stat(p);
      return true;
    } catch {
      return false;
    }
  }

  /** We hold the mirror's lock, so any lock file git left inside it belongs to a process that died. */
  async #removeStaleGitLocks(dir: string): Promise<void> {
    const walk = async (d: string, depth: number): Promise<void> => {
      if (depth > 12) return;
      const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        const full = path.join(d, entry.name);
        if (entry.isDirectory()) {
          if (entry.name !== "objects") await walk(full, depth + 1);
        } else if (entry.name.endsWith(".lock")) {
          this.#logger.warn(
            { file: path.relative(this.root, full) },
            "removing a stale git lock in a mirror",
          );
          await unlink(full).catch(() => {});
        }
      }
    };
    await walk(dir, 0);
  }

  async #withLock<T>(target: string, fn: () => Promise<T>): Promise<T> {
    await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    const lockFile = `${target}.causeway-lock`;
    const owner = `${hostname()} ${process.pid}`;
    const deadline = Date.now() + this.#lockWaitMs;
    for (;;) {
      try {
        const handle = await open(lockFile, "wx", 0o600);
        await handle.writeFile(owner);
        await handle.close();
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        if (await this.#lockIsStale(lockFile)) {
          await unlink(lockFile).catch(() => {});
          continue;
        }
        if (Date.now() > deadline) {
          throw new AppError("conflict", {
            detail: "another process is fetching this repository; retry shortly",
            retryable: true,
          });
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    try {
      return await fn();
    } finally {
      await unlink(lockFile).catch(() => {});
    }
  }

  async #lockIsStale(lockFile: string): Promise<boolean> {
    const text = await readFile(lockFile, "utf8").catch(() => "");
    const [host, pidText] = text.split(" ");
    const pid = Number(pidText);
    if (host !== hostname() || !Number.isInteger(pid) || pid <= 0) {
      // Unreadable, or half-written by a process that died at once; other hosts never share this folder.
      const age = await stat(lockFile).then(
        (s) => Date.now() - s.mtimeMs,
        () => Number.POSITIVE_INFINITY,
      );
      return age > 60_000;
    }
    if (pid === process.pid) return false;
    try {
      process.kill(pid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "ESRCH";
    }
  }
}

export { GitCommandError };
