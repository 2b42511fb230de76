/**
 * Hard filters, the weighted score, the deterministic ranking and the confidence / abstention rules
 * (ATTRIBUTION.md §5.2–5.4).
 */
import {
  buildFeatureContext,
  type CandidateFeatures,
  candidateLabel,
  computeFeatures,
  hasCodeEvidence,
  isoTime,
  shortSha,
  stackAnchor,
  type WeightedFrame,
} from "./features.ts";
import type {
  AttributionInput,
  CandidateChange,
  Confidence,
  EvidenceFact,
  FeatureId,
  FeatureValue,
  FilteredCandidate,
  FilterReason,
  RankedSuspect,
  ScoringMode,
  Weights,
} from "./types.ts";

export const FEATURE_ORDER: readonly FeatureId[] = [
  "blame",
  "hunk_proximity",
  "function",
  "file",
  "dependency",
  "text",
  "recency",
  "ownership",
  "risk",
  "revert",
];

/**
 * Default weights. `stack` is the design's S(p) = 0.35L + 0.10H + 0.10Fn + 0.05Fi + 0.10T + 0.15R +
 * 0.10O + 0.05K with the ownership share moved to the dependency feature (a removed null check above the
 * crash line, a change to a function the stack called before failing, the key the error quotes in a
 * changed config line): the pipeline has no ownership input for stack anomalies, and the benchmark
 * (bench/attribution, bench/RESULTS.md) showed removed guards and off-stack callees / config as the
 * misses; `no_code_evidence` (frames map but no candidate touches them or what they called: a fault
 * outside the stack) is the design's R 0.35, O 0.25, T 0.25, K 0.15; `no_stack` (metric / log alerts) is
 * the design's metric mode R 0.35, O 0.25, canary 0.20, T 0.10, K 0.10 with the canary share (we have no
 * canary data) spread over the rest, timing first. Each non-bonus set sums to 1, so a score is in [0, 1];
 * the post-hoc revert is a +0.5 bonus and the total is capped at 1.
 */
export const DEFAULT_WEIGHTS: Record<ScoringMode, Weights> = {
  stack: {
    blame: 0.35,
    hunk_proximity: 0.1,
    function: 0.1,
    file: 0.05,
    dependency: 0.1,
    text: 0.1,
    recency: 0.15,
    ownership: 0,
    risk: 0.05,
    revert: 0.5,
  },
  no_code_evidence: {
    blame: 0,
    hunk_proximity: 0,
    function: 0,
    file: 0,
    dependency: 0,
    text: 0.25,
    recency: 0.35,
    ownership: 0.25,
    risk: 0.15,
    revert: 0.5,
  },
  no_stack: {
    blame: 0,
    hunk_proximity: 0,
    function: 0,
    file: 0,
    dependency: 0,
    text: 0.15,
    recency: 0.45,
    ownership: 0.3,
    risk: 0.1,
    revert: 0.5,
  },
};

/**
 * Confidence calibration. No benchmark has fitted these yet; they are set from worked cases so that the
 * product promise (precision of "high" ≥ 0.95) errs on the side of saying less:
 *
 * - p = softmax(S / T) over the ranked candidates, T = 0.1: a 0.1 score gap is a factor e, so a
 *   crash-site blame culprit (S ≈ 0.65–0.7) against same-release rivals that only share timing
 *   (S ≈ 0.2) gets p > 0.9 even with 30 rivals, while two candidates 0.05 apart split ~60/40.
 * - high needs all of: an anchor (exact-line blame on one of the first three in-app frames, or a hunk
 *   of the candidate covering such a frame line inside the frame's function), no rival with an anchor of
 *   its own (the stack must agree), S ≥ 0.45, a margin of ≥ 0.15 over the runner-up and p ≥ 0.6. Timing, text, ownership, file overlap or a revert alone can
 *   never give high: they are where Sentry's suspect commits went wrong (#105318). A crash-site blame
 *   hit alone is worth 0.35; with a recent in-release merge it passes 0.45, without one it does not.
 * - medium needs p ≥ 0.3, S ≥ 0.3 and either code evidence on the stack (blame, function or hunk
 *   proximity), or, without a stack, the only candidate that is both new in the deployed release and in
 *   the anomaly's service paths (the design's "release-diff containment with no rival in scope").
 * - no_suspect when no candidate survives the filters, when an error's in-app frames all fail to map
 *   (nothing to blame; the unmapped frames are reported), when S < 0.2 (the ceiling of a candidate
 *   with only stale timing and its size prior) or p < 0.15.
 */
