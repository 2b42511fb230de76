import { describe, expect, it } from "vitest";
import { attribute } from "./attribute.ts";
import { checkCitations, citableFacts } from "./reasoning.ts";
import {
  candidate,
  DEPLOYED_SHA,
  errorInput,
  hoursBefore,
  hunk,
  REPO_FILES,
  sha,
  T0,
} from "./test-builders.ts";
import type { AttributionInput, AttributionResult, CandidateChange, FeatureId } from "./types.ts";

function ranks(r: AttributionResult): Array<number | undefined> {
  return r.suspects.map((s) => s.prNumber);
}

function feature(r: AttributionResult, pr: number, id: FeatureId): number {
  const s = r.suspects.find((x) => x.prNumber === pr);
  if (!s) throw new Error(`PR #${pr} is not ranked`);
  return s.features.find((f) => f.feature === id)!.value;
}

/** The deterministic paragraph cites only facts; a copy with an invented citation does not. */
function expectHonestReasoning(r: AttributionResult): void {
  const facts = citableFacts(r);
  expect(checkCitations(r.reasoning, facts)).toEqual([]);
  expect(checkCitations(`${r.reasoning} PR #9999 did it.`, facts)).toEqual([{ kind: "pr", cited: "#9999" }]);
  expect(checkCitations(`${r.reasoning} See src/checkout/cart.ts:4242.`, facts)).toEqual(
    expect.arrayContaining([{ kind: "line", cited: "src/checkout/cart.ts:4242" }]),
  );
}

/** The culprit of most scenarios: it changed the crash line (cart.ts:42) inside Cart.total. */
function blameCulprit(over: Partial<CandidateChange> = {}): CandidateChange {
  return candidate(118, {
    title: "Skip items without a price in cart totals",
    body: "Cart.total now reads item.price from the catalogue entry.",
    branch: "PAY-42-cart-price",
    author: { login: "alice", email: "alice@example.com" },
    mergedAt: hoursBefore(5),
    deployedAt: hoursBefore(2),
    hunks: { "src/checkout/cart.ts": [hunk(40, 3, { header: "export class Cart {" })] },
    touchedFunctions: ["total"],
    addedIdentifiers: ["priceOf"],
    ticket: {
      key: "PAY-42",
      summary: "Cart shows wrong total for items without price",
      linkSource: "explicit",
    },
    ...over,
  });
}

const culpritBlame = (c: CandidateChange) => [
  { path: "src/checkout/cart.ts", line: 42, blameSha: c.commits[0]! },
  { path: "src/checkout/pricing.ts", line: 17, blameSha: sha("ancient-commit") },
  { path: "src/api/routes.ts", line: 88, blameSha: sha("ancient-commit") },
];

/** Same-release rivals that share only timing with the anomaly. */
function rivals(): CandidateChange[] {
  return [
    candidate(119, {
      title: "Search: boost exact matches",
      hunks: { "src/search/query.ts": [hunk(10, 4)] },
      mergedAt: hoursBefore(4),
      deployedAt: hoursBefore(2),
    }),
    candidate(120, {
      title: "Gateway retries",
      hunks: { "src/payments/gateway.ts": [hunk(5, 2)] },
      mergedAt: hoursBefore(6),
      deployedAt: hoursBefore(2),
    }),
  ];
}

