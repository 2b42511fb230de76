import type { Logger } from "pino";
import type { Database } from "../../db/client.ts";
import { attributionJobs } from "../attribution/job.ts";
import type { AttributionDeps } from "../attribution/pipeline.ts";
import type { ChangesDeps } from "../changes/deps.ts";
import { changesJobs } from "../changes/jobs.ts";
import type { ReportsDeps } from "../reports/deps.ts";
import { reportsJobs } from "../reports/jobs.ts";
import type { JobDefinition } from "./define-job.ts";

export interface JobDeps {
  db: Database;
  logger: Logger;
  /** The changes stage: repository sync and schedule, PR backfill, ticket fetch. */
  changes?: ChangesDeps;
  /** The attribution stage: `attribution.run` per new anomaly. */
  attribution?: AttributionDeps;
  /** The reports stage: `reports.deliver` per Slack post, update or escalation. */
  reports?: ReportsDeps;
}

/** Every job the workers run. Stage folders add theirs here as they land. */
export function allJobs(deps: JobDeps): JobDefinition[] {
  return [
    ...(deps.changes ? changesJobs(deps.changes) : []),
    ...(deps.attribution ? attributionJobs(deps.attribution) : []),
    ...(deps.reports ? reportsJobs(deps.reports) : []),
  ];
}
