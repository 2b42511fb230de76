import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { inclusionProofKeys } from "../merkle.ts";
import { numericProofPlan } from "./proofs.ts";

/** inclusionProofKeys' groups in numericProofPlan's key form (index · 64 + level). */
const reference = (index: number, size: number) =>
  inclusionProofKeys(BigInt(index), BigInt(size)).map((group) =>
    group.map((k) => Number(k.index) * 64 + k.level),
  );

describe("numeric proof plan", () => {
  it("plans exactly the nodes inclusionProofKeys plans, for every leaf of every size up to 300", () => {
    for (let size = 1; size <= 300; size++)
      for (let index = 0; index < size; index++)
        expect(numericProofPlan(index, size), `index ${index} of ${size}`).toEqual(reference(index, size));
  });

  it("agrees on large trees, up to the 2^31 bound the prover uses it below", () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 2 ** 31 - 1 })
          .chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size - 1 }))),
        ([size, index]) => {
          expect(numericProofPlan(index, size)).toEqual(reference(index, size));
        },
      ),
      { numRuns: 2_000 },
    );
    expect(numericProofPlan(2 ** 31 - 2, 2 ** 31 - 1)).toEqual(reference(2 ** 31 - 2, 2 ** 31 - 1));
  });
});
