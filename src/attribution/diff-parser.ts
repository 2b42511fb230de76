/**
 * Parser for git's patch output: `git diff -U0 --find-renames --no-color`, and the patches inside
 * `git show` / `git log -p` (commit headers are skipped, or grouped by `parseCommitPatches`). Hunk bodies
 * are consumed by their line counts, never by prefix sniffing, so a removed SQL comment ("--- x") or an
 * added "+++" line cannot be mistaken for a file header.
 */
import { unquotePath } from "./blame-parser.ts";
import type { DiffHunk, FileChangeStatus, FileDiff } from "./types.ts";

export interface CommitPatch {
  sha: string;
  files: FileDiff[];
}

const HUNK_HEADER = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$/;
const COMBINED_HUNK_HEADER = /^(@{3,}) ((?:-\d+(?:,\d+)? )+)\+(\d+)(?:,(\d+))? @{3,} ?(.*)$/;
const COMMIT_LINE = /^commit ([0-9a-f]{7,64})\b/;

interface MutableFile extends FileDiff {
  /** Paths from the `diff --git` line, used when no ---/+++ or rename lines name the file. */
  gitLinePaths: { a: string; b: string } | null;
}

/** Parses every file diff in the text, across commits when the text is `git log -p` output. */
export function parseDiff(text: string): FileDiff[] {
  return parseCommitPatches(text).flatMap((c) => c.files);
}

/**
 * Groups file diffs by the `commit <sha>` header preceding them (git show / git log -p). Plain
 * `git diff` output comes back as one group with sha "".
 */
export function parseCommitPatches(text: string): CommitPatch[] {
  const rows = text.split("\n");
  const commits: CommitPatch[] = [];
  let current: CommitPatch = { sha: "", files: [] };
  let file: MutableFile | null = null;
  let i = 0;

  const finishFile = () => {
    if (file) current.files.push(finalizeFile(file));
    file = null;
  };
  const finishCommit = () => {
    finishFile();
    if (current.sha !== "" || current.files.length > 0) commits.push(current);
  };

  while (i < rows.length) {
    const row = stripCr(rows[i]!);
    const commit = COMMIT_LINE.exec(row);
    if (commit) {
      finishCommit();
      current = { sha: commit[1]!, files: [] };
      i++;
      continue;
    }
    if (row.startsWith("diff --git ") || row.startsWith("diff --cc ") || row.startsWith("diff --combined ")) {
      finishFile();
      file = startFile(row);
      i++;
      continue;
    }
    if (!file) {
      i++;
      continue;
    }
    const f: MutableFile = file;
    if (row.startsWith("@@")) {
      i = f.combined ? readCombinedHunk(rows, i, f) : readHunk(rows, i, f);
      continue;
    }
    readExtendedHeader(row, f);
    i++;
  }
  finishCommit();
  return commits;
}

function stripCr(row: string): string {
  return row.endsWith("\r") ? row.slice(0, -1) : row;
}

function startFile(row: string): MutableFile {
  const combined = !row.startsWith("diff --git ");
  let gitLinePaths: { a: string; b: string } | null = null;
  if (combined) {
    const path = unquotePath(row.replace(/^diff --(cc|combined) /, ""));
    gitLinePaths = { a: path, b: path };
  } else {
    gitLinePaths = splitGitLinePaths(row.slice("diff --git ".length));
  }
  return {
    oldPath: null,
    newPath: null,
    status: "modified",
    binary: false,
    combined,
    hunks: [],
    addedIdentifiers: [],
    touchedFunctions: [],
    noNewlineAtEof: { old: false, new: false },
    gitLinePaths,
  };
}

/**
 * `diff --git a/x b/y`: quoted paths are unambiguous; unquoted paths containing " b/" are split where
 * both halves name the same file (the only case git leaves ambiguous is a rename, which also prints
 * `rename from` / `rename to` lines that win later).
 */
