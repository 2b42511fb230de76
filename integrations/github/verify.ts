import { matchesAnyHmacHex } from "../core/hmac.ts";
import type { VerifyInput, VerifyResult } from "../core/types.ts";

const SIGNATURE_HEADER = "x-hub-signature-256";
const DELIVERY_HEADER = "x-github-delivery";
const PREFIX = "sha256=";
const REJECTED: VerifyResult = { ok: false, reason: "bad_signature" };

/**
 * GitHub webhooks (repository, organization or GitHub App): `X-Hub-Signature-256` is
 * `sha256=<hex HMAC-SHA256(secret, raw body)>`. The legacy SHA-1 `X-Hub-Signature` is never accepted, not
 * even as a fallback. GitHub signs no timestamp, so replays are caught by deduplicating on
 * `X-GitHub-Delivery` (a GUID that stays the same on redelivery), returned as the delivery key. GitHub has
 * one secret per hook; several secrets here are our own rotation window.
 */
export function verifyGitHub(input: VerifyInput): VerifyResult {
  try {
    if (!(input.rawBody instanceof Uint8Array) || !Array.isArray(input.secrets)) return REJECTED;
    const header = input.headers[SIGNATURE_HEADER];
    if (typeof header !== "string" || !header.startsWith(PREFIX)) return REJECTED;
    if (!matchesAnyHmacHex(header.slice(PREFIX.length), input.secrets, input.rawBody)) return REJECTED;
    return { ok: true, deliveryKey: deliveryKeyOf(input.headers[DELIVERY_HEADER]) };
  } catch {
    // Verification must never throw, whatever arrives.
    return REJECTED;
  }
}

/** GitHub sends a GUID; keep any short printable token and drop anything else rather than store it. */
function deliveryKeyOf(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const trimmed = value.trim();
  return /^[\x21-\x7e]{1,128}$/.test(trimmed) ? trimmed : undefined;
}