export const CONFIDENCE = {
  temperature: 0.1,
  noSuspectFloor: 0.2,
  noSuspectMinProbability: 0.15,
  high: { minScore: 0.45, minMargin: 0.15, minProbability: 0.6 },
  medium: { minScore: 0.3, minProbability: 0.3 },
} as const;

// ---------------------------------------------------------------------------------------------------
// hard filters

/** A candidate all of whose own commits (or whose squash commit) are formatting-only ignore-revs. */
export function isFormattingOnly(c: CandidateChange, ignoreRevs: ReadonlySet<string>): boolean {
  if (ignoreRevs.size === 0) return false;
  if (ignoreRevs.has(c.mergeSha)) return true;
  return c.commits.length > 0 && c.commits.every((sha) => ignoreRevs.has(sha));
}

function filterReason(
  c: CandidateChange,
  input: AttributionInput,
  ignoreRevs: ReadonlySet<string>,
): FilterReason | undefined {
  const t0 = input.anomaly.firstSeenAt.getTime();
  if (!c.isAncestorOfDeployed) return "not_in_deployed_sha";
  if (c.mergedAt.getTime() > t0) return "merged_after_first_seen";
  if (c.deployedAt && c.deployedAt.getTime() > t0) return "deployed_after_first_seen";
  if (c.docsOrTestsOnly) return "docs_or_tests_only";
  if (isFormattingOnly(c, ignoreRevs)) return "formatting_only";
  return undefined;
}

function filterSentence(c: CandidateChange, reason: FilterReason, input: AttributionInput): string {
  const label = candidateLabel(c);
  const t0 = isoTime(input.anomaly.firstSeenAt);
  switch (reason) {
    case "not_in_deployed_sha":
      return `${label} is not contained in the deployed SHA ${shortSha(input.deployedSha)}, so it cannot have caused the anomaly.`;
    case "merged_after_first_seen":
      return `${label} was merged at ${isoTime(c.mergedAt)}, after the anomaly was first seen at ${t0}.`;
    case "deployed_after_first_seen":
      return `${label} was deployed at ${isoTime(c.deployedAt!)}, after the anomaly was first seen at ${t0}.`;
    case "docs_or_tests_only":
      return `${label} changes only documentation or tests.`;
    case "formatting_only":
      return `${label} only reformats code (formatting-only commits are skipped by blame).`;
  }
}

export function applyHardFilters(input: AttributionInput): {
  eligible: CandidateChange[];
  filtered: FilteredCandidate[];
} {
  const ignoreRevs = new Set(input.ignoreRevs ?? []);
  const eligible: CandidateChange[] = [];
  const filtered: FilteredCandidate[] = [];
  for (const c of input.candidates) {
    const reason = filterReason(c, input, ignoreRevs);
    if (reason === undefined) {
      eligible.push(c);
      continue;
    }
    filtered.push({
      candidateId: c.id,
      reason,
      fact: {
        feature: "filter",
        weight: 0,
        value: 0,
        sentence: filterSentence(c, reason, input),
        pointers: [{ commit: c.mergeSha }],
      },
    });
  }
  filtered.sort((a, b) => (a.candidateId < b.candidateId ? -1 : a.candidateId > b.candidateId ? 1 : 0));
  return { eligible, filtered };
}

// ---------------------------------------------------------------------------------------------------
// scoring and ranking

