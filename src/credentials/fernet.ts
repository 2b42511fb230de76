import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Fernet tokens (fernet/spec, version 0x80) on node:crypto. We hold integration credentials with this
 * format so that Python tooling (`cryptography.fernet`) can read and write the same ciphertexts; see
 * README.md in this folder for why we do not use the npm `fernet` package.
 */

const VERSION = 0x80;
const KEY_BYTES = 32;
const HALF_KEY_BYTES = 16;
const BLOCK_BYTES = 16;
const TIMESTAMP_BYTES = 8;
const HMAC_BYTES = 32;
const HEADER_BYTES = 1 + TIMESTAMP_BYTES + BLOCK_BYTES;
// version + timestamp + IV + one ciphertext block + HMAC: even an empty message pads to one block.
const MIN_TOKEN_BYTES = HEADER_BYTES + BLOCK_BYTES + HMAC_BYTES;
// The spec gives no number; Python cryptography and fernet.js both allow 60 s, and interop needs the same.
const MAX_CLOCK_SKEW_SECONDS = 60n;

export type InvalidTokenReason =
  | "malformed"
  | "unsupported_version"
  | "too_short"
  | "bad_length"
  | "expired"
  | "future_timestamp"
  | "bad_signature"
  | "bad_padding"
  | "not_utf8";

/**
 * The token cannot be accepted. The message names only the reason, never token bytes or key material,
 * so it is safe to log; the store layer maps it to its own AppError.
 */
export class InvalidTokenError extends Error {
  readonly reason: InvalidTokenReason;

  constructor(reason: InvalidTokenReason) {
    super(`invalid Fernet token: ${reason.replaceAll("_", " ")}`);
    this.name = "InvalidTokenError";
    this.reason = reason;
  }
}

/** The key is not 32 bytes of url-safe base64. The message never contains the key. */
export class InvalidFernetKeyError extends Error {
  constructor() {
    super("a Fernet key must be 32 bytes encoded as url-safe base64");
    this.name = "InvalidFernetKeyError";
  }
}

export interface EncryptOptions {
  /** Timestamp written into the token; defaults to the current time. */
  now?: Date;
  /** Only for reproducing published vectors: a reused IV breaks CBC confidentiality. */
  iv?: Uint8Array;
}

export interface DecryptOptions {
  /** Maximum token age. Without it, neither age nor clock skew is checked (as in Python and fernet.js). */
  ttlSeconds?: number;
  now?: Date;
}

// Padding is optional on input, but only in its canonical place and amount.
const BASE64URL = /^[A-Za-z0-9_-]*(={0,2})$/;

/** Url-safe base64 with padding, the form Python's `base64.urlsafe_b64encode` produces. */
export function encodeBase64Url(bytes: Uint8Array): string {
  const unpadded = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
  return unpadded + "=".repeat((4 - (unpadded.length % 4)) % 4);
}

/**
 * Strict url-safe base64: rejects `+` and `/`, stray characters, misplaced padding and non-zero
 * trailing bits. Node's own decoder skips invalid characters silently, so it cannot be used alone;
 * strictness also means every distinct string that decodes maps to distinct bytes.
 */
export function decodeBase64Url(text: string): Buffer | null {
  const match = BASE64URL.exec(text);
  if (!match) return null;
  const padding = match[1]!.length;
  const body = text.slice(0, text.length - padding);
  if (body.length % 4 === 1) return null;
  if (padding > 0 && (body.length + padding) % 4 !== 0) return null;
  const bytes = Buffer.from(body, "base64url");
  // Re-encoding catches non-canonical forms such as set bits after the last whole byte.
  if (bytes.toString("base64url") !== body) return null;
  return bytes;
}

/** A fresh random key in the same textual form as Python's `Fernet.generate_key()`. */
export function generateFernetKey(): string {
  return encodeBase64Url(randomBytes(KEY_BYTES));
}

function toSeconds(date: Date): bigint {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new RangeError("invalid Date");
  return BigInt(Math.floor(ms / 1000));
}

function toBytes(data: Uint8Array | string): Buffer {
  return typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data);
}

export class Fernet {
  // ES private fields keep key bytes out of util.inspect, console.log and JSON.stringify.
  readonly #signingKey: Buffer;
  readonly #encryptionKey: Buffer;

  constructor(key: string | Uint8Array) {
    const raw = typeof key === "string" ? decodeBase64Url(key) : Buffer.from(key);
    if (raw === null || raw.length !== KEY_BYTES) throw new InvalidFernetKeyError();
    this.#signingKey = raw.subarray(0, HALF_KEY_BYTES);
    this.#encryptionKey = raw.subarray(HALF_KEY_BYTES);
  }

