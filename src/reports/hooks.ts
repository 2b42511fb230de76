import type { IncidentChange } from "../incidents/actions.ts";
import type { ProcessOutcome } from "../ingest/process-deliveries.ts";
import { requestReport } from "./deliver.ts";
import type { ReportsDeps } from "./deps.ts";
import { handleSlackInteraction } from "./interactions.ts";

/**
 * The ingest stage's after-commit hook for reports: a Slack delivery (ignored by normalize: it carries no
 * signals) is a button click to act on; an alert that opened, grew, resolved or reopened an incident
 * updates its report. Failures are logged, never thrown: the delivery itself was handled.
 */
export function reportsOnCommitted(deps: ReportsDeps) {
  return async (orgId: string, outcome: ProcessOutcome): Promise<void> => {
    try {
      if (outcome.status === "ignored") {
        await handleSlackInteraction(deps, orgId, outcome.deliveryId);
        return;
      }
      const reasons = new Map<string, string>();
      for (const applied of outcome.applied) {
        const id = applied.incident?.id;
        if (!id) continue;
        const reason =
          applied.incidentChange === "opened"
            ? "opened"
            : applied.incidentChange === "resolved"
              ? "resolved"
              : applied.incidentChange === "reopened"
                ? "reopened"
                : applied.change === "created"
                  ? "anomaly"
                  : undefined;
        // One report per incident per delivery; "opened" wins over later changes of the same delivery.
        if (reason && !reasons.has(id)) reasons.set(id, reason);
      }
      for (const [incidentId, reason] of reasons) await requestReport(deps, orgId, incidentId, reason);
    } catch (error) {
      deps.logger.error({ err: error, deliveryId: outcome.deliveryId }, "reports hook failed");
    }
  };
}

/** The incident actions' after-commit hook: the report follows acknowledge, resolve and reopen. */
export function reportsOnIncidentChanged(deps: ReportsDeps) {
  return async (orgId: string, incidentId: string, change: IncidentChange): Promise<void> => {
    await requestReport(deps, orgId, incidentId, change);
  };
}
