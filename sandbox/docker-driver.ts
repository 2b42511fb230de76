/**
 * Docker sandboxes (DESIGN.md §5): one long-lived, locked-down container per (org, repository) with the
 * repository mirror bind-mounted read-only at /repo; git commands run in it through `docker exec`.
 *
 * All state lives in container labels, so a restarted server (or another replica) finds, reuses and
 * reaps the same containers. A command that overruns its timeout kills the whole container: the exec'd
 * process cannot be killed on its own through the API, and the next ensure() starts a fresh one.
 */
import { createHash } from "node:crypto";
import { stat } from "node:fs/promises";
import type { Duplex } from "node:stream";
import type Docker from "dockerode";
import { AppError, ValidationError } from "../src/errors.ts";
import { batchArgv, newBoundary, splitBatchResult, validateBatch } from "./batch.ts";
import { DockerStreamDemuxer } from "./docker-stream.ts";
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
  type SandboxState,
  validateExec,
  validateSpec,
} from "./driver.ts";
import { SANDBOX_HOME, SANDBOX_REPO_PATH } from "./git-commands.ts";

export const SANDBOX_LABELS = {
  managed: "causeway.managed",
  org: "causeway.org",
  repository: "causeway.repository",
  createdAt: "causeway.created-at",
  expiresAt: "causeway.expires-at",
} as const;

export const DEFAULT_SANDBOX_IMAGE = "causeway-sandbox:latest";
export const DEFAULT_SANDBOX_USER = "10001:10001";

export interface DockerSandboxLimits {
  memoryBytes: number;
  pidsLimit: number;
  /** CPU in units of 1e-9 CPUs (1e9 = one CPU). */
  nanoCpus: number;
  /** Size of the /tmp tmpfs, the only writable place. */
  tmpfsBytes: number;
}

export const DEFAULT_SANDBOX_LIMITS: DockerSandboxLimits = {
  memoryBytes: 512 * 1024 * 1024,
  pidsLimit: 128,
  nanoCpus: 1_000_000_000,
  tmpfsBytes: 64 * 1024 * 1024,
};

/** Environment of every sandbox: fixed, never inherited, so no credential can leak in. */
const SANDBOX_ENV = [
  `HOME=${SANDBOX_HOME}`,
  "GIT_CONFIG_NOSYSTEM=1",
  "GIT_TERMINAL_PROMPT=0",
  // Read-only mirror: never try to refresh the index or take optional locks.
  "GIT_OPTIONAL_LOCKS=0",
  "LANG=C.UTF-8",
  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
];

/** A container that is created but not yet started is left alone by the reaper for this long. */
const CREATED_GRACE_MS = 60_000;

export interface DockerSandboxOptions {
  docker: Docker;
  image?: string;
  limits?: Partial<DockerSandboxLimits>;
  /** uid:gid the sandbox runs as; must not be root. */
  user?: string;
  /** Run an init as PID 1 (reaps git's children). Falls back to none when the engine has no init binary. */
  init?: boolean;
  logger?: SandboxLogger;
  now?: () => Date;
}

interface LabelState {
  orgId: string;
  repositoryId: string;
  createdAt: Date;
  expiresAt: Date;
}

/** Deterministic, collision-resistant container name for (org, repository); the labels carry the ids. */
export function sandboxContainerName(orgId: string, repositoryId: string): string {
  const digest = createHash("sha256").update(orgId).update("\0").update(repositoryId).digest("hex");
  return `causeway-sandbox-${digest.slice(0, 32)}`;
}

