import { z } from "zod";
import { alertGroupDeliveryKey } from "../alertmanager/verify.ts";
import { matchesAnyHmacHex, matchesAnySecret, parseBasicAuth, parseBearer } from "../core/hmac.ts";
import type { VerifyInput, VerifyResult } from "../core/types.ts";

const REJECTED: VerifyResult = { ok: false, reason: "bad_signature" };
const DEFAULT_SIGNATURE_HEADER = "x-grafana-alerting-signature";
/** Grafana sets no tolerance on its signed timestamp; five minutes unless the integration says otherwise. */
export const GRAFANA_DEFAULT_TOLERANCE_SECONDS = 300;

const headerName = z
  .string()
  .trim()
  .min(1)
  .max(128)
  .transform((name) => name.toLowerCase());

/** The parts of the integration config (integrations/core/config-schemas.ts) that verification reads. */
const authConfigSchema = z.looseObject({
  /** hmac: Grafana ≥ 12 HMAC signing; bearer / basic: the Authorization header of older Grafana. */
  webhookAuth: z.enum(["hmac", "bearer", "basic"]).default("hmac"),
  /** HMAC signature header (Grafana lets the user rename it). */
  hmacHeader: headerName.default(DEFAULT_SIGNATURE_HEADER),
  /** When set, Grafana signs `timestamp + ":" + body` and sends the Unix seconds in this header. */
  timestampHeader: headerName.nullish(),
  timestampToleranceSeconds: z.int().min(1).max(86_400).default(GRAFANA_DEFAULT_TOLERANCE_SECONDS),
});

/**
 * Grafana webhook contact point, by the integration's `webhookAuth`:
 * - `hmac` (Grafana ≥ 12, default): `X-Grafana-Alerting-Signature` (config `hmacHeader`) = bare hex
 *   HMAC-SHA256(secret, body), or of `ts + ":" + body` when `timestampHeader` is configured; then
 *   |now − ts| must be within `timestampToleranceSeconds` (300). Staleness is only reported for a correctly
 *   signed request, so it reveals nothing to someone without the secret.
 * - `bearer` / `basic` (older Grafana): the secret as the Bearer token or the Basic password.
 */
export function verifyGrafana(input: VerifyInput): VerifyResult {
  try {
    if (!(input.rawBody instanceof Uint8Array) || !Array.isArray(input.secrets)) return REJECTED;
    const config = authConfigSchema.safeParse(input.config ?? {});
    if (!config.success) return REJECTED;
    const { webhookAuth, hmacHeader, timestampHeader, timestampToleranceSeconds } = config.data;

    if (webhookAuth === "bearer" || webhookAuth === "basic") {
      const authorization = input.headers["authorization"];
      const presented =
        webhookAuth === "bearer" ? parseBearer(authorization) : parseBasicAuth(authorization)?.password;
      if (!matchesAnySecret(presented, input.secrets)) return REJECTED;
      return { ok: true, deliveryKey: alertGroupDeliveryKey(input.rawBody) };
    }

    const signature = input.headers[hmacHeader];
    let signed: Uint8Array = input.rawBody;
    let timestamp: number | undefined;
    if (typeof timestampHeader === "string") {
      const ts = input.headers[timestampHeader];
      if (typeof ts !== "string" || !/^\d{1,12}$/.test(ts)) return REJECTED;
      timestamp = Number(ts);
      signed = Buffer.concat([Buffer.from(`${ts}:`, "utf8"), input.rawBody]);
    }
    if (!matchesAnyHmacHex(signature, input.secrets, signed)) return REJECTED;
    if (timestamp !== undefined) {
      const skewSeconds = Math.abs(input.now.getTime() / 1000 - timestamp);
      if (!(skewSeconds <= timestampToleranceSeconds)) return { ok: false, reason: "stale_timestamp" };
    }
    return { ok: true, deliveryKey: alertGroupDeliveryKey(input.rawBody) };
  } catch {
    // Verification must never throw, whatever arrives.
    return REJECTED;
  }
}
