/**
 * The kind of the JSON text in `bytes` (RFC 8259, UTF-8), or null when `JSON.parse` of the decoded text
 * would throw — decided without building the value. The webhook front door only needs to know that a
 * body is a JSON object before it stores it; parsing a 4 KB alert into objects on every request was most
 * of the front door's garbage (normalization parses the stored bytes later anyway).
 *
 * Equivalent to `JSON.parse(Buffer.from(bytes).toString("utf8"))` succeeding: bytes of 0x80 and above
 * are accepted only inside strings (whatever they decode to there, including U+FFFD for invalid UTF-8,
 * is a legal string character; the decoder never swallows an ASCII byte), and nesting depth is bounded
 * only by memory, like V8's iterative parser. The property tests check the equivalence.
 */
export type JsonKind = "object" | "array" | "string" | "number" | "boolean" | "null";

const ARRAY = 0;
const OBJECT = 1;

export function jsonKind(bytes: Uint8Array): JsonKind | null {
  const n = bytes.length;
  const stack: number[] = [];
  let i = skipWhitespace(bytes, 0);
  if (i >= n) return null;
  const kind = kindOf(bytes[i]!);
  if (kind === null) return null;
  value: for (;;) {
    // A value starts at i.
    const c = bytes[i];
    if (c === 0x7b /* { */) {
      i = skipWhitespace(bytes, i + 1);
      if (bytes[i] === 0x7d /* } */) {
        i++;
      } else {
        stack.push(OBJECT);
        i = memberName(bytes, i);
        if (i < 0) return null;
        continue;
      }
    } else if (c === 0x5b /* [ */) {
      i = skipWhitespace(bytes, i + 1);
      if (bytes[i] === 0x5d /* ] */) {
        i++;
      } else {
        stack.push(ARRAY);
        continue;
      }
    } else if (c === 0x22 /* " */) {
      i = endOfString(bytes, i);
    } else if (c === 0x2d /* - */ || (c !== undefined && c >= 0x30 && c <= 0x39)) {
      i = endOfNumber(bytes, i);
    } else if (c === 0x74 /* t */) {
      i = literal(bytes, i, TRUE);
    } else if (c === 0x66 /* f */) {
      i = literal(bytes, i, FALSE);
    } else if (c === 0x6e /* n */) {
      i = literal(bytes, i, NULL);
    } else {
      return null;
    }
    if (i < 0) return null;
    // After a value: close containers, or a comma and the next value.
    for (;;) {
      i = skipWhitespace(bytes, i);
      if (stack.length === 0) return i === n ? kind : null;
      const top = stack[stack.length - 1];
      const b = bytes[i];
      if (b === 0x2c /* , */) {
        i = skipWhitespace(bytes, i + 1);
        if (top === OBJECT) {
          i = memberName(bytes, i);
          if (i < 0) return null;
        }
        continue value;
      }
      if ((top === ARRAY && b === 0x5d) || (top === OBJECT && b === 0x7d)) {
        stack.pop();
        i++;
        continue;
      }
      return null;
    }
  }
}

const TRUE = Uint8Array.from([0x74, 0x72, 0x75, 0x65]);
const FALSE = Uint8Array.from([0x66, 0x61, 0x6c, 0x73, 0x65]);
const NULL = Uint8Array.from([0x6e, 0x75, 0x6c, 0x6c]);

function kindOf(c: number): JsonKind | null {
  if (c === 0x7b) return "object";
  if (c === 0x5b) return "array";
  if (c === 0x22) return "string";
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return "number";
  if (c === 0x74 || c === 0x66) return "boolean";
  if (c === 0x6e) return "null";
  return null;
}

function skipWhitespace(bytes: Uint8Array, i: number): number {
  for (;;) {
    const c = bytes[i];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return i;
    i++;
  }
}

/** `"name"` then `:` then whitespace, starting at the quote; the index of the member's value, or -1. */
function memberName(bytes: Uint8Array, i: number): number {
  if (bytes[i] !== 0x22) return -1;
  i = endOfString(bytes, i);
  if (i < 0) return -1;
  i = skipWhitespace(bytes, i);
  if (bytes[i] !== 0x3a /* : */) return -1;
  return skipWhitespace(bytes, i + 1);
}

function isHex(c: number | undefined): boolean {
  return (
    c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))
  );
}

/** The index after a string starting at its opening quote, or -1. */
function endOfString(bytes: Uint8Array, i: number): number {
  i++;
  for (;;) {
    const c = bytes[i];
    if (c === undefined || c < 0x20) return -1;
    if (c === 0x22) return i + 1;
    if (c === 0x5c /* \ */) {
      const e = bytes[i + 1];
      if (e === 0x75 /* u */) {
        if (!isHex(bytes[i + 2]) || !isHex(bytes[i + 3]) || !isHex(bytes[i + 4]) || !isHex(bytes[i + 5]))
          return -1;
        i += 6;
        continue;
      }
      // " \ / b f n r t
      if (
        e !== 0x22 &&
        e !== 0x5c &&
        e !== 0x2f &&
        e !== 0x62 &&
        e !== 0x66 &&
        e !== 0x6e &&
        e !== 0x72 &&
        e !== 0x74
      ) {
        return -1;
      }
      i += 2;
      continue;
    }
    i++;
  }
}

const isDigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;

/** The index after `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, or -1. */
function endOfNumber(bytes: Uint8Array, i: number): number {
  if (bytes[i] === 0x2d) i++;
  if (bytes[i] === 0x30) {
    i++;
  } else if (isDigit(bytes[i])) {
    while (isDigit(bytes[i])) i++;
  } else {
    return -1;
  }
  if (bytes[i] === 0x2e /* . */) {
    i++;
    if (!isDigit(bytes[i])) return -1;
    while (isDigit(bytes[i])) i++;
  }
  if (bytes[i] === 0x65 || bytes[i] === 0x45 /* e E */) {
    i++;
    if (bytes[i] === 0x2b || bytes[i] === 0x2d) i++;
    if (!isDigit(bytes[i])) return -1;
    while (isDigit(bytes[i])) i++;
  }
  return i;
}

function literal(bytes: Uint8Array, i: number, word: Uint8Array): number {
  for (let k = 0; k < word.length; k++) if (bytes[i + k] !== word[k]) return -1;
  return i + word.length;
}
