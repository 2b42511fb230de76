import { REDACTED } from "../telemetry/redact.ts";

const SENSITIVE = /authorization|cookie|token|secret|signature|api[-_]?key|password/i;

/**
 * Headers as we keep them with a delivery: lower-cased, credentials and signatures replaced, bounded in
 * size. Enough to debug a sender's configuration, nothing that could authenticate a forged request.
 */
export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  let count = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (count++ >= 64) break;
    const key = name.toLowerCase();
    out[key] = SENSITIVE.test(key) ? REDACTED : value.slice(0, 512);
  }
  return out;
}
