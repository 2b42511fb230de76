/**
 * Jobs of the changes stage. `changes.sync-due` is the schedule: it runs every 5 minutes (cron, registered
 * by the job runner) and syncs every repository whose last fetch is older than the refresh interval, or
 * that a push marked stale. `changes.sync-repository` is one repository now (after a push webhook, after
 * creation); `changes.backfill-pulls` walks the GitHub API; `changes.fetch-ticket` fills a ticket a PR
 * names.
 */
import { and, asc, isNull, lt, or } from "drizzle-orm";
import { z } from "zod";
import { repositories } from "../../db/schema/index.ts";
import { systemContext } from "../context.ts";
import { defineJob, type JobDefinition } from "../jobs/define-job.ts";
import { backfillPullRequests } from "./backfill.ts";
import type { ChangesDeps, ChangesFollowUp } from "./deps.ts";
import { syncRepository } from "./sync.ts";
import { fetchTicket } from "./tickets.ts";

/** A repository is fetched on schedule when its last fetch is older than this. */
export const MIRROR_REFRESH_MS = 10 * 60_000;
/** At most this many repositories per scheduled run; the next run takes the rest. */
const SYNC_BATCH = 50;
/** When `changes.sync-due` runs (the job runner registers it with pg-boss's cron). */
export const SYNC_DUE_CRON = "*/5 * * * *";

export function changesJobs(deps: ChangesDeps): JobDefinition[] {
  const syncRepositoryJob = defineJob({
    name: "changes.sync-repository",
    payload: z.object({ orgId: z.uuid(), repositoryId: z.uuid(), reason: z.string().max(50).default("job") }),
    retry: { limit: 5, delaySeconds: 30, backoff: true },
    concurrency: 2,
    handler: async ({ orgId, repositoryId, reason }) => {
      await syncRepository(deps, systemContext(orgId, "changes.sync"), repositoryId, { reason });
    },
  });

  const syncDueJob = defineJob({
    name: "changes.sync-due",
    payload: z.object({ olderThanMs: z.int().positive().default(MIRROR_REFRESH_MS) }).default({
      olderThanMs: MIRROR_REFRESH_MS,
    }),
    retry: { limit: 0, delaySeconds: 60, backoff: false },
    concurrency: 1,
    expireInSeconds: 60 * 60,
    cron: SYNC_DUE_CRON,
    handler: async ({ olderThanMs }) => {
      // Cross-org by nature: which repositories are due, for every org. Each sync then runs as its org.
      const due = await deps.db.owner
        .select({ id: repositories.id, orgId: repositories.orgId })
        .from(repositories)
        .where(
          and(
            isNull(repositories.deletedAt),
            or(
              isNull(repositories.lastFetchedAt),
              lt(repositories.lastFetchedAt, new Date(Date.now() - olderThanMs)),
            ),
          ),
        )
        .orderBy(asc(repositories.lastFetchedAt))
        .limit(SYNC_BATCH);
      for (const repo of due) {
        try {
          await syncRepository(deps, systemContext(repo.orgId, "changes.schedule"), repo.id, {
            reason: "schedule",
          });
        } catch (error) {
          // Recorded on the repository (lastFetchError); one bad repository does not stop the others.
          deps.logger.warn({ err: error, repositoryId: repo.id }, "scheduled repository sync failed");
        }
      }
    },
  });

  const backfillJob = defineJob({
    name: "changes.backfill-pulls",
    payload: z.object({
      orgId: z.uuid(),
      repositoryId: z.uuid(),
      since: z.iso.datetime().optional(),
      maxPullRequests: z.int().positive().max(10_000).optional(),
    }),
    retry: { limit: 5, delaySeconds: 120, backoff: true },
    concurrency: 1,
    expireInSeconds: 60 * 60,
    handler: async ({ orgId, repositoryId, since, maxPullRequests }) => {
      await backfillPullRequests(deps, systemContext(orgId, "changes.backfill"), repositoryId, {
        ...(since ? { since: new Date(since) } : {}),
        ...(maxPullRequests ? { maxPullRequests } : {}),
      });
    },
  });

  const fetchTicketJob = defineJob({
    name: "changes.fetch-ticket",
    payload: z.object({ orgId: z.uuid(), key: z.string().regex(/^[A-Z][A-Z0-9_]{1,254}-[1-9][0-9]{0,8}$/) }),
    retry: { limit: 3, delaySeconds: 30, backoff: true },
    concurrency: 2,
    handler: async ({ orgId, key }) => {
      await fetchTicket(deps, systemContext(orgId, "changes.fetch-ticket"), key);
    },
  });

  return [syncRepositoryJob, syncDueJob, backfillJob, fetchTicketJob] as JobDefinition[];
}

export const CHANGES_JOB_NAMES = {
  sync: "changes.sync-repository",
  syncDue: "changes.sync-due",
  backfill: "changes.backfill-pulls",
  fetchTicket: "changes.fetch-ticket",
} as const;

/** The job and payload a follow-up becomes (the composition root sends it through the job runner). */
export function followUpJob(work: ChangesFollowUp): { name: string; payload: Record<string, unknown> } {
  switch (work.job) {
    case "sync":
      return {
        name: CHANGES_JOB_NAMES.sync,
        payload: { orgId: work.orgId, repositoryId: work.repositoryId, reason: work.reason },
      };
    case "fetch-ticket":
      return { name: CHANGES_JOB_NAMES.fetchTicket, payload: { orgId: work.orgId, key: work.key } };
  }
}
