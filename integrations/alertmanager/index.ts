import type { Provider } from "../core/types.ts";
import { normalizeAlertmanager } from "./normalize.ts";
import { verifyAlertmanager } from "./verify.ts";

export const alertmanagerProvider: Provider = {
  id: "alertmanager",
  displayName: "Prometheus Alertmanager",
  // Alertmanager signs nothing; the generated secret is the Bearer token (or Basic password) it must send.
  signsWebhooks: true,
  verify: verifyAlertmanager,
  normalize: normalizeAlertmanager,
};
