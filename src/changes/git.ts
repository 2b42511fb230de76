/**
 * Server-side git: one child process per command, with an environment built here from nothing (never the
 * server's own, which holds DATABASE_URL and the master keys) and the repository credential handed to
 * that one process only:
 *
 *   - an https token travels as `http.extraHeader` through GIT_CONFIG_COUNT / GIT_CONFIG_KEY_0 /
 *     GIT_CONFIG_VALUE_0: configuration that exists only in that process's environment, so it never
 *     reaches argv (the process list), the mirror's config, a URL on disk or a log;
 *   - an ssh deploy key is written to a fresh 0700 directory for the duration of the command and named
 *     by GIT_SSH_COMMAND (a path, not the key), then removed.
 *
 * User and system git config are ignored, prompts are off (a missing credential fails instead of
 * hanging) and only the file, http(s) and ssh transports are allowed.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { IntegrationError } from "../errors.ts";

export type GitAuth =
  | { kind: "none" }
  /** https: `Authorization: Basic base64(username:password)`; a token is the password. */
  | { kind: "http_basic"; username: string; password: string }
  /** ssh: a private key, and the server's host keys when known (else the first one seen is pinned). */
  | { kind: "ssh_key"; privateKey: string; knownHosts?: string };

export interface GitRunOptions {
  /** Wall-clock limit; the process is killed past it. */
  timeoutMs: number;
  /** Cap on stdout; more than this fails the command (stderr is always capped at 64 KiB). */
  maxOutputBytes?: number;
  auth?: GitAuth;
  /** Where ssh keeps the host keys it pinned for this repository (accept-new), when no knownHosts given. */
  knownHostsFile?: string;
  cwd?: string;
}

export interface GitResult {
  /** null when the process was killed (timeout, output cap). */
  code: number | null;
  stdout: Buffer;
  stderr: string;
  timedOut: boolean;
  truncated: boolean;
}

export type GitFailureReason = "auth" | "not_found" | "unreachable" | "timeout" | "invalid_ref" | "other";

const STDERR_CAP = 64 * 1024;
const DEFAULT_OUTPUT_CAP = 256 * 1024 * 1024;

/** Why a remote operation failed, from git's (C locale) stderr. */
export function classifyGitFailure(result: Pick<GitResult, "stderr" | "timedOut">): GitFailureReason {
  if (result.timedOut) return "timeout";
  const text = result.stderr;
  if (
    /Authentication failed|could not read (Username|Password)|terminal prompts disabled|Permission denied \(publickey|HTTP Basic: Access denied|returned error: 40[13]|Invalid username or password|Host key verification failed/i.test(
      text,
    )
  ) {
    return "auth";
  }
  if (
    /does not appear to be a git repository|not a git repository|Repository not found|repository '.*' not found|returned error: 404|No such file or directory|does not exist/i.test(
      text,
    )
  ) {
    return "not_found";
  }
  if (
    /Could not resolve host|Connection refused|Failed to connect|Connection timed out|Network is unreachable|Could not read from remote repository|unable to access|early EOF|the remote end hung up|RPC failed|transfer closed/i.test(
      text,
    )
  ) {
    return "unreachable";
  }
  if (
    /unknown revision|bad revision|ambiguous argument|invalid object name|Needed a single revision/i.test(
      text,
    )
  ) {
    return "invalid_ref";
  }
  return "other";
}

const REASON_TEXT: Record<GitFailureReason, string> = {
  auth: "the repository refused the credential (authentication failed)",
  not_found: "the URL is not a git repository, or it does not exist",
  unreachable: "the repository could not be reached",
  timeout: "git did not finish in time",
  invalid_ref: "the requested revision does not exist in the repository",
  other: "git failed",
};

/** A git command against a remote failed. The detail is ours, never git's stderr (it may echo a URL). */
export class GitCommandError extends IntegrationError {
  constructor(
    readonly reason: GitFailureReason,
    readonly operation: string,
    options: { cause?: unknown } = {},
  ) {
    super(`${operation}: ${REASON_TEXT[reason]}`, {
      // Credentials and URLs do not fix themselves; networks and timeouts may.
      retryable: reason === "unreachable" || reason === "timeout" || reason === "other",
      timeout: reason === "timeout",
      cause: options.cause,
    });
    this.name = "GitCommandError";
  }
}

/** `Authorization` header value for an https credential. */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;
}

