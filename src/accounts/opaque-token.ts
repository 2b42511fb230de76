import { createHash, randomBytes } from "node:crypto";

/**
 * Refresh tokens and invitation tokens: 256 random bits, base64url. Only the SHA-256 is stored; with that
 * much entropy a fast hash is enough (nothing to brute-force), and it makes the lookup an exact match.
 */
export function generateOpaqueToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString("base64url");
  return { token, hash: hashOpaqueToken(token) };
}

export function hashOpaqueToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Cheap shape check before any database work: 43 base64url characters. */
export function isOpaqueToken(value: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(value);
}
