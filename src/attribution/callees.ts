/**
 * What a stack frame's function called before it reached the frame line: the callees whose results the
 * failing line may depend on (ChangeLocator's "call distance" idea, one hop). A change to such a callee is
 * off the stack, because the callee returned normally, yet it is the classic cause of a crash one line
 * later ("the store stopped returning `amount`"). Read from the file as it is at the deployed SHA.
 *
 * Language-agnostic and deliberately simple: the enclosing function starts at the nearest line above the
 * frame line that declares the frame's function name (JS / TS, Python, Go, Ruby, Java / C# / Kotlin
 * shapes); without a name, or when no declaration is found within MAX_FUNCTION_LINES, a window of
 * FALLBACK_WINDOW lines above the frame line is used. Calls are `name(` on the lines from there to just
 * before the frame line, keywords and the function's own name excluded.
 */

export const MAX_FUNCTION_LINES = 200;
export const FALLBACK_WINDOW = 30;
/** At most this many callees per frame (the nearest to the frame line win). */
export const MAX_CALLEES = 40;

const KEYWORDS = new Set([
  "if",
  "for",
  "while",
  "switch",
  "catch",
  "return",
  "function",
  "typeof",
  "await",
  "new",
  "super",
  "this",
  "self",
  "require",
  "import",
  "elif",
  "def",
  "func",
  "fn",
  "print",
  "assert",
  "sizeof",
  "yield",
  "with",
  "not",
  "and",
  "or",
  "in",
  "of",
  "lambda",
  "async",
  "do",
  "else",
]);

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** True when `line` declares a function or method called `name`. */
export function declares(line: string, name: string): boolean {
  const n = escapeRegExp(name);
  return [
    new RegExp(`\\bfunction\\s*\\*?\\s*${n}\\b`),
    new RegExp(`\\b(const|let|var)\\s+${n}\\s*=`),
    new RegExp(`\\b${n}\\s*[:=]\\s*(async\\s+)?(function\\b|\\(|[A-Za-z_$][\\w$]*\\s*=>)`),
    new RegExp(`\\b(def|fn|fun|sub)\\s+${n}\\b`),
    new RegExp(`\\bfunc\\s+(\\([^)]*\\)\\s*)?${n}\\b`),
    new RegExp(
      `^\\s*((public|private|protected|internal|static|async|override|final|virtual|get|set)\\s+)*([\\w<>\\[\\],.?]+\\s+)?${n}\\s*\\([^;]*\\)?\\s*[{:]?\\s*$`,
    ),
  ].some((re) => re.test(line));
}

/**
 * Names called on the lines of the frame's function before the frame line (1-based), nearest first,
 * unique. Empty when the line is outside the file.
 */
export function calleesBefore(source: string, line: number, functionName?: string): string[] {
  const lines = source.split("\n");
  if (line < 1 || line > lines.length) return [];
  let start = Math.max(0, line - 1 - FALLBACK_WINDOW);
  if (functionName) {
    for (let i = line - 1; i >= Math.max(0, line - 1 - MAX_FUNCTION_LINES); i--) {
      if (declares(lines[i]!, functionName)) {
        start = i + 1;
        break;
      }
    }
  }
  const out: string[] = [];
  const seen = new Set<string>();
  for (let i = line - 2; i >= start && out.length < MAX_CALLEES; i--) {
    const text = lines[i]!.replace(/\/\/.*$|#.*$/, "");
    const names = [...text.matchAll(/([A-Za-z_$][\w$]*)\s*\(/g)].map((m) => m[1]!);
    for (const name of names) {
      if (KEYWORDS.has(name) || name === functionName || seen.has(name)) continue;
      seen.add(name);
      out.push(name);
    }
  }
  return out;
}

/** Property or key names an error message quotes: 'amount' in "Cannot read properties of undefined (reading 'amount')". */
export function quotedKeys(message: string | undefined): string[] {
  if (!message) return [];
  const out = new Set<string>();
  for (const m of message.matchAll(/['"`‘“]([A-Za-z_$][\w$-]{1,63})['"`’”]/g)) out.add(m[1]!);
  return [...out];
}

/** An error that reads through a missing value: JS TypeError on undefined / null, NoneType, nil, NPE. */
export function isNullDereference(text: string): boolean {
  return /\b(of|on) (undefined|null)\b|undefined is not an object|null is not an object|\bNoneType\b|nil (pointer|map)|NullPointerException|NullReferenceException|undefined method .* for nil/i.test(
    text,
  );
}

/** Names the line dereferences: `entry` in `entry.amount`, `entry?.x`, `entry[k]`, `entry->x`. */
export function dereferencedNames(line: string): string[] {
  const code = line.replace(/\/\/.*$/, "").replace(/(["'`])(?:\\.|(?!\1).)*\1/g, '""');
  const out = new Set<string>();
  for (const m of code.matchAll(/(?<![\w$.])([A-Za-z_$][\w$]*)\s*(?:\?\.|\.|\[|->)/g)) {
    const name = m[1]!;
    if (!KEYWORDS.has(name)) out.add(name);
  }
  return [...out];
}

const GUARD =
  /\bif\b|\bunless\b|\bguard\b|\bassert\b|\?\?|\?\.|\b(null|undefined|None|nil)\b|\breturn\b|\braise\b|\bthrow\b/;

/**
 * A null check on one of `names` that the hunk removed and did not re-add: a removed line naming it
 * next to a guard token (`if (!entry)`, `entry ?? fallback`, `if entry is None`, `entry?.x`), with no
 * added line that names it with a guard token.
 */
export function removedGuard(
  hunk: { addedLines: string[]; removedLines: string[] },
  names: readonly string[],
): { name: string; line: string } | undefined {
  for (const name of names) {
    const re = new RegExp(`(^|[^\\w$])${name.replace(/\$/g, "\\$")}([^\\w$]|$)`);
    const guards = (l: string) => re.test(l) && GUARD.test(l);
    const removed = hunk.removedLines.find(guards);
    if (removed && !hunk.addedLines.some(guards)) return { name, line: removed };
  }
  return undefined;
}
