/**
 * Postgres `text` and `jsonb` refuse two things JSON allows in a string: U+0000 and an unpaired UTF-16
 * surrogate (`"\ud800"`). A webhook carrying either is legal JSON, verified and stored as raw bytes; what
 * normalization derives from it (signal titles, payloads, anomaly titles) must still be writable, or the
 * delivery would fail every attempt and be dead-lettered for a byte. Such characters become U+FFFD.
 */
const UNSTORABLE = /[\u0000\ud800-\udfff]/;

/** `value` with U+0000 and unpaired surrogates replaced by U+FFFD (the same string when it has none). */
export function storableString(value: string): string {
  // Paired surrogates (emoji) also match the test above; toWellFormed keeps them and replaces only the
  // unpaired ones.
  return UNSTORABLE.test(value) ? value.replaceAll("\u0000", "\ufffd").toWellFormed() : value;
}

/**
 * Replaces, in place, every unstorable character in the strings and keys of plain objects and arrays
 * reachable from `value` (Dates and other class instances are left alone), and returns `value`.
 */
export function makeStorable<T>(value: T): T {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      if (typeof item === "string") value[i] = storableString(item);
      else if (item !== null && typeof item === "object") makeStorable(item);
    }
    return value;
  }
  if (value === null || typeof value !== "object" || Object.getPrototypeOf(value) !== Object.prototype) {
    return value;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const item = record[key];
    const cleaned = typeof item === "string" ? storableString(item) : item;
    if (item !== null && typeof item === "object") makeStorable(item);
    const storableKey = storableString(key);
    if (storableKey !== key) {
      delete record[key];
      record[storableKey] = cleaned;
    } else if (cleaned !== item) {
      record[key] = cleaned;
    }
  }
  return value;
}

/** The first `max` UTF-16 units of `value`, one fewer if the cut would split a surrogate pair (an emoji). */
export function clipText(value: string, max: number): string {
  if (value.length <= max) return value;
  const last = value.charCodeAt(max - 1);
  return value.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}
