import type { Provider } from "../core/types.ts";
import { normalizeGrafana } from "./normalize.ts";
import { verifyGrafana } from "./verify.ts";

export const grafanaProvider: Provider = {
  id: "grafana",
  displayName: "Grafana Alerting",
  // The generated secret is the contact point's HMAC secret (Grafana ≥ 12), else its Bearer token / Basic password.
  signsWebhooks: true,
  verify: verifyGrafana,
  normalize: normalizeGrafana,
};
