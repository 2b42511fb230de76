import { matchesAnyHmacHex } from "../core/hmac.ts";
import type { VerifyInput, VerifyResult } from "../core/types.ts";

const SIGNATURE_HEADER = "x-slack-signature";
const TIMESTAMP_HEADER = "x-slack-request-timestamp";
const PREFIX = "v0=";
/** Slack's own SDKs reject requests more than five minutes from now, in either direction. */
export const SLACK_TIMESTAMP_TOLERANCE_SECONDS = 300;
const REJECTED: VerifyResult = { ok: false, reason: "bad_signature" };
const STALE: VerifyResult = { ok: false, reason: "stale_timestamp" };

/**
 * Slack request signing (interactivity, slash commands, Events API): `X-Slack-Signature` is
 * `v0=<hex HMAC-SHA256(signing secret, "v0:" + X-Slack-Request-Timestamp + ":" + raw body)>`. The timestamp
 * is inside the MAC, so a replay is refused once |now − timestamp| exceeds five minutes.
 *
 * The signature is checked before the clock, so a forged request is reported as a bad signature whatever
 * timestamp it claims; only an authentic but old (or future) request is "stale_timestamp". Slack sends
 * no delivery id, so there is no delivery key: the timestamp window is the replay guard.
 */
export function verifySlack(input: VerifyInput): VerifyResult {
  try {
    if (!(input.rawBody instanceof Uint8Array) || !Array.isArray(input.secrets)) return REJECTED;
    const timestamp = input.headers[TIMESTAMP_HEADER];
    const signature = input.headers[SIGNATURE_HEADER];
    if (typeof timestamp !== "string" || !/^\d{1,12}$/.test(timestamp)) return REJECTED;
    if (typeof signature !== "string" || !signature.startsWith(PREFIX)) return REJECTED;
    const signed = Buffer.concat([Buffer.from(`v0:${timestamp}:`, "utf8"), input.rawBody]);
    if (!matchesAnyHmacHex(signature.slice(PREFIX.length), input.secrets, signed)) return REJECTED;
    const nowSeconds = input.now.getTime() / 1000;
    // An unusable clock cannot prove freshness: refuse rather than accept.
    if (!Number.isFinite(nowSeconds)) return STALE;
    if (Math.abs(nowSeconds - Number(timestamp)) > SLACK_TIMESTAMP_TOLERANCE_SECONDS) return STALE;
    return { ok: true, deliveryKey: undefined };
  } catch {
    // Verification must never throw, whatever arrives.
    return REJECTED;
  }
}