  encrypt(data: Uint8Array | string, opts: EncryptOptions = {}): string {
    const timestamp = toSeconds(opts.now ?? new Date());
    if (timestamp < 0n) throw new RangeError("Fernet timestamps cannot precede 1970");
    const iv = opts.iv === undefined ? randomBytes(BLOCK_BYTES) : Buffer.from(opts.iv);
    if (iv.length !== BLOCK_BYTES) throw new RangeError("a Fernet IV must be 16 bytes");

    // Node's cipher applies PKCS#7 (RFC 5652 §6.3) padding by default, which is what the spec requires.
    const cipher = createCipheriv("aes-128-cbc", this.#encryptionKey, iv);
    const ciphertext = Buffer.concat([cipher.update(toBytes(data)), cipher.final()]);

    const header = Buffer.alloc(1 + TIMESTAMP_BYTES);
    header.writeUInt8(VERSION, 0);
    header.writeBigUInt64BE(timestamp, 1);
    const signed = Buffer.concat([header, iv, ciphertext]);
    const mac = createHmac("sha256", this.#signingKey).update(signed).digest();
    return encodeBase64Url(Buffer.concat([signed, mac]));
  }

  /** Verifies and decrypts in the spec's order; every failure is an InvalidTokenError. */
  decrypt(token: string, opts: DecryptOptions = {}): Buffer {
    const bytes = decodeBase64Url(token);
    if (bytes === null) throw new InvalidTokenError("malformed");
    if (bytes.length === 0) throw new InvalidTokenError("too_short");
    if (bytes[0] !== VERSION) throw new InvalidTokenError("unsupported_version");
    // Length before MAC: both are structural facts that reveal nothing about the key.
    const ciphertextBytes = bytes.length - HEADER_BYTES - HMAC_BYTES;
    if (ciphertextBytes < 0) throw new InvalidTokenError("too_short");
    if (ciphertextBytes % BLOCK_BYTES !== 0) throw new InvalidTokenError("bad_length");
    if (bytes.length < MIN_TOKEN_BYTES) throw new InvalidTokenError("too_short");

    // The spec checks age before the HMAC so that an expired token costs no MAC computation.
    if (opts.ttlSeconds !== undefined) {
      const { ttlSeconds } = opts;
      if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 0) {
        throw new RangeError("ttlSeconds must be a non-negative integer");
      }
      const timestamp = bytes.readBigUInt64BE(1);
      const now = toSeconds(opts.now ?? new Date());
      // Same boundaries as Python: a token exactly ttl seconds old is still accepted.
      if (timestamp + BigInt(ttlSeconds) < now) throw new InvalidTokenError("expired");
      if (now + MAX_CLOCK_SKEW_SECONDS < timestamp) throw new InvalidTokenError("future_timestamp");
    }

    const signedEnd = bytes.length - HMAC_BYTES;
    const expected = createHmac("sha256", this.#signingKey).update(bytes.subarray(0, signedEnd)).digest();
    if (!timingSafeEqual(expected, bytes.subarray(signedEnd))) throw new InvalidTokenError("bad_signature");

    // Padding is checked by hand after the MAC so OpenSSL's error text never becomes part of our contract;
    // an authenticated token leaves no padding oracle to protect against.
    const decipher = createDecipheriv(
      "aes-128-cbc",
      this.#encryptionKey,
      bytes.subarray(1 + TIMESTAMP_BYTES, HEADER_BYTES),
    );
    decipher.setAutoPadding(false);
    const padded = Buffer.concat([
      decipher.update(bytes.subarray(HEADER_BYTES, signedEnd)),
      decipher.final(),
    ]);
    return unpad(padded);
  }

  /** Decrypts and requires the plaintext to be valid UTF-8 rather than silently substituting U+FFFD. */
  decryptString(token: string, opts: DecryptOptions = {}): string {
    return decodeUtf8(this.decrypt(token, opts));
  }
}

function unpad(padded: Buffer): Buffer {
  const n = padded[padded.length - 1];
  if (n === undefined || n < 1 || n > BLOCK_BYTES) throw new InvalidTokenError("bad_padding");
  for (let i = padded.length - n; i < padded.length; i++) {
    if (padded[i] !== n) throw new InvalidTokenError("bad_padding");
  }
  return padded.subarray(0, padded.length - n);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeUtf8(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new InvalidTokenError("not_utf8");
  }
}

/**
 * Key rotation: encrypts under the first key and accepts tokens made under any of them. Put a new key
 * first, run `rotate` over stored tokens, then drop the old key.
 */
export class MultiFernet {
  readonly #fernets: readonly Fernet[];

  constructor(keys: ReadonlyArray<Fernet | string | Uint8Array>) {
    if (keys.length === 0) throw new RangeError("MultiFernet needs at least one key");
    this.#fernets = keys.map((key) => (key instanceof Fernet ? key : new Fernet(key)));
  }

  encrypt(data: Uint8Array | string, opts: EncryptOptions = {}): string {
    return this.#fernets[0]!.encrypt(data, opts);
  }

  decrypt(token: string, opts: DecryptOptions = {}): Buffer {
    for (const fernet of this.#fernets) {
      try {
        return fernet.decrypt(token, opts);
      } catch (err) {
        // Only a MAC mismatch depends on the key; every other failure would repeat for the next key.
        if (!(err instanceof InvalidTokenError) || err.reason !== "bad_signature") throw err;
      }
    }
    throw new InvalidTokenError("bad_signature");
  }

  decryptString(token: string, opts: DecryptOptions = {}): string {
    return decodeUtf8(this.decrypt(token, opts));
  }

  /**
   * Re-encrypts under the first key with a fresh IV and timestamp; only the plaintext carries over.
   * (Python's MultiFernet.rotate keeps the old timestamp; we do not, so a rotated token's age starts
   * again.) No TTL applies: rotation must not lose old credentials.
   */
  rotate(token: string, opts: { now?: Date } = {}): string {
    return this.encrypt(this.decrypt(token), opts);
  }
}
