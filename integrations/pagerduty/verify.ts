import { deliveryKeyOf, hmacSha256Hex, timingSafeEqualHex } from "../core/hmac.ts";
import type { VerifyInput, VerifyResult } from "../core/types.ts";

const SIGNATURE_HEADER = "x-pagerduty-signature";
const WEBHOOK_ID_HEADER = "x-webhook-id";
const V1_PREFIX = "v1=";
/** PagerDuty sends one signature per active subscription secret; more than a handful is not a rotation. */
const MAX_SIGNATURES = 8;
const REJECTED: VerifyResult = { ok: false, reason: "bad_signature" };

/**
 * PagerDuty v3 webhook subscriptions: `X-PagerDuty-Signature` is a comma-separated list of
 * `v1=<hex HMAC-SHA256(secret, raw body)>`, one entry per secret active on PagerDuty's side. The delivery
 * is authentic when ANY listed v1 signature matches ANY of our active secrets, which makes a rotation on
 * either side zero-downtime. Nothing is timestamped, so replays are caught by deduplicating on
 * `X-Webhook-Id`, returned as the delivery key.
 */
export function verifyPagerDuty(input: VerifyInput): VerifyResult {
  try {
    if (!(input.rawBody instanceof Uint8Array) || !Array.isArray(input.secrets)) return REJECTED;
    const provided = v1SignaturesOf(input.headers[SIGNATURE_HEADER]);
    if (provided.length === 0) return REJECTED;
    const expected = input.secrets
      .filter((secret): secret is string => typeof secret === "string" && secret.length > 0)
      .map((secret) => hmacSha256Hex(secret, input.rawBody));
    // Every pair is compared, even after a match, so timing does not tell which secret or entry matched.
    let matched = false;
    for (const signature of provided) {
      for (const digest of expected) {
        if (timingSafeEqualHex(signature, digest)) matched = true;
      }
    }
    if (!matched) return REJECTED;
    return { ok: true, deliveryKey: deliveryKeyOf(input.headers[WEBHOOK_ID_HEADER]) };
  } catch {
    // Verification must never throw, whatever arrives.
    return REJECTED;
  }
}

/** The hex digests of the `v1=` entries; entries of other (future) versions are skipped, not trusted. */
function v1SignaturesOf(header: unknown): string[] {
  if (typeof header !== "string") return [];
  return header
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith(V1_PREFIX))
    .slice(0, MAX_SIGNATURES)
    .map((entry) => entry.slice(V1_PREFIX.length));
}
