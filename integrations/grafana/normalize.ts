import { normalizeAlertGroup, parseAlertGroup } from "../alertmanager/alert-group.ts";
import { isJsonObject } from "../core/json.ts";
import type { NormalizeInput, NormalizeResult } from "../core/types.ts";

/**
 * Grafana webhook contact point (`version: "1"`): Alertmanager's group format plus Grafana's extras
 * (dashboardURL, panelURL, silenceURL, imageURL, values, valueString per alert; title, state, message per
 * group). One metric Signal per alert, via the shared alert-group normalizer.
 *
 * The contact point's "Test" button sends a synthetic alert (alertname "TestAlert", instance "Grafana");
 * that delivery is acknowledged and ignored rather than opening an anomaly.
 */
export function normalizeGrafana(input: NormalizeInput): NormalizeResult {
  const parsed = parseAlertGroup(input.body);
  if (!parsed.ok) return parsed;
  const { alerts } = parsed.group;
  if (alerts.length > 0 && alerts.every(isTestAlert)) {
    return { ok: true, signals: [], eventType: "test", ignored: true };
  }
  return normalizeAlertGroup(parsed.group, { source: "grafana", receivedAt: input.receivedAt });
}

function isTestAlert(alert: unknown): boolean {
  if (!isJsonObject(alert) || !isJsonObject(alert["labels"])) return false;
  const labels = alert["labels"];
  return labels["alertname"] === "TestAlert" && labels["instance"] === "Grafana";
}
