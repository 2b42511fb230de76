import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

function randomToken(length: number): string {
  // Rejection sampling keeps every character uniform over the 62-letter alphabet.
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

export interface GeneratedApiKey {
  /** Shown to the caller once, never stored. */
  key: string;
  /** Public and unique: stored and displayed, used to find the row. */
  prefix: string;
  hash: string;
}

/** `cw_<8-char prefix>_<32-char secret>`: about 190 bits of randomness in the secret part. */
export function generateApiKey(): GeneratedApiKey {
  const prefix = randomToken(8);
  const key = `cw_${prefix}_${randomToken(32)}`;
  return { key, prefix, hash: hashApiKey(key) };
}

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

export function parseApiKey(key: string): { prefix: string } | null {
  const match = /^cw_([A-Za-z0-9]{8})_[A-Za-z0-9]{32}$/.exec(key);
  return match ? { prefix: match[1]! } : null;
}

export function apiKeyMatches(key: string, storedHash: string): boolean {
  const a = Buffer.from(hashApiKey(key), "hex");
  const b = Buffer.from(storedHash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}