function splitGitLinePaths(rest: string): { a: string; b: string } | null {
  if (rest.startsWith('"')) {
    const end = closingQuote(rest, 0);
    const a = unquotePath(rest.slice(0, end + 1));
    const tail = rest.slice(end + 2);
    const b = tail.startsWith('"') ? unquotePath(tail) : tail;
    return { a: stripPrefix(a, "a/"), b: stripPrefix(b, "b/") };
  }
  if (rest.endsWith('"')) {
    const start = rest.lastIndexOf(' "');
    if (start > 0)
      return {
        a: stripPrefix(rest.slice(0, start), "a/"),
        b: stripPrefix(unquotePath(rest.slice(start + 1)), "b/"),
      };
  }
  // Same path on both sides: "a/" + P + " b/" + P.
  const half = (rest.length - 1) / 2;
  if (Number.isInteger(half)) {
    const a = rest.slice(0, half);
    const b = rest.slice(half + 1);
    if (a.startsWith("a/") && b.startsWith("b/") && a.slice(2) === b.slice(2))
      return { a: a.slice(2), b: b.slice(2) };
  }
  const sep = rest.indexOf(" b/");
  if (rest.startsWith("a/") && sep > 0) return { a: rest.slice(2, sep), b: rest.slice(sep + 3) };
  return null;
}

function closingQuote(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === '"') return i;
  }
  return text.length - 1;
}

function stripPrefix(path: string, prefix: string): string {
  return path.startsWith(prefix) ? path.slice(prefix.length) : path;
}

/** `--- a/x` / `+++ b/x`; git appends a TAB to names containing spaces. */
function headerPath(value: string, prefix: string): string | null {
  const trimmed = value.replace(/\t$/, "");
  if (trimmed === "/dev/null") return null;
  return stripPrefix(unquotePath(trimmed), prefix);
}

function readExtendedHeader(row: string, f: MutableFile): void {
  if (row.startsWith("--- ")) {
    const p = headerPath(row.slice(4), "a/");
    f.oldPath = p;
    if (p === null) f.status = "added";
  } else if (row.startsWith("+++ ")) {
    const p = headerPath(row.slice(4), "b/");
    f.newPath = p;
    if (p === null) f.status = "deleted";
  } else if (row.startsWith("new file mode ")) {
    f.status = "added";
    f.newMode = row.slice("new file mode ".length);
  } else if (row.startsWith("deleted file mode ")) {
    f.status = "deleted";
    f.oldMode = row.slice("deleted file mode ".length);
  } else if (row.startsWith("old mode ")) {
    f.oldMode = row.slice("old mode ".length);
  } else if (row.startsWith("new mode ")) {
    f.newMode = row.slice("new mode ".length);
  } else if (row.startsWith("rename from ")) {
    f.status = "renamed";
    f.oldPath = unquotePath(row.slice("rename from ".length));
  } else if (row.startsWith("rename to ")) {
    f.status = "renamed";
    f.newPath = unquotePath(row.slice("rename to ".length));
  } else if (row.startsWith("copy from ")) {
    f.status = "copied";
    f.oldPath = unquotePath(row.slice("copy from ".length));
  } else if (row.startsWith("copy to ")) {
    f.status = "copied";
    f.newPath = unquotePath(row.slice("copy to ".length));
  } else if (row.startsWith("similarity index ")) {
    f.similarity = Number.parseInt(row.slice("similarity index ".length), 10);
  } else if (row.startsWith("Binary files ") || row === "GIT binary patch") {
    f.binary = true;
    const m = /^Binary files (.+) and (.+) differ$/.exec(row);
    if (m) {
      if (m[1] === "/dev/null") f.status = "added";
      if (m[2] === "/dev/null") f.status = "deleted";
    }
  }
}

function readHunk(rows: string[], start: number, f: MutableFile): number {
  const m = HUNK_HEADER.exec(stripCr(rows[start]!));
  if (!m) return start + 1;
  const hunk: DiffHunk = {
    oldStart: Number(m[1]),
    oldLines: m[2] === undefined ? 1 : Number(m[2]),
    newStart: Number(m[3]),
    newLines: m[4] === undefined ? 1 : Number(m[4]),
    header: (m[5] ?? "").trim(),
    addedLines: [],
    removedLines: [],
  };
  let oldLeft = hunk.oldLines;
  let newLeft = hunk.newLines;
  let i = start + 1;
  let last: "-" | "+" | " " | null = null;
  while (i < rows.length) {
    const row = rows[i]!;
    if (row.startsWith("\\")) {
      // "\ No newline at end of file" refers to the line just before it.
      if (last === "-" || last === " ") f.noNewlineAtEof.old = true;
      if (last === "+" || last === " ") f.noNewlineAtEof.new = true;
      i++;
      continue;
    }
    if (oldLeft <= 0 && newLeft <= 0) break;
    const tag = row[0];
    const body = row.slice(1);
    if (tag === "-" && oldLeft > 0) {
      hunk.removedLines.push(body);
      oldLeft--;
      last = "-";
    } else if (tag === "+" && newLeft > 0) {
      hunk.addedLines.push(body);
      newLeft--;
      last = "+";
    } else if ((tag === " " || row === "") && oldLeft > 0 && newLeft > 0) {
      // Context (only with -U>0). An empty row is a context line whose leading space was stripped.
      oldLeft--;
      newLeft--;
      last = " ";
    } else {
      break; // truncated or malformed hunk: stop at what we have.
    }
    i++;
  }
  f.hunks.push(hunk);
  return i;
}

