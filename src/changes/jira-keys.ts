/**
 * Explicit Jira keys on a pull request (DESIGN.md §5, ATTRIBUTION.md §4). Sources in precedence order:
 * branch name, PR title, PR body, commit messages. The key shape alone (`[A-Z][A-Z0-9_]+-\d+`) also
 * matches `UTF-8`, `SHA-256`, `ISO-8859` and `RFC-6962`, so every match is validated against the org's
 * known project keys. Only the branch is read case-insensitively (`feature/pay-123-fix` is common);
 * in prose `Pay-12` is not a key.
 *
 * Every pattern here is linear: each candidate may only start where the previous character is not a
 * word character, so a long run of letters is tried once, and scanning stops at a character cap.
 */
import { ValidationError } from "../errors.ts";

export const KEY_SOURCES = ["branch", "title", "body", "commit"] as const;
export type KeySource = (typeof KEY_SOURCES)[number];

/** GitHub caps a PR body at 65,536 characters; scanning past that is never useful. */
export const DEFAULT_MAX_SCAN_CHARS = 65_536;
/** GitHub's PR commit listing stops at 250 commits. */
export const DEFAULT_MAX_COMMITS = 250;
const MAX_MATCHES_PER_TEXT = 1_000;

export interface ExplicitKey {
  /** Normalized key, e.g. "PAY-123". */
  key: string;
  project: string;
  number: number;
  /** The first source, in precedence order, that named the key. */
  source: KeySource;
  /** Character offset of the key in that source's text. */
  index: number;
  /** For source "commit": the position of the commit in the list given, and its SHA when known. */
  commitIndex?: number;
  commitSha?: string;
  /** Later sources that named the same key. */
  alsoIn: KeySource[];
}

export interface LinkablePullRequest {
  branch?: string;
  title?: string;
  body?: string;
  /** The PR's commits, oldest first, as the GitHub API lists them. */
  commits?: ReadonlyArray<{ sha?: string; message: string }>;
}

export interface KeyScanOptions {
  /**
   * Hosts of the org's Jira sites. A key inside a URL counts only when the URL is an issue link on one
   * of these hosts (`/browse/KEY-1`, `selectedIssue=KEY-1`); keys in any other URL (dashboards, other
   * companies' trackers, file paths) are ignored. Without hosts, no key inside a URL counts.
   */
  jiraHosts?: readonly string[];
  maxScanChars?: number;
  maxCommits?: number;
}

export interface KeyOccurrence {
  key: string;
  project: string;
  number: number;
  index: number;
}

const PROJECT_KEY = /^[A-Z][A-Z0-9_]{1,254}$/;

/** Upper-cases and checks configured project keys; a malformed key is a configuration error. */
export function normalizeProjectKeys(keys: Iterable<string>): Set<string> {
  const result = new Set<string>();
  const errors: { path: string; message: string }[] = [];
  let i = 0;
  for (const raw of keys) {
    const key = raw.trim().toUpperCase();
    if (PROJECT_KEY.test(key)) result.add(key);
    else errors.push({ path: `knownProjectKeys.${i}`, message: "not a Jira project key" });
    i++;
  }
  if (errors.length > 0) throw new ValidationError(errors);
  return result;
}

