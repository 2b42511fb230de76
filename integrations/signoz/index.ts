import type { Provider } from "../core/types.ts";
import { normalizeSignoz } from "./normalize.ts";
import { verifySignoz } from "./verify.ts";

export const signozProvider: Provider = {
  id: "signoz",
  displayName: "SigNoz",
  // SigNoz signs nothing; the generated secret is the bearer token (or Basic password) its channel sends.
  signsWebhooks: true,
  verify: verifySignoz,
  normalize: normalizeSignoz,
};
