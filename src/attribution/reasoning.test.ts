import { describe, expect, it } from "vitest";
import { attribute } from "./attribute.ts";
import {
  buildReasoning,
  checkCitations,
  citableFacts,
  redactSecrets,
  SECRET_PLACEHOLDER,
} from "./reasoning.ts";
import { candidate, errorInput, hoursBefore, hunk, T0 } from "./test-builders.ts";

function scenario() {
  const culprit = candidate(118, {
    title: "Skip items without a price in cart totals",
    author: { login: "alice" },
    mergedAt: hoursBefore(5),
    hunks: { "src/checkout/cart.ts": [hunk(41, 2)] },
    touchedFunctions: ["total"],
    ticket: { key: "PAY-42", summary: "Wrong cart total", linkSource: "inferred", linkConfidence: 0.82 },
  });
  const rival = candidate(119, {
    title: "Pricing: new coupon rules",
    mergedAt: hoursBefore(4),
    hunks: { "src/checkout/pricing.ts": [hunk(12, 2)] },
  });
  const third = candidate(120, { title: "Search tweak", hunks: { "src/search/query.ts": [hunk(1, 1)] } });
  const late = candidate(121, { title: "Late fix", mergedAt: new Date(T0.getTime() + 60_000) });
  return attribute(
    errorInput({
      candidates: [culprit, rival, third, late],
      blame: [{ path: "src/checkout/cart.ts", line: 42, blameSha: culprit.commits[0]! }],
    }),
  );
}

describe("buildReasoning", () => {
  const r = scenario();

  it("tells the top suspect's identity, ticket link kind, evidence, confidence, runners-up and filters in order", () => {
    const text = r.reasoning;
    const order = [
      "Most likely cause:",
      'PR #118 "Skip items without a price in cart totals" by alice, merged at 2024-05-01T07:00:00Z',
      'ticket PAY-42 "Wrong cart total"; the link is inferred (confidence 82%)',
      "Line 42 of src/checkout/cart.ts (crash site, in total()) was last changed by PR #118",
      "PR #118 changed function total() in src/checkout/cart.ts",
      `Confidence ${r.confidence.level}`,
      "Runner-up (score",
      'PR #119 "Pricing: new coupon rules"',
      "Also considered (score",
      "Ruled out before scoring: 1 candidate.",
      "PR #121 was merged at 2024-05-01T12:01:00Z, after the anomaly was first seen at 2024-05-01T12:00:00Z.",
    ];
    let at = -1;
    for (const part of order) {
      const next = text.indexOf(part);
      expect(next, part).toBeGreaterThan(at);
      at = next;
    }
  });

  it("is rebuilt identically from the same result and cites only facts", () => {
    const { reasoning, ...rest } = r;
    expect(buildReasoning(rest)).toBe(reasoning);
    expect(checkCitations(reasoning, citableFacts(r))).toEqual([]);
  });

  it("rejects a rewrite that invents a PR, a line, a SHA or a time, and accepts a faithful one", () => {
    const facts = citableFacts(r);
    const faithful =
      "PR #118 by alice (merged 2024-05-01T07:00Z) last changed src/checkout/cart.ts:42 inside total(), " +
      "where the TypeError is thrown; it is linked to PAY-42 by inference.";
    expect(checkCitations(faithful, facts)).toEqual([]);
    const invented =
      "PR #117 changed cart.ts:40 in commit 0badf00d1 at 2024-05-01T06:00:00Z, which broke line 42 of pricing.ts.";
    expect(checkCitations(invented, facts).map((p) => p.kind)).toEqual(["pr", "line", "sha", "time", "line"]);
  });

  it("for no_suspect explains why and names the strongest candidate without claiming it", () => {
    const thin = attribute(
      errorInput({
        candidates: [
          candidate(5, {
            title: "Old",
            mergedAt: hoursBefore(24 * 30),
            releasesBack: 6,
            hunks: { "package.json": [hunk(1, 1)] },
          }),
        ],
      }),
    );
    expect(thin.status).toBe("no_suspect");
    expect(thin.reasoning).toMatch(
      /^No confident suspect: the evidence is too thin \(best score 0\.\d\d, probability 1\.00\)\. /,
    );
    expect(thin.reasoning).toContain('The strongest candidate considered was: PR #5 "Old"');
    expect(thin.reasoning).not.toContain("Most likely cause");
    expect(checkCitations(thin.reasoning, citableFacts(thin))).toEqual([]);
  });

  it("re-exports secret redaction for text bound to an LLM", () => {
    expect(redactSecrets("Authorization: Bearer abcdefghijkl")).toBe(
      `Authorization: Bearer ${SECRET_PLACEHOLDER}`,
    );
  });
});
