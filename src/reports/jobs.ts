import { z } from "zod";
import { defineJob, type JobDefinition } from "../jobs/define-job.ts";
import { deliverReport } from "./deliver.ts";
import type { ReportsDeps } from "./deps.ts";

/** Attempts of one Slack dispatch: the first and four retries with backoff (rate limits wait Retry-After inside each). */
export const REPORT_RETRY = { limit: 4, delaySeconds: 10, backoff: true } as const;

export const DELIVER_REPORT_JOB = "reports.deliver";

export function reportsJobs(deps: ReportsDeps): JobDefinition[] {
  const deliver = defineJob({
    name: DELIVER_REPORT_JOB,
    payload: z.object({ orgId: z.uuid(), incidentId: z.uuid(), notificationId: z.uuid() }),
    retry: REPORT_RETRY,
    concurrency: 4,
    expireInSeconds: 5 * 60,
    handler: async (payload, ctx) => {
      await deliverReport(deps, payload, { attempt: ctx.attempt });
    },
  });
  return [deliver] as JobDefinition[];
}
