/**
 * Which commit was running when the anomaly was first seen (r in ATTRIBUTION.md §5). In order: the
 * signal's own commit SHA; a release that is (or resolves through a recorded deploy to) a SHA; the last
 * deploy of the service and environment at or before first-seen; the default branch as it was at
 * first-seen. Every answer is checked against the mirror, so a SHA the repository does not have is
 * skipped rather than trusted.
 */
import { and, desc, eq, lte } from "drizzle-orm";
import type { OrgTx } from "../../db/client.ts";
import { deploys } from "../../db/schema/changes.ts";
import type { Anomaly } from "../../db/schema/incidents.ts";
import { isFullSha, type SandboxGit } from "./sandbox-git.ts";

export type DeployedShaSource = "commit_sha" | "release" | "deploy" | "branch_at_first_seen";

export interface DeployedSha {
  sha: string;
  source: DeployedShaSource;
  /** The deploy before the one that shipped `sha`, when deploy history says (release membership). */
  previousSha?: string;
}

/** The deploy records of (service, environment) at or before first-seen, newest first. */
export async function deploysBefore(
  tx: OrgTx,
  orgId: string,
  anomaly: Pick<Anomaly, "service" | "environment" | "firstSeenAt">,
  repositoryId: string,
): Promise<{ sha: string; deployedAt: Date }[]> {
  if (!anomaly.service) return [];
  const rows = await tx
    .select({ sha: deploys.sha, deployedAt: deploys.deployedAt, repositoryId: deploys.repositoryId })
    .from(deploys)
    .where(
      and(
        eq(deploys.orgId, orgId),
        eq(deploys.service, anomaly.service),
        anomaly.environment ? eq(deploys.environment, anomaly.environment) : undefined,
        lte(deploys.deployedAt, anomaly.firstSeenAt),
      ),
    )
    .orderBy(desc(deploys.deployedAt), desc(deploys.id))
    .limit(20);
  return rows
    .filter((r) => r.repositoryId === null || r.repositoryId === repositoryId)
    .map((r) => ({ sha: r.sha.toLowerCase(), deployedAt: r.deployedAt }));
}

/** The deploy before the one that shipped `sha` (deploys newest first), for release membership. */
export function previousDeployOf(deploys: readonly { sha: string }[], sha: string): string | undefined {
  const at = deploys.findIndex((d) => d.sha === sha);
  const older = at >= 0 ? deploys.slice(at + 1) : deploys;
  return older.find((d) => d.sha !== sha)?.sha;
}

/** The places the deployed commit may be, in the order they are trusted (branch-at-time aside). */
function deployedShaTries(input: {
  anomaly: Pick<Anomaly, "commitSha">;
  releaseSha: string | null;
  deploys: { sha: string }[];
}): { sha: string; source: DeployedShaSource }[] {
  const ordered: { sha: string; source: DeployedShaSource }[] = [];
  const add = (sha: string, source: DeployedShaSource) => {
    if (!ordered.some((o) => o.sha === sha)) ordered.push({ sha, source });
  };
  const commit = input.anomaly.commitSha?.toLowerCase();
  if (isFullSha(commit)) add(commit, "commit_sha");
  if (input.releaseSha) add(input.releaseSha.toLowerCase(), "release");
  for (const d of input.deploys) add(d.sha, "deploy");
  return ordered;
}

/** Places tried in the first round trip. */
const FIRST_TRIES = 3;

export async function resolveDeployedSha(input: {
  anomaly: Pick<Anomaly, "commitSha" | "release" | "service" | "environment" | "firstSeenAt">;
  defaultBranch: string;
  git: SandboxGit;
  /** The release resolved to a SHA through recorded deploys (changes stage's resolveVersionToSha). */
  releaseSha: string | null;
  deploys: { sha: string; deployedAt: Date }[];
}): Promise<DeployedSha | null> {
  const { anomaly, git } = input;
  const withPrevious = (sha: string, source: DeployedShaSource): DeployedSha => {
    const previousSha = previousDeployOf(input.deploys, sha);
    return previousSha ? { sha, source, previousSha } : { sha, source };
  };

  // The likeliest places are asked at once (one sandbox round trip, shared with the reads the pipeline
  // starts at its guess); the rest of the deploy history and the branch only when none of them holds.
  // The first that the mirror confirms, in the order above, wins.
  const ordered = deployedShaTries(input);
  const firstOf = async (tries: typeof ordered): Promise<DeployedSha | null> => {
    const found = await Promise.all(tries.map((o) => git.commitExists(o.sha)));
    const at = found.findIndex((sha) => sha !== null);
    return at >= 0 ? withPrevious(found[at]!, tries[at]!.source) : null;
  };
  const likely = await firstOf(ordered.slice(0, FIRST_TRIES));
  if (likely) return likely;
  const [rest, atBranch] = await Promise.all([
    firstOf(ordered.slice(FIRST_TRIES)),
    // Only needed when nothing above resolves, so its failure (a ref git cannot take) only counts then.
    git.branchAt(input.defaultBranch, anomaly.firstSeenAt).catch((error: unknown) => error as Error),
  ]);
  if (rest) return rest;
  if (atBranch instanceof Error) throw atBranch;
  return atBranch ? { sha: atBranch, source: "branch_at_first_seen" } : null;
}

/**
 * The commit resolveDeployedSha will most likely answer, known before any sandbox command (the first
 * full SHA it will try), so the pipeline can start reading at it in the same round trip.
 */
export function likelyDeployedSha(input: {
  anomaly: Pick<Anomaly, "commitSha">;
  releaseSha: string | null;
  deploys: { sha: string }[];
}): string | undefined {
  const first = deployedShaTries(input)[0]?.sha;
  return isFullSha(first) ? first : undefined;
}
