import { describe, expect, it } from "vitest";
import {
  bareFunctionName,
  buildFeatureContext,
  type CandidateFeatures,
  computeFeatures,
  recencyDecay,
  stackAnchor,
  sweepDamping,
  weightFrames,
} from "./features.ts";
import { buildRepoPathIndex, mapStackFrames } from "./path-mapping.ts";
import { candidate, errorInput, hoursBefore, hunk, sha } from "./test-builders.ts";
import type { AttributionInput, CandidateChange } from "./types.ts";

function framesOf(input: AttributionInput) {
  return weightFrames(mapStackFrames(input.anomaly.frames, buildRepoPathIndex(input.files)));
}

function measure(input: AttributionInput): Map<string, CandidateFeatures> {
  const frames = framesOf(input);
  const ctx = buildFeatureContext(input, frames, input.candidates);
  return new Map(input.candidates.map((c) => [c.id, computeFeatures(c, ctx)]));
}

function one(c: CandidateChange, over: Partial<AttributionInput> = {}): CandidateFeatures {
  return measure(errorInput({ candidates: [c], ...over })).get(c.id)!;
}

describe("frames", () => {
  it("weighs in-app frames 0.8^k from the crash site and keeps only mapped ones", () => {
    const frames = framesOf(errorInput());
    expect(frames.map((f) => [f.k, f.path, f.line, f.functionName])).toEqual([
      [0, "src/checkout/cart.ts", 42, "total"],
      [1, "src/checkout/pricing.ts", 17, "applyDiscounts"],
      [2, "src/api/routes.ts", 88, "handleCheckout"],
    ]);
    expect(frames.map((f) => f.w)).toEqual([1, 0.8, 0.8 ** 2]);
  });

  it.each([
    ["Cart.total", "total"],
    ["async Cart.total", "total"],
    ["Object.<anonymous>", undefined],
    ["handler [as fn]", "handler"],
    ["com.acme.cart.CartService.addItem", "addItem"],
    ["Cart::total", "total"],
    ["<module>", undefined],
    ["new Cart", "Cart"],
    ["lambda$0", undefined],
    [undefined, undefined],
  ])("bareFunctionName(%s) = %s", (raw, bare) => {
    expect(bareFunctionName(raw)).toBe(bare);
  });
});

describe("blame (L)", () => {
  const c = candidate(1, {
    hunks: { "src/checkout/pricing.ts": [hunk(17, 1)], "src/api/routes.ts": [hunk(88, 1)] },
  });

  it("combines hits by noisy-or over frame weights", () => {
    const f = one(c, {
      blame: [
        { path: "src/checkout/pricing.ts", line: 17, blameSha: c.commits[0]! },
        { path: "src/api/routes.ts", line: 88, blameSha: c.mergeSha },
      ],
    });
    expect(f.blame.value).toBeCloseTo(1 - (1 - 0.8) * (1 - 0.64), 12);
    expect(f.blame.facts.map((x) => x.pointers)).toEqual([
      [{ file: "src/checkout/pricing.ts", line: 17 }, { commit: c.commits[0] }],
      [{ file: "src/api/routes.ts", line: 88 }, { commit: c.mergeSha }],
    ]);
  });

  it("gives formatting-only commits (ignore-revs) no credit", () => {
    const f = one(c, {
      blame: [{ path: "src/checkout/pricing.ts", line: 17, blameSha: c.commits[0]! }],
      ignoreRevs: [c.commits[0]!],
    });
    expect(f.blame.value).toBe(0);
  });

  it("ignores blame of other commits", () => {
    const f = one(c, {
      blame: [{ path: "src/checkout/pricing.ts", line: 17, blameSha: sha("someone-else") }],
    });
    expect(f.blame.value).toBe(0);
    // ...but its hunks cover both frame lines, so proximity sees them (frames 1 and 2).
    expect(f.hunk_proximity.value).toBeCloseTo(1 - (1 - 0.8) * (1 - 0.64), 12);
  });
});

