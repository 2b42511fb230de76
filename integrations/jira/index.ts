import type { Provider } from "../core/types.ts";
import { normalizeJira } from "./normalize.ts";
import { verifyJira } from "./verify.ts";

export const jiraProvider: Provider = {
  id: "jira",
  displayName: "Jira",
  // Admin webhooks registered with a secret are signed (X-Hub-Signature: sha256=…); unsigned ones are refused.
  signsWebhooks: true,
  verify: verifyJira,
  normalize: normalizeJira,
};
