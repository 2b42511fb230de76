/**
 * Inferred PR → ticket links for pull requests that name no key (ATTRIBUTION.md §4: keys are missing on
 * a large and variable share of changes). Features, each in [0, 1]:
 *
 * - assignee: the ticket's assignee is the PR author (e-mail, GitHub login or Jira account joined
 *   through the identity map given as input; a bare display-name match counts less);
 * - in_progress: the share of the PR's open → merge window during which the ticket was in progress;
 * - transition: the ticket changed status while the PR was open or shortly after it merged;
 * - text: BM25 of the PR (title, branch, body) against the ticket (summary, description).
 *
 * The score is their weighted sum. A link is returned only when the score reaches the threshold, the
 * text agrees at all (time and person alone are the "phantom link" case the literature finds imprecise)
 * and no runner-up is nearly as good. Everything is deterministic: ties are broken by fixed rules.
 */
import { ValidationError } from "../errors.ts";
import {
  type ExplicitKey,
  type KeyScanOptions,
  type LinkablePullRequest,
  linkExplicit,
} from "./jira-keys.ts";
import { BM25_K1, buildBm25Index, matchQuery, type QueryMatch } from "./text-similarity.ts";

export const DEFAULT_INFERENCE_THRESHOLD = 0.6;

export const INFERENCE_FEATURES = ["assignee", "in_progress", "transition", "text"] as const;
export type InferenceFeature = (typeof INFERENCE_FEATURES)[number];
export type InferenceWeights = Record<InferenceFeature, number>;

/** No feature alone reaches the threshold, and time + person without text (0.55) does not either. */
export const DEFAULT_INFERENCE_WEIGHTS: Readonly<InferenceWeights> = {
  assignee: 0.25,
  in_progress: 0.2,
  transition: 0.1,
  text: 0.45,
};

/** Minimum text feature for any inferred link. */
export const DEFAULT_MIN_TEXT = 0.15;
/** One shared word is coincidence; the text feature needs at least this many distinct shared terms. */
export const MIN_MATCHED_TERMS = 2;
/** A runner-up this close to the best candidate (and itself above the threshold) makes the link ambiguous. */
export const DEFAULT_MIN_MARGIN = 0.05;
export const DEFAULT_IN_PROGRESS_STATUSES = [
  "in progress",
  "in development",
  "in review",
  "code review",
  "review",
  "in qa",
] as const;

const HOUR = 3_600_000;
/** A status change this long before the PR opened or after it closed still counts as "during". */
const TRANSITION_BEFORE_MS = HOUR;
const TRANSITION_AFTER_MS = 24 * HOUR;
const DISPLAY_NAME_ONLY = 0.6;

export interface PrAuthor {
  login?: string;
  email?: string;
  name?: string;
}

export interface JiraUser {
  accountId?: string;
  email?: string;
  displayName?: string;
}

/** One person's identities across systems, as configured or learned by the org. */
export interface Identity {
  jiraAccountId?: string;
  emails?: string[];
  githubLogins?: string[];
  displayNames?: string[];
}

export type StatusCategory = "todo" | "in_progress" | "done";

/** One stretch of the ticket in one status; `to` absent or null while it is still in it. */
export interface StatusInterval {
  status: string;
  category?: StatusCategory;
  from: Date;
  to?: Date | null;
}

export interface TicketForInference {
  key: string;
  summary: string;
  description?: string;
  assignee?: JiraUser | null;
  /** Oldest first; the first entry is the status the ticket was created in. */
  statusHistory?: StatusInterval[];
}

export interface PullRequestForInference {
  number?: number;
  title: string;
  body?: string;
  branch?: string;
  author: PrAuthor;
  createdAt: Date;
  /** Merge time; for an open PR leave it out and pass `now`. */
  mergedAt?: Date | null;
}

export interface FeatureScore {
  feature: InferenceFeature;
  value: number;
  weight: number;
  /** Why the value is what it is, for the explanation. */
  detail: string;
}

export interface TicketCandidate {
  key: string;
  score: number;
  features: FeatureScore[];
  /** Features with a value above zero. */
  fired: InferenceFeature[];
}

export interface InferredLink extends TicketCandidate {
  kind: "inferred";
}

