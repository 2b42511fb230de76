/**
 * The benchmark's offline part (ATTRIBUTION.md §6.3): the inputs the real-service run scored are re-scored
 * with the pure `attribute()` (ablations, blame at HEAD), ranked by the baselines, and the engine's
 * top-suspect probability is checked for calibration. The real-service run stays the headline; the offline
 * engine row is there to show the re-run reproduces it.
 */
import { attribute } from "../../src/attribution/attribute.ts";
import { DEFAULT_WEIGHTS, FEATURE_ORDER } from "../../src/attribution/score.ts";
import type {
  AttributionInput,
  AttributionResult,
  FeatureId,
  FrameBlame,
} from "../../src/attribution/types.ts";
import {
  type BlamedLine,
  type CalibrationBin,
  commitContextPick,
  eligibleCount,
  engineRank,
  expectedCalibrationError,
  mostRecentScores,
  type RankSummary,
  randomRankExpectation,
  sentryLegacyScores,
  summarizeRanks,
  type TemperaturePoint,
  temperatureSweep,
  textOnlyScores,
  tieAwareRank,
  topSuspectProbability,
  withoutFeature,
} from "./comparisons.ts";

export interface OfflineCase {
  id: string;
  stratum: string;
  /** The ground-truth change id ("pr-<n>"). */
  truthId: string;
  input: AttributionInput;
  /** Plain blame of the mapped frame lines (crash site first) at the repository's HEAD. */
  blameHead: BlamedLine[];
  /** The same at the deployed SHA. */
  blameDeployed: BlamedLine[];
  /** The engine's blame lines re-blamed at HEAD with its flags and ignore-revs (the HEAD ablation). */
  engineBlameHead: FrameBlame[];
}

/** What the headline run reported for a scenario. */
export interface OnlineOutcome {
  id: string;
  status: string;
  rank: number | null;
  confidence: string | null;
}

type Subset = "all" | "stack" | "no_code_evidence" | "no_stack";
const SUBSETS: Subset[] = ["all", "stack", "no_code_evidence", "no_stack"];

export interface ComparisonRow {
  name: string;
  bySubset: Record<Subset, RankSummary>;
  /** Per scenario, in the order of Comparisons.ids (null: not ranked / no pick). */
  ranks: (number | null)[];
}

function rowOf(name: string, modes: readonly string[], ranks: readonly (number | null)[]): ComparisonRow {
  const bySubset = Object.fromEntries(
    SUBSETS.map((sub) => [sub, summarizeRanks(ranks.filter((_, i) => sub === "all" || modes[i] === sub))]),
  ) as Record<Subset, RankSummary>;
  return { name, bySubset, ranks: [...ranks] };
}

function randomRow(cases: readonly OfflineCase[], modes: string[]): ComparisonRow {
  const bySubset = Object.fromEntries(
    SUBSETS.map((sub) => {
      const at = cases.filter((_, i) => sub === "all" || modes[i] === sub);
      let top1 = 0;
      let top3 = 0;
      let top5 = 0;
      let mrr = 0;
      let notRanked = 0;
      for (const c of at) {
        const { n, truthEligible } = eligibleCount(c.input, c.truthId);
        if (!truthEligible) {
          notRanked++;
          continue;
        }
        const e = randomRankExpectation(n);
        top1 += e.top1;
        top3 += e.top3;
        top5 += e.top5;
        mrr += e.rr;
      }
      const d = Math.max(1, at.length);
      return [sub, { n: at.length, top1: top1 / d, top3: top3 / d, top5: top5 / d, mrr: mrr / d, notRanked }];
    }),
  ) as Record<Subset, RankSummary>;
  return { name: "5. random (exact expectation over the eligible changes)", bySubset, ranks: [] };
}

export interface Comparisons {
  ids: string[];
  /** What commit context picked per scenario (a change id, "outside" the candidates, or null). */
  commitContextPicks: Record<string, { head: string | null; deployed: string | null; truth: string }>;
  /** Scenarios whose offline engine rank differs from the headline's (should be none). */
  offlineMismatches: string[];
  modes: Record<string, number>;
  baselines: ComparisonRow[];
  ablations: ComparisonRow[];
  calibration: {
    ece: number;
    n: number;
    eceAnswered: number;
    nAnswered: number;
    bins: CalibrationBin[];
    levels: Record<string, { n: number; correct: number; coverage: number; precision: number }>;
    abstentionRate: number;
    errorRateWhenAnswering: number;
    /** The engine uses T = 0.1; the other points show what temperature scaling would give (in-sample). */
    temperatures: TemperaturePoint[];
  };
  /** Per scenario: the ranked scores and whether the top one is the truth (for re-analysis). */
  scored: { id: string; mode: string; status: string; topCorrect: boolean; scores: number[] }[];
}

