import { describe, expect, it } from "vitest";
import { candidate, errorInput, hoursBefore, sha, T0 } from "../../src/attribution/test-builders.ts";
import {
  type BlamedLine,
  commitContextPick,
  expectedCalibrationError,
  mostRecentScores,
  randomRankExpectation,
  sentryLegacyScores,
  suffixMatchLength,
  summarizeRanks,
  temperatureSweep,
  tieAwareRank,
} from "./comparisons.ts";

describe("tieAwareRank", () => {
  it("puts a tie at the mean position of its group", () => {
    const items = [
      { id: "a", score: 0.9 },
      { id: "b", score: 0.5 },
      { id: "c", score: 0.5 },
      { id: "d", score: 0.5 },
      { id: "e", score: 0.1 },
    ];
    expect(tieAwareRank(items, "a")).toBe(1);
    expect(tieAwareRank(items, "c")).toBe(3);
    expect(tieAwareRank(items, "e")).toBe(5);
  });

  it("gives a ranker nothing for scoring every candidate the same", () => {
    const flat = ["a", "b", "c", "d"].map((id) => ({ id, score: 0 }));
    expect(tieAwareRank(flat, "a")).toBe(2.5);
  });

  it("is null when the truth is not scored", () => {
    expect(tieAwareRank([{ id: "a", score: 1 }], "z")).toBeNull();
  });
});

describe("summarizeRanks", () => {
  it("counts expected ranks against k and null as a miss", () => {
    const s = summarizeRanks([1, 1.5, 3, null]);
    expect(s.top1).toBe(0.25);
    expect(s.top3).toBe(0.75);
    expect(s.top5).toBe(0.75);
    expect(s.mrr).toBeCloseTo((1 + 1 / 1.5 + 1 / 3) / 4, 12);
    expect(s.notRanked).toBe(1);
  });
});

