import { prefixedHmacVerifier } from "../core/prefixed-hmac.ts";

/**
 * Jira Cloud admin webhooks registered with a secret: `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw
 * body)>` (the WebSub header name with a SHA-256 value, not GitHub's `-256` header). Unsigned webhooks (no
 * secret, or Connect / OAuth apps, which send a JWT instead) are rejected. Jira signs no timestamp and
 * retries for up to ~30 minutes, so replays are caught by deduplicating on
 * `X-Atlassian-Webhook-Identifier`, stable across retries and returned as the delivery key.
 */
export const verifyJira = prefixedHmacVerifier({
  signatureHeader: "x-hub-signature",
  deliveryHeader: "x-atlassian-webhook-identifier",
  prefix: "sha256=",
});
