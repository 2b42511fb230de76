import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from "node:crypto";

/**
 * scrypt cost parameters. The defaults follow OWASP's password storage guidance for scrypt
 * (N=2^17, r=8, p=1: 128 MiB and a few hundred milliseconds per hash on a server core).
 */
export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  /** Block size. */
  r: number;
  /** Parallelization. */
  p: number;
}

export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };

const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
const FORMAT = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;
// Guards against a stored hash (or a config) asking for absurd work.
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;

export function validateScryptParams(params: ScryptParams): ScryptParams {
  const { N, r, p } = params;
  const powerOfTwo = Number.isInteger(N) && N >= 2 ** 10 && N <= MAX_N && (N & (N - 1)) === 0;
  if (
    !powerOfTwo ||
    !Number.isInteger(r) ||
    r < 1 ||
    r > MAX_R ||
    !Number.isInteger(p) ||
    p < 1 ||
    p > MAX_P
  ) {
    throw new Error("scrypt parameters out of range");
  }
  return { N, r, p };
}

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    // scrypt needs 128 * N * r bytes; leave headroom over Node's 32 MiB default.
    maxmem: 256 * params.N * params.r,
  };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFKC"), salt, KEY_LENGTH, options, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

function parseHash(stored: string): ParsedHash | null {
  const match = FORMAT.exec(stored);
  if (!match) return null;
  try {
    const params = validateScryptParams({ N: Number(match[1]), r: Number(match[2]), p: Number(match[3]) });
    const salt = Buffer.from(match[4]!, "base64");
    const key = Buffer.from(match[5]!, "base64");
    if (salt.length < 8 || key.length !== KEY_LENGTH) return null;
    return { params, salt, key };
  } catch {
    return null;
  }
}

/** `scrypt$N=…,r=…,p=…$salt$key`: the parameters travel with the hash, so raising them later is safe. */
export async function hashPassword(
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): Promise<string> {
  const checked = validateScryptParams(params);
  const salt = randomBytes(SALT_LENGTH);
  const key = await derive(password, salt, checked);
  return `scrypt$N=${checked.N},r=${checked.r},p=${checked.p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** Constant-time comparison of the derived key; a malformed stored hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  const key = await derive(password, parsed.salt, parsed.params);
  return timingSafeEqual(key, parsed.key);
}

/**
 * Hashes and verifies with one set of parameters, and keeps a dummy hash made with those same parameters:
 * a sign-in for an unknown email verifies against it, so it costs what a wrong password costs.
 */
export class PasswordHasher {
  readonly params: ScryptParams;
  private dummy: Promise<string> | undefined;

  constructor(params: ScryptParams = DEFAULT_SCRYPT_PARAMS) {
    this.params = validateScryptParams(params);
  }

  hash(password: string): Promise<string> {
    return hashPassword(password, this.params);
  }

  /**
   * Verifies against the stored hash, or (no hash: unknown user, or a user who never set a password)
   * against the dummy, and answers false. Either way exactly one scrypt derivation runs.
   */
  async verify(password: string, stored: string | null | undefined): Promise<boolean> {
    if (stored && parseHash(stored)) return verifyPassword(password, stored);
    await verifyPassword(password, await this.dummyHash());
    return false;
  }

  /** True when the stored hash was made with other parameters than the current ones. */
  needsRehash(stored: string): boolean {
    const parsed = parseHash(stored);
    if (!parsed) return true;
    const { N, r, p } = parsed.params;
    return N !== this.params.N || r !== this.params.r || p !== this.params.p;
  }

  private dummyHash(): Promise<string> {
    this.dummy ??= hashPassword(randomBytes(32).toString("base64"), this.params);
    return this.dummy;
  }
}

/** Password rules for new passwords: long enough to resist guessing, short enough to bound hashing. */
export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 1024;
