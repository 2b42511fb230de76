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

export function attributionJobs(deps: AttributionDeps): JobDefinition[] {
  return [attributionJob(deps) as unknown as JobDefinition];
}