describe("hunk proximity (H)", () => {
  it.each([
    [hunk(39, 1), 0.7], // 3 lines above line 42
    [hunk(45, 2), 0.7], // 3 lines below
    [hunk(40, 5), 1], // covers the line
    [hunk(41, 0, { removed: 3 }), 1], // lines deleted right above line 42
    [hunk(60, 3), 0], // too far
  ])("hunk %o → %d at the crash site", (h, value) => {
    const f = one(candidate(1, { hunks: { "src/checkout/cart.ts": [h] } }));
    expect(f.hunk_proximity.value).toBeCloseTo(value, 12);
  });

  it("takes the nearest hunk and tells the distance", () => {
    const f = one(candidate(7, { hunks: { "src/checkout/cart.ts": [hunk(10, 2), hunk(44, 2)] } }));
    expect(f.hunk_proximity.value).toBeCloseTo(0.8, 12);
    expect(f.hunk_proximity.facts[0]!.sentence).toBe(
      "PR #7 changed src/checkout/cart.ts (lines 44-45), 2 lines from line 42 (crash site, in total()).",
    );
  });
});

describe("function (Fn) and file (Fi)", () => {
  it("needs the function changed in the frame's own file", () => {
    const inFile = one(
      candidate(1, {
        hunks: { "src/checkout/pricing.ts": [hunk(3, 1)] },
        touchedFunctions: ["applyDiscounts"],
      }),
    );
    expect(inFile.function.value).toBeCloseTo(0.8, 12);
    const elsewhere = one(
      candidate(2, { hunks: { "src/search/query.ts": [hunk(3, 1)] }, touchedFunctions: ["applyDiscounts"] }),
    );
    expect(elsewhere.function.value).toBe(0);
  });

  it("damps file overlap by 1/log2(2 + files changed)", () => {
    expect(sweepDamping(1)).toBeCloseTo(1 / Math.log2(3), 12);
    expect(sweepDamping(40)).toBeLessThan(0.19);
    const small = one(candidate(1, { hunks: { "src/checkout/cart.ts": [hunk(300, 1)] } }));
    expect(small.file.value).toBeCloseTo(sweepDamping(1), 12);
    const files = [
      "src/checkout/cart.ts",
      ...Array.from({ length: 39 }, (_, i) => `src/shared/module-${i}.ts`),
    ];
    const sweep = one(candidate(2, { files, hunks: {} }));
    expect(sweep.file.value).toBeCloseTo(sweepDamping(40), 12);
  });
});

describe("recency and release (R)", () => {
  it("decays errors with a 50 h half-life and metrics in 10-minute doubling buckets", () => {
    expect(recencyDecay(0, "error")).toBe(1);
    expect(recencyDecay(50 * 3_600_000, "error")).toBeCloseTo(0.5, 12);
    expect(recencyDecay(-5_000, "error")).toBe(1);
    expect(recencyDecay(5 * 60_000, "metric")).toBe(1);
    expect(recencyDecay(15 * 60_000, "metric")).toBe(0.5);
    expect(recencyDecay(30 * 60_000, "log")).toBe(0.25);
    expect(recencyDecay(2 * 3_600_000, "metric", 2)).toBeCloseTo(0.5, 12);
  });

  it("averages decay with release membership and uses the deploy time when known", () => {
    const fresh = one(
      candidate(1, { mergedAt: hoursBefore(60), deployedAt: hoursBefore(10), releasesBack: 0 }),
    );
    expect(fresh.recency.value).toBeCloseTo(0.5 * 0.5 ** (10 / 50) + 0.5, 12);
    expect(fresh.recency.facts.map((f) => f.sentence)).toEqual([
      "PR #1 was merged at 2024-04-29T00:00:00Z and deployed at 2024-05-01T02:00:00Z, 10.0 h before the anomaly was first seen at 2024-05-01T12:00:00Z.",
      expect.stringMatching(
        /^PR #1 is new in the deployed release [0-9a-f]{7} and not in the previous deploy [0-9a-f]{7}\.$/,
      ),
    ]);
    const old = one(candidate(2, { mergedAt: hoursBefore(10), releasesBack: 2 }));
    expect(old.recency.value).toBeCloseTo(0.5 * 0.5 ** (10 / 50) + 0.5 * 0.25, 12);
  });
});

