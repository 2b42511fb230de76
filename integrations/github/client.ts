/**
 * GitHub REST through @octokit/rest: the GitHub App JWT, installation tokens, and the merged-PR backfill
 * (pulls, their files and commits). The only file that knows GitHub's API paths. `baseUrl` is
 * `https://api.github.com`, a GitHub Enterprise Server's `https://host/api/v3`, or a local fake.
 *
 * Rate limits (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api): a 403
 * or 429 with `retry-after` waits that many seconds; one with `x-ratelimit-remaining: 0` waits until
 * `x-ratelimit-reset` (epoch seconds). A wait longer than `maxRateLimitWaitMs` is not slept through: it
 * becomes a GitHubRateLimitError with `retryAfterMs`, so a job can come back later instead of holding a
 * worker for an hour.
 */
import { createPrivateKey } from "node:crypto";
import { Octokit } from "@octokit/rest";
import { SignJWT } from "jose";
import { UpstreamError } from "../core/upstream.ts";

const PROVIDER = "github";

/** github.com's API; GitHub Enterprise Server serves it at `https://<host>/api/v3`. */
export const DEFAULT_GITHUB_API_URL = "https://api.github.com";

export class GitHubRateLimitError extends UpstreamError {
  constructor(
    readonly retryAfterMs: number,
    status: number,
  ) {
    super(PROVIDER, "rate_limited", { status });
    this.name = "GitHubRateLimitError";
  }
}

/**
 * The app's JWT: RS256 over {iat, exp, iss}. `iat` is 60 s in the past (GitHub's advice against clock
 * drift) and `exp` 9 minutes after now, inside GitHub's 10-minute maximum even with that drift.
 */
export async function signAppJwt(
  appId: string | number,
  privateKeyPem: string,
  now = new Date(),
): Promise<string> {
  // createPrivateKey reads both PKCS#1 ("BEGIN RSA PRIVATE KEY", what GitHub hands out) and PKCS#8.
  const key = createPrivateKey({ key: privateKeyPem, format: "pem" });
  const seconds = Math.floor(now.getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: "RS256", typ: "JWT" })
    .setIssuedAt(seconds - 60)
    .setExpirationTime(seconds + 9 * 60)
    .setIssuer(String(appId))
    .sign(key);
}

