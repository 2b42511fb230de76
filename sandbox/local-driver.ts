/**
 * The sandbox contract without Docker: `git` runs as a child process of the server (argv only, no
 * shell) against the mirror path, with an empty temporary HOME and no inherited environment but PATH. There is NO isolation — no
 * container, no network or filesystem limits — so this is for development and trusted repositories,
 * and the driver says so when it is constructed. It only runs git, and tracks its sandboxes in memory.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ValidationError } from "../src/errors.ts";
import { validateBatch } from "./batch.ts";
import {
  CappedBuffer,
  type ExecOptions,
  type ExecResult,
  type ReapResult,
  type SandboxDriver,
  SandboxError,
  type SandboxHandle,
  type SandboxInfo,
  type SandboxLogger,
  type SandboxSpec,
  validateExec,
  validateSpec,
} from "./driver.ts";
import { GIT_DIR_ARG, SANDBOX_HOME, SANDBOX_REPO_PATH } from "./git-commands.ts";

export interface LocalSandboxOptions {
  logger: SandboxLogger;
  /** The git program (default `git` on PATH). */
  gitBinary?: string;
  /** Where the per-sandbox temporary HOME directories go (default the OS temp dir). */
  tempRoot?: string;
  now?: () => Date;
}

interface LocalSandbox {
  handle: SandboxHandle;
  mirrorPath: string;
  home: string;
}

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Maps a path inside the sandbox (/repo/..., /tmp/...) to the real one; anything else is refused. */
function hostPathFor(sandboxPath: string, sandbox: LocalSandbox): string {
  const normalized = path.posix.normalize(sandboxPath);
  const within = (root: string) =>
    normalized === root || normalized.startsWith(`${root}/`) ? normalized.slice(root.length) : undefined;
  const inRepo = within(SANDBOX_REPO_PATH);
  if (inRepo !== undefined) return path.join(sandbox.mirrorPath, inRepo);
  const inHome = within(SANDBOX_HOME);
  if (inHome !== undefined) return path.join(sandbox.home, inHome);
  throw new ValidationError([
    { path: "cwd", message: `must be under ${SANDBOX_REPO_PATH} or ${SANDBOX_HOME}` },
  ]);
}

export class LocalSandboxDriver implements SandboxDriver {
  readonly kind = "local" as const;
  private readonly logger: SandboxLogger;
  private readonly gitBinary: string;
  private readonly tempRoot: string;
  private readonly now: () => Date;
  private readonly sandboxes = new Map<string, LocalSandbox>();
  /** ensure() calls run one after the other, so concurrent callers share one sandbox. */
  private ensuring: Promise<unknown> = Promise.resolve();

  constructor(options: LocalSandboxOptions) {
    this.logger = options.logger;
    this.gitBinary = options.gitBinary ?? "git";
    this.tempRoot = options.tempRoot ?? os.tmpdir();
    this.now = options.now ?? (() => new Date());
    this.logger.warn(
      { sandboxDriver: "local", isolation: "none" },
      "SANDBOX DRIVER 'local' HAS NO ISOLATION: git runs directly on this host as the server's user, " +
        "with no container, no network or filesystem limits. Use it only for development or trusted " +
        "repositories; set CAUSEWAY_SANDBOX_DRIVER=docker in production.",
    );
  }

  async ensure(input: SandboxSpec): Promise<SandboxHandle> {
    const spec = validateSpec(input);
    const next = this.ensuring.catch(() => undefined).then(() => this.ensureNow(spec));
    this.ensuring = next;
    return next;
  }

  private async ensureNow(spec: SandboxSpec): Promise<SandboxHandle> {
    if (!(await isDirectory(spec.mirrorPath))) {
      throw new SandboxError("the repository mirror does not exist on this host", { retryable: false });
    }
    const now = this.now();
    for (const sandbox of this.sandboxes.values()) {
      const { handle } = sandbox;
      if (handle.orgId !== spec.orgId || handle.repositoryId !== spec.repositoryId) continue;
      if (handle.expiresAt.getTime() > now.getTime() && sandbox.mirrorPath === spec.mirrorPath) return handle;
      await this.drop(sandbox);
    }
    const home = await mkdtemp(path.join(this.tempRoot, "causeway-sandbox-"));
    const handle: SandboxHandle = {
      kind: "local",
      id: `local-${randomUUID()}`,
      orgId: spec.orgId,
      repositoryId: spec.repositoryId,
      createdAt: now,
      expiresAt: new Date(now.getTime() + spec.ttlMs),
    };
    this.sandboxes.set(handle.id, { handle, mirrorPath: spec.mirrorPath, home });
    return handle;
  }