describe("ownership (O)", () => {
  it("credits the author of the most specific ownership entry of a stack file", () => {
    const ownership = [
      { path: "src/", owners: ["@platform"] },
      { path: "src/checkout/", owners: ["Alice@Example.com"] },
    ];
    const alice = candidate(1, { author: { email: "alice@example.com" } });
    const bob = candidate(2, { author: { login: "platform" } });
    const m = measure(errorInput({ candidates: [alice, bob], ownership }));
    // cart.ts (k=0) and pricing.ts (k=1) are under src/checkout/; routes.ts (k=2) only under src/.
    expect(m.get("pr-1")!.ownership.value).toBeCloseTo(1, 12);
    expect(m.get("pr-2")!.ownership.value).toBeCloseTo(0.64, 12);
  });

  it("measures the share of changed lines under the service's paths", () => {
    const c = candidate(1, {
      hunks: {
        "src/checkout/cart.ts": [hunk(1, 3, { removed: 0 })],
        "src/search/query.ts": [hunk(1, 1, { removed: 0 })],
      },
    });
    const f = one(c, { anomaly: { ...errorInput().anomaly, frames: [] }, servicePaths: ["src/checkout"] });
    expect(f.ownership.value).toBeCloseTo(0.75, 12);
  });
});

describe("risk (K) and revert (Rv)", () => {
  it("rises with size relative to the other candidates and with config files", () => {
    const small = candidate(1, { hunks: { "src/a.ts": [hunk(1, 1)] } });
    const big = candidate(2, { hunks: { "src/b.ts": [hunk(1, 200)] } });
    const config = candidate(3, { hunks: { "config/tax-rates.yaml": [hunk(1, 1)] } });
    const m = measure(errorInput({ candidates: [small, big, config] }));
    expect(m.get("pr-2")!.risk.value).toBeGreaterThan(m.get("pr-1")!.risk.value);
    expect(m.get("pr-3")!.risk.value - m.get("pr-1")!.risk.value).toBeCloseTo(0.25, 12);
    expect(m.get("pr-3")!.risk.facts[0]!.sentence).toContain(
      "configuration or migration files (config/tax-rates.yaml)",
    );
  });

  it("marks the revert as post-hoc", () => {
    const f = one(candidate(1, { revertedLater: true }));
    expect(f.revert.value).toBe(1);
    expect(f.revert.facts[0]!.sentence.startsWith("Post-hoc:")).toBe(true);
  });
});

describe("text (T)", () => {
  it("ranks the candidate that talks about the failure and damps single-word matches", () => {
    const input = errorInput({
      candidates: [
        candidate(1, { title: "Cart total: read price from the catalogue", addedIdentifiers: ["priceOf"] }),
        candidate(2, { title: "Search: faster price facets" }),
        candidate(3, { title: "Bump dependencies" }),
      ],
    });
    const m = measure(input);
    const t = (id: string) => m.get(id)!.text;
    expect(t("pr-1").value).toBe(1);
    expect(t("pr-1").facts[0]!.sentence).toContain("shares the terms");
    expect(t("pr-2").value).toBeGreaterThan(0);
    expect(t("pr-2").value).toBeLessThanOrEqual(1 / 3);
    expect(t("pr-3").value).toBe(0);
  });
});

describe("stackAnchor", () => {
  it("is blame on a top-3 frame, or a hunk covering the frame line inside its function", () => {
    const input = errorInput();
    const frames = framesOf(input);
    const blamed = candidate(1, { hunks: { "src/api/routes.ts": [hunk(80, 1)] } });
    const covering = candidate(2, {
      hunks: { "src/checkout/cart.ts": [hunk(41, 3)] },
      touchedFunctions: ["total"],
    });
    const near = candidate(3, {
      hunks: { "src/checkout/cart.ts": [hunk(44, 1)] },
      touchedFunctions: ["total"],
    });
    const ctx = buildFeatureContext(
      { ...input, blame: [{ path: "src/api/routes.ts", line: 88, blameSha: blamed.commits[0]! }] },
      frames,
      [blamed, covering, near],
    );
    expect(stackAnchor(blamed, ctx)).toBe("blame");
    expect(stackAnchor(covering, ctx)).toBe("function");
    expect(stackAnchor(near, ctx)).toBeUndefined();
  });
});