/** Commit context's pick for a case from one of its blames (see commitContextPick). */
function contextPick(
  c: OfflineCase,
  blamed: readonly BlamedLine[],
  opts: Parameters<typeof commitContextPick>[3],
): string | null {
  return commitContextPick(blamed, c.input.candidates, c.input.anomaly.firstSeenAt, opts);
}

export function compareOffline(cases: readonly OfflineCase[], online: readonly OnlineOutcome[]): Comparisons {
  const full: AttributionResult[] = cases.map((c) => attribute(c.input));
  const modes = full.map((r) => r.mode);
  const engineRanks = full.map((r, i) => engineRank(r, cases[i]!.truthId));
  const onlineById = new Map(online.map((o) => [o.id, o]));
  const offlineMismatches = cases
    .filter((c, i) => {
      const o = onlineById.get(c.id);
      return !o || o.rank !== engineRanks[i] || o.status !== full[i]!.status;
    })
    .map((c) => c.id);

  const rankBy = (f: (c: OfflineCase) => number | null) => cases.map(f);
  const pickRank = (pick: string | null, c: OfflineCase) => (pick === c.truthId ? 1 : null);
  const topFrame = { topFrameOnly: true, notAfterFirstSeen: false };
  const picksHead = cases.map((c) => contextPick(c, c.blameHead, topFrame));
  const picksDeployed = cases.map((c) => contextPick(c, c.blameDeployed, topFrame));
  const baselines: ComparisonRow[] = [
    rowOf("engine (offline re-run of the captured inputs)", modes, engineRanks),
    rowOf(
      "1. Sentry legacy (path-suffix points, 5-release window, score >= 2)",
      modes,
      rankBy((c) => tieAwareRank(sentryLegacyScores(c.input), c.truthId)),
    ),
    rowOf(
      "2a. commit context: blame at HEAD, top in-app frame, 1-year cutoff",
      modes,
      picksHead.map((p, i) => pickRank(p, cases[i]!)),
    ),
    rowOf(
      "2b. commit context: blame at HEAD, all frames, most recent",
      modes,
      rankBy((c) =>
        pickRank(contextPick(c, c.blameHead, { topFrameOnly: false, notAfterFirstSeen: false }), c),
      ),
    ),
    rowOf(
      "2c. commit context: blame at HEAD, all frames, commits <= t0 only",
      modes,
      rankBy((c) =>
        pickRank(contextPick(c, c.blameHead, { topFrameOnly: false, notAfterFirstSeen: true }), c),
      ),
    ),
    rowOf(
      "2d. commit context: blame at the deployed SHA, top in-app frame",
      modes,
      picksDeployed.map((p, i) => pickRank(p, cases[i]!)),
    ),
    rowOf(
      "3. most recent change in scope (time only)",
      modes,
      rankBy((c) => tieAwareRank(mostRecentScores(c.input), c.truthId)),
    ),
    rowOf(
      "4. text only (the engine's BM25 feature alone)",
      modes,
      rankBy((c) => tieAwareRank(textOnlyScores(c.input), c.truthId)),
    ),
    randomRow(cases, modes),
  ];

  const used = FEATURE_ORDER.filter((f) => Object.values(DEFAULT_WEIGHTS).some((w) => w[f as FeatureId] > 0));
  const ablations: ComparisonRow[] = [
    rowOf("all features", modes, engineRanks),
    ...used.map((f) =>
      rowOf(
        `without ${f}`,
        modes,
        rankBy((c) => engineRank(attribute({ ...c.input, weights: withoutFeature(f) }), c.truthId)),
      ),
    ),
    rowOf(
      "blame at HEAD instead of the deployed SHA",
      modes,
      rankBy((c) => engineRank(attribute({ ...c.input, blame: c.engineBlameHead }), c.truthId)),
    ),
  ];

  const points = full.flatMap((r, i) => {
    const p = topSuspectProbability(r);
    return p === null ? [] : [{ p, correct: r.suspects[0]!.candidateId === cases[i]!.truthId, r }];
  });
  const all = expectedCalibrationError(points);
  const answeredPoints = points.filter((x) => x.r.status === "done");
  const answered = expectedCalibrationError(answeredPoints);
  const n = online.length;
  const levels = Object.fromEntries(
    ["high", "medium", "low"].map((l) => {
      const at = online.filter((o) => o.status === "done" && o.confidence === l);
      const correct = at.filter((o) => o.rank === 1).length;
      return [
        l,
        {
          n: at.length,
          correct,
          coverage: at.length / Math.max(1, n),
          precision: correct / Math.max(1, at.length),
        },
      ];
    }),
  );
  const done = online.filter((o) => o.status === "done");
  const scored = full.map((r, i) => ({
    id: cases[i]!.id,
    mode: r.mode,
    status: r.status,
    topCorrect: r.suspects[0]?.candidateId === cases[i]!.truthId,
    scores: r.suspects.map((s) => s.score),
  }));
  const temperatures = temperatureSweep(
    scored.filter((s) => s.scores.length > 0),
    [0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.1, 0.12, 0.15, 0.2],
  );
  const commitContextPicks = Object.fromEntries(
    cases.map((c, i) => [c.id, { head: picksHead[i]!, deployed: picksDeployed[i]!, truth: c.truthId }]),
  );
  return {
    ids: cases.map((c) => c.id),
    commitContextPicks,
    offlineMismatches,
    modes: Object.fromEntries(SUBSETS.slice(1).map((m) => [m, modes.filter((x) => x === m).length])),
    baselines,
    ablations,
    calibration: {
      ece: all.ece,
      n: points.length,
      eceAnswered: answered.ece,
      nAnswered: answeredPoints.length,
      bins: all.bins,
      levels,
      abstentionRate: online.filter((o) => o.status === "no_suspect").length / Math.max(1, n),
      errorRateWhenAnswering: done.filter((o) => o.rank !== 1).length / Math.max(1, done.length),
      temperatures,
    },
    scored,
  };
}

