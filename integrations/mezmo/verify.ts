import { z } from "zod";
import { matchesAnySecret } from "../core/hmac.ts";
import type { VerifyInput, VerifyResult } from "../core/types.ts";

const REJECTED: VerifyResult = { ok: false, reason: "bad_signature" };

/** The parts of the integration config (integrations/core/config-schemas.ts) that verification reads. */
const authConfigSchema = z.looseObject({
  /** Name of the header the Mezmo webhook channel sets to the secret. */
  authHeader: z
    .string()
    .trim()
    .min(1)
    .max(128)
    .transform((name) => name.toLowerCase())
    .default("x-causeway-token"),
  /** A `?token=` in the URL ends up in access logs, so it is only accepted when the integration opts in. */
  allowQueryToken: z.boolean().default(false),
});

/**
 * Mezmo (LogDNA) signs nothing. The webhook channel sends the secret in a header of our choosing
 * (config `authHeader`, default `X-Causeway-Token`), or, when the integration sets `allowQueryToken`, as
 * a `token` query parameter. Authenticated, not integrity-protected. Both places are checked, so timing
 * does not say which one matched. There is no delivery id, and identical alert bodies are legitimately
 * repeated (same view, same count), so no delivery key is derived.
 */
export function verifyMezmo(input: VerifyInput): VerifyResult {
  try {
    if (!(input.rawBody instanceof Uint8Array) || !Array.isArray(input.secrets)) return REJECTED;
    const config = authConfigSchema.safeParse(input.config ?? {});
    if (!config.success) return REJECTED;
    const byHeader = matchesAnySecret(input.headers[config.data.authHeader], input.secrets);
    const byQuery = matchesAnySecret(input.query?.["token"], input.secrets);
    if (!(byHeader || (config.data.allowQueryToken && byQuery))) return REJECTED;
    return { ok: true };
  } catch {
    // Verification must never throw, whatever arrives.
    return REJECTED;
  }
}