export type InferenceOutcome = "linked" | "no_candidates" | "below_threshold" | "no_text_match" | "ambiguous";

export interface InferenceResult {
  link: InferredLink | null;
  outcome: InferenceOutcome;
  /** Every ticket scored, best first (deterministic order). */
  candidates: TicketCandidate[];
}

export interface InferenceOptions {
  identities?: readonly Identity[];
  threshold?: number;
  weights?: Partial<InferenceWeights>;
  minText?: number;
  minMargin?: number;
  /** Status names (case-insensitive) that mean in progress when an interval has no category. */
  inProgressStatuses?: readonly string[];
  /** End of the window for a PR that is not merged yet. */
  now?: Date;
}

// ---------------------------------------------------------------------------------------------------
// features

const normEmail = (s: string | undefined) => s?.trim().toLowerCase() || undefined;
const normLogin = (s: string | undefined) => s?.trim().replace(/^@/, "").toLowerCase() || undefined;
const normName = (s: string | undefined) =>
  s?.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase().replace(/\s+/g, " ").trim() || undefined;

function identityMatchesAuthor(identity: Identity, author: PrAuthor): boolean {
  const email = normEmail(author.email);
  const login = normLogin(author.login);
  const name = normName(author.name);
  return (
    (email !== undefined && (identity.emails ?? []).some((e) => normEmail(e) === email)) ||
    (login !== undefined && (identity.githubLogins ?? []).some((l) => normLogin(l) === login)) ||
    (name !== undefined && (identity.displayNames ?? []).some((n) => normName(n) === name))
  );
}

function identityMatchesAssignee(identity: Identity, assignee: JiraUser): boolean {
  const email = normEmail(assignee.email);
  const name = normName(assignee.displayName);
  return (
    (assignee.accountId !== undefined && identity.jiraAccountId === assignee.accountId) ||
    (email !== undefined && (identity.emails ?? []).some((e) => normEmail(e) === email)) ||
    (name !== undefined && (identity.displayNames ?? []).some((n) => normName(n) === name))
  );
}

function assigneeFeature(
  author: PrAuthor,
  assignee: JiraUser | null | undefined,
  identities: readonly Identity[],
): { value: number; detail: string } {
  if (!assignee) return { value: 0, detail: "ticket has no assignee" };
  const authorEmail = normEmail(author.email);
  if (authorEmail !== undefined && authorEmail === normEmail(assignee.email)) {
    return { value: 1, detail: "assignee e-mail is the PR author's" };
  }
  if (identities.some((id) => identityMatchesAuthor(id, author) && identityMatchesAssignee(id, assignee))) {
    return { value: 1, detail: "assignee is the PR author per the identity map" };
  }
  const authorName = normName(author.name);
  if (authorName !== undefined && authorName === normName(assignee.displayName)) {
    return { value: DISPLAY_NAME_ONLY, detail: "assignee display name equals the PR author's name" };
  }
  return { value: 0, detail: "assignee is someone else" };
}

function isInProgress(interval: StatusInterval, statuses: ReadonlySet<string>): boolean {
  if (interval.category !== undefined) return interval.category === "in_progress";
  return statuses.has(interval.status.trim().toLowerCase());
}

/** Share of [start, end] covered by the union of the in-progress intervals. */
function inProgressFeature(
  history: readonly StatusInterval[],
  start: number,
  end: number,
  statuses: ReadonlySet<string>,
): { value: number; detail: string } {
  const intervals = history
    .filter((i) => isInProgress(i, statuses))
    .map((i) => [i.from.getTime(), i.to ? i.to.getTime() : Number.POSITIVE_INFINITY] as const)
    .sort((a, b) => a[0] - b[0]);
  if (intervals.length === 0) return { value: 0, detail: "never in progress" };
  if (end <= start) {
    const inside = intervals.some(([from, to]) => from <= start && start <= to);
    return inside
      ? { value: 1, detail: "in progress when the PR merged" }
      : { value: 0, detail: "not in progress while the PR was open" };
  }
  let covered = 0;
  let cursor = start;
  for (const [from, to] of intervals) {
    const lo = Math.max(from, cursor);
    const hi = Math.min(to, end);
    if (hi > lo) {
      covered += hi - lo;
      cursor = hi;
    }
  }
  const value = Math.min(1, covered / (end - start));
  return value === 0
    ? { value: 0, detail: "not in progress while the PR was open" }
    : { value, detail: `in progress for ${Math.round(value * 100)}% of the time the PR was open` };
}