/** Single-quotes a path for the shell ssh is started from (GIT_SSH_COMMAND is run by a shell). */
function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

export class GitRunner {
  readonly #binary: string;
  readonly #scratch: string;

  /**
   * @param options.binary the git executable (default `git` on PATH)
   * @param options.scratchDir where per-command key folders are made (default the OS temp dir)
   */
  constructor(options: { binary?: string; scratchDir?: string } = {}) {
    this.#binary = options.binary ?? "git";
    this.#scratch = options.scratchDir ?? tmpdir();
  }

  async run(args: readonly string[], options: GitRunOptions): Promise<GitResult> {
    const auth = options.auth ?? { kind: "none" };
    let keyDir: string | undefined;
    try {
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
        HOME: this.#scratch,
        LC_ALL: "C",
        LANG: "C",
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        GIT_TERMINAL_PROMPT: "0",
        GIT_ASKPASS: "",
        SSH_ASKPASS: "",
        GIT_ALLOW_PROTOCOL: "file:http:https:ssh",
      };
      const ssh = ["ssh", "-o BatchMode=yes", "-o IdentitiesOnly=yes", "-F /dev/null"];
      if (auth.kind === "http_basic") {
        env.GIT_CONFIG_COUNT = "1";
        env.GIT_CONFIG_KEY_0 = "http.extraHeader";
        env.GIT_CONFIG_VALUE_0 = `Authorization: ${basicAuthorization(auth.username, auth.password)}`;
      }
      let knownHosts = options.knownHostsFile;
      if (auth.kind === "ssh_key") {
        keyDir = await mkdtemp(path.join(this.#scratch, "causeway-ssh-"));
        const keyFile = path.join(keyDir, "id");
        await writeFile(keyFile, auth.privateKey.endsWith("\n") ? auth.privateKey : `${auth.privateKey}\n`, {
          mode: 0o600,
        });
        ssh.push(`-i ${shellQuote(keyFile)}`);
        if (auth.knownHosts !== undefined) {
          knownHosts = path.join(keyDir, "known_hosts");
          await writeFile(knownHosts, auth.knownHosts, { mode: 0o600 });
          ssh.push("-o StrictHostKeyChecking=yes");
        }
      }
      if (auth.kind !== "ssh_key" || auth.knownHosts === undefined) {
        ssh.push("-o StrictHostKeyChecking=accept-new");
      }
      if (knownHosts !== undefined) ssh.push(`-o UserKnownHostsFile=${shellQuote(knownHosts)}`);
      env.GIT_SSH_COMMAND = ssh.join(" ");
      return await this.#spawn(args, env, options);
    } finally {
      if (keyDir !== undefined) await rm(keyDir, { recursive: true, force: true });
    }
  }

  /** Runs a command that must succeed; a failure becomes GitCommandError named after `operation`. */
  async ok(operation: string, args: readonly string[], options: GitRunOptions): Promise<Buffer> {
    const result = await this.run(args, options);
    if (result.code !== 0 || result.truncated) {
      throw new GitCommandError(classifyGitFailure(result), operation);
    }
    return result.stdout;
  }

  #spawn(args: readonly string[], env: Record<string, string>, options: GitRunOptions): Promise<GitResult> {
    const cap = options.maxOutputBytes ?? DEFAULT_OUTPUT_CAP;
    return new Promise((resolve, reject) => {
      const child = spawn(this.#binary, args, {
        env,
        cwd: options.cwd ?? this.#scratch,
        stdio: ["ignore", "pipe", "pipe"],
      });
      const out: Buffer[] = [];
      let outBytes = 0;
      let err = "";
      let truncated = false;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, options.timeoutMs);
      child.stdout.on("data", (chunk: Buffer) => {
        outBytes += chunk.byteLength;
        if (outBytes > cap) {
          truncated = true;
          child.kill("SIGKILL");
          return;
        }
        out.push(chunk);
      });
      child.stderr.on("data", (chunk: Buffer) => {
        if (err.length < STDERR_CAP) err += chunk.toString("utf8").slice(0, STDERR_CAP - err.length);
      });
      child.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout: Buffer.concat(out), stderr: err, timedOut, truncated });
      });
    });
  }
}