export function resolveWeights(mode: ScoringMode, overrides: AttributionInput["weights"]): Weights {
  return { ...DEFAULT_WEIGHTS[mode], ...(overrides?.[mode] ?? {}) };
}

export function weightedScore(features: CandidateFeatures, weights: Weights): number {
  let s = 0;
  for (const id of FEATURE_ORDER) if (id !== "revert") s += weights[id] * features[id].value;
  s += weights.revert * features.revert.value;
  return Math.min(1, Math.max(0, s));
}

function identityFacts(c: CandidateChange, validTicket: boolean): EvidenceFact[] {
  const who = c.author.login ?? c.author.name ?? c.author.email;
  const facts: EvidenceFact[] = [
    {
      feature: "identity",
      weight: 0,
      value: 0,
      sentence: `${candidateLabel(c)} "${c.title}"${who ? ` by ${who}` : ""}, merged at ${isoTime(c.mergedAt)} as ${shortSha(c.mergeSha)}.`,
      pointers: [{ commit: c.mergeSha }],
    },
  ];
  if (c.ticket && validTicket) {
    const how =
      c.ticket.linkSource === "explicit"
        ? "explicit (the key is in the branch, title, body or commits)"
        : `inferred${c.ticket.linkConfidence !== undefined ? ` (confidence ${Math.round(c.ticket.linkConfidence * 100)}%)` : ""}`;
    facts.push({
      feature: "identity",
      weight: 0,
      value: 0,
      sentence: `${candidateLabel(c)} is linked to ticket ${c.ticket.key} "${c.ticket.summary}"; the link is ${how}.`,
      pointers: [],
    });
  }
  return facts;
}

interface Scored {
  candidate: CandidateChange;
  features: CandidateFeatures;
  score: number;
}

