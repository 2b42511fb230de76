import type { Logger } from "pino";
import type { Database } from "../../db/client.ts";
import type { SlackClient, SlackClientOptions } from "../../integrations/slack/client.ts";
import type { CredentialStore } from "../credentials/store.ts";

/** The job payload of one Slack dispatch; the notification row says what it is and how it went. */
export interface DeliverReportPayload {
  orgId: string;
  incidentId: string;
  notificationId: string;
}

/** What the reports stage needs; built once by the composition root. */
export interface ReportsDeps {
  db: Database;
  logger: Logger;
  credentials: CredentialStore;
  /** Where the timeline links in reports point (PUBLIC_URL). */
  publicBaseUrl: string;
  /** Builds the Slack client for an integration's token and base URL. */
  slackClient: (options: SlackClientOptions) => SlackClient;
  /** Queues a delivery job; without it, deliveries run inline (CLI, tests of the service alone). */
  enqueue?: (payload: DeliverReportPayload) => Promise<void>;
  /** Attempts of a delivery job (first + retries): the last failure is final. */
  maxAttempts: number;
}
