/**
 * Redaction of anything secret-looking from text sent to an LLM (PR bodies, error messages, diff
 * excerpts). Errs towards redacting: a lost word costs less than a leaked credential. Known commit SHAs
 * can be kept (they are evidence the rewrite must be able to cite); every other long hex run goes.
 */
export const SECRET_PLACEHOLDER = "[REDACTED]";

const TOKEN_PATTERNS: RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
  /\bgh[pousr]_[A-Za-z0-9]{20,}\b/g, // GitHub tokens
  /\bgithub_pat_[A-Za-z0-9_]{20,}\b/g,
  /\bglpat-[A-Za-z0-9_-]{20,}\b/g, // GitLab
  /\bxox[abposr]-[A-Za-z0-9-]{10,}/g, // Slack
  /\bhooks\.slack\.com\/services\/[A-Za-z0-9/]+/g,
  /\bsk-ant-[A-Za-z0-9_-]{10,}/g, // Anthropic
  /\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}/g, // OpenAI-style
  /\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b/g, // AWS access key ids
  /\bAIza[0-9A-Za-z_-]{35}\b/g, // Google API keys
  /\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b/g, // Stripe
  /\bnpm_[A-Za-z0-9]{36}\b/g,
  /\bcw_[A-Za-z0-9]{6,}_[A-Za-z0-9]{16,}\b/g, // Causeway API keys
  /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, // JWTs
  /\bgAAAAA[A-Za-z0-9_-]{40,}={0,2}/g, // Fernet tokens
];

/** "Authorization: Bearer x", "Basic x", "token x". */
const AUTH_SCHEME = /\b(Bearer|Basic|Token|Digest)(\s+)[A-Za-z0-9._~+/=-]{8,}/gi;
/** Credentials inside URLs: scheme://user:password@host */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^:/\s@]+:)[^@\s/]+@/gi;
/** key = value / key: value / "key": "value" for secret-named keys. */
const SECRET_ASSIGNMENT =
  /((["']?)[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth[_-]?key|session[_-]?key|signing[_-]?key)[\w.-]*\2\s*[:=]\s*)("[^"\n]*"|'[^'\n]*'|\$\{[^}\n]*\}|[^\s,;&"'}]+)/gi;
const LONG_HEX = /(?<![A-Za-z0-9])[0-9a-fA-F]{32,}(?![A-Za-z0-9])/g;
const LONG_BASE64 = /(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{40,}={0,2}(?![A-Za-z0-9+/=_-])/g;

function looksRandom(s: string): boolean {
  return /[a-z]/.test(s) && /[A-Z]/.test(s) && /[0-9]/.test(s);
}

export interface RedactOptions {
  /** Values to keep verbatim (commit SHAs the text must still cite). */
  keep?: Iterable<string>;
}

export function redactSecrets(text: string, options: RedactOptions = {}): string {
  const keep = [...(options.keep ?? [])].map((k) => k.toLowerCase());
  const kept = (s: string) => {
    const l = s.toLowerCase();
    return keep.some((k) => k === l || (l.length >= 7 && k.startsWith(l)));
  };
  let out = text;
  for (const p of TOKEN_PATTERNS) out = out.replace(p, SECRET_PLACEHOLDER);
  out = out.replace(
    AUTH_SCHEME,
    (_m, scheme: string, space: string) => `${scheme}${space}${SECRET_PLACEHOLDER}`,
  );
  out = out.replace(URL_PASSWORD, (_m, prefix: string) => `${prefix}${SECRET_PLACEHOLDER}@`);
  out = out.replace(SECRET_ASSIGNMENT, (m, prefix: string, _q: string, value: string) => {
    if (value.includes(SECRET_PLACEHOLDER)) return `${prefix}${SECRET_PLACEHOLDER}`;
    const quote = value.startsWith('"') || value.startsWith("'") ? value[0] : "";
    const inner = quote ? value.slice(1, -1) : value;
    if (inner === "" || /^(null|none|undefined|true|false|\*+|<[^>]*>|\$\{[^}]*\}|\$[A-Z_]+)$/i.test(inner))
      return m;
    return `${prefix}${quote}${SECRET_PLACEHOLDER}${quote}`;
  });
  out = out.replace(LONG_HEX, (m) => (kept(m) ? m : SECRET_PLACEHOLDER));
  out = out.replace(LONG_BASE64, (m) => {
    // Paths are long runs of this alphabet too; a secret has a long random-looking segment.
    const segments = m.split("/");
    const random = segments.some((seg) => seg.length >= 20 && looksRandom(seg));
    return random ? SECRET_PLACEHOLDER : m;
  });
  return out;
}