  /** Local commands are plain spawns with no engine round trip: the batch simply runs them concurrently. */
  async execBatch(
    handle: SandboxHandle,
    commands: readonly (readonly string[])[],
    opts: ExecOptions,
  ): Promise<ExecResult[]> {
    validateBatch(commands);
    return Promise.all(commands.map((argv) => this.exec(handle, argv, opts)));
  }

  async exec(handle: SandboxHandle, argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    validateExec(argv, opts);
    const sandbox = handle.kind === "local" ? this.sandboxes.get(handle.id) : undefined;
    if (!sandbox) throw new SandboxError("the sandbox is gone; ensure it again", { retryable: true });
    if (argv[0] !== "git") {
      throw new ValidationError([{ path: "argv.0", message: "the local sandbox driver only runs git" }]);
    }
    const args = argv.slice(1).map((arg) => (arg === GIT_DIR_ARG ? `--git-dir=${sandbox.mirrorPath}` : arg));
    const cwd = hostPathFor(opts.cwd ?? SANDBOX_HOME, sandbox);
    const env = {
      PATH: process.env.PATH ?? DEFAULT_PATH,
      HOME: sandbox.home,
      XDG_CONFIG_HOME: sandbox.home,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_TERMINAL_PROMPT: "0",
      GIT_OPTIONAL_LOCKS: "0",
      LANG: "C.UTF-8",
    };

    const stdout = new CappedBuffer(opts.maxOutputBytes);
    const stderr = new CappedBuffer(opts.maxOutputBytes);
    return new Promise<ExecResult>((resolve, reject) => {
      // Own process group, so a timeout kills git and anything git started (hooks, aliases, helpers).
      const child = spawn(this.gitBinary, args, {
        cwd,
        env,
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
        windowsHide: true,
      });
      let timedOut = false;
      let settled = false;
      const killGroup = () => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        this.logger.warn(
          {
            sandbox: handle.id,
            orgId: handle.orgId,
            repositoryId: handle.repositoryId,
            timeoutMs: opts.timeoutMs,
          },
          "local sandbox: git timed out and was killed",
        );
        killGroup();
        // A process that escaped the group could hold the pipes open; stop waiting for them.
        child.stdout.destroy();
        child.stderr.destroy();
      }, opts.timeoutMs);
      const collect = (buffer: CappedBuffer) => (chunk: Buffer) => {
        buffer.push(chunk);
        // Past the cap nothing more is useful: stop git instead of draining it.
        if (buffer.truncated) killGroup();
      };
      child.stdout.on("data", collect(stdout));
      child.stderr.on("data", collect(stderr));
      child.once("error", (error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new SandboxError("git could not be started", { retryable: false, cause: error }));
      });
      child.once("close", (code) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({
          exitCode: timedOut ? null : code,
          stdout: stdout.toBuffer(),
          stderr: stderr.toBuffer(),
          timedOut,
          truncated: stdout.truncated || stderr.truncated,
        });
      });
    });
  }

  async list(): Promise<SandboxInfo[]> {
    const now = this.now();
    return Promise.all([...this.sandboxes.values()].map((s) => this.describe(s, now)));
  }

  async reap(now: Date): Promise<ReapResult> {
    const removed: string[] = [];
    for (const sandbox of [...this.sandboxes.values()]) {
      const info = await this.describe(sandbox, now);
      if (info.state === "running") continue;
      await this.drop(sandbox);
      removed.push(sandbox.handle.id);
    }
    return { removed };
  }

  async remove(handle: SandboxHandle): Promise<void> {
    const sandbox = this.sandboxes.get(handle.id);
    if (sandbox) await this.drop(sandbox);
  }

  private async describe(sandbox: LocalSandbox, now: Date): Promise<SandboxInfo> {
    const { handle } = sandbox;
    const base = {
      kind: "local" as const,
      id: handle.id,
      orgId: handle.orgId,
      repositoryId: handle.repositoryId,
      createdAt: handle.createdAt,
      expiresAt: handle.expiresAt,
    };
    if (!(await isDirectory(sandbox.mirrorPath))) {
      return { ...base, state: "orphaned", reason: "the mirror no longer exists" };
    }
    if (handle.expiresAt.getTime() <= now.getTime())
      return { ...base, state: "expired", reason: "past its expiry" };
    return { ...base, state: "running" };
  }

  private async drop(sandbox: LocalSandbox): Promise<void> {
    this.sandboxes.delete(sandbox.handle.id);
    await rm(sandbox.home, { recursive: true, force: true });
  }
}
