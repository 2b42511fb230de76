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

export async function resolveDeployedSha(input: {
  anomaly: Pick<Anomaly, "commitSha" | "release" | "service" | "environment" | "firstSeenAt">;
  defaultBranch: string;
  git: SandboxGit;
  /** The release resolved to a SHA through recorded deploys (changes stage's resolveVersionToSha). */
  releaseSha: string | null;
  deploys: { sha: string; deployedAt: Date }[];
}): Promise<DeployedSha | null> {
  const { anomaly, git } = input;
  const previousOf = (sha: string): string | undefined => {
    const at = input.deploys.findIndex((d) => d.sha === sha);
    const older = at >= 0 ? input.deploys.slice(at + 1) : input.deploys;
    return older.find((d) => d.sha !== sha)?.sha;
  };
  const withPrevious = (sha: string, source: DeployedShaSource): DeployedSha => {
    const previousSha = previousOf(sha);
    return previousSha ? { sha, source, previousSha } : { sha, source };
  };

  const commit = anomaly.commitSha?.toLowerCase();
  if (isFullSha(commit)) {
    const found = await git.commitExists(commit);
    if (found) return withPrevious(found, "commit_sha");
  }
  const fromRelease = input.releaseSha;
  if (fromRelease) {
    const found = await git.commitExists(fromRelease.toLowerCase());
    if (found) return withPrevious(found, "release");
  }
  for (const d of input.deploys) {
    const found = await git.commitExists(d.sha);
    if (found) return withPrevious(found, "deploy");
  }
  const atBranch = await git.branchAt(input.defaultBranch, anomaly.firstSeenAt);
  return atBranch ? { sha: atBranch, source: "branch_at_first_seen" } : null;
}