describe("attribute: the exact-line blame baseline", () => {
  const culprit = blameCulprit();
  const input = errorInput({ candidates: [...rivals(), culprit], blame: culpritBlame(culprit) });
  const r = attribute(input);

  it("ranks the blamed PR first with high confidence", () => {
    expect(r.status).toBe("done");
    expect(r.mode).toBe("stack");
    expect(ranks(r)[0]).toBe(118);
    expect(r.confidence.level).toBe("high");
    expect(r.confidence.score).toBeGreaterThan(0.9);
    expect(r.confidence.margin).toBeGreaterThanOrEqual(0.15);
    expect(feature(r, 118, "blame")).toBe(1);
    expect(feature(r, 118, "function")).toBe(1);
    // Exact hits are counted by blame, not again by proximity.
    expect(feature(r, 118, "hunk_proximity")).toBe(0);
  });

  it("explains with facts: blame line, PR, ticket (explicit), times", () => {
    expect(r.reasoning).toContain(
      "Line 42 of src/checkout/cart.ts (crash site, in total()) was last changed by PR #118",
    );
    expect(r.reasoning).toContain(`blame at deployed SHA ${DEPLOYED_SHA.slice(0, 7)}`);
    expect(r.reasoning).toContain(
      'ticket PAY-42 "Cart shows wrong total for items without price"; the link is explicit',
    );
    expect(r.reasoning).toContain("merged at 2024-05-01T07:00:00Z");
    expect(r.reasoning).toContain("first seen at 2024-05-01T12:00:00Z");
    expectHonestReasoning(r);
  });

  it("is deterministic whatever the candidate order", () => {
    const reversed = attribute({ ...input, candidates: [...input.candidates].reverse() });
    expect(reversed).toEqual(r);
  });
});