function transitionFeature(
  history: readonly StatusInterval[],
  start: number,
  end: number,
): { value: number; detail: string } {
  // The first interval is the creation status, not a change.
  for (const interval of history.slice(1)) {
    const at = interval.from.getTime();
    if (at >= start - TRANSITION_BEFORE_MS && at <= end + TRANSITION_AFTER_MS) {
      return { value: 1, detail: `moved to ${interval.status} at ${interval.from.toISOString()}` };
    }
  }
  return { value: 0, detail: "no status change while the PR was open" };
}

const BRANCH_PREFIX = /^(?:refs\/heads\/)?(?:feature|feat|fix|bugfix|hotfix|chore|refactor|docs|test)\//i;

/** PR text without template noise: HTML comments and checklist lines. */
function prText(pr: PullRequestForInference): { focused: string; full: string } {
  const branch = (pr.branch ?? "").replace(BRANCH_PREFIX, "");
  const body = (pr.body ?? "")
    .slice(0, 65_536)
    .replace(/<!--[\s\S]*?-->/g, " ")
    .replace(/^\s*[-*] \[[ xX]\].*$/gm, " ");
  const focused = `${pr.title}\n${branch}`;
  return { focused, full: `${focused}\n${body}` };
}

const NO_MATCH: QueryMatch = { score: 0, normalized: 0, matchedTerms: [] };

/**
 * The better of the title + branch query and the full PR query. A document of average length holding
 * each query term once scores 1 / (k1 + 1) of the bound, so the normalized score is multiplied by
 * k1 + 1 to read 1 for that.
 */
function textFeature(
  focused: QueryMatch = NO_MATCH,
  full: QueryMatch = NO_MATCH,
): { value: number; detail: string } {
  const eligible = [focused, full].filter((m) => m.matchedTerms.length >= MIN_MATCHED_TERMS);
  if (eligible.length === 0) {
    const shared = [...new Set([...focused.matchedTerms, ...full.matchedTerms])];
    return {
      value: 0,
      detail:
        shared.length === 0 ? "no words in common" : `only one word in common (${shared[0]}), not evidence`,
    };
  }
  const best = eligible.reduce((a, b) => (b.normalized > a.normalized ? b : a));
  const value = Math.min(1, best.normalized * (BM25_K1 + 1));
  return {
    value,
    detail: `text similarity ${value.toFixed(2)}, shared terms: ${best.matchedTerms.join(", ")}`,
  };
}

// ---------------------------------------------------------------------------------------------------
// ranking

function keyOrder(a: string, b: string): number {
  const [pa = "", na = ""] = a.split("-");
  const [pb = "", nb = ""] = b.split("-");
  if (pa !== pb) return pa < pb ? -1 : 1;
  const diff = Number(na) - Number(nb);
  if (diff !== 0 && !Number.isNaN(diff)) return diff;
  return a < b ? -1 : a > b ? 1 : 0;
}

const featureValue = (c: TicketCandidate, f: InferenceFeature) =>
  c.features.find((x) => x.feature === f)?.value ?? 0;

/** Score, then text, then assignee, then in-progress share, then the lower ticket key. */
export function compareCandidates(a: TicketCandidate, b: TicketCandidate): number {
  return (
    b.score - a.score ||
    featureValue(b, "text") - featureValue(a, "text") ||
    featureValue(b, "assignee") - featureValue(a, "assignee") ||
    featureValue(b, "in_progress") - featureValue(a, "in_progress") ||
    keyOrder(a.key, b.key)
  );
}

function checkOptions(options: InferenceOptions, weights: InferenceWeights): void {
  const errors: { path: string; message: string }[] = [];
  for (const feature of INFERENCE_FEATURES) {
    const w = weights[feature];
    if (!Number.isFinite(w) || w < 0) errors.push({ path: `weights.${feature}`, message: "must be ≥ 0" });
  }
  const sum = INFERENCE_FEATURES.reduce((s, f) => s + weights[f], 0);
  if (Math.abs(sum - 1) > 1e-9) errors.push({ path: "weights", message: "must sum to 1" });
  for (const key of ["threshold", "minText", "minMargin"] as const) {
    const v = options[key];
    if (v !== undefined && !(v >= 0 && v <= 1)) errors.push({ path: key, message: "must be in [0, 1]" });
  }
  if (errors.length > 0) throw new ValidationError(errors);
}

