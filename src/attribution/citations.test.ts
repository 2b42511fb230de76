import { describe, expect, it } from "vitest";
import { checkCitations } from "./citations.ts";
import type { EvidenceFact } from "./types.ts";

const SHA = "3f2a9c1d4e5b6a7c8d9e0f1a2b3c4d5e6f7a8b9c";

const FACTS: EvidenceFact[] = [
  {
    feature: "identity",
    weight: 0,
    value: 0,
    sentence: `PR #118 "Skip null prices in cart totals" by alice, merged at 2024-05-01T10:02:00Z as 3f2a9c1.`,
    pointers: [{ commit: SHA }],
  },
  {
    feature: "identity",
    weight: 0,
    value: 0,
    sentence: `PR #118 is linked to ticket PAY-42 "Null prices"; the link is explicit.`,
    pointers: [],
  },
  {
    feature: "blame",
    weight: 0.35,
    value: 1,
    sentence: "Line 42 of src/checkout/cart.ts (crash site) was last changed by PR #118 (commit 3f2a9c1).",
    pointers: [{ file: "src/checkout/cart.ts", line: 42 }, { commit: SHA }],
  },
  {
    feature: "hunk_proximity",
    weight: 0.1,
    value: 0.8,
    sentence:
      "PR #118 changed src/checkout/pricing.ts (lines 10-12), 2 lines from line 14 (frame 1 of the stack).",
    pointers: [{ file: "src/checkout/pricing.ts", line: 14 }],
  },
];

describe("checkCitations", () => {
  it("accepts a text that only repeats or abbreviates facts", () => {
    const text =
      "PR #118 (merged 2024-05-01T10:02Z, commit 3f2a9c1d) last touched cart.ts:42 — line 42 of src/checkout/cart.ts — " +
      `and pricing.ts near line 14; ticket PAY-42. Full SHA ${SHA}. It happened on 2024-05-01, ` +
      "around 2024-05-01T12:02:00+02:00. Frame #1 is the caller. The error mentions UTF-8 and SHA-256 and Node.js.";
    expect(checkCitations(text, FACTS)).toEqual([]);
  });

  it("flags an invented PR number", () => {
    expect(checkCitations("PR #119 caused it, not PR #118.", FACTS)).toEqual([{ kind: "pr", cited: "#119" }]);
    expect(checkCitations("Pull request 77 caused it.", FACTS)).toEqual([
      { kind: "pr", cited: "Pull request 77" },
    ]);
  });

  it("flags an invented file, file:line pair or line", () => {
    expect(checkCitations("See src/checkout/tax.ts.", FACTS)).toEqual([
      { kind: "file", cited: "src/checkout/tax.ts" },
    ]);
    expect(checkCitations("The crash is at src/checkout/cart.ts:43.", FACTS)).toEqual([
      { kind: "line", cited: "src/checkout/cart.ts:43" },
    ]);
    // Line 14 exists, but in pricing.ts, not in cart.ts.
    expect(checkCitations("It broke line 14 of cart.ts.", FACTS)).toEqual([
      { kind: "line", cited: "line 14 of cart.ts" },
    ]);
    expect(checkCitations("The guard on line 99 was removed.", FACTS)).toEqual([
      { kind: "line", cited: "line 99" },
    ]);
    // A longer path than any fact is a different file.
    expect(checkCitations("In app/src/checkout/cart.ts.", FACTS)).toEqual([
      { kind: "file", cited: "app/src/checkout/cart.ts" },
    ]);
  });

  it("flags an invented SHA, time or ticket", () => {
    expect(checkCitations("Commit 9badc0ffee1 did it.", FACTS)).toEqual([
      { kind: "sha", cited: "9badc0ffee1" },
    ]);
    expect(checkCitations("Merged at 2024-05-01T11:02:00Z.", FACTS)).toEqual([
      { kind: "time", cited: "2024-05-01T11:02:00Z" },
    ]);
    expect(checkCitations("First seen 2024-05-02.", FACTS)).toEqual([{ kind: "time", cited: "2024-05-02" }]);
    expect(checkCitations("Authorized by PAY-43.", FACTS)).toEqual([{ kind: "ticket", cited: "PAY-43" }]);
  });

  it("reports each problem once, in order of appearance", () => {
    const problems = checkCitations("PR #7 and #7 touched lib/x.ts:3 at 2023-01-01T00:00Z.", FACTS);
    expect(problems.map((p) => p.kind)).toEqual(["pr", "file", "line", "time"]);
  });
});