/** Combined diff of a merge (`diff --cc`): one prefix column per parent. */
function readCombinedHunk(rows: string[], start: number, f: MutableFile): number {
  const m = COMBINED_HUNK_HEADER.exec(stripCr(rows[start]!));
  if (!m) return start + 1;
  const parents = m[1]!.length - 1;
  const firstOld = /-(\d+)(?:,(\d+))?/.exec(m[2]!);
  const hunk: DiffHunk = {
    oldStart: Number(firstOld?.[1] ?? 0),
    oldLines: firstOld?.[2] === undefined ? 1 : Number(firstOld[2]),
    newStart: Number(m[3]),
    newLines: m[4] === undefined ? 1 : Number(m[4]),
    header: (m[5] ?? "").trim(),
    addedLines: [],
    removedLines: [],
  };
  let newLeft = hunk.newLines;
  let i = start + 1;
  while (i < rows.length) {
    const row = rows[i]!;
    if (row.startsWith("\\")) {
      i++;
      continue;
    }
    const prefix = row.slice(0, parents);
    if (prefix.length < parents || !/^[ +-]+$/.test(prefix)) break;
    const body = row.slice(parents);
    if (prefix.includes("-")) {
      hunk.removedLines.push(body);
    } else {
      if (newLeft <= 0) break;
      if (prefix.includes("+")) hunk.addedLines.push(body);
      newLeft--;
    }
    i++;
  }
  f.hunks.push(hunk);
  return i;
}

