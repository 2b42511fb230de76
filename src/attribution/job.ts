/**
 * `attribution.run`: one anomaly, retried with backoff on retryable failures (engine down, fetch timeout);
 * the last attempt, or a permanent failure, records status failed with the error. Re-running replaces the
 * stored result, so a retry (or the retry endpoint) is always safe.
 */
import { z } from "zod";
import { AppError } from "../errors.ts";
import { defineJob, type JobDefinition } from "../jobs/define-job.ts";
import { type AttributionDeps, recordAttributionFailure, runAttribution } from "./pipeline.ts";

export const ATTRIBUTION_JOB = "attribution.run";
export const ATTRIBUTION_RETRY = { limit: 3, delaySeconds: 15, backoff: true } as const;

export const AttributionJobPayload = z.object({ orgId: z.uuid(), anomalyId: z.uuid() });
export type AttributionJobPayload = z.infer<typeof AttributionJobPayload>;

export function attributionJob(deps: AttributionDeps): JobDefinition<typeof AttributionJobPayload> {
  return defineJob({
    name: ATTRIBUTION_JOB,
    payload: AttributionJobPayload,
    retry: ATTRIBUTION_RETRY,
    concurrency: 2,
    expireInSeconds: 10 * 60,
    handler: async ({ orgId, anomalyId }, ctx) => {
      try {
        await runAttribution(deps, orgId, anomalyId);
      } catch (error) {
        const retryable = !(error instanceof AppError) || error.retryable === true;
        const last = ctx.attempt >= ATTRIBUTION_RETRY.limit;
        deps.logger.warn(
          { err: error, orgId, anomalyId, attempt: ctx.attempt, retryable },
          "attribution failed",
        );
        // The anomaly is gone (deleted with its org): nothing to record, nothing to retry.
        if (error instanceof AppError && error.code === "not_found") return;
        if (!retryable || last) await recordAttributionFailure(deps, orgId, anomalyId, error);
        throw error;
      }
    },
  });
}

export const SANDBOX_REAP_JOB = "sandbox.reap";
/** Every 15 minutes: a sandbox lives 24 h by default, so an expired one lingers at most this long. */
export const SANDBOX_REAP_CRON = "*/15 * * * *";

/**
 * `sandbox.reap`, on a schedule: removes expired, stopped and orphaned sandboxes (a container left by a
 * crashed server is found by its labels, so a restart cleans up after the previous process). The same
 * work as `causeway sandbox reap`.
 */
export function sandboxReapJob(
  deps: Pick<AttributionDeps, "sandbox" | "logger">,
  now: () => Date = () => new Date(),
): JobDefinition {
  return defineJob({
    name: SANDBOX_REAP_JOB,
    payload: z.object({}).default({}),
    retry: { limit: 0, delaySeconds: 60, backoff: false },
    concurrency: 1,
    expireInSeconds: 10 * 60,
    cron: SANDBOX_REAP_CRON,
    handler: async () => {
      const { removed } = await deps.sandbox.reap(now());
      if (removed.length > 0) deps.logger.info({ removed: removed.length }, "sandboxes reaped");
    },
  }) as unknown as JobDefinition;
}

export function attributionJobs(deps: AttributionDeps): JobDefinition[] {
  return [attributionJob(deps) as unknown as JobDefinition, sandboxReapJob(deps)];
}
