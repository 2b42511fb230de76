import type { NormalizeInput, NormalizeResult } from "../core/types.ts";
import { normalizeAlertGroup, parseAlertGroup } from "./alert-group.ts";

/** Prometheus Alertmanager `webhook_config` notification → one metric Signal per alert (alert-group.ts). */
export function normalizeAlertmanager(input: NormalizeInput): NormalizeResult {
  const parsed = parseAlertGroup(input.body);
  if (!parsed.ok) return parsed;
  return normalizeAlertGroup(parsed.group, { source: "alertmanager", receivedAt: input.receivedAt });
}
