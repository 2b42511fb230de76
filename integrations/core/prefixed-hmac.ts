import { deliveryKeyOf, matchesAnyHmacHex } from "./hmac.ts";
import type { VerifyInput, VerifyResult } from "./types.ts";

const REJECTED: VerifyResult = { ok: false, reason: "bad_signature" };

/**
 * The WebSub-style scheme GitHub and Jira share: one header holding `<prefix><hex HMAC-SHA256(secret, raw
 * body)>`, no signed timestamp, and a delivery id header that stays the same on redelivery (the replay
 * guard's key). Any of the integration's active secrets matches (our rotation window). Never throws.
 */
export function prefixedHmacVerifier(scheme: {
  signatureHeader: string;
  deliveryHeader: string;
  prefix: string;
}): (input: VerifyInput) => VerifyResult {
  return (input) => {
    try {
      if (!(input.rawBody instanceof Uint8Array) || !Array.isArray(input.secrets)) return REJECTED;
      const header = input.headers[scheme.signatureHeader];
      if (typeof header !== "string" || !header.startsWith(scheme.prefix)) return REJECTED;
      const hex = header.slice(scheme.prefix.length);
      if (!matchesAnyHmacHex(hex, input.secrets, input.rawBody)) return REJECTED;
      return { ok: true, deliveryKey: deliveryKeyOf(input.headers[scheme.deliveryHeader]) };
    } catch {
      return REJECTED;
    }
  };
}
