/**
 * Citation check for reasoning text (ATTRIBUTION.md §5.5): every PR number, file path, line, SHA, ISO time
 * and ticket key a text cites must appear in the evidence facts. Used to reject an LLM rewrite that
 * invents any of them; the deterministic paragraph passes by construction.
 *
 * The allowed set is what the facts' pointers name plus whatever the fact sentences themselves cite, so a
 * text may repeat any fact verbatim. Matching rules:
 * - a file may be cited by any trailing run of its path segments ("cart.ts" for "src/checkout/cart.ts");
 * - file:line and "line N of FILE" must name a (file, line) pair of the facts; a bare "line N" must be a
 *   line some fact names;
 * - a SHA may be abbreviated (≥ 7 hex digits) or full;
 * - a time must be the same instant to the precision the text gives (minute, second, or the UTC day);
 * - hex runs need a digit and a letter to count as a SHA, slash-less file names need a source extension,
 *   and version-like ticket patterns (UTF-8, SHA-256, RFC-7231, ...) are not tickets.
 */
import type { EvidenceFact } from "./types.ts";

export type CitationKind = "pr" | "file" | "line" | "sha" | "time" | "ticket";

export interface CitationProblem {
  kind: CitationKind;
  /** The citation as written in the text. */
  cited: string;
}

interface Citations {
  prs: Set<number>;
  files: Set<string>;
  pairs: Set<string>;
  lines: Set<number>;
  shas: Set<string>;
  times: { instant: number; precision: "day" | "minute" | "second"; text: string }[];
  tickets: Set<string>;
  /** In order of appearance, for the report. */
  ordered: { kind: CitationKind; cited: string; value: string | number; at: number }[];
}

const SOURCE_EXTENSIONS = new Set(
  (
    "ts tsx mts cts js jsx mjs cjs py pyi rb go java kt kts scala groovy rs c h cc cpp cxx hpp cs php swift m mm " +
    "sql sh bash zsh yaml yml json jsonc toml ini cfg conf env properties xml html htm css scss sass less vue " +
    "svelte md mdx tf tfvars lock gradle ex exs erl hrl clj cljs dart lua pl pm r proto graphql gql txt"
  ).split(" "),
);
const NOT_FILES = new Set([
  "node.js",
  "next.js",
  "vue.js",
  "react.js",
  "express.js",
  "nuxt.js",
  "d3.js",
  "three.js",
  "chart.js",
]);
const NOT_TICKET_PROJECTS = new Set(
  "UTF UTF8 UTF16 SHA MD ISO RFC TLS SSL HTTP HTTPS AES RSA ECMA ES CRC IPV X BASE INT UINT FLOAT ARM WIN GPT CVE CWE PEP JSR JEP TCP UDP H COVID".split(
    " ",
  ),
);

const FILE_TOKEN =
  /(?<![\w@/.:-])((?:[\w.-]+\/)*[\w.-]*[A-Za-z_][\w-]*\.([A-Za-z][A-Za-z0-9]{0,9}))(?::(\d+))?(?![\w/])/g;
const LINE_OF_FILE =
  /\blines?\s+(\d+)(?:\s*(?:-|–|to|and)\s*(\d+))?\s+(?:of|in)\s+((?:[\w.-]+\/)*[\w.-]+\.[A-Za-z][A-Za-z0-9]{0,9})/gi;
const BARE_LINE = /\blines?\s+(\d+)(?:\s*(?:-|–|to|and)\s*(\d+))?/gi;
const PR_HASH = /(?<![\w&])#(\d{1,7})\b/g;
const PR_WORD = /\b(?:PR|pull request)\s*#?\s*(\d{1,7})\b/gi;
const SHA = /(?<![\w-])[0-9a-fA-F]{7,64}(?![\w-])/g;
const ISO =
  /\b(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s?(Z|UTC|[+-]\d{2}:?\d{2})?)?(?![\d-])/g;
const TICKET = /(?<![\w-])([A-Z][A-Z0-9_]{1,20})-(\d{1,7})(?![\w-])/g;

function isFileToken(path: string, ext: string): boolean {
  if (NOT_FILES.has(path.toLowerCase())) return false;
  return path.includes("/") || SOURCE_EXTENSIONS.has(ext.toLowerCase());
}

function pairKey(file: string, line: number): string {
  return `${file}\u0000${line}`;
}

