import type { Provider } from "../core/types.ts";
import { normalizeGitHub } from "./normalize.ts";
import { verifyGitHub } from "./verify.ts";

export const githubProvider: Provider = {
  id: "github",
  displayName: "GitHub",
  // Repository, organization and App webhooks are signed with the hook's secret (X-Hub-Signature-256).
  signsWebhooks: true,
  verify: verifyGitHub,
  normalize: normalizeGitHub,
};
