// SigNoz's webhook channel is its embedded Alertmanager: same Authorization header, same body.
import { verifyAuthorizationHeader } from "../alertmanager/verify.ts";
import type { VerifyInput, VerifyResult } from "../core/types.ts";

/**
 * SigNoz signs nothing. Its webhook channel sends `Authorization: Bearer <secret>` (bearer token field) or
 * Basic with the secret as the password (SigNoz's docs: empty username, secret in the password field).
 */
export function verifySignoz(input: VerifyInput): VerifyResult {
  return verifyAuthorizationHeader(input);
}
