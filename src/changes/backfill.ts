/**
 * Backfill of merged pull requests through the GitHub API (title, body, branch, author, merged_at, merge
 * commit, base, files, commits), newest first, page by page, into the same rows git history and webhooks
 * fill. Credentials: the repository's GitHub App (installation token) or its token credential.
 */
import { sql } from "drizzle-orm";
import { withOrg } from "../../db/client.ts";
import { UpstreamError } from "../../integrations/core/upstream.ts";
import {
  createGitHubClient,
  DEFAULT_GITHUB_API_URL,
  type GitHubClient,
  type GitHubPullRequest,
} from "../../integrations/github/client.ts";
import { type OrgContext, requireRole } from "../context.ts";
import { AppError } from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import type { ChangeRecord } from "./change-records.ts";
import type { ChangesDeps } from "./deps.ts";
import type { HistoryEntry } from "./history.ts";
import { configOf, getRepositoryInOrg, REPO_TOKEN_KIND } from "./repositories.ts";
import { storeChanges } from "./sync.ts";
import { integrationErrorOf } from "./upstream-errors.ts";

export interface BackfillOptions {
  /** Stop at pull requests last updated before this. */
  since?: Date;
  /** Stop after this many merged pull requests. */
  maxPullRequests?: number;
}

export interface BackfillResult {
  pages: number;
  /** Merged pull requests of the default branch stored (new or enriched). */
  stored: number;
  links: { explicit: number; inferred: number };
}

const DEFAULT_MAX = 1_000;

async function clientFor(
  deps: ChangesDeps,
  ctx: OrgContext,
  repo: Awaited<ReturnType<typeof getRepositoryInOrg>>,
): Promise<GitHubClient> {
  const config = configOf(repo);
  const common = { maxRateLimitWaitMs: deps.githubMaxRateLimitWaitMs ?? 60_000 };
  if (config.githubApp) {
    const access = await deps.githubApps.installationToken(deps.db, ctx, config.githubApp);
    return createGitHubClient({ baseUrl: access.apiBaseUrl, token: access.token, ...common });
  }
  if (repo.credentialId) {
    const credentialId = repo.credentialId;
    const revealed = await withOrg(deps.db, ctx.orgId, (tx) =>
      deps.credentials.readCredential(tx, ctx, credentialId),
    );
    if (revealed && !revealed.credential.retiredAt && revealed.credential.kind === REPO_TOKEN_KIND) {
      return createGitHubClient({
        baseUrl: config.githubApiBaseUrl ?? DEFAULT_GITHUB_API_URL,
        token: revealed.secret,
        ...common,
      });
    }
  }
  throw new AppError("bad_request", {
    detail: "backfill through the GitHub API needs a GitHub App or a token credential on the repository",
  });
}

function entryOf(
  pr: GitHubPullRequest,
  files: Awaited<ReturnType<GitHubClient["pullFiles"]>>,
  commits: Awaited<ReturnType<GitHubClient["pullCommits"]>>,
): Pick<HistoryEntry, "record" | "commitMessages"> {
  const own = commits.find((c) => c.authorLogin !== null && c.authorLogin === pr.author) ?? commits[0];
  const record: ChangeRecord = {
    kind: "pull_request",
    prNumber: pr.number,
    title: pr.title,
    body: pr.body,
    branch: pr.branch,
    base: pr.base,
    authorLogin: pr.author,
    authorEmail: own?.authorEmail ?? null,
    authorName: own?.authorName ?? null,
    state: "merged",
    openedAt: pr.createdAt,
    mergedAt: pr.mergedAt,
    mergeSha: pr.mergeCommitSha,
    headSha: pr.headSha,
    files,
    commits: commits.map((c) => c.sha),
    reviewers: pr.reviewers,
    htmlUrl: pr.htmlUrl,
  };
  return { record, commitMessages: commits.map((c) => ({ sha: c.sha, message: c.message })) };
}

export async function backfillPullRequests(
  deps: ChangesDeps,
  ctx: OrgContext,
  repositoryId: string,
  options: BackfillOptions = {},
): Promise<BackfillResult> {
  requireRole(ctx, "admin");
  const repo = await withOrg(deps.db, ctx.orgId, (tx) => getRepositoryInOrg(tx, ctx, repositoryId));
  const fullName = configOf(repo).fullName;
  if (!fullName) throw new AppError("bad_request", { detail: "the repository has no GitHub owner/name" });
  const [owner, name] = fullName.split("/") as [string, string];
  const max = options.maxPullRequests ?? DEFAULT_MAX;
  const result: BackfillResult = { pages: 0, stored: 0, links: { explicit: 0, inferred: 0 } };
  try {
    const client = await clientFor(deps, ctx, repo);
    for await (const page of client.closedPulls(owner, name, repo.defaultBranch)) {
      result.pages++;
      const entries: Pick<HistoryEntry, "record" | "commitMessages">[] = [];
      let done = false;
      for (const pr of page) {
        if (options.since && pr.updatedAt && pr.updatedAt < options.since) {
          done = true;
          break;
        }
        if (!pr.mergedAt) continue;
        if (result.stored + entries.length >= max) {
          done = true;
          break;
        }
        const [files, commits] = await Promise.all([
          client.pullFiles(owner, name, pr.number),
          client.pullCommits(owner, name, pr.number),
        ]);
        entries.push(entryOf(pr, files, commits));
      }
      if (entries.length > 0) {
        const stored = await withOrg(deps.db, ctx.orgId, async (tx) => {
          await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`changes:${repo.id}`}))`);
          // storeChanges wants newest first (it walks oldest first); the API lists newest first.
          const out = await storeChanges(tx, ctx.orgId, repo.id, entries, "api");
          await appendAudit(tx, ctx, {
            action: "repository.backfilled",
            subjectType: "repository",
            subjectId: repo.id,
            data: { page: result.pages, pullRequests: entries.length, links: out.links },
          });
          return out;
        });
        result.stored += entries.length;
        result.links.explicit += stored.links.explicit;
        result.links.inferred += stored.links.inferred;
      }
      if (done) break;
    }
  } catch (error) {
    if (error instanceof UpstreamError) throw integrationErrorOf("GitHub", error);
    throw error;
  }
  return result;
}
