import { AppError, type FieldError } from "../errors.ts";
import {
  decodeBase64Url,
  encodeBase64Url,
  Fernet,
  generateFernetKey,
  InvalidFernetKeyError,
} from "./fernet.ts";

/**
 * Envelope encryption for credentials: each org's secrets are encrypted under its own data key, and the
 * data key is stored wrapped (Fernet-encrypted) under a master key from CAUSEWAY_MASTER_KEYS. Rotating a
 * master key then means re-wrapping one small token per org instead of re-encrypting every secret.
 */

export const MASTER_KEYS_ENV = "CAUSEWAY_MASTER_KEYS";

// Ids are stored next to every wrapped key, so they are short, plain and safe to print.
const KEY_ID = /^[a-z0-9-]{1,32}$/;

/** Keyring misconfiguration or misuse. Messages name key ids and entry positions, never key material. */
export class KeyringError extends AppError {
  constructor(detail: string, errors?: FieldError[]) {
    super("internal", { detail, errors });
    this.name = "KeyringError";
  }
}

export interface WrappedDataKey {
  /** Which master key wrapped it; stored beside `wrapped` so unwrapping never has to guess. */
  keyId: string;
  wrapped: string;
}

/** A fresh per-org data key (a Fernet key). */
export function generateDataKey(): string {
  return generateFernetKey();
}

function describeKeyId(keyId: string): string {
  // An id that fails the pattern may be a mis-pasted secret, so it is not echoed.
  return KEY_ID.test(keyId) ? `master key "${keyId}"` : "a master key with a malformed id";
}

function canonicalDataKey(dataKey: string, problem: string): string {
  const raw = decodeBase64Url(dataKey);
  if (raw === null || raw.length !== 32) throw new KeyringError(problem);
  // Re-encoding gives one textual form per key, whether or not the caller included padding.
  return encodeBase64Url(raw);
}

export class MasterKeyring {
  /** Id of the key that wraps new data keys: the first one listed. */
  readonly current: string;
  // Private so the Fernet instances (and so the keys) never show up in logs of this object.
  readonly #fernets: ReadonlyMap<string, Fernet>;

  /** Takes keys in priority order; parseMasterKeys builds this from the environment variable. */
  constructor(fernets: ReadonlyMap<string, Fernet>) {
    const ids = [...fernets.keys()];
    if (ids.length === 0) throw new KeyringError("a master keyring needs at least one key");
    if (!ids.every((id) => KEY_ID.test(id)))
      throw new KeyringError("master key ids must match [a-z0-9-]{1,32}");
    this.current = ids[0]!;
    this.#fernets = new Map(fernets);
  }

  /** All configured ids, current first. */
  get ids(): readonly string[] {
    return [...this.#fernets.keys()];
  }

  has(keyId: string): boolean {
    return this.#fernets.has(keyId);
  }

  wrapDataKey(dataKey: string): WrappedDataKey {
    const canonical = canonicalDataKey(dataKey, "refusing to wrap a data key that is not a valid Fernet key");
    return { keyId: this.current, wrapped: this.#fernets.get(this.current)!.encrypt(canonical) };
  }

  /**
   * Throws KeyringError when `keyId` is not configured, and InvalidTokenError (from fernet.ts) when the
   * wrapped key was tampered with or was not made by that master key.
   */
  unwrapDataKey(keyId: string, wrapped: string): string {
    const fernet = this.#fernets.get(keyId);
    if (fernet === undefined) {
      throw new KeyringError(
        `${describeKeyId(keyId)} is not configured in ${MASTER_KEYS_ENV}; ` +
          "add it back (after the current key) to read data keys wrapped under it",
      );
    }
    // No TTL: wrapped data keys live until they are rotated, however old they are.
    return canonicalDataKey(
      fernet.decryptString(wrapped),
      `${describeKeyId(keyId)} unwrapped a non-key value`,
    );
  }

  /** Moves a wrapped data key to the current master key; the data key itself does not change. */
  rewrapDataKey(keyId: string, wrapped: string): WrappedDataKey {
    return this.wrapDataKey(this.unwrapDataKey(keyId, wrapped));
  }
}

/**
 * Parses `id:fernetKey[,id:fernetKey...]`. The first key wraps new data keys; every listed key unwraps.
 * All problems are reported at once, each naming its 1-based entry and, when well-formed, its id.
 */
export function parseMasterKeys(value: string): MasterKeyring {
  if (value.trim() === "") {
    throw new KeyringError(`${MASTER_KEYS_ENV} is empty; expected id:fernetKey[,id:fernetKey...]`);
  }
  const problems: FieldError[] = [];
  const fernets = new Map<string, Fernet>();
  for (const [index, entry] of value.split(",").entries()) {
    const problem = addMasterKey(fernets, entry.trim());
    if (problem !== undefined) {
      problems.push({ path: `${MASTER_KEYS_ENV}[${index + 1}]`, message: `entry ${index + 1}: ${problem}` });
    }
  }
  if (problems.length > 0) {
    throw new KeyringError(
      `invalid ${MASTER_KEYS_ENV}: ${problems.map((p) => p.message).join("; ")}`,
      problems,
    );
  }
  return new MasterKeyring(fernets);
}

/** Adds one `id:fernetKey` entry, or returns what is wrong with it (without quoting the key). */
function addMasterKey(fernets: Map<string, Fernet>, entry: string): string | undefined {
  if (entry === "") return "is empty";
  const colon = entry.indexOf(":");
  if (colon < 0) return "is not of the form id:fernetKey";
  const id = entry.slice(0, colon);
  if (!KEY_ID.test(id)) return "key id must match [a-z0-9-]{1,32}";
  if (fernets.has(id)) return `key id "${id}" is listed more than once`;
  try {
    fernets.set(id, new Fernet(entry.slice(colon + 1)));
  } catch (err) {
    if (!(err instanceof InvalidFernetKeyError)) throw err;
    return `key "${id}" is not a Fernet key (32 bytes of url-safe base64)`;
  }
  return undefined;
}
