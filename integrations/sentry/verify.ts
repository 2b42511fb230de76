import { deliveryKeyOf, matchesAnyHmacHex } from "../core/hmac.ts";
import type { VerifyInput, VerifyResult } from "../core/types.ts";

const SIGNATURE_HEADER = "sentry-hook-signature";
const REQUEST_ID_HEADER = "request-id";
const REJECTED: VerifyResult = { ok: false, reason: "bad_signature" };

/**
 * Sentry integration-platform webhooks: `Sentry-Hook-Signature` is bare lowercase hex
 * HMAC-SHA256(client secret, raw body). `Sentry-Hook-Timestamp` is not signed, so it buys no replay
 * protection; replays are caught by deduplicating on `Request-ID`, which we return as the delivery key.
 */
export function verifySentry(input: VerifyInput): VerifyResult {
  try {
    const signature = input.headers[SIGNATURE_HEADER];
    if (!(input.rawBody instanceof Uint8Array) || !Array.isArray(input.secrets)) return REJECTED;
    if (!matchesAnyHmacHex(signature, input.secrets, input.rawBody)) return REJECTED;
    return { ok: true, deliveryKey: deliveryKeyOf(input.headers[REQUEST_ID_HEADER]) };
  } catch {
    // Verification must never throw, whatever arrives.
    return REJECTED;
  }
}