describe("randomRankExpectation", () => {
  it("is the exact expectation of a uniform shuffle", () => {
    const e = randomRankExpectation(4);
    expect(e.top1).toBe(0.25);
    expect(e.top3).toBe(0.75);
    expect(e.top5).toBe(1);
    expect(e.rr).toBeCloseTo((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4, 12);
    expect(randomRankExpectation(0).rr).toBe(0);
  });
});

describe("expectedCalibrationError", () => {
  it("is zero when every bin's accuracy equals its confidence", () => {
    const points = [
      { p: 0.25, correct: true },
      { p: 0.25, correct: false },
      { p: 0.25, correct: false },
      { p: 0.25, correct: false },
      { p: 1, correct: true },
    ];
    const { ece, bins } = expectedCalibrationError(points);
    expect(ece).toBeCloseTo(0, 12);
    expect(bins[2]).toMatchObject({ n: 4, meanConfidence: 0.25, accuracy: 0.25 });
    // p = 1 falls in the last bin, not past it.
    expect(bins[9]).toMatchObject({ n: 1, accuracy: 1 });
    expect(bins).toHaveLength(10);
  });

  it("weights each bin's gap by its share of the points", () => {
    // bin 0.9–1.0: p 0.95, 1 of 2 right (gap 0.45); bin 0.1–0.2: p 0.15, 0 of 2 right (gap 0.15).
    const points = [
      { p: 0.95, correct: true },
      { p: 0.95, correct: false },
      { p: 0.15, correct: false },
      { p: 0.15, correct: false },
    ];
    expect(expectedCalibrationError(points).ece).toBeCloseTo(0.5 * 0.45 + 0.5 * 0.15, 12);
  });

  it("rejects a probability outside [0, 1]", () => {
    expect(() => expectedCalibrationError([{ p: 1.2, correct: true }])).toThrow(RangeError);
  });
});

describe("Sentry legacy baseline", () => {
  it("matches paths by trailing segments, case-insensitively", () => {
    expect(suffixMatchLength("/app/src/Checkout/cart.ts", "src/checkout/cart.ts")).toBe(3);
    expect(suffixMatchLength("webpack:///./src/checkout/cart.ts", "lib/checkout/cart.ts")).toBe(2);
    expect(suffixMatchLength("cart.ts", "src/pricing.ts")).toBe(0);
  });

  it("gives the outermost kept frame's match the 5 points, one point less per match, and drops scores below 2", () => {
    // The default crash: cart.ts:42 ← pricing.ts:17 ← a vendor frame ← routes.ts:88.
    const input = errorInput({
      candidates: [
        candidate(1, { files: ["src/checkout/cart.ts"], mergedAt: hoursBefore(2) }),
        candidate(2, { files: ["src/checkout/pricing.ts"], mergedAt: hoursBefore(3) }),
        // Basename only: does not count for a multi-segment changed path.
        candidate(3, { files: ["other/pricing.ts"], mergedAt: hoursBefore(1) }),
        // Outside the deployed release: not in the window.
        candidate(4, { files: ["src/checkout/cart.ts"], isAncestorOfDeployed: false }),
      ],
    });
    const scores = Object.fromEntries(sentryLegacyScores(input).map((s) => [s.id, s.score]));
    // Oldest frame first: routes.ts matches nothing, pricing.ts (5 points to pr-2), then cart.ts (4 to pr-1).
    expect(scores).toEqual({ "pr-2": 5, "pr-1": 4 });
  });

  it("lets one frame that matches many changes spend all the points", () => {
    const input = errorInput({
      candidates: [1, 2, 3, 4, 5].map((n) =>
        candidate(n, { files: ["src/checkout/pricing.ts"], mergedAt: hoursBefore(n) }),
      ),
    });
    const scores = sentryLegacyScores(input);
    // 5 + 4 + 3 + 2 (+ 1, below the minimum of 2): the most recent merge is credited first.
    expect(scores.map((s) => [s.id, s.score])).toEqual([
      ["pr-1", 5],
      ["pr-2", 4],
      ["pr-3", 3],
      ["pr-4", 2],
    ]);
  });
});

describe("commitContextPick", () => {
  const culprit = candidate(7, { commits: [sha("c7")] });
  const later = candidate(9, { commits: [sha("c9")] });
  const line = (s: string, at: Date, path = "src/checkout/cart.ts"): BlamedLine => ({
    path,
    line: 42,
    sha: sha(s),
    committedAt: at,
  });

  it("takes the most recent commit across frames and maps it to its change", () => {
    const blamed = [line("c7", hoursBefore(5)), line("c9", hoursBefore(1), "src/checkout/pricing.ts")];
    expect(
      commitContextPick(blamed, [culprit, later], T0, { topFrameOnly: false, notAfterFirstSeen: false }),
    ).toBe("pr-9");
    expect(
      commitContextPick(blamed, [culprit, later], T0, { topFrameOnly: true, notAfterFirstSeen: false }),
    ).toBe("pr-7");
  });

  it("drops lines blamed after t0 only when asked, and commits older than a year", () => {
    const blamed = [line("c9", new Date(T0.getTime() + 3_600_000)), line("c7", hoursBefore(5))];
    const opts = { topFrameOnly: false, notAfterFirstSeen: true };
    expect(commitContextPick(blamed, [culprit, later], T0, opts)).toBe("pr-7");
    expect(commitContextPick(blamed, [culprit, later], T0, { ...opts, notAfterFirstSeen: false })).toBe(
      "pr-9",
    );
    expect(commitContextPick([line("c7", hoursBefore(366 * 24))], [culprit], T0, opts)).toBeNull();
  });

  it("reports a commit no candidate holds as outside", () => {
    expect(
      commitContextPick([line("old", hoursBefore(30 * 24))], [culprit], T0, {
        topFrameOnly: true,
        notAfterFirstSeen: false,
      }),
    ).toBe("outside");
  });
});

describe("mostRecentScores", () => {
  it("ranks only the changes that pass the hard filters, by merge time", () => {
    const input = errorInput({
      candidates: [
        candidate(1, { mergedAt: hoursBefore(1), isAncestorOfDeployed: false }),
        candidate(2, { mergedAt: hoursBefore(2) }),
        candidate(3, { mergedAt: hoursBefore(5) }),
      ],
    });
    const scores = mostRecentScores(input);
    expect(scores.map((s) => s.id).sort()).toEqual(["pr-2", "pr-3"]);
    expect(tieAwareRank(scores, "pr-2")).toBe(1);
    expect(tieAwareRank(scores, "pr-3")).toBe(2);
  });
});

describe("temperatureSweep", () => {
  it("recomputes p_1 at each temperature and scores it against the outcome", () => {
    const cases = [
      { scores: [0.6, 0.4], topCorrect: true },
      { scores: [0.5, 0.5], topCorrect: false },
    ];
    const [t1, t01] = temperatureSweep(cases, [1, 0.1]);
    const p1 = 1 / (1 + Math.exp(-0.2));
    const p01 = 1 / (1 + Math.exp(-2));
    expect(t1!.temperature).toBe(1);
    expect(t1!.logLoss).toBeCloseTo((-Math.log(p1) - Math.log(0.5)) / 2, 12);
    expect(t01!.logLoss).toBeCloseTo((-Math.log(p01) - Math.log(0.5)) / 2, 12);
    // bins: p01 ≈ 0.88 right (gap 0.12), 0.5 wrong (gap 0.5), each half the points.
    expect(t01!.ece).toBeCloseTo(0.5 * (1 - p01) + 0.5 * 0.5, 12);
  });
});
