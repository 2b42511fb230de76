import { z } from "zod";
import { fingerprintOf, matchesAnySecret, parseBasicAuth, parseBearer, sha256Hex } from "../core/hmac.ts";
import { asText, isJsonObject, parseJsonBytes } from "../core/json.ts";
import type { VerifyInput, VerifyResult } from "../core/types.ts";

const REJECTED: VerifyResult = { ok: false, reason: "bad_signature" };

/** The integration config's `webhookAuth` (integrations/core/config-schemas.ts): which scheme the sender uses. */
const authConfigSchema = z.looseObject({
  webhookAuth: z.enum(["bearer", "basic"]).default("bearer"),
});

/**
 * Alertmanager `webhook_config` signs nothing. The sender authenticates with the `Authorization` header
 * from its `http_config`, as the integration's `webhookAuth` says: `bearer` (default):
 * `Bearer <secret>` (authorization.credentials); `basic`: Basic with the secret as the password
 * (basic_auth; the username is not checked). Only the configured scheme is accepted. Authenticated, not
 * integrity-protected. SigNoz embeds Alertmanager and uses the same check.
 */
export function verifyAlertmanager(input: VerifyInput): VerifyResult {
  return verifyAuthorizationHeader(input);
}

export function verifyAuthorizationHeader(input: VerifyInput): VerifyResult {
  try {
    if (!(input.rawBody instanceof Uint8Array) || !Array.isArray(input.secrets)) return REJECTED;
    const config = authConfigSchema.safeParse(input.config ?? {});
    if (!config.success) return REJECTED;
    const authorization = input.headers["authorization"];
    const presented =
      config.data.webhookAuth === "bearer"
        ? parseBearer(authorization)
        : parseBasicAuth(authorization)?.password;
    if (!matchesAnySecret(presented, input.secrets)) return REJECTED;
    return { ok: true, deliveryKey: alertGroupDeliveryKey(input.rawBody) };
  } catch {
    // Verification must never throw, whatever arrives.
    return REJECTED;
  }
}

/**
 * No delivery id exists, so the key is derived from content: the group key plus every alert's
 * fingerprint, status, startsAt and endsAt. A retry or a repeat notification with nothing new dedups; a
 * change (an alert resolving, a new alert joining the group) gets a new key. Keying on the group key and
 * the first alert's startsAt alone would swallow the "resolved" notification of the same group. Bodies
 * that are not an alert group fall back to a hash of the raw bytes.
 */
export function alertGroupDeliveryKey(rawBody: Uint8Array): string {
  const parsed = parseJsonBytes(rawBody);
  const body = parsed.ok ? parsed.value : undefined;
  const groupKey = isJsonObject(body) ? asText(body["groupKey"]) : undefined;
  const alerts = isJsonObject(body) ? body["alerts"] : undefined;
  if (!isJsonObject(body) || groupKey === undefined || !Array.isArray(alerts)) {
    return `body:${sha256Hex(rawBody)}`;
  }
  const parts = alerts.map((alert) =>
    isJsonObject(alert)
      ? ["fingerprint", "status", "startsAt", "endsAt"].map((field) => asText(alert[field]) ?? "").join("|")
      : "",
  );
  return `group:${fingerprintOf([groupKey, asText(body["status"]) ?? "", ...parts])}`;
}
