/**
 * The sandbox contract (DESIGN.md §5): one isolated place per (org, repository) where the git analysis
 * commands run against a read-only copy of the repository mirror. The server builds the argv
 * (git-commands.ts) and parses the output; the sandbox only executes.
 *
 * Drivers hold no state that a crash could lose: the Docker driver keeps everything in container labels,
 * and the local driver's state dies with the process together with what it tracks.
 */
import path from "node:path";
import { AppError, type FieldError, ValidationError } from "../src/errors.ts";

export type SandboxKind = "docker" | "local";

export interface SandboxSpec {
  orgId: string;
  repositoryId: string;
  /** Host path of the bare git mirror; the sandbox sees it read-only at SANDBOX_REPO_PATH. */
  mirrorPath: string;
  /** Lifetime from creation. The sandbox is reused until then and recreated by the next ensure after. */
  ttlMs: number;
}

export interface SandboxHandle {
  kind: SandboxKind;
  /** Container id (docker) or an opaque id (local). */
  id: string;
  orgId: string;
  repositoryId: string;
  createdAt: Date;
  expiresAt: Date;
}

export interface ExecOptions {
  /** Wall-clock limit. On overrun the command is killed (the Docker driver kills the whole sandbox). */
  timeoutMs: number;
  /** Cap for stdout and for stderr, each. Output past it is dropped and `truncated` is set. */
  maxOutputBytes: number;
  /** Working directory inside the sandbox (SANDBOX_HOME when absent). */
  cwd?: string;
}

export interface ExecResult {
  /** null when the command was killed before it exited (timeout). */
  exitCode: number | null;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
  /** stdout or stderr hit maxOutputBytes: the output is incomplete and must not be parsed as whole. */
  truncated: boolean;
}

/**
 * running: usable; stopped: the sandbox process is gone (killed after a timeout, engine restart);
 * expired: past expiresAt; orphaned: incomplete labels or the mirror it mounts no longer exists.
 */
export type SandboxState = "running" | "stopped" | "expired" | "orphaned";

export interface SandboxInfo {
  kind: SandboxKind;
  id: string;
  /** null when the label is missing (an orphan). */
  orgId: string | null;
  repositoryId: string | null;
  createdAt: Date | null;
  expiresAt: Date | null;
  state: SandboxState;
  /** Why the sandbox is not running, in words for an operator. */
  reason?: string;
}

export interface ReapResult {
  /** Ids of the sandboxes removed. */
  removed: string[];
}

export interface SandboxDriver {
  readonly kind: SandboxKind;
  /** Creates the sandbox on first use, reuses it while alive, recreates it when expired or dead. */
  ensure(spec: SandboxSpec): Promise<SandboxHandle>;
  /** Runs argv (no shell) inside the sandbox. Resolves for any exit code and on timeout. */
  exec(handle: SandboxHandle, argv: readonly string[], opts: ExecOptions): Promise<ExecResult>;
  /**
   * Runs several commands, in order, in as few round trips as the driver can (one exec for Docker; see
   * batch.ts). One result per command, in the order given. `opts` covers the whole batch: the timeout is
   * for all of it and the output cap for all stdout (and all stderr) together.
   */
  execBatch(
    handle: SandboxHandle,
    commands: readonly (readonly string[])[],
    opts: ExecOptions,
  ): Promise<ExecResult[]>;
  list(): Promise<SandboxInfo[]>;
  /** Removes expired, stopped and orphaned sandboxes. */
  reap(now: Date): Promise<ReapResult>;
  remove(handle: SandboxHandle): Promise<void>;
}

/** Minimal logger shape (pino's Logger satisfies it). */
export interface SandboxLogger {
  warn(obj: object, msg: string): void;
  info?(obj: object, msg: string): void;
}

/**
 * The sandbox machinery failed (engine unreachable, image missing, mirror gone). `retryable` says
 * whether the job runner should back off and try again.
 */
export class SandboxError extends AppError {
  constructor(detail: string, options: { retryable: boolean; cause?: unknown }) {
    super("upstream_error", { detail, retryable: options.retryable, cause: options.cause });
    this.name = "SandboxError";
  }
}

const MAX_ID_LENGTH = 200;
/** Ten years: anything longer is a unit mistake. */
const MAX_TTL_MS = 10 * 365 * 24 * 60 * 60 * 1000;

function checkId(value: unknown, field: string, errors: FieldError[]): void {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_ID_LENGTH) {
    errors.push({ path: field, message: `must be a string of 1 to ${MAX_ID_LENGTH} characters` });
  } else if (/[\u0000-\u001f\u007f]/.test(value)) {
    errors.push({ path: field, message: "must not contain control characters" });
  }
}

/** Validates a spec and returns it with the mirror path made absolute and normalized. */
export function validateSpec(spec: SandboxSpec): SandboxSpec {
  const errors: FieldError[] = [];
  checkId(spec.orgId, "orgId", errors);
  checkId(spec.repositoryId, "repositoryId", errors);
  if (
    typeof spec.mirrorPath !== "string" ||
    !path.isAbsolute(spec.mirrorPath) ||
    spec.mirrorPath.includes("\0") ||
    // Docker's bind syntax and our own labels cannot carry these.
    spec.mirrorPath.includes(",") ||
    spec.mirrorPath.includes("\n")
  ) {
    errors.push({ path: "mirrorPath", message: "must be an absolute path without NUL, comma or newline" });
  }
  if (!Number.isSafeInteger(spec.ttlMs) || spec.ttlMs < 1 || spec.ttlMs > MAX_TTL_MS) {
    errors.push({ path: "ttlMs", message: "must be a positive integer number of milliseconds" });
  }
  if (errors.length > 0) throw new ValidationError(errors, "invalid sandbox spec");
  return { ...spec, mirrorPath: path.resolve(spec.mirrorPath) };
}

export function validateExec(argv: readonly string[], opts: ExecOptions): void {
  const errors: FieldError[] = [];
  if (!Array.isArray(argv) || argv.length === 0) {
    errors.push({ path: "argv", message: "must be a non-empty array" });
  } else {
    argv.forEach((arg, i) => {
      if (typeof arg !== "string" || arg.includes("\0")) {
        errors.push({ path: `argv.${i}`, message: "must be a string without NUL" });
      }
    });
    if (argv[0] === "") errors.push({ path: "argv.0", message: "must name a program" });
  }
  if (!Number.isSafeInteger(opts.timeoutMs) || opts.timeoutMs < 1) {
    errors.push({ path: "timeoutMs", message: "must be a positive integer" });
  }
  if (!Number.isSafeInteger(opts.maxOutputBytes) || opts.maxOutputBytes < 1) {
    errors.push({ path: "maxOutputBytes", message: "must be a positive integer" });
  }
  if (opts.cwd !== undefined && (!path.posix.isAbsolute(opts.cwd) || opts.cwd.includes("\0"))) {
    errors.push({ path: "cwd", message: "must be an absolute path" });
  }
  if (errors.length > 0) throw new ValidationError(errors, "invalid sandbox command");
}

/** Collects a stream's bytes up to a cap, drops the rest and remembers that it did. */
export class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly cap: number) {}

  push(chunk: Buffer): void {
    const room = this.cap - this.size;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(kept);
    this.size += kept.length;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}