function finalizeFile(f: MutableFile): FileDiff {
  const { gitLinePaths, ...rest } = f;
  const out: FileDiff = { ...rest, hunks: f.hunks };
  // Binary and mode-only changes print no ---/+++ lines: fall back to the `diff --git` paths.
  if (out.oldPath === null && out.status !== "added" && gitLinePaths) out.oldPath = gitLinePaths.a;
  if (out.newPath === null && out.status !== "deleted" && gitLinePaths) out.newPath = gitLinePaths.b;
  if (
    out.status === "modified" &&
    out.oldPath !== null &&
    out.newPath !== null &&
    out.oldPath !== out.newPath
  ) {
    out.status = "renamed";
  }
  out.status = out.status satisfies FileChangeStatus;
  const added = out.hunks.flatMap((h) => h.addedLines);
  const removed = out.hunks.flatMap((h) => h.removedLines);
  out.addedIdentifiers = unique(added.flatMap(declaredNames));
  out.touchedFunctions = unique([
    ...out.hunks.flatMap((h) => declaredFunctionNames(h.header)),
    ...added.flatMap(declaredFunctionNames),
    ...removed.flatMap(declaredFunctionNames),
  ]);
  return out;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

const KEYWORDS = new Set([
  "if",
  "for",
  "while",
  "switch",
  "catch",
  "return",
  "new",
  "else",
  "do",
  "try",
  "throw",
  "typeof",
  "await",
  "yield",
  "function",
  "super",
  "this",
  "constructor",
  "with",
  "sizeof",
  "elif",
  "when",
]);

/** Declarations whose name is a callable (what a stack frame can name). */
const FUNCTION_PATTERNS: RegExp[] = [
  // JS/TS/PHP: function foo(, async function* foo(, export default function foo(
  /\bfunction\s*\*?\s*([A-Za-z_$][\w$]*)\s*[<(]/,
  // const foo = (...) =>, const foo = async x =>, const foo = function
  /\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::[^=]+)?=\s*(?:async\s+)?(?:function\b|\([^)]*\)\s*(?::[^=]+)?=>|[A-Za-z_$][\w$]*\s*=>)/,
  // Python / Ruby: def foo(, async def foo(, def self.foo
  /^\s*(?:async\s+)?def\s+(?:self\.)?([A-Za-z_]\w*[?!]?)/,
  // Go: func foo(, func (r *T) foo(
  /^\s*func\s+(?:\([^)]*\)\s*)?([A-Za-z_]\w*)\s*[[(]/,
  // Rust / Kotlin / Swift: fn foo(, fun foo(, func foo(
  /^\s*(?:pub(?:\([^)]*\))?\s+)?(?:(?:async|const|unsafe|override|suspend|private|public|internal|protected|open|inline)\s+)*(?:fn|fun)\s+(?:<[^>]*>\s*)?(?:[\w.]+\.)?([A-Za-z_]\w*)\s*[<(]/,
  // Class members with modifiers: public async foo(, private static bar<T>(, public void baz(
  /^\s*(?:(?:public|private|protected|static|async|override|readonly|abstract|final|synchronized|get|set|virtual|internal)\s+)+(?:[\w<>[\],.?]+\s+)?([A-Za-z_$][\w$]*)\s*(?:<[^>]*>)?\s*\(/,
  // Bare method shorthand at the start of a line: foo(args) {  /  async foo(args) {
  /^\s*(?:async\s+)?\*?([A-Za-z_$][\w$]*)\s*\([^()]*\)\s*(?::\s*[^{=]+)?\{\s*$/,
  // Java / C# method without modifiers: Type name(args) {
  /^\s*[\w<>[\],.?]+\s+([A-Za-z_]\w*)\s*\([^;]*\)\s*(?:throws\s+[\w., ]+)?\{\s*$/,
];

const TYPE_PATTERNS: RegExp[] = [
  /\b(?:class|interface|enum|struct|trait|record|object|protocol)\s+([A-Za-z_$][\w$]*)/,
  /^\s*(?:export\s+)?(?:declare\s+)?type\s+([A-Za-z_$][\w$]*)\s*(?:<[^>]*>)?\s*=/,
  /^\s*type\s+([A-Za-z_]\w*)\s+(?:struct|interface)\b/,
  /^\s*impl(?:<[^>]*>)?\s+(?:[\w:]+\s+for\s+)?([A-Za-z_]\w*)/,
];

const VALUE_PATTERNS: RegExp[] = [
  /\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*[:=]/,
  // Python / Ruby module constants: MAX_RETRIES = 3
  /^([A-Z][A-Z0-9_]{2,})\s*(?::[^=]+)?=(?!=)/,
];

function firstMatch(line: string, patterns: RegExp[]): string | undefined {
  for (const p of patterns) {
    const m = p.exec(line);
    const name = m?.[1];
    if (name && !KEYWORDS.has(name)) return name;
  }
  return undefined;
}

/** Names of callables declared on one source line (hunk header context or added / removed line). */
export function declaredFunctionNames(line: string): string[] {
  if (line.trim() === "") return [];
  const name = firstMatch(line, FUNCTION_PATTERNS);
  return name ? [name] : [];
}

/** Every declared name on one source line: callables, types and constants. */
export function declaredNames(line: string): string[] {
  if (line.trim() === "") return [];
  const out: string[] = [];
  const fn = firstMatch(line, FUNCTION_PATTERNS);
  if (fn) out.push(fn);
  const type = firstMatch(line, TYPE_PATTERNS);
  if (type && type !== fn) out.push(type);
  const value = firstMatch(line, VALUE_PATTERNS);
  if (value && value !== fn && value !== type) out.push(value);
  return out;
}

/** The per-candidate summary attribution needs, from a candidate's file diffs. */
export function summarizeDiffs(files: readonly FileDiff[]): {
  files: string[];
  hunks: Record<string, DiffHunk[]>;
  addedIdentifiers: string[];
  touchedFunctions: string[];
} {
  const hunks: Record<string, DiffHunk[]> = {};
  const paths: string[] = [];
  for (const f of files) {
    const path = f.newPath ?? f.oldPath;
    if (path === null) continue;
    if (!paths.includes(path)) paths.push(path);
    hunks[path] = [...(hunks[path] ?? []), ...f.hunks];
  }
  return {
    files: paths,
    hunks,
    addedIdentifiers: unique(files.flatMap((f) => f.addedIdentifiers)),
    touchedFunctions: unique(files.flatMap((f) => f.touchedFunctions)),
  };
}