const f3 = (x: number) => x.toFixed(3);
const signed = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(3)}`;

export function printComparisons(c: Comparisons): void {
  console.log(
    `\noffline re-scoring of the ${c.baselines[0]!.bySubset.all.n} captured inputs (modes: ${Object.entries(
      c.modes,
    )
      .map(([m, k]) => `${m} ${k}`)
      .join(", ")}); rank differs from the headline on: ${c.offlineMismatches.join(", ") || "none"}`,
  );
  console.log("\nbaselines (ties at expected rank; no pick / outside the candidates = miss)");
  console.log("| ranker | top-1 | top-3 | top-5 | MRR | not ranked | top-1 stack / no-code / no-stack |");
  console.log("|---|---|---|---|---|---|---|");
  for (const r of c.baselines) {
    const a = r.bySubset.all;
    console.log(
      `| ${r.name} | ${f3(a.top1)} | ${f3(a.top3)} | ${f3(a.top5)} | ${f3(a.mrr)} | ${a.notRanked} | ${f3(r.bySubset.stack.top1)} / ${f3(r.bySubset.no_code_evidence.top1)} / ${f3(r.bySubset.no_stack.top1)} |`,
    );
  }
  console.log("\nablations (weight set to 0 in every mode; abstention = miss, as in the headline)");
  console.log(
    "| variant | top-1 | Δ | MRR | Δ | stack top-1 Δ / MRR Δ | no-code top-1 Δ | no-stack top-1 Δ / MRR Δ |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  const base = c.ablations[0]!.bySubset;
  for (const r of c.ablations) {
    const s = r.bySubset;
    console.log(
      `| ${r.name} | ${f3(s.all.top1)} | ${signed(s.all.top1 - base.all.top1)} | ${f3(s.all.mrr)} | ${signed(s.all.mrr - base.all.mrr)} | ${signed(s.stack.top1 - base.stack.top1)} / ${signed(s.stack.mrr - base.stack.mrr)} | ${signed(s.no_code_evidence.top1 - base.no_code_evidence.top1)} | ${signed(s.no_stack.top1 - base.no_stack.top1)} / ${signed(s.no_stack.mrr - base.no_stack.mrr)} |`,
    );
  }
  const k = c.calibration;
  console.log(
    `\ncalibration of p_1 (softmax at T = 0.1) vs top-1 correct: ECE(10 bins) ${f3(k.ece)} over ${k.n} with a suspect; ${f3(k.eceAnswered)} over the ${k.nAnswered} not abstained`,
  );
  console.log("| p_1 bin | n | mean p_1 | top-1 accuracy |");
  console.log("|---|---|---|---|");
  for (const b of k.bins.filter((x) => x.n > 0))
    console.log(
      `| ${b.lo.toFixed(1)}–${b.hi.toFixed(1)} | ${b.n} | ${f3(b.meanConfidence)} | ${f3(b.accuracy)} |`,
    );
  console.log(
    `levels: ${Object.entries(k.levels)
      .map(([l, v]) => `${l} coverage ${f3(v.coverage)} precision ${v.correct}/${v.n}`)
      .join(
        "; ",
      )}; abstention rate ${f3(k.abstentionRate)}; error rate when answering ${f3(k.errorRateWhenAnswering)}`,
  );
  console.log(
    `temperature sweep (in-sample; the engine uses 0.1): ${k.temperatures
      .map((t) => `T ${t.temperature} ECE ${f3(t.ece)} log loss ${f3(t.logLoss)}`)
      .join("; ")}`,
  );
}