function offsetMinutes(zone: string | undefined): number {
  if (!zone || zone === "Z" || zone === "UTC") return 0;
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(zone);
  if (!m) return 0;
  return (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

/** Extracts every citation of a text. */
function extract(text: string): Citations {
  const out: Citations = {
    prs: new Set(),
    files: new Set(),
    pairs: new Set(),
    lines: new Set(),
    shas: new Set(),
    times: [],
    tickets: new Set(),
    ordered: [],
  };
  const before = (index: number) => text.slice(Math.max(0, index - 12), index);

  for (const m of text.matchAll(PR_HASH)) {
    if (/(frame|frames|line|lines|step|item|no\.?|number)\s*$/i.test(before(m.index))) continue;
    const n = Number(m[1]);
    out.prs.add(n);
    out.ordered.push({ kind: "pr", cited: m[0], value: n, at: m.index });
  }
  for (const m of text.matchAll(PR_WORD)) {
    const n = Number(m[1]);
    if (!out.prs.has(n)) out.ordered.push({ kind: "pr", cited: m[0], value: n, at: m.index });
    out.prs.add(n);
  }
  for (const m of text.matchAll(FILE_TOKEN)) {
    const path = m[1]!;
    if (!isFileToken(path, m[2]!)) continue;
    out.files.add(path);
    out.ordered.push({ kind: "file", cited: path, value: path, at: m.index });
    if (m[3] !== undefined) {
      const line = Number(m[3]);
      out.pairs.add(pairKey(path, line));
      out.lines.add(line);
      out.ordered.push({ kind: "line", cited: m[0], value: pairKey(path, line), at: m.index });
    }
  }
  for (const m of text.matchAll(LINE_OF_FILE)) {
    const path = m[3]!;
    for (const g of [m[1], m[2]]) {
      if (g === undefined) continue;
      out.pairs.add(pairKey(path, Number(g)));
      out.ordered.push({ kind: "line", cited: m[0], value: pairKey(path, Number(g)), at: m.index });
    }
  }
  for (const m of text.matchAll(BARE_LINE)) {
    for (const g of [m[1], m[2]]) {
      if (g === undefined) continue;
      out.lines.add(Number(g));
      out.ordered.push({ kind: "line", cited: m[0], value: Number(g), at: m.index });
    }
  }
  for (const m of text.matchAll(SHA)) {
    const sha = m[0].toLowerCase();
    if (!/[0-9]/.test(sha) || !/[a-f]/.test(sha)) continue;
    out.shas.add(sha);
    out.ordered.push({ kind: "sha", cited: m[0], value: sha, at: m.index });
  }
  for (const m of text.matchAll(ISO)) {
    const [, y, mo, d, h, mi, s, zone] = m;
    const precision = h === undefined ? "day" : s === undefined ? "minute" : "second";
    const utc = Date.UTC(
      Number(y),
      Number(mo) - 1,
      Number(d),
      Number(h ?? 0),
      Number(mi ?? 0),
      Number(s ?? 0),
    );
    if (Number.isNaN(utc)) continue;
    const instant = utc - (precision === "day" ? 0 : offsetMinutes(zone) * 60_000);
    out.times.push({ instant, precision, text: m[0] });
    out.ordered.push({ kind: "time", cited: m[0], value: instant, at: m.index });
  }
  for (const m of text.matchAll(TICKET)) {
    if (NOT_TICKET_PROJECTS.has(m[1]!)) continue;
    out.tickets.add(m[0]);
    out.ordered.push({ kind: "ticket", cited: m[0], value: m[0], at: m.index });
  }
  out.ordered.sort((a, b) => a.at - b.at);
  return out;
}

function segmentSuffixOf(cited: string, full: string): boolean {
  return full === cited || full.endsWith(`/${cited}`);
}

function timeAllowed(
  t: { instant: number; precision: "day" | "minute" | "second" },
  allowed: Citations["times"],
): boolean {
  return allowed.some((a) => {
    if (a.precision === "day" || t.precision === "day") {
      return (
        new Date(a.instant).toISOString().slice(0, 10) === new Date(t.instant).toISOString().slice(0, 10) &&
        t.precision === "day"
      );
    }
    const unit = t.precision === "minute" || a.precision === "minute" ? 60_000 : 1000;
    return Math.floor(a.instant / unit) === Math.floor(t.instant / unit);
  });
}

function allowedFrom(facts: readonly EvidenceFact[]): Citations {
  const all = extract(facts.map((f) => f.sentence).join("\n"));
  for (const fact of facts) {
    for (const p of fact.pointers) {
      if ("commit" in p) {
        all.shas.add(p.commit.toLowerCase());
        continue;
      }
      all.files.add(p.file);
      if (p.line !== undefined) {
        all.lines.add(p.line);
        all.pairs.add(pairKey(p.file, p.line));
      }
    }
  }
  return all;
}

/** Citations in `text` that the facts do not support; empty when the text cites only facts. */
export function checkCitations(text: string, facts: readonly EvidenceFact[]): CitationProblem[] {
  const allowed = allowedFrom(facts);
  const cited = extract(text);
  const allowedPairs = [...allowed.pairs].map((k) => {
    const [file, line] = k.split("\u0000");
    return { file: file!, line: Number(line) };
  });
  const problems: CitationProblem[] = [];
  const seen = new Set<string>();
  const report = (kind: CitationKind, text: string) => {
    const key = `${kind}:${text}`;
    if (seen.has(key)) return;
    seen.add(key);
    problems.push({ kind, cited: text });
  };

  for (const c of cited.ordered) {
    switch (c.kind) {
      case "pr":
        if (!allowed.prs.has(c.value as number)) report("pr", c.cited);
        break;
      case "file":
        if (![...allowed.files].some((f) => segmentSuffixOf(c.value as string, f))) report("file", c.cited);
        break;
      case "line":
        if (typeof c.value === "number") {
          if (!allowed.lines.has(c.value)) report("line", c.cited);
        } else {
          const [file, line] = c.value.split("\u0000");
          const ok = allowedPairs.some((p) => p.line === Number(line) && segmentSuffixOf(file!, p.file));
          if (!ok) report("line", c.cited);
        }
        break;
      case "sha": {
        const sha = c.value as string;
        const ok = [...allowed.shas].some((a) => a.startsWith(sha) || sha.startsWith(a));
        if (!ok) report("sha", c.cited);
        break;
      }
      case "time": {
        const t = cited.times.find((x) => x.text === c.cited && x.instant === c.value)!;
        if (!timeAllowed(t, allowed.times)) report("time", c.cited);
        break;
      }
      case "ticket":
        if (!allowed.tickets.has(c.value as string)) report("ticket", c.cited);
        break;
    }
  }
  return problems;
}
