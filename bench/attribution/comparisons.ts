/**
 * Offline comparisons for the attribution benchmark (ATTRIBUTION.md §6.3): the baselines, the feature
 * ablations and the calibration of the engine's top-suspect probability, all computed on the exact
 * AttributionInput the pipeline handed to `attribute()` during the real-service run. Pure functions; the
 * git reads the commit-context baseline needs (blame at HEAD) are done by the caller.
 */
import { attribute } from "../../src/attribution/attribute.ts";
import { buildRepoPathIndex, mapStackFrames } from "../../src/attribution/path-mapping.ts";
import { applyHardFilters, FEATURE_ORDER, topProbability } from "../../src/attribution/score.ts";
import type {
  AttributionInput,
  AttributionResult,
  CandidateChange,
  FeatureId,
  ScoringMode,
  Weights,
} from "../../src/attribution/types.ts";

const SCORE_EPSILON = 1e-9;

export interface Scored {
  id: string;
  score: number;
}

/**
 * 1-based rank of `truthId` with ties at their expected position (the mean position of the tie group), so
 * a ranker gains nothing from ties; null when the truth is not among the scored items.
 */
export function tieAwareRank(items: readonly Scored[], truthId: string): number | null {
  const me = items.find((s) => s.id === truthId);
  if (!me) return null;
  let above = 0;
  let tied = 0;
  for (const s of items) {
    if (s.score > me.score + SCORE_EPSILON) above++;
    else if (Math.abs(s.score - me.score) <= SCORE_EPSILON) tied++;
  }
  return above + (tied + 1) / 2;
}

export interface RankSummary {
  n: number;
  top1: number;
  top3: number;
  top5: number;
  mrr: number;
  /** Cases where the truth was not among the ranked items (a filtering error, not a ranking error). */
  notRanked: number;
}

/** A null rank counts as a miss (reciprocal rank 0). */
export function summarizeRanks(ranks: readonly (number | null)[]): RankSummary {
  const n = ranks.length;
  const within = (k: number) => ranks.filter((r) => r !== null && r <= k).length / Math.max(1, n);
  return {
    n,
    top1: within(1),
    top3: within(3),
    top5: within(5),
    mrr: n === 0 ? 0 : ranks.reduce<number>((s, r) => s + (r === null ? 0 : 1 / r), 0) / n,
    notRanked: ranks.filter((r) => r === null).length,
  };
}

/**
 * Exact expectation of a uniformly random ranking of `n` candidates when the truth is one of them:
 * P(rank ≤ k) = min(k, n) / n and E[1 / rank] = H_n / n.
 */
export function randomRankExpectation(n: number): { top1: number; top3: number; top5: number; rr: number } {
  if (n <= 0) return { top1: 0, top3: 0, top5: 0, rr: 0 };
  let harmonic = 0;
  for (let i = 1; i <= n; i++) harmonic += 1 / i;
  return { top1: 1 / n, top3: Math.min(3, n) / n, top5: Math.min(5, n) / n, rr: harmonic / n };
}

export interface CalibrationBin {
  lo: number;
  hi: number;
  n: number;
  meanConfidence: number;
  accuracy: number;
}

/**
 * Expected calibration error with equal-width bins over [0, 1]: Σ_b (|b| / N) · |accuracy_b − mean p_b|.
 * p = 1 falls in the last bin. Empty bins are reported with n = 0 and do not contribute.
 */
export function expectedCalibrationError(
  points: readonly { p: number; correct: boolean }[],
  bins = 10,
): { ece: number; bins: CalibrationBin[] } {
  const acc = Array.from({ length: bins }, () => ({ n: 0, p: 0, correct: 0 }));
  for (const { p, correct } of points) {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`probability out of [0, 1]: ${p}`);
    const b = acc[Math.min(bins - 1, Math.floor(p * bins))]!;
    b.n++;
    b.p += p;
    if (correct) b.correct++;
  }
  const total = points.length;
  let ece = 0;
  const out = acc.map((b, i): CalibrationBin => {
    const meanConfidence = b.n ? b.p / b.n : 0;
    const accuracy = b.n ? b.correct / b.n : 0;
    if (b.n) ece += (b.n / total) * Math.abs(accuracy - meanConfidence);
    return { lo: i / bins, hi: (i + 1) / bins, n: b.n, meanConfidence, accuracy };
  });
  return { ece, bins: out };
}

