import type { Logger } from "pino";
import { type Database, withOrg } from "../../db/client.ts";
import { systemContext } from "../context.ts";
import { appendAudit } from "../evidence/audit.ts";
import type { WebhookTarget } from "./webhook-target.ts";

/**
 * A webhook that failed authentication leaves an audit entry in the integration's org (who tried, not
 * what they sent). Failing to record it must not turn a 401 into a 500, so errors are logged only.
 */
export function recordRejectedWebhook(db: Database, logger: Logger) {
  return async (target: WebhookTarget, reason: "bad_signature" | "stale_timestamp"): Promise<void> => {
    try {
      await withOrg(db, target.orgId, (tx) =>
        appendAudit(tx, systemContext(target.orgId, "ingest"), {
          action: "webhook.rejected",
          subjectType: "integration",
          subjectId: target.integrationId,
          data: { provider: target.provider, reason },
        }),
      );
    } catch (error) {
      logger.error({ err: error, integrationId: target.integrationId }, "could not audit a rejected webhook");
    }
  };
}