describe("attribute: benchmark traps", () => {
  it("a later formatting commit over the crash line: ignore-revs respected, the real culprit wins", () => {
    const culprit = blameCulprit();
    const formatter = candidate(130, {
      title: "style: run prettier on checkout",
      mergedAt: hoursBefore(3),
      commits: [sha("prettier-commit")],
      hunks: { "src/checkout/cart.ts": [hunk(1, 120)], "src/checkout/pricing.ts": [hunk(1, 60)] },
      touchedFunctions: ["total", "applyDiscounts"],
    });
    const input = errorInput({
      candidates: [culprit, formatter, ...rivals()],
      // The sandbox blamed with --ignore-rev, so the crash line points through the reformat.
      blame: culpritBlame(culprit),
      ignoreRevs: [sha("prettier-commit")],
    });
    const r = attribute(input);
    expect(ranks(r)[0]).toBe(118);
    expect(ranks(r)).not.toContain(130);
    expect(r.filtered).toEqual([
      expect.objectContaining({ candidateId: "pr-130", reason: "formatting_only" }),
    ]);
    expect(r.confidence.level).toBe("high");
    expectHonestReasoning(r);

    // If a blame still lands on the ignored reformat, it is no evidence for anyone: the culprit keeps
    // the top spot because its hunk covers the crash line inside the crashing function.
    const leaky = attribute({
      ...input,
      blame: [{ path: "src/checkout/cart.ts", line: 42, blameSha: sha("prettier-commit") }],
    });
    expect(ranks(leaky)[0]).toBe(118);
    expect(feature(leaky, 118, "blame")).toBe(0);
    expect(feature(leaky, 118, "hunk_proximity")).toBe(1);
    expect(leaky.confidence.level).toBe("high");
    expect(leaky.confidence.because).toContain("a change covering the frame line in its function");
  });

  it("a PR merged after first-seen is filtered even when blame points at it", () => {
    const culprit = blameCulprit({ hunks: { "src/checkout/cart.ts": [hunk(39, 2)] } });
    const late = candidate(140, {
      title: "Cart: tidy total()",
      mergedAt: new Date(T0.getTime() + 3_600_000),
      hunks: { "src/checkout/cart.ts": [hunk(42, 1)] },
      touchedFunctions: ["total"],
    });
    const r = attribute(
      errorInput({
        candidates: [late, culprit, ...rivals()],
        blame: [{ path: "src/checkout/cart.ts", line: 42, blameSha: late.commits[0]! }],
      }),
    );
    expect(r.filtered.map((f) => [f.candidateId, f.reason])).toEqual([["pr-140", "merged_after_first_seen"]]);
    expect(ranks(r)).not.toContain(140);
    expect(ranks(r)[0]).toBe(118);
    expect(r.confidence.level).not.toBe("high");
    expect(r.reasoning).toContain(
      "PR #140 was merged at 2024-05-01T13:00:00Z, after the anomaly was first seen",
    );
    expectHonestReasoning(r);
  });

  it("a culprit outside the stack (config + callee) ranks top-3 by text and recency, not high", () => {
    const culprit = candidate(150, {
      title: "Tax: round region rates to two decimals",
      body: "Reads the EU tax rate table with the new precision.",
      branch: "OPS-7-tax-rate-precision",
      mergedAt: hoursBefore(4),
      deployedAt: hoursBefore(2),
      hunks: { "config/tax-rates.yaml": [hunk(3, 5)], "src/checkout/tax.ts": [hunk(20, 4)] },
      addedIdentifiers: ["roundRate", "TAX_RATE_PRECISION"],
    });
    const sameFile = candidate(151, {
      title: "Cart: add gift wrapping line",
      mergedAt: hoursBefore(50),
      releasesBack: 1,
      hunks: { "src/checkout/cart.ts": [hunk(200, 6)], "src/checkout/gift.ts": [hunk(1, 30)] },
    });
    const r = attribute(
      errorInput({
        anomaly: {
          ...errorInput().anomaly,
          title: "RangeError: Invalid tax rate NaN for region EU",
          errorType: "RangeError",
          message: "Invalid tax rate NaN for region EU",
        },
        candidates: [
          sameFile,
          culprit,
          ...rivals(),
          candidate(153, { docsOrTestsOnly: true, title: "Docs" }),
        ],
        blame: [
          { path: "src/checkout/cart.ts", line: 42, blameSha: sha("ancient-commit") },
          { path: "src/checkout/pricing.ts", line: 17, blameSha: sha("ancient-commit") },
        ],
      }),
    );
    expect(r.status).toBe("done");
    expect(ranks(r).slice(0, 3)).toContain(150);
    expect(ranks(r)[0]).toBe(150);
    expect(feature(r, 150, "text")).toBeGreaterThan(feature(r, 119, "text"));
    expect(r.confidence.level).not.toBe("high");
    expect(r.filtered.map((f) => f.reason)).toEqual(["docs_or_tests_only"]);
    expectHonestReasoning(r);
  });

  it("a sweeping refactor touching the crashing file is damped and does not beat the blame culprit", () => {
    const culprit = blameCulprit({ mergedAt: hoursBefore(30), deployedAt: hoursBefore(20) });
    const files = [
      "src/checkout/cart.ts",
      "src/checkout/pricing.ts",
      ...Array.from({ length: 43 }, (_, i) => `src/shared/module-${i}.ts`),
    ];
    const sweep = candidate(160, {
      title: "Refactor: migrate every module to the structured logger",
      mergedAt: hoursBefore(1),
      deployedAt: hoursBefore(0.5),
      files,
      hunks: Object.fromEntries(files.map((f) => [f, [hunk(45, 2, { header: "export class Cart {" })]])),
      touchedFunctions: ["total", "applyDiscounts"],
    });
    const r = attribute(
      errorInput({ candidates: [sweep, culprit, ...rivals()], blame: culpritBlame(culprit) }),
    );
    expect(ranks(r).slice(0, 2)).toEqual([118, 160]);
    expect(feature(r, 160, "file")).toBeLessThan(0.2);
    expect(feature(r, 160, "file")).toBeCloseTo(1 / Math.log2(2 + 45) / 1, 1);
    expect(r.suspects[0]!.score - r.suspects[1]!.score).toBeGreaterThan(0.15);
    expect(r.confidence.level).toBe("high");
    expectHonestReasoning(r);
  });

  it("decoy ticket keys (UTF-8, SHA-256) are not tickets and do not lift a decoy by text", () => {
    const culprit = blameCulprit();
    const decoy = candidate(170, {
      title: "Hash cart ids with SHA-256 and store UTF-8 names",
      body: "Per RFC-7231. Touches nothing in totals.",
      hunks: { "src/payments/gateway.ts": [hunk(30, 3)] },
      ticket: { key: "UTF-8", summary: "Cart total price undefined for items", linkSource: "explicit" },
    });
    const input = errorInput({
      candidates: [decoy, culprit, ...rivals()],
      blame: culpritBlame(culprit),
      knownProjectKeys: ["PAY", "OPS"],
    });
    const r = attribute(input);
    expect(ranks(r)[0]).toBe(118);
    const decoyFacts = r.suspects
      .find((s) => s.prNumber === 170)!
      .facts.map((f) => f.sentence)
      .join(" ");
    expect(decoyFacts).not.toContain("ticket UTF-8");
    expect(r.reasoning).toContain("ticket PAY-42");
    expect(r.reasoning).not.toMatch(/ticket UTF-8/);
    // Without the project-key check the decoy's false ticket summary would match the error text.
    const unchecked = attribute({ ...input, knownProjectKeys: undefined });
    expect(feature(unchecked, 170, "text")).toBeGreaterThan(feature(r, 170, "text"));
    expectHonestReasoning(r);
  });

  it("a metric alert with no stack: timing and the service's paths pick the change, at most medium", () => {
    const inService = candidate(180, {
      title: "Checkout: batch price lookups",
      mergedAt: hoursBefore(1),
      deployedAt: new Date(T0.getTime() - 8 * 60_000),
      hunks: { "src/checkout/pricing.ts": [hunk(10, 20)] },
    });
    const concurrent = candidate(181, {
      title: "Search: new ranking",
      mergedAt: hoursBefore(1.5),
      deployedAt: new Date(T0.getTime() - 5 * 60_000),
      hunks: { "src/search/query.ts": [hunk(1, 40)] },
    });
    const older = candidate(182, {
      title: "Checkout: copy changes",
      mergedAt: hoursBefore(80),
      deployedAt: hoursBefore(72),
      releasesBack: 2,
      hunks: { "src/checkout/cart.ts": [hunk(3, 2)] },
    });
    const r = attribute(
      errorInput({
        anomaly: {
          kind: "metric",
          title: "checkout p95 latency above 2s",
          frames: [],
          service: "checkout",
          firstSeenAt: T0,
        },
        candidates: [concurrent, older, inService],
        servicePaths: ["src/checkout/"],
      }),
    );
    expect(r.mode).toBe("no_stack");
    expect(ranks(r)).toEqual([180, 181, 182]);
    expect(r.confidence.level).toBe("medium");
    expect(r.reasoning).toContain(
      "100% of PR #180's changed lines are under the paths of the checkout service",
    );
    expectHonestReasoning(r);

    // A change in a dependency of the service counts, scaled down by the hop.
    const dep = candidate(183, {
      title: "Gateway: new timeout",
      mergedAt: hoursBefore(1),
      deployedAt: new Date(T0.getTime() - 8 * 60_000),
      hunks: { "src/payments/gateway.ts": [hunk(10, 2)] },
    });
    const withDep = attribute(
      errorInput({
        anomaly: {
          kind: "metric",
          title: "checkout error rate",
          frames: [],
          service: "checkout",
          firstSeenAt: T0,
        },
        candidates: [concurrent, dep],
        servicePaths: ["src/checkout/"],
        dependencyPaths: [{ prefix: "src/payments/", hops: 1 }],
      }),
    );
    expect(ranks(withDep)[0]).toBe(183);
    expect(feature(withDep, 183, "ownership")).toBeCloseTo(2 / 3, 5);
  });

  it("a PR not contained in the deployed SHA is filtered, even if it touches the crash line", () => {
    const culprit = blameCulprit();
    const notDeployed = candidate(190, {
      title: "Cart: fix price lookup",
      isAncestorOfDeployed: false,
      mergedAt: hoursBefore(1),
      hunks: { "src/checkout/cart.ts": [hunk(42, 1)] },
      touchedFunctions: ["total"],
    });
    const r = attribute(errorInput({ candidates: [notDeployed, culprit], blame: culpritBlame(culprit) }));
    expect(r.filtered.map((f) => [f.candidateId, f.reason])).toEqual([["pr-190", "not_in_deployed_sha"]]);
    expect(ranks(r)).toEqual([118]);
    expect(r.reasoning).toContain(`PR #190 is not contained in the deployed SHA ${DEPLOYED_SHA.slice(0, 7)}`);
    expectHonestReasoning(r);
  });

  it("a docs-only PR is filtered", () => {
    const culprit = blameCulprit();
    const docs = candidate(195, {
      title: "Docs: explain cart totals",
      docsOrTestsOnly: true,
      hunks: { "docs/checkout.md": [hunk(1, 10)] },
    });
    const r = attribute(errorInput({ candidates: [docs, culprit], blame: culpritBlame(culprit) }));
    expect(r.filtered).toEqual([
      expect.objectContaining({
        candidateId: "pr-195",
        reason: "docs_or_tests_only",
        fact: expect.objectContaining({ sentence: "PR #195 changes only documentation or tests." }),
      }),
    ]);
    expect(ranks(r)).toEqual([118]);
  });

  it("thin evidence: stale, unrelated changes give no_suspect", () => {
    const stale = [
      candidate(200, {
        title: "Bump build tooling",
        mergedAt: hoursBefore(24 * 25),
        releasesBack: 4,
        hunks: { "package.json": [hunk(3, 1)] },
      }),
      candidate(201, {
        title: "Search: tweak synonyms",
        mergedAt: hoursBefore(24 * 30),
        releasesBack: 5,
        hunks: { "src/search/query.ts": [hunk(9, 2)] },
      }),
    ];
    const r = attribute(errorInput({ candidates: stale, blame: [] }));
    expect(r.status).toBe("no_suspect");
    expect(r.noSuspectReason).toBe("weak_evidence");
    expect(r.mode).toBe("no_code_evidence");
    expect(r.confidence.level).toBe("low");
    expect(r.reasoning.startsWith("No confident suspect: the evidence is too thin")).toBe(true);
    expectHonestReasoning(r);
  });

  it("no candidates, or no frame that maps, give no_suspect with the reason", () => {
    const none = attribute(errorInput({ candidates: [candidate(1, { isAncestorOfDeployed: false })] }));
    expect(none).toMatchObject({ status: "no_suspect", noSuspectReason: "no_candidates", suspects: [] });
    expect(none.reasoning).toContain("no candidate change survived the filters");
    expectHonestReasoning(none);

    const unmapped = attribute(
      errorInput({
        anomaly: {
          ...errorInput().anomaly,
          frames: [
            { file: "/app/dist/bundle.min.js", line: 1, inApp: true },
            { file: "/srv/index.ts", line: 5, inApp: true },
          ],
        },
        files: [...REPO_FILES, "src/index.ts", "lib/index.ts"],
        candidates: [blameCulprit()],
      }),
    );
    expect(unmapped.status).toBe("no_suspect");
    expect(unmapped.noSuspectReason).toBe("no_mapped_frames");
    expect(unmapped.unmappedFrames).toEqual([
      { file: "/app/dist/bundle.min.js", line: 1, reason: "no_match" },
      { file: "/srv/index.ts", line: 5, reason: "ambiguous" },
    ]);
    expect(unmapped.reasoning).toContain("The in-app frame /srv/index.ts:5 did not map to a repository file");
    expectHonestReasoning(unmapped);
  });
});