/** Score desc, then the more recent merge, then id: deterministic whatever the input order. */
export function compareRanked(a: { score: number; mergedAt: Date; id: string }, b: typeof a): number {
  const sa = Math.round(a.score * 1e9);
  const sb = Math.round(b.score * 1e9);
  if (sa !== sb) return sb - sa;
  const ta = a.mergedAt.getTime();
  const tb = b.mergedAt.getTime();
  if (ta !== tb) return tb - ta;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export interface ScoringOutcome {
  mode: ScoringMode;
  weights: Weights;
  suspects: RankedSuspect[];
  /** Stack anchors by candidate id (see features.stackAnchor). */
  anchors: ReadonlyMap<string, "blame" | "function">;
}

/**
 * Scores the eligible candidates. The mode is `stack` when frames map and some candidate touches them,
 * `no_code_evidence` when frames map but nobody touches them, `no_stack` when no frame maps.
 */
export function scoreCandidates(
  input: AttributionInput,
  frames: WeightedFrame[],
  eligible: CandidateChange[],
): ScoringOutcome {
  const ctx = buildFeatureContext(input, frames, eligible);
  const measured = eligible.map((candidate) => ({ candidate, features: computeFeatures(candidate, ctx) }));
  const anchors = new Map<string, "blame" | "function">();
  for (const c of eligible) {
    const a = stackAnchor(c, ctx);
    if (a) anchors.set(c.id, a);
  }
  const mode: ScoringMode =
    frames.length === 0
      ? "no_stack"
      : measured.some((m) => hasCodeEvidence(m.features))
        ? "stack"
        : "no_code_evidence";
  const weights = resolveWeights(mode, input.weights);
  const scored: Scored[] = measured.map((m) => ({ ...m, score: weightedScore(m.features, weights) }));
  scored.sort((a, b) =>
    compareRanked(
      { score: a.score, mergedAt: a.candidate.mergedAt, id: a.candidate.id },
      { score: b.score, mergedAt: b.candidate.mergedAt, id: b.candidate.id },
    ),
  );
  const suspects = scored.map((s, i): RankedSuspect => {
    const features: FeatureValue[] = FEATURE_ORDER.map((id) => {
      const d = s.features[id];
      return {
        feature: id,
        weight: weights[id],
        value: d.value,
        facts: d.facts.map((f) => ({ feature: id, weight: weights[id], value: d.value, ...f })),
      };
    });
    const facts = [
      ...identityFacts(s.candidate, ctx.validTicket(s.candidate)),
      ...features.filter((f) => f.weight > 0 && f.value > 0).flatMap((f) => f.facts),
    ];
    const suspect: RankedSuspect = {
      rank: i + 1,
      candidateId: s.candidate.id,
      title: s.candidate.title,
      score: s.score,
      features,
      facts,
    };
    if (s.candidate.prNumber !== undefined) suspect.prNumber = s.candidate.prNumber;
    return suspect;
  });
  return { mode, weights, suspects, anchors };
}

// ---------------------------------------------------------------------------------------------------
// confidence

function featureOf(s: RankedSuspect, id: FeatureId): FeatureValue {
  return s.features.find((f) => f.feature === id)!;
}

/** Softmax of the top score over all ranked scores at temperature T. */
export function topProbability(
  scores: readonly number[],
  temperature: number = CONFIDENCE.temperature,
): number {
  if (scores.length === 0) return 0;
  const top = Math.max(...scores);
  let z = 0;
  for (const s of scores) z += Math.exp((s - top) / temperature);
  return 1 / z;
}

function isUniqueInScopeRelease(
  suspects: readonly RankedSuspect[],
  candidates: ReadonlyMap<string, CandidateChange>,
): boolean {
  const inScope = suspects.filter(
    (s) => candidates.get(s.candidateId)?.releasesBack === 0 && featureOf(s, "ownership").value > 0,
  );
  return inScope.length === 1 && inScope[0] === suspects[0];
}

export function assessConfidence(
  outcome: ScoringOutcome,
  candidates: readonly CandidateChange[],
): Confidence {
  const { suspects, mode } = outcome;
  const top = suspects[0];
  if (!top)
    return { level: "low", score: 0, topScore: 0, margin: 0, because: "no candidate survived the filters" };
  const s1 = top.score;
  const s2 = suspects[1]?.score ?? 0;
  const margin = s1 - s2;
  const p = topProbability(suspects.map((s) => s.score));
  const base = { score: round(p), topScore: round(s1), margin: round(margin) };
  const h = CONFIDENCE.high;
  const anchored = mode === "stack" && outcome.anchors.has(top.candidateId);
  // The stack must agree: a rival that also owns one of the top frame lines rules out "high".
  const contested = suspects.slice(1).some((s) => outcome.anchors.has(s.candidateId));
  if (anchored && !contested && s1 >= h.minScore && margin >= h.minMargin && p >= h.minProbability) {
    const how =
      outcome.anchors.get(top.candidateId) === "blame"
        ? "exact-line blame"
        : "a change covering the frame line in its function";
    return {
      level: "high",
      ...base,
      because: `${how} at the top of the stack, uncontested, with a clear margin`,
    };
  }
  const codeEvidence =
    mode === "stack" &&
    (featureOf(top, "blame").value > 0 ||
      featureOf(top, "function").value > 0 ||
      featureOf(top, "hunk_proximity").value > 0 ||
      featureOf(top, "dependency").value > 0);
  const byId = new Map(candidates.map((c) => [c.id, c]));
  const containment = mode !== "stack" && isUniqueInScopeRelease(suspects, byId);
  const m = CONFIDENCE.medium;
  if ((codeEvidence || containment) && s1 >= m.minScore && p >= m.minProbability) {
    return {
      level: "medium",
      ...base,
      because: codeEvidence
        ? contested && anchored
          ? "code evidence on the stack, contested by another change that owns a stack line"
          : "code evidence on the stack, but not enough for high"
        : "the only change in the deployed release within the service's paths",
    };
  }
  return {
    level: "low",
    ...base,
    because: anchored ? "stack evidence, but a weak score or margin" : "no decisive evidence",
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