// ---------------------------------------------------------------------------------------------------
// Sentry legacy: path-suffix points over the release window (ATTRIBUTION.md §1.1)

const LEGACY_FRAME_LIMIT = 25;
const LEGACY_START_POINTS = 5;
const LEGACY_RELEASE_WINDOW = 5;
export const LEGACY_MIN_COMMIT_SCORE = 2;

function pathTokens(p: string): string[] {
  return p
    .split(/[\\/]+/)
    .filter((t) => t !== "" && t !== ".")
    .map((t) => t.toLowerCase())
    .reverse();
}

/** How many trailing path segments two paths share (case-insensitive). */
export function suffixMatchLength(a: string, b: string): number {
  const ta = pathTokens(a);
  const tb = pathTokens(b);
  let k = 0;
  while (k < ta.length && k < tb.length && ta[k] === tb[k]) k++;
  return k;
}

/** A basename-only match counts only when the changed file's own path is a single segment. */
function legacyMatch(framePath: string, changedFile: string): number {
  const k = suffixMatchLength(framePath, changedFile);
  if (k === 0) return 0;
  if (k === 1 && pathTokens(changedFile).length > 1) return 0;
  return k;
}

/** The release window: changes shipped in the deployed release or the 4 before it. */
export function legacyWindow(input: AttributionInput): CandidateChange[] {
  return input.candidates.filter(
    (c) => c.isAncestorOfDeployed && (c.releasesBack ?? 0) < LEGACY_RELEASE_WINDOW,
  );
}

/**
 * Points per candidate: the in-app frames (all frames when none is in-app) closest to the crash, at most
 * 25, walked in Sentry's stored order (oldest first); each frame's longest-suffix matches get the current
 * points, which start at 5 and drop by one per (frame, change) match. Within a tie the more recent merge
 * is credited first (Sentry's commit order is its release order). Only changes scoring at least 2 are
 * suspects.
 */
