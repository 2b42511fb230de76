import { z } from "zod";
import { matchesAnyHmacHex, matchesAnySecret, parseBasicAuth, sha256Hex } from "../core/hmac.ts";
import { isJsonObject, parseJsonBytes } from "../core/json.ts";
import type { VerifyInput, VerifyResult } from "../core/types.ts";
import { templateValue } from "./template.ts";

const REJECTED: VerifyResult = { ok: false, reason: "bad_signature" };
const SIGNATURE_HEADER = "dd-webhook-signature";

/** The parts of the integration config (integrations/core/config-schemas.ts) that verification reads. */
const authConfigSchema = z.looseObject({
  /** Which of the three methods this integration's sender uses; only that one is accepted. */
  webhookAuth: z.enum(["header", "hmac", "basic"]).default("header"),
  /** Name of the custom header that carries the static token (Datadog webhook "Custom Headers"). */
  authHeader: z
    .string()
    .trim()
    .min(1)
    .max(128)
    .transform((name) => name.toLowerCase())
    .default("x-causeway-token"),
});

/**
 * Datadog does not sign webhooks. The integration's `webhookAuth` picks how the secret arrives, compared
 * in constant time against every active secret:
 * - `header` (default): a static token in the header named by `authHeader` (default `X-Causeway-Token`),
 *   set in the webhook's Custom Headers. Authenticated only.
 * - `basic`: `Authorization: Basic` with the secret as the password, from `https://user:secret@host/...`
 *   (the username is not checked). Authenticated only.
 * - `hmac`: `DD-WEBHOOK-SIGNATURE` = hex HMAC-SHA256(secret, raw body), for a relay that can compute one.
 *   Integrity-protected.
 */
export function verifyDatadog(input: VerifyInput): VerifyResult {
  try {
    if (!(input.rawBody instanceof Uint8Array) || !Array.isArray(input.secrets)) return REJECTED;
    const config = authConfigSchema.safeParse(input.config ?? {});
    if (!config.success) return REJECTED;
    const { webhookAuth, authHeader } = config.data;
    const headers = input.headers;
    const ok =
      webhookAuth === "hmac"
        ? matchesAnyHmacHex(headers[SIGNATURE_HEADER], input.secrets, input.rawBody)
        : webhookAuth === "basic"
          ? matchesAnySecret(parseBasicAuth(headers["authorization"])?.password, input.secrets)
          : matchesAnySecret(headers[authHeader], input.secrets);
    if (!ok) return REJECTED;
    return { ok: true, deliveryKey: datadogDeliveryKey(input.rawBody) };
  } catch {
    // Verification must never throw, whatever arrives.
    return REJECTED;
  }
}

/**
 * Datadog sends no delivery id. The recommended template carries `$ALERT_CYCLE_KEY` (one trigger-to-recovery
 * cycle), `$ALERT_TRANSITION` and the event id `$ID`; a retry repeats all three. The event id keeps a second
 * Re-Triggered within one cycle from being taken for a replay. Without those fields: the event id, else a
 * hash of the raw body.
 */
export function datadogDeliveryKey(rawBody: Uint8Array): string {
  const parsed = parseJsonBytes(rawBody);
  const body = parsed.ok && isJsonObject(parsed.value) ? parsed.value : {};
  const cycle = templateValue(body["alert_cycle_key"]);
  const transition = templateValue(body["alert_transition"]);
  const eventId = templateValue(body["id"]);
  if (cycle !== undefined && transition !== undefined)
    return bounded(`cycle:${cycle}:${transition}:${eventId ?? ""}`);
  if (eventId !== undefined) return bounded(`event:${eventId}`);
  return `body:${sha256Hex(rawBody)}`;
}

/** Template values are free text; keep the key short enough to index. */
function bounded(key: string): string {
  return key.length <= 200 ? key : `sha256:${sha256Hex(key)}`;
}
