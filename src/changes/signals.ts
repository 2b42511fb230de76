/**
 * Where webhooks reach the changes stage. Ingest stores every normalized signal (kind change / deploy /
 * ticket included) in `signals`; after the delivery's transaction commits, its `onCommitted` hook calls
 * `applyDeliverySignals`, which reads that delivery's fact signals back and applies them:
 *
 *   GitHub pull_request      → the PR's change row (enriches the row git history made, or makes it)
 *   GitHub push              → the default branch moved: the mirror is stale, a sync is queued
 *   GitHub deployment_status → a deploy of the SHA, per service the repository serves
 *   Jira issue event         → the ticket row (or its deletion); an undeclared project is ignored
 *   an alert whose release or commit is a full SHA → a "release" deploy of that SHA
 *
 * Every fact is idempotent, so a replayed delivery changes nothing. A failure here is logged and never
 * undoes or fails the delivery: git history and REST fetches fill the same rows later.
 */
import { and, eq, inArray, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import { type OrgTx, withOrg } from "../../db/client.ts";
import { deploys, type Repository, repositories, signals } from "../../db/schema/index.ts";
import { systemContext } from "../context.ts";
import { appendAudit } from "../evidence/audit.ts";
import type { ProcessOutcome } from "../ingest/process-deliveries.ts";
import type { ChangeRecord } from "./change-records.ts";
import { recordReleaseDeploy } from "./deploys.ts";
import type { ChangesDeps } from "./deps.ts";
import { markStale, storeChanges } from "./sync.ts";
import { upsertTicket } from "./tickets.ts";

export type FactResult =
  | { kind: "pull_request"; changeId: string }
  | { kind: "push"; repositoryIds: string[] }
  | { kind: "deploy"; deployIds: string[] }
  | { kind: "ticket"; status: "stored" | "deleted" | "ignored"; key: string; reason?: string }
  | { kind: "release_deploy"; deployId: string }
  | { kind: "ignored"; reason: string };

const FACT_KINDS = ["change", "deploy", "ticket"] as const;
const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

const text = z.string().nullish();
const PullRequestData = z.looseObject({
  number: z.number().int().positive(),
  title: z.string(),
  body: text,
  branch: text,
  base: text,
  author: text,
  mergedAt: text,
  mergeCommitSha: text,
  headSha: text,
  htmlUrl: text,
  repository: z.string(),
  action: z.string(),
  merged: z.boolean(),
});
const PushData = z.looseObject({
  ref: z.string(),
  after: z.string(),
  forced: z.boolean().nullish(),
  repository: z.string(),
});
const DeployData = z.looseObject({
  environment: text,
  sha: text,
  deploymentId: z.union([z.number(), z.string()]),
  createdAt: text,
  repository: z.string(),
});

const dateOf = (value: string | null | undefined): Date | null => {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
};

async function repositoriesNamed(tx: OrgTx, orgId: string, fullName: string): Promise<Repository[]> {
  return tx
    .select()
    .from(repositories)
    .where(
      and(
        eq(repositories.orgId, orgId),
        isNull(repositories.deletedAt),
        sql`${repositories.config}->>'fullName' = ${fullName.toLowerCase()}`,
      ),
    );
}

interface StoredSignal {
  id: string;
  kind: string;
  source: string;
  occurredAt: Date;
  payload: Record<string, unknown>;
}

async function applyPullRequest(deps: ChangesDeps, orgId: string, signal: StoredSignal): Promise<FactResult> {
  const parsed = PullRequestData.safeParse(signal.payload["data"]);
  if (!parsed.success) return { kind: "ignored", reason: "pull request data unreadable" };
  const pr = parsed.data;
  const ctx = systemContext(orgId, "github-webhook");
  return withOrg(deps.db, orgId, async (tx) => {
    const [repo] = await repositoriesNamed(tx, orgId, pr.repository);
    if (!repo) return { kind: "ignored", reason: "no repository with this name" };
    // Only what reaches the default branch is a change of the repository.
    if (pr.base && pr.base !== repo.defaultBranch)
      return { kind: "ignored", reason: "not the default branch" };
    const state = pr.merged ? "merged" : pr.action === "closed" ? "closed" : "open";
    const record: ChangeRecord = {
      kind: "pull_request",
      prNumber: pr.number,
      title: pr.title,
      body: pr.body ?? null,
      branch: pr.branch ?? null,
      base: pr.base ?? null,
      authorLogin: pr.author ?? null,
      state,
      openedAt: pr.action === "opened" ? signal.occurredAt : null,
      mergedAt: pr.merged ? dateOf(pr.mergedAt) : null,
      mergeSha: pr.merged ? (pr.mergeCommitSha ?? null) : null,
      headSha: pr.headSha ?? null,
      htmlUrl: pr.htmlUrl ?? null,
    };
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`changes:${repo.id}`}))`);
    const stored = await storeChanges(tx, orgId, repo.id, [{ record, commitMessages: [] }], "webhook");
    await appendAudit(tx, ctx, {
      action: "change.recorded",
      subjectType: "change",
      subjectId: stored.ids[0] ?? null,
      data: { repositoryId: repo.id, prNumber: pr.number, state, source: "webhook", links: stored.links },
    });
    return { kind: "pull_request", changeId: stored.ids[0]! };
  });
}

async function applyPush(deps: ChangesDeps, orgId: string, signal: StoredSignal): Promise<FactResult> {
  const parsed = PushData.safeParse(signal.payload["data"]);
  if (!parsed.success) return { kind: "ignored", reason: "push data unreadable" };
  const push = parsed.data;
  const repos = await withOrg(deps.db, orgId, (tx) => repositoriesNamed(tx, orgId, push.repository));
  const moved = repos.filter((r) => push.ref === `refs/heads/${r.defaultBranch}`);
  if (moved.length === 0) return { kind: "ignored", reason: "not a push to a known default branch" };
  const ctx = systemContext(orgId, "github-webhook");
  await markStale(
    deps,
    ctx,
    moved.map((r) => r.id),
  );
  for (const repo of moved) {
    await deps.enqueue?.({
      job: "sync",
      orgId,
      repositoryId: repo.id,
      reason: push.forced ? "force-push" : "push",
    });
  }
  return { kind: "push", repositoryIds: moved.map((r) => r.id) };
}

async function applyDeploy(deps: ChangesDeps, orgId: string, signal: StoredSignal): Promise<FactResult> {
  const parsed = DeployData.safeParse(signal.payload["data"]);
  if (!parsed.success) return { kind: "ignored", reason: "deployment data unreadable" };
  const d = parsed.data;
  const sha = d.sha?.toLowerCase();
  if (!sha || !FULL_SHA.test(sha)) return { kind: "ignored", reason: "deployment without a full SHA" };
  const ctx = systemContext(orgId, "github-webhook");
  return withOrg(deps.db, orgId, async (tx) => {
    const [repo] = await repositoriesNamed(tx, orgId, d.repository);
    if (!repo) return { kind: "ignored", reason: "no repository with this name" };
    // A GitHub deployment names a repository, not a service: it deploys every service the repository serves.
    const services = repo.services.length > 0 ? repo.services : [repo.name];
    const environment = d.environment ?? "production";
    const deployedAt = dateOf(d.createdAt) ?? signal.occurredAt;
    const rows = await tx
      .insert(deploys)
      .values(
        services.map((service) => ({
          orgId,
          repositoryId: repo.id,
          service,
          environment,
          version: null,
          sha,
          deployedAt,
          source: "github" as const,
          externalId: `${d.deploymentId}:${service}`,
        })),
      )
      .onConflictDoNothing()
      .returning({ id: deploys.id });
    if (rows.length > 0) {
      await appendAudit(tx, ctx, {
        action: "deploy.recorded",
        subjectType: "deploy",
        subjectId: rows[0]!.id,
        data: {
          repositoryId: repo.id,
          services,
          environment,
          sha,
          source: "github",
          deploymentId: d.deploymentId,
        },
      });
    }
    return { kind: "deploy", deployIds: rows.map((r) => r.id) };
  });
}

async function applyTicket(deps: ChangesDeps, orgId: string, signal: StoredSignal): Promise<FactResult> {
  const ctx = systemContext(orgId, "jira-webhook");
  const data = signal.payload["data"];
  const key =
    typeof (data as { key?: unknown } | undefined)?.key === "string" ? (data as { key: string }).key : "";
  const outcome = await withOrg(deps.db, orgId, (tx) =>
    upsertTicket(tx, ctx, data, signal.occurredAt, "webhook"),
  );
  if (outcome.status === "ignored") {
    deps.logger.info(
      { orgId, key: outcome.key, reason: outcome.reason },
      "jira ticket of an undeclared project ignored",
    );
    return { kind: "ticket", status: "ignored", key: outcome.key, reason: outcome.reason };
  }
  return { kind: "ticket", status: outcome.status, key: outcome.ticket.key || key };
}

async function applyOne(deps: ChangesDeps, orgId: string, signal: StoredSignal): Promise<FactResult> {
  const data = signal.payload["data"] as Record<string, unknown> | undefined;
  if (signal.source === "github" && signal.kind === "change") {
    if (data && typeof data["number"] === "number" && "merged" in data)
      return applyPullRequest(deps, orgId, signal);
    if (data && typeof data["ref"] === "string" && "after" in data) return applyPush(deps, orgId, signal);
    return { kind: "ignored", reason: "change signal without PR or push data" };
  }
  if (signal.source === "github" && signal.kind === "deploy") return applyDeploy(deps, orgId, signal);
  if (signal.source === "jira" && signal.kind === "ticket") return applyTicket(deps, orgId, signal);
  return { kind: "ignored", reason: `no handler for ${signal.source} ${signal.kind}` };
}

type Outcome = Pick<ProcessOutcome, "deliveryId" | "status" | "applied" | "signalKinds">;

/**
 * Applies the fact signals of a committed run of deliveries, in delivery order (see the file comment),
 * then the release deploys its new anomalies name (each service, environment and SHA once). Never throws.
 */
export async function applyDeliverySignals(
  deps: ChangesDeps,
  orgId: string,
  outcomes: readonly Outcome[],
): Promise<FactResult[]> {
  const processed = outcomes.filter((o) => o.status === "processed");
  const results: FactResult[] = [];
  try {
    // Alert deliveries store no fact signals: only the deliveries that did are read back.
    const withFacts = processed
      .filter((o) => o.signalKinds.some((k) => (FACT_KINDS as readonly string[]).includes(k)))
      .map((o) => o.deliveryId);
    const rows =
      withFacts.length === 0
        ? []
        : await withOrg(deps.db, orgId, (tx) =>
            tx
              .select({
                id: signals.id,
                deliveryId: signals.deliveryId,
                kind: signals.kind,
                source: signals.source,
                occurredAt: signals.occurredAt,
                payload: signals.payload,
              })
              .from(signals)
              .where(and(inArray(signals.deliveryId, withFacts), inArray(signals.kind, [...FACT_KINDS]))),
          );
    const order = new Map(withFacts.map((id, i) => [id, i]));
    rows.sort((a, b) => order.get(a.deliveryId!)! - order.get(b.deliveryId!)!);
    for (const row of rows) {
      try {
        results.push(await applyOne(deps, orgId, row));
      } catch (error) {
        deps.logger.error({ err: error, orgId, signalId: row.id }, "applying a change signal failed");
        results.push({ kind: "ignored", reason: "failed; see the log" });
      }
    }
    const releases = new Map<string, { service: string; environment: string; sha: string; at: Date }>();
    for (const applied of processed.flatMap((o) => o.applied)) {
      const a = applied.anomaly;
      const sha = [a.commitSha, a.release].map((v) => v?.toLowerCase()).find((v) => v && FULL_SHA.test(v));
      if (!sha || !a.service || applied.change !== "created") continue;
      const environment = a.environment ?? "production";
      const key = JSON.stringify([a.service, environment, sha]);
      if (!releases.has(key)) releases.set(key, { service: a.service, environment, sha, at: a.firstSeenAt });
    }
    if (releases.size > 0) {
      const ctx = systemContext(orgId, "release");
      const recorded = await withOrg(deps.db, orgId, async (tx) => {
        const out: string[] = [];
        for (const release of releases.values()) {
          const row = await recordReleaseDeploy(tx, ctx, release);
          if (row) out.push(row.id);
        }
        return out;
      });
      for (const deployId of recorded) results.push({ kind: "release_deploy", deployId });
    }
  } catch (error) {
    deps.logger.error(
      { err: error, orgId, deliveryIds: outcomes.map((o) => o.deliveryId) },
      "applying change signals failed",
    );
  }
  return results;
}

/** The `onCommitted` hook for the delivery processor (compose it with attribution's in the container). */
export function changesOnCommitted(deps: ChangesDeps) {
  return async (orgId: string, outcomes: readonly ProcessOutcome[]): Promise<void> => {
    await applyDeliverySignals(deps, orgId, outcomes);
  };
}
