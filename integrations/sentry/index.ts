import type { Provider } from "../core/types.ts";
import { normalizeSentry } from "./normalize.ts";
import { verifySentry } from "./verify.ts";

export const sentryProvider: Provider = {
  id: "sentry",
  displayName: "Sentry",
  // Sentry signs every body (Sentry-Hook-Signature) with the integration's Client Secret. Sentry issues that
  // secret, so the operator pastes it in (config-schemas.ts: webhookSecretChosenBy "sender").
  signsWebhooks: true,
  verify: verifySentry,
  normalize: normalizeSentry,
};