export function sentryLegacyScores(input: AttributionInput): Scored[] {
  const inApp = input.anomaly.frames.filter((f) => f.inApp);
  const frames = (inApp.length > 0 ? inApp : input.anomaly.frames).slice(0, LEGACY_FRAME_LIMIT).reverse();
  const pool = [...legacyWindow(input)].sort(
    (a, b) => b.mergedAt.getTime() - a.mergedAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  const points = new Map<string, number>();
  let limit = LEGACY_START_POINTS;
  for (const frame of frames) {
    if (limit <= 0) break;
    const framePath = frame.file || frame.absPath || "";
    if (!framePath) continue;
    let best = 0;
    let matched: CandidateChange[] = [];
    for (const c of pool) {
      const k = Math.max(0, ...c.files.map((f) => legacyMatch(framePath, f)));
      if (k === 0 || k < best) continue;
      if (k > best) {
        best = k;
        matched = [];
      }
      matched.push(c);
    }
    for (const c of matched) {
      if (limit <= 0) break;
      points.set(c.id, (points.get(c.id) ?? 0) + limit);
      limit--;
    }
  }
  return [...points].filter(([, s]) => s >= LEGACY_MIN_COMMIT_SCORE).map(([id, score]) => ({ id, score }));
}

// ---------------------------------------------------------------------------------------------------
// Sentry commit context: blame → the single most recent commit (ATTRIBUTION.md §1.2)

/** A mapped in-app frame line with a line number, crash site first. */
export interface FrameLine {
  path: string;
  line: number;
}

export function mappedFrameLines(input: AttributionInput): FrameLine[] {
  const mapped = mapStackFrames(input.anomaly.frames, buildRepoPathIndex(input.files));
  return mapped.flatMap((m) =>
    m.repoPath !== undefined && m.frame.line !== undefined ? [{ path: m.repoPath, line: m.frame.line }] : [],
  );
}

export interface BlamedLine extends FrameLine {
  sha: string;
  committedAt: Date;
}

const YEAR_MS = 365 * 24 * 3_600_000;

/** The change a commit belongs to: one whose commits or merge / squash commit include it. */
export function changeOfCommit(
  candidates: readonly CandidateChange[],
  sha: string,
): CandidateChange | undefined {
  return candidates.find((c) => c.mergeSha === sha || c.commits.includes(sha));
}

/**
 * Sentry's pick from blamed frame lines (crash site first): the most recent commit across them, dropped
 * when older than a year before t0; with `notAfterFirstSeen`, lines blamed on commits after t0 are ignored
 * first (Sentry's `commit_date_max`). Returns the pick's change id, "outside" when the commit belongs to
 * no candidate change, or null when nothing was picked.
 */
export function commitContextPick(
  blamed: readonly BlamedLine[],
  candidates: readonly CandidateChange[],
  t0: Date,
  opts: { topFrameOnly: boolean; notAfterFirstSeen: boolean },
): string | "outside" | null {
  let lines = opts.topFrameOnly ? blamed.slice(0, 1) : [...blamed];
  if (opts.notAfterFirstSeen) lines = lines.filter((b) => b.committedAt.getTime() <= t0.getTime());
  if (lines.length === 0) return null;
  const latest = lines.reduce((m, b) => (b.committedAt.getTime() > m.committedAt.getTime() ? b : m));
  if (t0.getTime() - latest.committedAt.getTime() > YEAR_MS) return null;
  return changeOfCommit(candidates, latest.sha)?.id ?? "outside";
}

// ---------------------------------------------------------------------------------------------------
// the engine re-run offline, time only, text only

function onlyFeature(feature: FeatureId): Partial<Record<ScoringMode, Partial<Weights>>> {
  const w = Object.fromEntries(FEATURE_ORDER.map((f) => [f, f === feature ? 1 : 0])) as Weights;
  return { stack: w, no_code_evidence: w, no_stack: w };
}

export function withoutFeature(feature: FeatureId): Partial<Record<ScoringMode, Partial<Weights>>> {
  return { stack: { [feature]: 0 }, no_code_evidence: { [feature]: 0 }, no_stack: { [feature]: 0 } };
}

export function suspectScores(result: AttributionResult): Scored[] {
  return result.suspects.map((s) => ({ id: s.candidateId, score: s.score }));
}

/** Rank as the headline counts it: an abstention or a failure is a miss. */
export function engineRank(result: AttributionResult, truthId: string): number | null {
  return result.status === "done" ? tieAwareRank(suspectScores(result), truthId) : null;
}

/** BM25 text alone: the engine's own text feature, every other weight 0, no abstention. */
export function textOnlyScores(input: AttributionInput): Scored[] {
  return suspectScores(attribute({ ...input, weights: onlyFeature("text") }));
}

/** Time only: the eligible changes (the engine's hard filters) by merge time, latest first. */
export function mostRecentScores(input: AttributionInput): Scored[] {
  return applyHardFilters(input).eligible.map((c) => ({ id: c.id, score: c.mergedAt.getTime() }));
}

export function eligibleCount(
  input: AttributionInput,
  truthId: string,
): { n: number; truthEligible: boolean } {
  const { eligible } = applyHardFilters(input);
  return { n: eligible.length, truthEligible: eligible.some((c) => c.id === truthId) };
}

/** The engine's top-suspect probability (softmax of the ranked scores, as assessConfidence computes it). */
export function topSuspectProbability(result: AttributionResult): number | null {
  if (result.suspects.length === 0) return null;
  return topProbability(result.suspects.map((s) => s.score));
}

export interface TemperaturePoint {
  temperature: number;
  ece: number;
  /** Mean binary log loss of p_1 against "the top suspect is right". */
  logLoss: number;
}

/**
 * ECE and log loss of the top-suspect probability at each temperature, for the design's temperature
 * scaling (ATTRIBUTION.md §5.4). Fitted on the same cases it is judged on, so the best point is optimistic.
 */
export function temperatureSweep(
  cases: readonly { scores: readonly number[]; topCorrect: boolean }[],
  temperatures: readonly number[],
): TemperaturePoint[] {
  const clamp = (p: number) => Math.min(1 - 1e-12, Math.max(1e-12, p));
  return temperatures.map((temperature) => {
    const points = cases.map((c) => ({ p: topProbability(c.scores, temperature), correct: c.topCorrect }));
    const logLoss =
      points.reduce((s, x) => s - (x.correct ? Math.log(clamp(x.p)) : Math.log(1 - clamp(x.p))), 0) /
      Math.max(1, points.length);
    return { temperature, ece: expectedCalibrationError(points).ece, logLoss };
  });
}
