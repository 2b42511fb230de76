/**
 * RFC 8785 JSON Canonicalization Scheme (JCS). Audit entries are hashed as Merkle leaves, so the same
 * entry must always serialize to the same bytes, whichever code path or runtime built the object.
 *
 * Stricter than JSON.stringify on purpose: anything JSON.stringify would silently drop or reshape
 * (undefined, functions, symbols, Map, Date via toJSON, class instances) is an error here, because a
 * value that changes shape on the way into the log is a value the log cannot vouch for.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The value has no canonical form. `path` says where, e.g. `$.data.items[2]`. */
export class CanonicalJsonError extends TypeError {
  readonly path: string;

  constructor(path: string, problem: string) {
    super(`cannot canonicalize ${path}: ${problem}`);
    this.name = "CanonicalJsonError";
    this.path = path;
  }
}

/** The canonical JSON text of a value. Accepts `unknown` because the checks are the point. */
export function canonicalize(value: unknown): string {
  const w = new Writer();
  w.write(value);
  return w.out;
}

/** UTF-8 bytes of the canonical text: what gets hashed or signed. */
export function canonicalizeToBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalize(value));
}

/**
 * Canonicalizing is on the export's and the verifier's hot path (one entry per evidence row), so the
 * writer appends to one string and keeps the path as a stack of keys, turned into text only when an
 * error needs it.
 */
class Writer {
  out = "";
  readonly #path: Array<string | number> = [];
  readonly #ancestors = new Set<object>();

  fail(problem: string): never {
    let text = "$";
    for (const part of this.#path) {
      text +=
        typeof part === "number"
          ? `[${part}]`
          : /^[A-Za-z_$][\w$]*$/.test(part)
            ? `.${part}`
            : `[${JSON.stringify(part)}]`;
    }
    throw new CanonicalJsonError(text, problem);
  }

  write(value: unknown): void {
    switch (typeof value) {
      case "string":
        this.out += this.quote(value);
        return;
      case "number":
        if (!Number.isFinite(value)) this.fail(`${value} is not a JSON number`);
        // ECMAScript Number::toString is exactly the serialization RFC 8785 §3.2.2.3 prescribes
        // (and it already prints -0 as "0").
        this.out += String(value);
        return;
      case "boolean":
        this.out += value ? "true" : "false";
        return;
      case "bigint":
        this.fail("bigint has no JSON form; convert it to a string or number first");
        return;
      case "undefined":
        this.fail("undefined is not JSON");
        return;
      case "function":
      case "symbol":
        this.fail(`a ${typeof value} is not JSON`);
    }
    if (value === null) {
      this.out += "null";
      return;
    }
    const obj = value as object;
    const ancestors = this.#ancestors;
    const path = this.#path;
    if (ancestors.has(obj)) this.fail("circular reference");
    ancestors.add(obj);
    if (Array.isArray(obj)) {
      this.out += "[";
      for (let i = 0; i < obj.length; i++) {
        if (i > 0) this.out += ",";
        path.push(i);
        // A hole would read as undefined and JSON.stringify would print null: neither is what was meant.
        if (!Object.hasOwn(obj, i)) this.fail("sparse array hole");
        this.write(obj[i]);
        path.pop();
      }
      this.out += "]";
    } else {
      const proto = Object.getPrototypeOf(obj);
      if (proto !== Object.prototype && proto !== null) {
        const kind = (proto as { constructor?: { name?: string } } | null)?.constructor?.name ?? "object";
        this.fail(`${kind} is not a plain object; convert it first`);
      }
      if (Object.getOwnPropertySymbols(obj).length > 0) {
        this.fail("symbol-keyed properties are not JSON");
      }
      // Default sort compares UTF-16 code units, which is exactly RFC 8785 §3.2.3's order.
      const keys = Object.keys(obj).sort();
      this.out += "{";
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        if (i > 0) this.out += ",";
        path.push(key);
        this.out += `${this.quote(key)}:`;
        this.write((obj as Record<string, unknown>)[key]);
        path.pop();
      }
      this.out += "}";
    }
    ancestors.delete(obj);
  }

  /**
   * RFC 8785 §3.2.2.2: escape only `"`, `\` and controls, with the short forms where JSON has them and
   * lowercase \u00xx otherwise, which is exactly what JSON.stringify does for a well-formed string.
   */
  quote(s: string): string {
    const quoted = JSON.stringify(s);
    // A lone surrogate has no UTF-8 encoding, so two implementations would hash different bytes (and
    // JSON.stringify would escape it rather than refuse it). JSON.stringify writes one as \uXXXX, so a
    // string whose text has no \u cannot hold one and skips the (costlier) Unicode-aware test.
    if (quoted.includes("\\u") && LONE_SURROGATE.test(s)) this.fail("string contains an unpaired surrogate");
    return quoted;
  }
}

// Matches only unpaired surrogates: with the u flag a valid pair is one code point, not Cs.
const LONE_SURROGATE = /\p{Cs}/u;
