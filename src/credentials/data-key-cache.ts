import { Fernet, InvalidTokenError } from "./fernet.ts";
import { KeyringError, type MasterKeyring } from "./keyring.ts";

/** Where a data key is stored: the row's id and its wrapped form. */
export interface WrappedDataKeyRow {
  id: string;
  masterKeyId: string;
  wrappedKey: string;
}

/**
 * Unwrapped data keys of this process, keyed by the data key's id, least recently used evicted first.
 * A data key never changes under its id (re-wrapping changes only the master key around it; re-encrypting
 * makes a new key with a new id), so an entry never goes stale. The Fernet instances keep key bytes in
 * private fields, out of logs and inspection.
 */
export class DataKeyCache {
  readonly #keyring: MasterKeyring;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, Fernet>();

  constructor(keyring: MasterKeyring, maxEntries: number) {
    this.#keyring = keyring;
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The Fernet for a stored data key, unwrapping it under its master key on a miss. */
  fernetFor(row: WrappedDataKeyRow): Fernet {
    const hit = this.#entries.get(row.id);
    if (hit) {
      // Re-insertion moves the entry to the young end of the Map's insertion order.
      this.#entries.delete(row.id);
      this.#entries.set(row.id, hit);
      return hit;
    }
    let dataKey: string;
    try {
      dataKey = this.#keyring.unwrapDataKey(row.masterKeyId, row.wrappedKey);
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      // Same id, different key: the configured CAUSEWAY_MASTER_KEYS is not the one this key was wrapped by.
      throw new KeyringError(
        `data key ${row.id} could not be unwrapped by the configured master key "${row.masterKeyId}" ` +
          `(${error.reason.replaceAll("_", " ")}); check CAUSEWAY_MASTER_KEYS`,
      );
    }
    const fernet = new Fernet(dataKey);
    this.remember(row.id, fernet);
    return fernet;
  }

  /** Records a key this process just made, so its first use needs no unwrap. */
  remember(id: string, fernet: Fernet): void {
    if (this.#maxEntries <= 0) return;
    this.#entries.delete(id);
    this.#entries.set(id, fernet);
    while (this.#entries.size > this.#maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value as string);
    }
  }
}