describe("dependency", () => {
  // cart.ts:42 `const price = item.product.price;` in total(), which first called loadItems().
  const sources = (text = "  const price = item.product.price;") => ({
    frameSources: [{ path: "src/checkout/cart.ts", line: 42, text, callees: ["lookupProduct", "loadItems"] }],
  });

  it("a removed null check on a name the crash line dereferences counts at the crash frame's weight", () => {
    const guard = candidate(1, {
      hunks: {
        "src/checkout/cart.ts": [
          { ...hunk(39, 0, { removed: 3 }), removedLines: ["  if (!item) {", "    return 0;", "  }"] },
        ],
      },
    });
    const f = one(guard, sources());
    expect(f.dependency.value).toBe(1);
    expect(f.dependency.facts[0]!.sentence).toContain('removed a check on item ("if (!item) {")');
    expect(f.dependency.facts[0]!.pointers).toEqual([{ file: "src/checkout/cart.ts", line: 42 }]);
    // Not a missing-value error: no credit for the guard.
    const other = one(guard, {
      ...sources(),
      anomaly: { ...errorInput().anomaly, message: "price must be positive", title: "RangeError" },
    });
    expect(other.dependency.value).toBe(0);
    // Far from the crash line: no credit either.
    const far = candidate(2, {
      hunks: {
        "src/checkout/cart.ts": [{ ...hunk(5, 0, { removed: 1 }), removedLines: ["  if (!item) {"] }],
      },
    });
    expect(one(far, sources()).dependency.value).toBe(0);
  });

  it("a change to a function the frame's function called before the frame line counts, the frame's own does not", () => {
    const callee = candidate(1, {
      hunks: {
        "src/catalog/items.ts": [hunk(10, 2, { header: "export function loadItems(cartId: string) {" })],
      },
      touchedFunctions: ["loadItems"],
    });
    const f = one(callee, sources());
    expect(f.dependency.value).toBe(1);
    expect(f.dependency.facts[0]!.sentence).toBe(
      "PR #1 changed loadItems(), which total() calls before line 42 of src/checkout/cart.ts (crash site, in total()).",
    );
    const own = candidate(2, {
      hunks: { "src/checkout/cart.ts": [hunk(30, 1)] },
      touchedFunctions: ["total"],
    });
    expect(one(own, sources()).dependency.value).toBe(0);
    // Without the sources (no file read), nothing.
    expect(one(callee).dependency.value).toBe(0);
  });

  it("off the stack, changed lines naming the key the error quotes count half", () => {
    const config = candidate(1, {
      hunks: {
        "config/tax-rates.yaml": [
          { ...hunk(3, 0, { removed: 1 }), removedLines: ["  price: { default: 1 }"] },
        ],
      },
    });
    const f = one(config, sources());
    expect(f.dependency.value).toBe(0.5);
    expect(f.dependency.facts[0]!.sentence).toBe(
      "PR #1 changed lines of config/tax-rates.yaml that name price, the key the error could not read.",
    );
    const unrelated = candidate(2, {
      hunks: { "config/tax-rates.yaml": [{ ...hunk(3, 1), addedLines: ["  prices_cached: true"] }] },
    });
    expect(one(unrelated, sources()).dependency.value).toBe(0);
  });

  it("dependency evidence alone never anchors high confidence", () => {
    const callee = candidate(1, {
      hunks: { "src/catalog/items.ts": [hunk(10, 2)] },
      touchedFunctions: ["loadItems"],
    });
    const input = errorInput({ candidates: [callee], ...sources() });
    const frames = framesOf(input);
    expect(stackAnchor(callee, buildFeatureContext(input, frames, input.candidates))).toBeUndefined();
  });
});