export interface GitHubClientOptions {
  baseUrl: string;
  /** An installation token, a personal access token, or the app JWT (for app endpoints). */
  token: string;
  timeoutMs?: number;
  /** The longest rate-limit wait slept through before giving up with GitHubRateLimitError. */
  maxRateLimitWaitMs?: number;
  /** How many rate-limited answers one request may wait out. */
  maxRateLimitRetries?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface InstallationToken {
  token: string;
  expiresAt: Date;
}

export interface GitHubUser {
  login: string | null;
}

export interface GitHubPullRequest {
  number: number;
  title: string;
  body: string | null;
  state: "open" | "closed";
  branch: string | null;
  base: string | null;
  author: string | null;
  createdAt: Date | null;
  updatedAt: Date | null;
  mergedAt: Date | null;
  mergeCommitSha: string | null;
  headSha: string | null;
  htmlUrl: string | null;
  labels: string[];
  reviewers: string[];
}

export interface GitHubPullFile {
  path: string;
  oldPath?: string;
  status: "added" | "modified" | "deleted" | "renamed" | "copied" | "other";
}

export interface GitHubPullCommit {
  sha: string;
  message: string;
  authorName: string | null;
  authorEmail: string | null;
  authorLogin: string | null;
}

export interface GitHubClient {
  /** POST /app/installations/{id}/access_tokens (call with the app JWT as token). */
  createInstallationToken(installationId: number): Promise<InstallationToken>;
  /** Closed pull requests of the base branch, most recently updated first, one page at a time. */
  closedPulls(owner: string, repo: string, base: string): AsyncIterable<GitHubPullRequest[]>;
  pullFiles(owner: string, repo: string, number: number): Promise<GitHubPullFile[]>;
  pullCommits(owner: string, repo: string, number: number): Promise<GitHubPullCommit[]>;
}

const SILENT = { debug() {}, info() {}, warn() {}, error() {} };

function date(value: string | null | undefined): Date | null {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

function fileStatus(status: string): GitHubPullFile["status"] {
  switch (status) {
    case "added":
    case "modified":
    case "renamed":
    case "copied":
      return status;
    case "removed":
      return "deleted";
    case "changed":
      return "modified";
    default:
      return "other";
  }
}

interface ErrorWithResponse {
  status?: number;
  response?: { headers?: Record<string, string | number | undefined> };
}

/** How long a rate-limited answer asks us to wait, or undefined when the answer is not a rate limit. */
export function rateLimitWaitMs(
  status: number,
  headers: Record<string, string | number | undefined>,
  nowMs: number,
): number | undefined {
  if (status !== 403 && status !== 429) return undefined;
  const retryAfter = Number(headers["retry-after"]);
  if (headers["retry-after"] !== undefined && Number.isFinite(retryAfter))
    return Math.max(0, retryAfter * 1000);
  const remaining = headers["x-ratelimit-remaining"];
  const reset = Number(headers["x-ratelimit-reset"]);
  if (String(remaining) === "0" && Number.isFinite(reset)) return Math.max(0, reset * 1000 - nowMs) + 1000;
  // A secondary limit without headers: GitHub says to wait at least a minute.
  return status === 429 ? 60_000 : undefined;
}

function toUpstreamError(error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const status = (error as ErrorWithResponse).status;
  if (typeof status === "number" && status > 0) {
    const failure =
      status === 401 || status === 403
        ? "unauthorized"
        : status === 404
          ? "not_found"
          : status === 429
            ? "rate_limited"
            : status >= 500
              ? "server_error"
              : "rejected";
    return new UpstreamError(PROVIDER, failure, { status, cause: error });
  }
  const name = error instanceof Error ? error.name : "";
  if (name === "TimeoutError" || name === "AbortError")
    return new UpstreamError(PROVIDER, "timeout", { cause: error });
  return new UpstreamError(PROVIDER, "network", { cause: error });
}

export function createGitHubClient(options: GitHubClientOptions): GitHubClient {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxWait = options.maxRateLimitWaitMs ?? 60_000;
  const maxRetries = options.maxRateLimitRetries ?? 3;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = options.now ?? Date.now;

  const octokit = new Octokit({
    baseUrl: options.baseUrl,
    auth: options.token,
    userAgent: "causeway",
    log: SILENT,
    request: {
      fetch: (url: string | URL, init?: RequestInit) =>
        fetch(url, { ...init, redirect: "error", signal: AbortSignal.timeout(timeoutMs) }),
    },
  });

  octokit.hook.wrap("request", async (request, requestOptions) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await request(requestOptions);
      } catch (error) {
        const e = error as ErrorWithResponse;
        const wait =
          typeof e.status === "number"
            ? rateLimitWaitMs(e.status, e.response?.headers ?? {}, now())
            : undefined;
        if (wait === undefined) throw toUpstreamError(error);
        if (wait > maxWait || attempt >= maxRetries) throw new GitHubRateLimitError(wait, e.status ?? 429);
        await sleep(wait);
      }
    }
  });

  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw toUpstreamError(error);
    }
  };

  return {
    createInstallationToken: (installationId) =>
      call(async () => {
        const { data } = await octokit.rest.apps.createInstallationAccessToken({
          installation_id: installationId,
        });
        const expiresAt = date(data.expires_at);
        if (!data.token || !expiresAt) throw new UpstreamError(PROVIDER, "invalid_response");
        return { token: data.token, expiresAt };
      }),

    closedPulls(owner, repo, base) {
      const iterator = octokit.paginate.iterator(octokit.rest.pulls.list, {
        owner,
        repo,
        base,
        state: "closed",
        sort: "updated",
        direction: "desc",
        per_page: 100,
      });
      return {
        async *[Symbol.asyncIterator]() {
          const it = iterator[Symbol.asyncIterator]();
          for (;;) {
            const next = await call(() => it.next());
            if (next.done) return;
            yield next.value.data.map(
              (pr): GitHubPullRequest => ({
                number: pr.number,
                title: pr.title,
                body: pr.body ?? null,
                state: pr.state === "open" ? "open" : "closed",
                branch: pr.head?.ref ?? null,
                base: pr.base?.ref ?? null,
                author: pr.user?.login ?? null,
                createdAt: date(pr.created_at),
                updatedAt: date(pr.updated_at),
                mergedAt: date(pr.merged_at),
                mergeCommitSha: pr.merge_commit_sha ?? null,
                headSha: pr.head?.sha ?? null,
                htmlUrl: pr.html_url ?? null,
                labels: (pr.labels ?? []).flatMap((l) => (typeof l.name === "string" ? [l.name] : [])),
                reviewers: (pr.requested_reviewers ?? []).flatMap((r) => (r?.login ? [r.login] : [])),
              }),
            );
          }
        },
      };
    },

    pullFiles: (owner, repo, number) =>
      call(async () => {
        const files = await octokit.paginate(octokit.rest.pulls.listFiles, {
          owner,
          repo,
          pull_number: number,
          per_page: 100,
        });
        return files.map((f) => {
          const file: GitHubPullFile = { path: f.filename, status: fileStatus(f.status) };
          if (f.previous_filename) file.oldPath = f.previous_filename;
          return file;
        });
      }),

    pullCommits: (owner, repo, number) =>
      call(async () => {
        const commits = await octokit.paginate(octokit.rest.pulls.listCommits, {
          owner,
          repo,
          pull_number: number,
          per_page: 100,
        });
        return commits.map((c) => ({
          sha: c.sha,
          message: c.commit.message,
          authorName: c.commit.author?.name ?? null,
          authorEmail: c.commit.author?.email ?? null,
          authorLogin: c.author?.login ?? null,
        }));
      }),
  };
}
