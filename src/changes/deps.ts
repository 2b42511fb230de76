import type { Logger } from "pino";
import type { Database } from "../../db/client.ts";
import type { HttpLimits } from "../../integrations/core/upstream.ts";
import type { CredentialStore } from "../credentials/store.ts";
import type { GitHubAppTokens } from "./github-app.ts";
import type { MirrorStore } from "./mirrors.ts";

/** Follow-up work the changes stage hands to the job queue when one is wired (see jobs.ts). */
export type ChangesFollowUp =
  | { job: "sync"; orgId: string; repositoryId: string; reason: string }
  | { job: "fetch-ticket"; orgId: string; key: string };

/** What the changes stage needs; built once by the composition root. */
export interface ChangesDeps {
  db: Database;
  logger: Logger;
  credentials: CredentialStore;
  mirrors: MirrorStore;
  githubApps: GitHubAppTokens;
  /** Causeway's data folder: repository URLs may not point inside it. */
  dataDir: string;
  /** Deadline and body cap for Jira calls. */
  httpLimits: HttpLimits;
  /** Queues follow-up work; without it, pushes only mark the mirror stale and tickets are fetched on read. */
  enqueue?: (work: ChangesFollowUp) => Promise<void>;
  /** GitHub API: the longest rate-limit wait to sleep through before failing retryably. */
  githubMaxRateLimitWaitMs?: number;
}