function parseDate(value: string | undefined): Date | null {
  if (value === undefined) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** Reads our labels; returns the names of the missing or unreadable ones when incomplete. */
function readLabels(labels: Record<string, string> | undefined): LabelState | { missing: string[] } {
  const l = labels ?? {};
  const missing: string[] = [];
  if (l[SANDBOX_LABELS.managed] !== "true") missing.push(SANDBOX_LABELS.managed);
  const orgId = l[SANDBOX_LABELS.org];
  const repositoryId = l[SANDBOX_LABELS.repository];
  const createdAt = parseDate(l[SANDBOX_LABELS.createdAt]);
  const expiresAt = parseDate(l[SANDBOX_LABELS.expiresAt]);
  if (!orgId) missing.push(SANDBOX_LABELS.org);
  if (!repositoryId) missing.push(SANDBOX_LABELS.repository);
  if (!createdAt) missing.push(SANDBOX_LABELS.createdAt);
  if (!expiresAt) missing.push(SANDBOX_LABELS.expiresAt);
  if (missing.length > 0 || !orgId || !repositoryId || !createdAt || !expiresAt) return { missing };
  return { orgId, repositoryId, createdAt, expiresAt };
}

function statusCodeOf(error: unknown): number | undefined {
  const code = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === "number" ? code : undefined;
}

function engineMessageOf(error: unknown): string {
  const json = (error as { json?: { message?: unknown } } | null)?.json;
  if (json && typeof json.message === "string") return json.message;
  return error instanceof Error ? error.message : String(error);
}

async function mirrorExists(mirrorPath: string): Promise<boolean> {
  try {
    return (await stat(mirrorPath)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    if ((error as NodeJS.ErrnoException).code === "ENOTDIR") return false;
    throw error;
  }
}

export class DockerSandboxDriver implements SandboxDriver {
  readonly kind = "docker" as const;
  private readonly docker: Docker;
  private readonly image: string;
  private readonly limits: DockerSandboxLimits;
  private readonly user: string;
  private useInit: boolean;
  private readonly logger: SandboxLogger | undefined;
  private readonly now: () => Date;
  /** ensure() calls for one container name run one after the other within this process. */
  private readonly ensuring = new Map<string, Promise<SandboxHandle>>();

  constructor(options: DockerSandboxOptions) {
    this.docker = options.docker;
    this.image = options.image ?? DEFAULT_SANDBOX_IMAGE;
    this.limits = { ...DEFAULT_SANDBOX_LIMITS, ...options.limits };
    this.user = options.user ?? DEFAULT_SANDBOX_USER;
    this.useInit = options.init ?? true;
    this.logger = options.logger;
    this.now = options.now ?? (() => new Date());
    if (/^0*(:|$)/.test(this.user) || this.user.startsWith("root")) {
      throw new ValidationError([{ path: "user", message: "the sandbox must not run as root" }]);
    }
    for (const [name, value] of Object.entries(this.limits)) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new ValidationError([{ path: `limits.${name}`, message: "must be a positive integer" }]);
      }
    }
  }

  async ensure(input: SandboxSpec): Promise<SandboxHandle> {
    const spec = validateSpec(input);
    const name = sandboxContainerName(spec.orgId, spec.repositoryId);
    const previous = this.ensuring.get(name) ?? Promise.resolve(undefined);
    const next = previous.catch(() => undefined).then(() => this.ensureNow(spec, name));
    this.ensuring.set(name, next);
    try {
      return await next;
    } finally {
      if (this.ensuring.get(name) === next) this.ensuring.delete(name);
    }
  }

  async exec(handle: SandboxHandle, argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    this.checkHandle(handle);
    validateExec(argv, opts);
    const container = this.docker.getContainer(handle.id);
    const stdout = new CappedBuffer(opts.maxOutputBytes);
    const stderr = new CappedBuffer(opts.maxOutputBytes);
    const demuxer = new DockerStreamDemuxer((which, payload) =>
      (which === "stdout" ? stdout : stderr).push(payload),
    );
    const attached: { stream?: Duplex } = {};
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), opts.timeoutMs);
    });
    try {
      const outcome = await Promise.race([this.runExec(container, argv, opts, demuxer, attached), deadline]);
      const truncated = stdout.truncated || stderr.truncated;
      if (outcome === "timeout") {
        attached.stream?.destroy();
        await this.killAfterTimeout(handle, argv, opts.timeoutMs);
        return {
          exitCode: null,
          stdout: stdout.toBuffer(),
          stderr: stderr.toBuffer(),
          timedOut: true,
          truncated,
        };
      }
      return {
        exitCode: outcome.exitCode,
        stdout: stdout.toBuffer(),
        stderr: stderr.toBuffer(),
        timedOut: false,
        truncated,
      };
    } catch (error) {
      if (statusCodeOf(error) === 404 || statusCodeOf(error) === 409) {
        throw new SandboxError("the sandbox is gone or not running; ensure it again", {
          retryable: true,
          cause: error,
        });
      }
      throw this.engineError(error, "running a command in the sandbox");
    } finally {
      clearTimeout(timer);
    }
  }

  async execBatch(
    handle: SandboxHandle,
    commands: readonly (readonly string[])[],
    opts: ExecOptions,
  ): Promise<ExecResult[]> {
    validateBatch(commands);
    for (const argv of commands) validateExec(argv, opts);
    if (commands.length === 1) return [await this.exec(handle, commands[0]!, opts)];
    const boundary = newBoundary();
    const result = await this.exec(handle, batchArgv(commands, boundary), opts);
    return splitBatchResult(result, boundary, commands.length);
  }

  async list(): Promise<SandboxInfo[]> {
    const now = this.now();
    let containers: Docker.ContainerInfo[];
    try {
      containers = await this.docker.listContainers({
        all: true,
        filters: { label: [`${SANDBOX_LABELS.managed}=true`] },
      });
    } catch (error) {
      throw this.engineError(error, "listing sandboxes");
    }
    return Promise.all(containers.map((c) => this.describe(c, now)));
  }

  async reap(now: Date): Promise<ReapResult> {
    let containers: Docker.ContainerInfo[];
    try {
      containers = await this.docker.listContainers({
        all: true,
        filters: { label: [`${SANDBOX_LABELS.managed}=true`] },
      });
    } catch (error) {
      throw this.engineError(error, "listing sandboxes");
    }
    const removed: string[] = [];
    for (const container of containers) {
      const info = await this.describe(container, now);
      if (info.state === "running") continue;
      // Between create and start a container is "created"; another replica may be starting it.
      if (container.State === "created" && now.getTime() - container.Created * 1000 < CREATED_GRACE_MS) {
        continue;
      }
      try {
        await this.docker.getContainer(container.Id).remove({ force: true });
        removed.push(container.Id);
        this.logger?.info?.(
          { sandbox: container.Id, orgId: info.orgId, repositoryId: info.repositoryId, state: info.state },
          `sandbox reaped: ${info.reason ?? info.state}`,
        );
      } catch (error) {
        if (statusCodeOf(error) === 404) continue;
        this.logger?.warn(
          { sandbox: container.Id, err: error },
          "sandbox reaper could not remove a container",
        );
      }
    }
    return { removed };
  }

  async remove(handle: SandboxHandle): Promise<void> {
    this.checkHandle(handle);
    await this.removeContainer(handle.id);
  }

  // -------------------------------------------------------------------------------------------------

  private checkHandle(handle: SandboxHandle): void {
    if (handle.kind !== "docker" || typeof handle.id !== "string" || handle.id.length === 0) {
      throw new ValidationError([{ path: "handle", message: "is not a docker sandbox handle" }]);
    }
  }

  private async ensureNow(spec: SandboxSpec, name: string): Promise<SandboxHandle> {
    if (!(await mirrorExists(spec.mirrorPath))) {
      throw new SandboxError("the repository mirror does not exist on this host", { retryable: false });
    }
    const existing = await this.inspectByName(name);
    if (existing) {
      const verdict = this.reusable(existing, spec);
      if (verdict.ok) return verdict.handle;
      this.logger?.info?.(
        { sandbox: existing.Id, orgId: spec.orgId, repositoryId: spec.repositoryId },
        `sandbox replaced: ${verdict.reason}`,
      );
      await this.removeContainer(existing.Id);
    }
    return this.create(spec, name);
  }

  private async inspectByName(name: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.docker.getContainer(name).inspect();
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw this.engineError(error, "inspecting a sandbox");
    }
  }

  private reusable(
    info: Docker.ContainerInspectInfo,
    spec: SandboxSpec,
  ): { ok: true; handle: SandboxHandle } | { ok: false; reason: string } {
    const labels = readLabels(info.Config.Labels);
    if ("missing" in labels) return { ok: false, reason: `labels incomplete (${labels.missing.join(", ")})` };
    if (labels.orgId !== spec.orgId || labels.repositoryId !== spec.repositoryId) {
      return { ok: false, reason: "labels name another org or repository" };
    }
    if (!info.State.Running) return { ok: false, reason: `container is ${info.State.Status}` };
    if (labels.expiresAt.getTime() <= this.now().getTime()) return { ok: false, reason: "expired" };
    const mount = info.Mounts.find((m) => m.Destination === SANDBOX_REPO_PATH);
    if (!mount || mount.Source !== spec.mirrorPath) return { ok: false, reason: "mirror path changed" };
    if (info.Config.Image !== this.image) return { ok: false, reason: "image changed" };
    return { ok: true, handle: { kind: "docker", id: info.Id, ...labels } };
  }

  private createOptions(spec: SandboxSpec, name: string, createdAt: Date, expiresAt: Date) {
    const options: Docker.ContainerCreateOptions = {
      name,
      Image: this.image,
      Cmd: ["sleep", "infinity"],
      User: this.user,
      WorkingDir: SANDBOX_HOME,
      Env: SANDBOX_ENV,
      Hostname: "sandbox",
      NetworkDisabled: true,
      Labels: {
        [SANDBOX_LABELS.managed]: "true",
        [SANDBOX_LABELS.org]: spec.orgId,
        [SANDBOX_LABELS.repository]: spec.repositoryId,
        [SANDBOX_LABELS.createdAt]: createdAt.toISOString(),
        [SANDBOX_LABELS.expiresAt]: expiresAt.toISOString(),
      },
      HostConfig: {
        NetworkMode: "none",
        ReadonlyRootfs: true,
        Tmpfs: { [SANDBOX_HOME]: `rw,noexec,nosuid,nodev,size=${this.limits.tmpfsBytes}` },
        CapDrop: ["ALL"],
        SecurityOpt: ["no-new-privileges"],
        Memory: this.limits.memoryBytes,
        MemorySwap: this.limits.memoryBytes,
        PidsLimit: this.limits.pidsLimit,
        NanoCpus: this.limits.nanoCpus,
        Ulimits: [{ Name: "nofile", Soft: 1024, Hard: 1024 }],
        IpcMode: "private",
        Init: this.useInit,
        RestartPolicy: { Name: "no" },
        Mounts: [{ Type: "bind", Source: spec.mirrorPath, Target: SANDBOX_REPO_PATH, ReadOnly: true }],
      },
    };
    return options;
  }

  private async create(spec: SandboxSpec, name: string): Promise<SandboxHandle> {
    const createdAt = this.now();
    const expiresAt = new Date(createdAt.getTime() + spec.ttlMs);
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(this.createOptions(spec, name, createdAt, expiresAt));
    } catch (error) {
      const status = statusCodeOf(error);
      if (status === 409) {
        // Another replica created it between our inspect and create: use theirs if it is sound.
        const raced = await this.inspectByName(name);
        const verdict = raced ? this.reusable(raced, spec) : undefined;
        if (verdict?.ok) return verdict.handle;
        throw new SandboxError("a sandbox for this repository is being replaced concurrently", {
          retryable: true,
          cause: error,
        });
      }
      if (status === 404) {
        throw new SandboxError(
          `sandbox image ${this.image} is not on the Docker engine; build it with sandbox/image/build-offline.sh`,
          { retryable: false, cause: error },
        );
      }
      throw this.engineError(error, "creating a sandbox");
    }
    try {
      await container.start();
    } catch (error) {
      await this.removeContainer(container.id);
      if (this.useInit && /docker-init|init binary|tini/i.test(engineMessageOf(error))) {
        this.logger?.warn({ err: error }, "the Docker engine has no init binary; sandboxes run without one");
        this.useInit = false;
        return this.create(spec, name);
      }
      throw this.engineError(error, "starting a sandbox");
    }
    this.logger?.info?.(
      { sandbox: container.id, orgId: spec.orgId, repositoryId: spec.repositoryId, expiresAt },
      "sandbox created",
    );
    return {
      kind: "docker",
      id: container.id,
      orgId: spec.orgId,
      repositoryId: spec.repositoryId,
      createdAt,
      expiresAt,
    };
  }

  private async runExec(
    container: Docker.Container,
    argv: readonly string[],
    opts: ExecOptions,
    demuxer: DockerStreamDemuxer,
    attached: { stream?: Duplex },
  ): Promise<{ exitCode: number | null }> {
    const exec = await container.exec({
      Cmd: [...argv],
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      User: this.user,
      WorkingDir: opts.cwd ?? SANDBOX_HOME,
    });
    const stream = await exec.start({ hijack: true, stdin: false });
    attached.stream = stream;
    await new Promise<void>((resolve, reject) => {
      stream.on("data", (chunk: Buffer) => {
        try {
          demuxer.push(chunk);
        } catch (error) {
          stream.destroy();
          reject(error);
        }
      });
      stream.once("end", () => resolve());
      stream.once("close", () => resolve());
      stream.once("error", reject);
    });
    // The stream can close a moment before the engine records the exit code.
    for (let attempt = 0; ; attempt++) {
      const info = await exec.inspect();
      if (!info.Running || attempt >= 40) return { exitCode: info.Running ? null : info.ExitCode };
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  private async killAfterTimeout(handle: SandboxHandle, argv: readonly string[], timeoutMs: number) {
    this.logger?.warn(
      {
        sandbox: handle.id,
        orgId: handle.orgId,
        repositoryId: handle.repositoryId,
        program: argv[0],
        timeoutMs,
      },
      "sandbox command timed out; killing the sandbox (the next ensure recreates it)",
    );
    try {
      await this.docker.getContainer(handle.id).kill({ signal: "SIGKILL" });
    } catch (error) {
      const status = statusCodeOf(error);
      if (status !== 404 && status !== 409) {
        this.logger?.warn({ sandbox: handle.id, err: error }, "could not kill a sandbox after a timeout");
      }
    }
  }

  private async removeContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true });
    } catch (error) {
      // 404: already gone; 409: removal already in progress.
      const status = statusCodeOf(error);
      if (status === 404 || status === 409) return;
      throw this.engineError(error, "removing a sandbox");
    }
  }

  private async describe(container: Docker.ContainerInfo, now: Date): Promise<SandboxInfo> {
    const labels = readLabels(container.Labels);
    const base = {
      kind: "docker" as const,
      id: container.Id,
      orgId: container.Labels?.[SANDBOX_LABELS.org] || null,
      repositoryId: container.Labels?.[SANDBOX_LABELS.repository] || null,
      createdAt: parseDate(container.Labels?.[SANDBOX_LABELS.createdAt]),
      expiresAt: parseDate(container.Labels?.[SANDBOX_LABELS.expiresAt]),
    };
    const verdict = (state: SandboxState, reason?: string): SandboxInfo =>
      reason === undefined ? { ...base, state } : { ...base, state, reason };
    if ("missing" in labels) return verdict("orphaned", `labels incomplete: ${labels.missing.join(", ")}`);
    const mount = container.Mounts?.find((m) => m.Destination === SANDBOX_REPO_PATH);
    if (!mount) return verdict("orphaned", "no mirror mounted");
    if (!(await mirrorExists(mount.Source))) return verdict("orphaned", "the mirror no longer exists");
    if (labels.expiresAt.getTime() <= now.getTime()) return verdict("expired", "past its expiry");
    if (container.State !== "running") return verdict("stopped", `container is ${container.State}`);
    return verdict("running");
  }

  private engineError(error: unknown, doing: string): AppError {
    if (error instanceof AppError) return error;
    const status = statusCodeOf(error);
    // No status: the engine did not answer (socket missing, connection refused); 5xx: engine trouble.
    const retryable = status === undefined || status >= 500;
    return new SandboxError(`Docker engine error while ${doing}`, { retryable, cause: error });
  }
}
