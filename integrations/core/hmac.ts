/**
 * Shared authenticity primitives for webhook verifiers. Everything here works on raw bytes, compares in
 * constant time and never throws on hostile input: a verifier must turn any garbage into "not ok".
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

const HEX_RE = /^[0-9a-fA-F]*$/;

/** HMAC-SHA256 of the exact bytes, lowercase hex. */
export function hmacSha256Hex(secret: string, bytes: Uint8Array | string): string {
  return createHmac("sha256", secret).update(bytes).digest("hex");
}

/** SHA-256 of bytes or text, lowercase hex. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Constant-time comparison of two hex strings (case-insensitive). Returns false, never throws, for
 * non-strings, odd lengths, non-hex characters, empty values or different lengths. The lengths of our own
 * expected digests are public (64 chars for SHA-256), so an early length check leaks nothing secret.
 */
export function timingSafeEqualHex(a: unknown, b: unknown): boolean {
  if (typeof a !== "string" || typeof b !== "string") return false;
  if (a.length === 0 || a.length !== b.length || a.length % 2 !== 0) return false;
  if (!HEX_RE.test(a) || !HEX_RE.test(b)) return false;
  const left = Buffer.from(a, "hex");
  const right = Buffer.from(b, "hex");
  if (left.length !== right.length || left.length * 2 !== a.length) return false;
  return timingSafeEqual(left, right);
}

/**
 * Constant-time comparison of two secrets/tokens as UTF-8. Both sides are hashed first so the buffers have
 * equal length and the comparison time does not depend on where, or whether, the lengths differ.
 */
export function timingSafeEqualString(a: unknown, b: unknown): boolean {
  if (typeof a !== "string" || typeof b !== "string") return false;
  if (a.length === 0 || b.length === 0) return false;
  const left = createHash("sha256").update(a, "utf8").digest();
  const right = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(left, right);
}

/**
 * True when `provided` equals hex HMAC-SHA256(secret, bytes) for ANY of the secrets (rotation). Every
 * secret is checked, even after a match, so timing does not reveal which secret matched.
 */
export function matchesAnyHmacHex(
  provided: unknown,
  secrets: readonly unknown[],
  bytes: Uint8Array,
): boolean {
  if (typeof provided !== "string") return false;
  let matched = false;
  for (const secret of secrets) {
    if (typeof secret !== "string" || secret.length === 0) continue;
    if (timingSafeEqualHex(provided, hmacSha256Hex(secret, bytes))) matched = true;
  }
  return matched;
}

/** True when `provided` equals any of the secrets; every secret is checked. */
export function matchesAnySecret(provided: unknown, secrets: readonly unknown[]): boolean {
  if (typeof provided !== "string" || provided.length === 0) return false;
  let matched = false;
  for (const secret of secrets) {
    if (typeof secret !== "string" || secret.length === 0) continue;
    if (timingSafeEqualString(provided, secret)) matched = true;
  }
  return matched;
}

export interface BasicCredentials {
  username: string;
  password: string;
}

/**
 * Parses `Basic base64(user:password)` (RFC 7617; scheme case-insensitive). Returns undefined on anything
 * malformed. The password may itself contain ':'; only the first colon separates.
 */
export function parseBasicAuth(header: unknown): BasicCredentials | undefined {
  if (typeof header !== "string") return undefined;
  const match = /^\s*basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  const encoded = match?.[1];
  if (encoded === undefined) return undefined;
  let decoded: string;
  try {
    decoded = Buffer.from(encoded, "base64").toString("utf8");
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Extracts the token of `Bearer <token>` (scheme case-insensitive). Undefined when absent or malformed. */
export function parseBearer(header: unknown): string | undefined {
  if (typeof header !== "string") return undefined;
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** A stable fingerprint from ordered parts: SHA-256 hex of the NUL-joined parts, first 32 chars. */
export function fingerprintOf(parts: readonly string[]): string {
  const hash = createHash("sha256");
  parts.forEach((part, i) => {
    if (i > 0) hash.update("\u0000");
    hash.update(part, "utf8");
  });
  return hash.digest("hex").slice(0, 32);
}

/**
 * A sender's delivery id as a replay-guard key: any short printable token (GUIDs, uuid4 hex, opaque ids);
 * anything else is dropped rather than stored.
 */
export function deliveryKeyOf(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const trimmed = value.trim();
  return /^[\x21-\x7e]{1,128}$/.test(trimmed) ? trimmed : undefined;
}
