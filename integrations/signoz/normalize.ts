import { normalizeAlertGroup, parseAlertGroup } from "../alertmanager/alert-group.ts";
import type { NormalizeInput, NormalizeResult } from "../core/types.ts";

/**
 * SigNoz alert notification → one metric Signal per alert. The body is the Alertmanager message byte for
 * byte; SigNoz's labels (`service_name`, `deployment_environment`, `severity`, `ruleId`, `ruleSource`) are
 * covered by the shared label mapping.
 */
export function normalizeSignoz(input: NormalizeInput): NormalizeResult {
  const parsed = parseAlertGroup(input.body);
  if (!parsed.ok) return parsed;
  return normalizeAlertGroup(parsed.group, { source: "signoz", receivedAt: input.receivedAt });
}