// Candidate: not preceded by a word character; project of 2..255 word characters starting with a
// letter; an issue number without a leading zero, at most 9 digits, not followed by a word character.
// `.` + digit after the number means a version (`ISO-8859.1`, `PAY-1.2`), not a key.
const TEXT_KEY = /(?<![A-Za-z0-9_])([A-Z][A-Z0-9_]{1,254})-([1-9][0-9]{0,8})(?![A-Za-z0-9_]|\.[0-9])/g;
// Branches: any case, and `_` may follow the number (`PAY-12_retry`).
const BRANCH_KEY = /(?<![A-Za-z0-9_])([A-Za-z][A-Za-z0-9_]{1,254})-([1-9][0-9]{0,8})(?![A-Za-z0-9]|\.[0-9])/g;
const URL = /\b(?:https?|ftp):\/\/[^\s<>"'`)\]]+/gi;

interface Span {
  start: number;
  end: number;
  /** Offsets of keys this URL links as Jira issues on a configured host. */
  issueKeyAt: Set<number>;
}

function urlSpans(text: string, jiraHosts: ReadonlySet<string>): Span[] {
  const spans: Span[] = [];
  URL.lastIndex = 0;
  for (let m = URL.exec(text); m !== null; m = URL.exec(text)) {
    const url = m[0];
    const span: Span = { start: m.index, end: m.index + url.length, issueKeyAt: new Set() };
    const host = /^[a-z]+:\/\/(?:[^/@]*@)?([^/:?#]+)/i.exec(url)?.[1]?.toLowerCase();
    if (host !== undefined && jiraHosts.has(host)) {
      const issue = /(?:\/browse\/|[?&]selectedIssue=)([A-Z][A-Z0-9_]+-[1-9][0-9]*)/.exec(url);
      if (issue) span.issueKeyAt.add(m.index + issue.index + issue[0].length - issue[1]!.length);
    }
    spans.push(span);
  }
  return spans;
}

function truncatedInsideWord(text: string, end: number, cap: number): boolean {
  return end >= cap && cap < text.length && /[A-Za-z0-9_.]/.test(text[cap] ?? "");
}

/**
 * Validated keys in one text, in order of appearance (duplicates kept). Branches are matched
 * case-insensitively and may prefix the key with `word_` (`feature_PAY-1`); other sources are strict.
 */
export function findKeysInText(
  text: string,
  source: KeySource,
  known: ReadonlySet<string>,
  options: KeyScanOptions = {},
): KeyOccurrence[] {
  const cap = options.maxScanChars ?? DEFAULT_MAX_SCAN_CHARS;
  const scanned = text.length > cap ? text.slice(0, cap) : text;
  const isBranch = source === "branch";
  const pattern = isBranch ? BRANCH_KEY : TEXT_KEY;
  const hosts = new Set((options.jiraHosts ?? []).map((h) => h.toLowerCase()));
  const spans = isBranch ? [] : urlSpans(scanned, hosts);
  const found: KeyOccurrence[] = [];
  // Matches come in increasing offset order, so one cursor walks the sorted URL spans.
  let spanCursor = 0;

  pattern.lastIndex = 0;
  for (let m = pattern.exec(scanned); m !== null; m = pattern.exec(scanned)) {
    if (found.length >= MAX_MATCHES_PER_TEXT) break;
    const end = m.index + m[0].length;
    if (truncatedInsideWord(text, end, cap)) continue;
    let project = m[1]!;
    let index = m.index;
    if (isBranch) {
      project = project.toUpperCase();
      // `feature_pay-12`: the key shape swallowed the prefix; try the parts after each underscore.
      while (!known.has(project) && project.includes("_")) {
        const cut = project.indexOf("_") + 1;
        project = project.slice(cut);
        index += cut;
      }
    }
    if (!known.has(project)) continue;
    while (spanCursor < spans.length && spans[spanCursor]!.end <= index) spanCursor++;
    const span = spans[spanCursor];
    if (span !== undefined && span.start <= index && !span.issueKeyAt.has(index)) continue;
    const number = Number(m[2]);
    found.push({ key: `${project}-${number}`, project, number, index });
  }
  return found;
}

/** Validated, de-duplicated keys of a PR in precedence order: branch, title, body, then commits. */
export function extractExplicitKeys(
  pr: LinkablePullRequest,
  knownProjectKeys: Iterable<string>,
  options: KeyScanOptions = {},
): ExplicitKey[] {
  const known = normalizeProjectKeys(knownProjectKeys);
  const byKey = new Map<string, ExplicitKey>();
  const add = (occurrences: KeyOccurrence[], source: KeySource, commit?: { index: number; sha?: string }) => {
    for (const o of occurrences) {
      const existing = byKey.get(o.key);
      if (existing) {
        if (existing.source !== source && !existing.alsoIn.includes(source)) existing.alsoIn.push(source);
        continue;
      }
      const entry: ExplicitKey = {
        key: o.key,
        project: o.project,
        number: o.number,
        source,
        index: o.index,
        alsoIn: [],
      };
      if (commit) {
        entry.commitIndex = commit.index;
        if (commit.sha !== undefined) entry.commitSha = commit.sha;
      }
      byKey.set(o.key, entry);
    }
  };

  if (pr.branch)
    add(findKeysInText(pr.branch.replace(/^refs\/heads\//, ""), "branch", known, options), "branch");
  if (pr.title) add(findKeysInText(pr.title, "title", known, options), "title");
  if (pr.body) add(findKeysInText(pr.body, "body", known, options), "body");
  const commits = (pr.commits ?? []).slice(0, options.maxCommits ?? DEFAULT_MAX_COMMITS);
  commits.forEach((commit, index) => {
    // "Merge branch 'other-PAY-9' into ..." names another branch's work, not this PR's.
    if (/^Merge (?:branch|remote-tracking branch|pull request) /.test(commit.message)) return;
    add(findKeysInText(commit.message, "commit", known, options), "commit", { index, sha: commit.sha });
  });
  return [...byKey.values()];
}

export interface ExplicitLink {
  /** The first key by precedence, or null when the PR names no known key. */
  primary: ExplicitKey | null;
  others: ExplicitKey[];
}

export function linkExplicit(
  pr: LinkablePullRequest,
  knownProjectKeys: Iterable<string>,
  options: KeyScanOptions = {},
): ExplicitLink {
  const [primary, ...others] = extractExplicitKeys(pr, knownProjectKeys, options);
  return { primary: primary ?? null, others };
}