/** Scores every ticket against the PR and returns the inferred link, if one is clear enough. */
export function inferTicketLink(
  pr: PullRequestForInference,
  tickets: readonly TicketForInference[],
  options: InferenceOptions = {},
): InferenceResult {
  const weights: InferenceWeights = { ...DEFAULT_INFERENCE_WEIGHTS, ...options.weights };
  checkOptions(options, weights);
  const threshold = options.threshold ?? DEFAULT_INFERENCE_THRESHOLD;
  const minText = options.minText ?? DEFAULT_MIN_TEXT;
  const minMargin = options.minMargin ?? DEFAULT_MIN_MARGIN;
  const statuses = new Set(
    (options.inProgressStatuses ?? DEFAULT_IN_PROGRESS_STATUSES).map((s) => s.toLowerCase()),
  );
  const identities = options.identities ?? [];
  if (tickets.length === 0) return { link: null, outcome: "no_candidates", candidates: [] };

  const start = pr.createdAt.getTime();
  const end = (pr.mergedAt ?? options.now ?? pr.createdAt).getTime();

  // The ticket corpus gives the idf: words every ticket uses weigh little.
  const index = buildBm25Index(
    tickets.map((t) => ({ id: t.key, text: `${t.summary}\n${t.description ?? ""}` })),
  );
  const text = prText(pr);
  const focused = matchQuery(index, text.focused);
  const full = matchQuery(index, text.full);

  const candidates = tickets.map((ticket): TicketCandidate => {
    const history = ticket.statusHistory ?? [];
    const assignee = assigneeFeature(pr.author, ticket.assignee, identities);
    const inProgress = inProgressFeature(history, start, end, statuses);
    const transition = transitionFeature(history, start, end);
    const features: FeatureScore[] = [
      { feature: "assignee", weight: weights.assignee, ...assignee },
      { feature: "in_progress", weight: weights.in_progress, ...inProgress },
      { feature: "transition", weight: weights.transition, ...transition },
      {
        feature: "text",
        weight: weights.text,
        ...textFeature(focused.get(ticket.key), full.get(ticket.key)),
      },
    ];
    const score = features.reduce((sum, f) => sum + f.weight * f.value, 0);
    return {
      key: ticket.key,
      score: Math.round(score * 1e9) / 1e9,
      features,
      fired: features.filter((f) => f.value > 0).map((f) => f.feature),
    };
  });
  candidates.sort(compareCandidates);

  const best = candidates[0]!;
  if (best.score < threshold) return { link: null, outcome: "below_threshold", candidates };
  if (featureValue(best, "text") < minText) return { link: null, outcome: "no_text_match", candidates };
  const runnerUp = candidates[1];
  if (runnerUp !== undefined && runnerUp.score >= threshold && best.score - runnerUp.score < minMargin) {
    return { link: null, outcome: "ambiguous", candidates };
  }
  return { link: { ...best, kind: "inferred" }, outcome: "linked", candidates };
}

// ---------------------------------------------------------------------------------------------------
// explicit first, then inferred

export type TicketLink =
  | { kind: "explicit"; key: string; primary: ExplicitKey; others: ExplicitKey[] }
  | (InferredLink & { others?: never });

export interface LinkTicketOptions extends InferenceOptions, KeyScanOptions {
  knownProjectKeys: Iterable<string>;
}

/**
 * The ticket that authorized a PR: its explicit key when it names one (branch, title, body, commits),
 * else an inferred link when the evidence is clear, else null.
 */
export function linkTicket(
  pr: PullRequestForInference & LinkablePullRequest,
  tickets: readonly TicketForInference[],
  options: LinkTicketOptions,
): TicketLink | null {
  const explicit = linkExplicit(pr, options.knownProjectKeys, options);
  if (explicit.primary) {
    return {
      kind: "explicit",
      key: explicit.primary.key,
      primary: explicit.primary,
      others: explicit.others,
    };
  }
  return inferTicketLink(pr, tickets, options).link;
}
