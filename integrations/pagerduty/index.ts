import type { Provider } from "../core/types.ts";
import { normalizePagerDuty } from "./normalize.ts";
import { verifyPagerDuty } from "./verify.ts";

export const pagerdutyProvider: Provider = {
  id: "pagerduty",
  displayName: "PagerDuty",
  // Each v3 webhook subscription has a signing secret (X-PagerDuty-Signature, v1= HMAC-SHA256).
  signsWebhooks: true,
  verify: verifyPagerDuty,
  normalize: normalizePagerDuty,
};
