import { prefixedHmacVerifier } from "../core/prefixed-hmac.ts";

/**
 * GitHub webhooks (repository, organization or GitHub App): `X-Hub-Signature-256` is
 * `sha256=<hex HMAC-SHA256(secret, raw body)>`. The legacy SHA-1 `X-Hub-Signature` is never accepted, not
 * even as a fallback. GitHub signs no timestamp, so replays are caught by deduplicating on
 * `X-GitHub-Delivery` (a GUID that stays the same on redelivery), returned as the delivery key. GitHub has
 * one secret per hook; several secrets here are our own rotation window.
 */
export const verifyGitHub = prefixedHmacVerifier({
  signatureHeader: "x-hub-signature-256",
  deliveryHeader: "x-github-delivery",
  prefix: "sha256=",
});
