/**
 * Fits a JSON value under a byte budget by shortening its largest arrays (log lines, series, events are
 * all arrays), so a caller still gets the head of a big answer instead of nothing. If no array can be
 * cut enough (one giant string), the value is dropped and only `truncated` says so.
 */
export interface CappedJson {
  value: unknown;
  truncated: boolean;
  /** UTF-8 size of the returned value's JSON. */
  bytes: number;
}

const MAX_PASSES = 64;

function sizeOf(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? "null", "utf8");
}

/**
 * The largest array with at least `minLength` items anywhere in the value, by serialized size. Arrays of
 * one item are tried last: cutting `series: [one big series]` would lose the series, while its points
 * inside can be cut.
 */
function largestArray(value: unknown, minLength: number): { array: unknown[]; bytes: number } | undefined {
  let best: { array: unknown[]; bytes: number } | undefined;
  const visit = (node: unknown) => {
    if (node === null || typeof node !== "object") return;
    if (Array.isArray(node)) {
      if (node.length >= minLength) {
        const bytes = sizeOf(node);
        if (!best || bytes > best.bytes) best = { array: node, bytes };
      }
      for (const item of node) visit(item);
      return;
    }
    for (const child of Object.values(node)) visit(child);
  };
  visit(value);
  return best;
}

export function capJson(value: unknown, maxBytes: number): CappedJson {
  const initial = sizeOf(value);
  if (initial <= maxBytes) return { value, truncated: false, bytes: initial };
  // A private copy: the caller's value is left as it was.
  const copy: unknown = JSON.parse(JSON.stringify(value));
  let size = initial;
  for (let pass = 0; pass < MAX_PASSES && size > maxBytes; pass++) {
    const target = largestArray(copy, 2) ?? largestArray(copy, 1);
    if (!target) break;
    const excess = size - maxBytes;
    // Keep the share of items that fits, assuming items of even size; later passes correct the guess.
    const keepRatio = Math.max(0, (target.bytes - excess) / target.bytes);
    const keep = Math.min(target.array.length - 1, Math.floor(target.array.length * keepRatio));
    target.array.length = Math.max(0, keep);
    size = sizeOf(copy);
  }
  if (size > maxBytes) return { value: null, truncated: true, bytes: 4 };
  return { value: copy, truncated: true, bytes: size };
}
