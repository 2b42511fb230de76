/**
 * Secret and PII scrubbing shared by the logger and Sentry's beforeSend. Key names decide first (a field
 * called "password" is redacted whatever it holds); value patterns catch secrets hiding in free text.
 */
const SECRET_KEY =
  /pass(word|wd)?|secret|token|api[-_]?key|authorization|cookie|signature|private[-_]?key|credential|dsn|session/i;

export const SECRET_VALUE_PATTERNS: readonly RegExp[] = [
  /\bcw_[A-Za-z0-9]{6,}_[A-Za-z0-9]{16,}\b/g, // Causeway API keys
  /\bgh[pousr]_[A-Za-z0-9]{20,}\b/g, // GitHub tokens
  /\bgithub_pat_[A-Za-z0-9_]{20,}\b/g,
  /\bxox[abprs]-[A-Za-z0-9-]{10,}\b/g, // Slack tokens
  /\bsk-ant-[A-Za-z0-9_-]{10,}\b/g, // Anthropic keys
  /\bAKIA[0-9A-Z]{16}\b/g, // AWS access key ids
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b/g, // JWTs
  /\bgAAAAA[A-Za-z0-9_-]{40,}={0,2}/g, // Fernet tokens
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /(postgres(?:ql)?:\/\/[^:/\s]+:)[^@\s]+@/gi, // passwords inside connection URLs
];

export const REDACTED = "[redacted]";

/**
 * A literal every pattern above needs (case-insensitive, so a superset): almost no string contains one,
 * and one test instead of ten replaces matters when whole evidence rows are scrubbed before being logged
 * permanently. Keep it in step with SECRET_VALUE_PATTERNS.
 */
const MAY_HOLD_SECRET =
  /cw_|gh[pousr]_|github_pat_|xox[abprs]-|sk-ant-|akia|eyj|gaaaaa|bearer|basic|postgres/i;

export function redactString(value: string): string {
  if (!MAY_HOLD_SECRET.test(value)) return value;
  let out = value;
  for (const pattern of SECRET_VALUE_PATTERNS) {
    out = out.replace(pattern, (match, urlPrefix?: string) =>
      typeof urlPrefix === "string" && match.startsWith(urlPrefix) ? `${urlPrefix}${REDACTED}@` : REDACTED,
    );
  }
  return out;
}

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** Deep copy with secret-named keys and secret-looking values replaced. Cycles and depth are bounded. */
export function redactDeep(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === "string") return redactString(value);
  if (value === null || typeof value !== "object") return value;
  if (depth > 8 || seen.has(value)) return "[truncated]";
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      isSecretKey(k) && v !== null && v !== undefined && v !== "" ? REDACTED : redactDeep(v, depth + 1, seen);
  }
  return out;
}
