/**
 * Postgres text and jsonb cannot hold U+0000: a NUL in a filter (`?service=a%00b`) passed validation and
 * failed in the query as a 500. The router's validation hook (src/http/router.ts) runs this on every
 * validated query and path under /api, so no route has to remember it. JSON bodies are validated per field
 * by their schemas (single-line texts reject control characters), which report every bad field at once.
 * Returns where the NUL characters are (at most `max`), as field-error paths; empty when there are none.
 */
export function nulCharacterPaths(value: unknown, max = 20): string[] {
  const found: string[] = [];
  // Iterative, so a deeply nested body cannot overflow the stack.
  const stack: Array<{ value: unknown; path: string }> = [{ value, path: "" }];
  while (stack.length > 0 && found.length < max) {
    const item = stack.pop()!;
    if (typeof item.value === "string") {
      if (item.value.includes("\0")) found.push(item.path || "(root)");
    } else if (Array.isArray(item.value) || isPlainObject(item.value)) {
      for (const [key, child] of Object.entries(item.value as object)) {
        const path = item.path ? `${item.path}.${key}` : key;
        if (key.includes("\0")) found.push(path.replaceAll("\0", "\\u0000"));
        else stack.push({ value: child, path });
      }
    }
  }
  return found.sort();
}

function isPlainObject(value: unknown): boolean {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
