import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

/**
 * Streams a bundle file without parsing it whole: a 100,000-row bundle is ~200 MB of JSON, and JSON.parse
 * of it needs about five times that in memory. The scanner reads the top-level object byte by byte,
 * keeping only string and nesting state; every top-level value but `rows` is kept (they are small), and
 * each element of `rows` is handed out as its own JSON text, parsed and dropped one at a time.
 *
 * Any valid JSON layout is accepted (whitespace, key order); a duplicate top-level key is refused rather
 * than resolved, since two readers could disagree on which one counts.
 */

export class BundleSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BundleSyntaxError";
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

type State =
  | "start" // before the top-level `{`
  | "key-or-end" // after `{`
  | "key" // after `,`
  | "colon"
  | "value"
  | "after-value" // after a top-level value: `,` or `}`
  | "row-or-end" // after `rows: [`
  | "row" // after a `,` inside rows
  | "after-row"
  | "done";

/**
 * One JSON value being skipped or captured across chunks. A string or container ends at its closing
 * byte; a bare literal (number, true, false, null) ends at the first byte that cannot belong to it, which
 * is then not consumed.
 */
class ValueScanner {
  #depth = 0;
  #inString = false;
  #escaped = false;
  #literal = false;
  #started = false;
  readonly #parts: Buffer[] = [];

  constructor(private readonly capture: boolean) {}

  /** Consumes from `pos`; returns the index just past the value's end, or -1 if the chunk ran out. */
  scan(chunk: Buffer, pos: number): number {
    let i = pos;
    const n = chunk.length;
    let end = -1;
    if (!this.#started) {
      this.#started = true;
      const c = chunk[i]!;
      if (c === QUOTE) this.#inString = true;
      else if (c === OPEN_BRACE || c === OPEN_BRACKET) this.#depth = 1;
      else this.#literal = true;
      if (!this.#literal) i += 1;
    }
    if (this.#literal) {
      while (i < n) {
        const c = chunk[i]!;
        if (isSpace(c) || c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET) {
          end = i;
          break;
        }
        i += 1;
      }
    } else {
      let depth = this.#depth;
      let inString = this.#inString;
      let escaped = this.#escaped;
      for (; i < n; i++) {
        const c = chunk[i]!;
        if (inString) {
          if (escaped) escaped = false;
          else if (c === BACKSLASH) escaped = true;
          else if (c === QUOTE) {
            inString = false;
            if (depth === 0) {
              end = i + 1;
              break;
            }
          }
        } else if (c === QUOTE) inString = true;
        else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth += 1;
        else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
          depth -= 1;
          if (depth === 0) {
            end = i + 1;
            break;
          }
        }
      }
      this.#depth = depth;
      this.#inString = inString;
      this.#escaped = escaped;
    }
    if (this.capture) this.#parts.push(chunk.subarray(pos, end === -1 ? n : end));
    return end;
  }

  /** The value's JSON text; the closing `}` or `]` of a container is checked by JSON.parse later. */
  text(): string {
    return (this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts)).toString("utf8");
  }
}

export interface BundleHead {
  /** Every top-level member but `rows`, parsed. */
  members: Record<string, unknown>;
  /** Whether `rows` is present and an array (its elements are read by readBundleRows). */
  rowsIsArray: boolean;
  /** SHA-256 of the file as this pass read it. */
  fileHash: string;
}

interface ScanHandlers {
  /** Called with each element of `rows` (JSON text) when reading rows; null to skip them. */
  row: ((text: string) => void) | null;
  /** Called with each other top-level member, parsed; null to skip them. */
  member: ((key: string, value: unknown) => void) | null;
  rowsKind: (isArray: boolean) => void;
}

/** Scans the file once; returns the SHA-256 of the bytes it read, so two passes can be shown to agree. */
async function scan(path: string, h: ScanHandlers): Promise<string> {
  const hash = createHash("sha256");
  let state: State = "start";
  let key: ValueScanner | null = null;
  let keyText = "";
  let value: ValueScanner | null = null;
  const seen = new Set<string>();
  const fail = (what: string): never => {
    throw new BundleSyntaxError(`not valid bundle JSON: ${what}`);
  };
  const parse = (text: string, what: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      return fail(`${what} is not valid JSON`);
    }
  };
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (key) {
        const end = key.scan(chunk, i);
        if (end === -1) break;
        keyText = parse(key.text(), "a member name") as string;
        if (seen.has(keyText)) fail(`duplicate member ${JSON.stringify(keyText)}`);
        seen.add(keyText);
        key = null;
        state = "colon";
        i = end;
        continue;
      }
      if (value) {
        const end = value.scan(chunk, i);
        if (end === -1) break;
        if (state === "value") {
          if (h.member) h.member(keyText, parse(value.text(), `member ${JSON.stringify(keyText)}`));
          state = "after-value";
        } else {
          if (h.row) h.row(value.text());
          state = "after-row";
        }
        value = null;
        i = end;
        continue;
      }
      const c = chunk[i]!;
      if (isSpace(c)) {
        i += 1;
        continue;
      }
      switch (state) {
        case "start":
          if (c !== OPEN_BRACE) fail("the bundle is not a JSON object");
          state = "key-or-end";
          i += 1;
          break;
        case "key-or-end":
        case "key":
          if (c === CLOSE_BRACE && state === "key-or-end") {
            state = "done";
            i += 1;
          } else if (c === QUOTE) key = new ValueScanner(true);
          else fail("expected a member name");
          break;
        case "colon":
          if (c !== COLON) fail("expected `:`");
          state = "value";
          i += 1;
          break;
        case "value":
          if (keyText === "rows" && c === OPEN_BRACKET) {
            h.rowsKind(true);
            state = "row-or-end";
            i += 1;
          } else {
            if (keyText === "rows") h.rowsKind(false);
            value = new ValueScanner(h.member !== null);
          }
          break;
        case "after-value":
          if (c === COMMA) state = "key";
          else if (c === CLOSE_BRACE) state = "done";
          else fail("expected `,` or `}` after a member");
          i += 1;
          break;
        case "row-or-end":
        case "row":
          if (c === CLOSE_BRACKET && state === "row-or-end") {
            state = "after-value";
            i += 1;
          } else if (c === COMMA || c === CLOSE_BRACKET || c === CLOSE_BRACE || c === COLON) {
            fail("expected a row");
          } else value = new ValueScanner(h.row !== null);
          break;
        case "after-row":
          if (c === COMMA) state = "row";
          else if (c === CLOSE_BRACKET) state = "after-value";
          else fail("expected `,` or `]` after a row");
          i += 1;
          break;
        case "done":
          fail("text after the bundle object");
      }
    }
  }
  if (state !== "done") fail("the file ends before the bundle does");
  return hash.digest("hex");
}

/** First pass: everything but the rows, which are only skipped (and checked for balance). */
export async function readBundleHead(path: string): Promise<BundleHead> {
  const members: Record<string, unknown> = {};
  let rowsIsArray = false;
  const fileHash = await scan(path, {
    row: null,
    member: (key, value) => {
      members[key] = value;
    },
    rowsKind: (isArray) => {
      rowsIsArray = isArray;
    },
  });
  return { members, rowsIsArray, fileHash };
}

/** Second pass: the rows' JSON texts in file order; returns the SHA-256 of the file as this pass read it. */
export async function readBundleRows(path: string, onRow: (text: string) => void): Promise<string> {
  return scan(path, { row: onRow, member: null, rowsKind: () => undefined });
}
