/**
 * Parser for `git blame --porcelain` (and `--line-porcelain`) output. Git prints a commit's details only
 * the first time the commit appears, so the parser remembers them per SHA and fills every line.
 */

export interface BlameLine {
  /** 1-based line number in the blamed revision. */
  finalLine: number;
  sha: string;
  /** 1-based line number in the commit that introduced the line. */
  originalLine: number;
  /** Path of the file in that commit (differs from the blamed path after a rename or with -C). */
  originalPath: string;
  authorMail: string;
  authorName: string;
  /** Author time (UTC instant). */
  authorTime: Date;
  summary: string;
  /** The commit is a boundary (root commit or outside the blamed range). */
  boundary: boolean;
  /** Previous commit and path of the line before this commit changed it, when git reported one. */
  previous?: { sha: string; path: string };
  content: string;
}

interface CommitInfo {
  authorMail: string;
  authorName: string;
  authorTime: Date;
  summary: string;
  boundary: boolean;
  filename: string;
  previous?: { sha: string; path: string };
}

const HEADER = /^([0-9a-f]{40}|[0-9a-f]{64}) (\d+) (\d+)(?: (\d+))?$/;

function emptyCommitInfo(): CommitInfo {
  return {
    authorMail: "",
    authorName: "",
    authorTime: new Date(0),
    summary: "",
    boundary: false,
    filename: "",
  };
}

export class BlameParseError extends Error {
  constructor(
    message: string,
    readonly lineNumber: number,
  ) {
    super(`git blame porcelain, output line ${lineNumber}: ${message}`);
    this.name = "BlameParseError";
  }
}

/** Parses porcelain blame output into one entry per blamed line, ordered by finalLine. */
export function parseBlamePorcelain(output: string): BlameLine[] {
  const rows = output.split("\n");
  const commits = new Map<string, CommitInfo>();
  const result: BlameLine[] = [];
  let i = 0;
  while (i < rows.length) {
    const raw = rows[i]!;
    if (raw === "" && i === rows.length - 1) break;
    const header = HEADER.exec(raw);
    if (!header)
      throw new BlameParseError(
        `expected a "<sha> <orig> <final>" header, got ${JSON.stringify(raw.slice(0, 80))}`,
        i + 1,
      );
    const sha = header[1]!;
    const originalLine = Number(header[2]);
    const finalLine = Number(header[3]);
    let info = commits.get(sha);
    if (!info) {
      info = emptyCommitInfo();
      commits.set(sha, info);
    }
    i++;
    // Key/value lines until the TAB-prefixed content line.
    let filenameThisGroup: string | undefined;
    while (i < rows.length && !rows[i]!.startsWith("\t")) {
      const line = rows[i]!;
      const space = line.indexOf(" ");
      const key = space === -1 ? line : line.slice(0, space);
      const value = space === -1 ? "" : line.slice(space + 1);
      switch (key) {
        case "author":
          info.authorName = value;
          break;
        case "author-mail":
          info.authorMail = value.replace(/^<|>$/g, "");
          break;
        case "author-time":
          info.authorTime = new Date(Number(value) * 1000);
          break;
        case "summary":
          info.summary = value;
          break;
        case "boundary":
          info.boundary = true;
          break;
        case "previous": {
          const sp = value.indexOf(" ");
          if (sp > 0) info.previous = { sha: value.slice(0, sp), path: unquotePath(value.slice(sp + 1)) };
          break;
        }
        case "filename":
          filenameThisGroup = unquotePath(value);
          info.filename = filenameThisGroup;
          break;
        default:
          // committer*, author-tz, "ignored", "unblamable" and future keys carry nothing we use.
          break;
      }
      i++;
    }
    if (i >= rows.length) throw new BlameParseError("missing the TAB-prefixed content line", i);
    const content = rows[i]!.slice(1);
    i++;
    const entry: BlameLine = {
      finalLine,
      sha,
      originalLine,
      originalPath: filenameThisGroup ?? info.filename,
      authorMail: info.authorMail,
      authorName: info.authorName,
      authorTime: info.authorTime,
      summary: info.summary,
      boundary: info.boundary,
      content,
    };
    if (info.previous) entry.previous = { ...info.previous };
    result.push(entry);
  }
  return result.sort((a, b) => a.finalLine - b.finalLine);
}

/** The blame entry of one final line, if the output covered it. */
export function blameAt(lines: readonly BlameLine[], finalLine: number): BlameLine | undefined {
  return lines.find((l) => l.finalLine === finalLine);
}

/**
 * Arguments for the sandbox to blame one frame line at the deployed SHA: ignore whitespace, follow moves
 * and copies, skip formatting-only commits. Pure: this only builds the argv.
 */
export function blameArgs(input: {
  sha: string;
  path: string;
  line: number;
  ignoreRevs?: readonly string[];
}): string[] {
  const args = ["blame", "--porcelain", "-w", "-M", "-C"];
  for (const rev of input.ignoreRevs ?? []) args.push("--ignore-rev", rev);
  args.push("-L", `${input.line},${input.line}`, input.sha, "--", input.path);
  return args;
}

/**
 * Undoes git's C-style quoting of unusual paths ("a\tb", "caf\303\251"). Unquoted input is returned as is.
 */
export function unquotePath(value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return value;
  const body = value.slice(1, -1);
  const bytes: number[] = [];
  const escapes: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '"': 34, "\\": 92 };
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch !== "\\") {
      for (const b of Buffer.from(ch, "utf8")) bytes.push(b);
      continue;
    }
    const next = body[i + 1] ?? "";
    if (/[0-7]/.test(next)) {
      const oct = body.slice(i + 1, i + 4);
      bytes.push(Number.parseInt(oct, 8));
      i += 3;
    } else if (next in escapes) {
      bytes.push(escapes[next]!);
      i += 1;
    } else {
      bytes.push(92);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}
