import type { Provider } from "../core/types.ts";
import { normalizeDatadog } from "./normalize.ts";
import { verifyDatadog } from "./verify.ts";

export const datadogProvider: Provider = {
  id: "datadog",
  displayName: "Datadog",
  // Datadog signs nothing; the generated secret is the static token header value (or Basic password, or
  // the HMAC key of a relay that sends DD-WEBHOOK-SIGNATURE).
  signsWebhooks: true,
  verify: verifyDatadog,
  normalize: normalizeDatadog,
};