describe("attribute: other strata", () => {
  it("a culprit on a deeper frame still ranks first with high confidence", () => {
    const culprit = candidate(210, {
      title: "Discounts: stack coupons",
      mergedAt: hoursBefore(6),
      hunks: { "src/checkout/pricing.ts": [hunk(15, 4)] },
      touchedFunctions: ["applyDiscounts"],
    });
    const r = attribute(
      errorInput({
        candidates: [culprit, ...rivals()],
        blame: [
          { path: "src/checkout/cart.ts", line: 42, blameSha: sha("ancient-commit") },
          { path: "src/checkout/pricing.ts", line: 17, blameSha: culprit.commits[0]! },
        ],
      }),
    );
    expect(ranks(r)[0]).toBe(210);
    expect(feature(r, 210, "blame")).toBeCloseTo(0.8, 10);
    expect(r.confidence.level).toBe("high");
    expectHonestReasoning(r);
  });

  it("a removed guard in the crashing function (no blame on the line) is medium, not high", () => {
    const culprit = candidate(220, {
      title: "Cart: simplify total",
      mergedAt: hoursBefore(6),
      // Pure deletion of a guard right above line 42.
      hunks: { "src/checkout/cart.ts": [{ ...hunk(40, 0, { removed: 2, header: "export class Cart {" }) }] },
      touchedFunctions: ["total"],
    });
    const r = attribute(
      errorInput({
        candidates: [culprit, ...rivals()],
        blame: [{ path: "src/checkout/cart.ts", line: 42, blameSha: sha("ancient-commit") }],
      }),
    );
    expect(ranks(r)[0]).toBe(220);
    expect(feature(r, 220, "hunk_proximity")).toBeCloseTo(0.9, 10);
    expect(r.confidence.level).toBe("medium");
    expectHonestReasoning(r);
  });

  it("two PRs blamed on neighbouring frames split the evidence: no high", () => {
    const a = blameCulprit();
    const b = candidate(230, {
      title: "Discounts: stack coupons",
      mergedAt: hoursBefore(4),
      hunks: { "src/checkout/pricing.ts": [hunk(15, 4)] },
      touchedFunctions: ["applyDiscounts"],
    });
    const r = attribute(
      errorInput({
        candidates: [a, b],
        blame: [
          { path: "src/checkout/cart.ts", line: 42, blameSha: a.commits[0]! },
          { path: "src/checkout/pricing.ts", line: 17, blameSha: b.commits[0]! },
        ],
      }),
    );
    expect(ranks(r)).toEqual([118, 230]);
    expect(r.confidence.level).toBe("medium");
  });

  it("the post-hoc revert bonus is labelled and lifts a change, but alone never gives high", () => {
    const reverted = candidate(240, {
      title: "Pricing cache",
      revertedLater: true,
      hunks: { "src/checkout/tax.ts": [hunk(5, 5)] },
    });
    const r = attribute(errorInput({ candidates: [...rivals(), reverted] }));
    expect(ranks(r)[0]).toBe(240);
    expect(r.reasoning).toContain("Post-hoc: PR #240 was reverted");
    expect(r.confidence.level).not.toBe("high");
  });

  it("merge workflows: blame on an inner commit of the PR credits the PR", () => {
    const culprit = blameCulprit({ commits: [sha("inner-1"), sha("inner-2")], mergeSha: sha("merge-118") });
    const r = attribute(
      errorInput({
        candidates: [culprit, ...rivals()],
        blame: [{ path: "src/checkout/cart.ts", line: 42, blameSha: sha("inner-2") }],
      }),
    );
    expect(ranks(r)[0]).toBe(118);
    expect(r.reasoning).toContain(`(commit ${sha("inner-2").slice(0, 7)}, blame at deployed SHA`);
  });

  it("ties break by the more recent merge, then by id", () => {
    const twin = (pr: number, id: string, h: number) =>
      candidate(pr, {
        id,
        title: "Same",
        mergedAt: hoursBefore(h),
        hunks: { "src/search/query.ts": [hunk(1, 1)] },
      });
    const input: AttributionInput = errorInput({
      candidates: [twin(3, "b", 2), twin(4, "a", 2), twin(5, "c", 2)],
    });
    // Identical evidence and time: ids in order.
    expect(attribute(input).suspects.map((s) => s.candidateId)).toEqual(["a", "b", "c"]);
  });

  it("rejects duplicate candidate ids", () => {
    expect(() => attribute(errorInput({ candidates: [candidate(1), candidate(1)] }))).toThrow(/validation/);
  });
});
