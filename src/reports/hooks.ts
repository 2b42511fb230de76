import type { IncidentChange } from "../incidents/actions.ts";
import type { ProcessOutcome } from "../ingest/process-deliveries.ts";
import { requestReport } from "./deliver.ts";
import type { ReportsDeps } from "./deps.ts";
import { handleSlackInteraction } from "./interactions.ts";

/**
 * The ingest stage's after-commit hook for reports: a Slack delivery (ignored by normalize: it carries no
 * signals) is a button click to act on; an alert that opened, grew, resolved or reopened an incident
 * updates its report — once per incident and reason for a whole run of deliveries, so a burst of alerts
 * into one incident asks for one update, not one per alert. Failures are logged, never thrown: the
 * deliveries themselves were handled.
 */
export function reportsOnCommitted(deps: ReportsDeps) {
  return async (orgId: string, outcomes: readonly ProcessOutcome[]): Promise<void> => {
    const requests = new Map<string, Set<string>>();
    for (const outcome of outcomes) {
      try {
        if (outcome.status === "ignored") {
          await handleSlackInteraction(deps, orgId, outcome.deliveryId);
          continue;
        }
        for (const applied of outcome.applied) {
          const id = applied.incident?.id;
          const reason = reasonOf(applied);
          if (!id || !reason) continue;
          const reasons = requests.get(id) ?? new Set<string>();
          // "opened" covers the anomalies that join in the same run: the first report shows them all.
          if (!(reason === "anomaly" && reasons.has("opened"))) reasons.add(reason);
          requests.set(id, reasons);
        }
      } catch (error) {
        deps.logger.error({ err: error, deliveryId: outcome.deliveryId }, "reports hook failed");
      }
    }
    for (const [incidentId, reasons] of requests) {
      for (const reason of reasons) {
        try {
          await requestReport(deps, orgId, incidentId, reason);
        } catch (error) {
          deps.logger.error({ err: error, incidentId }, "reports hook failed");
        }
      }
    }
  };
}

function reasonOf(applied: ProcessOutcome["applied"][number]): string | undefined {
  const change = applied.incidentChange;
  if (change === "opened" || change === "resolved" || change === "reopened") return change;
  return applied.change === "created" ? "anomaly" : undefined;
}

/** The incident actions' after-commit hook: the report follows acknowledge, resolve and reopen. */
export function reportsOnIncidentChanged(deps: ReportsDeps) {
  return async (orgId: string, incidentId: string, change: IncidentChange): Promise<void> => {
    await requestReport(deps, orgId, incidentId, change);
  };
}
