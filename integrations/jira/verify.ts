import { matchesAnyHmacHex } from "../core/hmac.ts";
import type { VerifyInput, VerifyResult } from "../core/types.ts";

/** Jira uses the WebSub header name, `X-Hub-Signature`, with a SHA-256 value (not GitHub's `-256` header). */
const SIGNATURE_HEADER = "x-hub-signature";
const DELIVERY_HEADER = "x-atlassian-webhook-identifier";
const PREFIX = "sha256=";
const REJECTED: VerifyResult = { ok: false, reason: "bad_signature" };

/**
 * Jira Cloud admin webhooks registered with a secret: `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw
 * body)>`. Unsigned webhooks (no secret, or Connect / OAuth apps, which send a JWT instead) are rejected.
 * Jira signs no timestamp and retries for up to ~30 minutes, so replays are caught by deduplicating on
 * `X-Atlassian-Webhook-Identifier`, stable across retries and returned as the delivery key.
 */
export function verifyJira(input: VerifyInput): VerifyResult {
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

/** Keep any short printable identifier; drop anything else rather than store it. */
function deliveryKeyOf(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const trimmed = value.trim();
  return /^[\x21-\x7e]{1,128}$/.test(trimmed) ? trimmed : undefined;
}
