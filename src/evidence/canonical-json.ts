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
  const out: string[] = [];
  write(value, () => "$", out, new Set());
  return out.join("");
}

/** UTF-8 bytes of the canonical text: what gets hashed or signed. */
export function canonicalizeToBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalize(value));
}

/** Paths are built only when an error needs one: canonicalizing is on the export's hot path. */
type LazyPath = () => string;

function childPath(path: LazyPath, key: string): LazyPath {
  return () => `${path()}${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}`;
}

function write(value: unknown, path: LazyPath, out: string[], ancestors: Set<object>): void {
  switch (typeof value) {
    case "string":
      out.push(quote(value, path));
      return;
    case "number":
      if (!Number.isFinite(value)) throw new CanonicalJsonError(path(), `${value} is not a JSON number`);
      // ECMAScript Number::toString is exactly the serialization RFC 8785 §3.2.2.3 prescribes
      // (and it already prints -0 as "0").
      out.push(String(value));
      return;
    case "boolean":
      out.push(value ? "true" : "false");
      return;
    case "bigint":
      throw new CanonicalJsonError(path(), "bigint has no JSON form; convert it to a string or number first");
    case "undefined":
      throw new CanonicalJsonError(path(), "undefined is not JSON");
    case "function":
    case "symbol":
      throw new CanonicalJsonError(path(), `a ${typeof value} is not JSON`);
  }
  if (value === null) {
    out.push("null");
    return;
  }
  const obj = value as object;
  if (ancestors.has(obj)) throw new CanonicalJsonError(path(), "circular reference");
  ancestors.add(obj);
  if (Array.isArray(obj)) {
    out.push("[");
    for (let i = 0; i < obj.length; i++) {
      if (i > 0) out.push(",");
      // A hole would read as undefined and JSON.stringify would print null: neither is what was meant.
      const at = () => `${path()}[${i}]`;
      if (!Object.hasOwn(obj, i)) throw new CanonicalJsonError(at(), "sparse array hole");
      write(obj[i], at, out, ancestors);
    }
    out.push("]");
  } else {
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      const kind = (proto as { constructor?: { name?: string } } | null)?.constructor?.name ?? "object";
      throw new CanonicalJsonError(path(), `${kind} is not a plain object; convert it first`);
    }
    if (Object.getOwnPropertySymbols(obj).length > 0) {
      throw new CanonicalJsonError(path(), "symbol-keyed properties are not JSON");
    }
    // Default sort compares UTF-16 code units, which is exactly RFC 8785 §3.2.3's order.
    const keys = Object.keys(obj).sort();
    out.push("{");
    keys.forEach((key, i) => {
      if (i > 0) out.push(",");
      const at = childPath(path, key);
      out.push(quote(key, at), ":");
      write((obj as Record<string, unknown>)[key], at, out, ancestors);
    });
    out.push("}");
  }
  ancestors.delete(obj);
}

// Matches only unpaired surrogates: with the u flag a valid pair is one code point, not Cs.
const LONE_SURROGATE = /\p{Cs}/u;

const SHORT_ESCAPES: Record<number, string> = {
  8: "\\b",
  9: "\\t",
  10: "\\n",
  12: "\\f",
  13: "\\r",
  34: '\\"',
  92: "\\\\",
};

/** RFC 8785 §3.2.2.2: escape only `"`, `\` and controls, with the short forms where JSON has them. */
function quote(s: string, path: LazyPath): string {
  // A lone surrogate has no UTF-8 encoding, so two implementations would hash different bytes.
  if (LONE_SURROGATE.test(s)) throw new CanonicalJsonError(path(), "string contains an unpaired surrogate");
  let out = '"';
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(run, i) + (SHORT_ESCAPES[c] ?? `\\u${c.toString(16).padStart(4, "0")}`);
    run = i + 1;
  }
  return `${out}${s.slice(run)}"`;
}
