import type { Provider } from "../core/types.ts";
import { normalizeSlack } from "./normalize.ts";
import { verifySlack } from "./verify.ts";

export const slackProvider: Provider = {
  id: "slack",
  displayName: "Slack",
  // The Slack app's signing secret signs every request (X-Slack-Signature over v0:timestamp:body).
  signsWebhooks: true,
  verify: verifySlack,
  normalize: normalizeSlack,
};
