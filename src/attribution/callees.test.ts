import { describe, expect, it } from "vitest";
import {
  calleesBefore,
  declares,
  dereferencedNames,
  isNullDereference,
  quotedKeys,
  removedGuard,
} from "./callees.ts";

const SOURCE = [
  `import { loadDiscount } from "../lib/discount-store";`,
  "",
  "export function applyDiscount(input: DiscountInput): DiscountResult {",
  "  const record = loadDiscount(input.id);",
  "  // rates come from the store",
  "  const entry = record.discounts[input.code] ?? null;",
  "  if (!entry) {",
  `    return emptyDiscount(input, "applyDiscount");`,
  "  }",
  "  const step = discountDefaults(input.region);",
  "  const value = computeApplyDiscount(entry.amount, step);",
  `  log.debug("applyDiscount", value);`,
  "  return { ...input, amount: value };",
  "}",
  "",
  "export function otherDiscount(input: DiscountInput): DiscountResult {",
  "  const x = unrelatedHelper(input);",
  "  return x;",
  "}",
].join("\n");

describe("calleesBefore", () => {
  it("lists what the frame's function called before the frame line, nearest first, keywords out", () => {
    expect(calleesBefore(SOURCE, 11, "applyDiscount")).toEqual([
      "discountDefaults",
      "emptyDiscount",
      "loadDiscount",
    ]);
  });

  it("stops at the function's declaration: an earlier function's calls are not callees", () => {
    expect(calleesBefore(SOURCE, 18, "otherDiscount")).toEqual(["unrelatedHelper"]);
  });

  it("falls back to a window above the line without a function name, and is empty off the file", () => {
    expect(calleesBefore(SOURCE, 11)).toContain("loadDiscount");
    expect(calleesBefore(SOURCE, 0, "applyDiscount")).toEqual([]);
    expect(calleesBefore(SOURCE, 500, "applyDiscount")).toEqual([]);
  });

  it("recognises declarations across languages", () => {
    expect(declares("def apply_discount(self, code):", "apply_discount")).toBe(true);
    expect(declares("func (s *Server) ApplyDiscount(ctx context.Context) error {", "ApplyDiscount")).toBe(
      true,
    );
    expect(declares("  public BigDecimal applyDiscount(Order order) {", "applyDiscount")).toBe(true);
    expect(declares("const applyDiscount = async (input) => {", "applyDiscount")).toBe(true);
    expect(declares("  const v = applyDiscount(input);", "applyDiscount")).toBe(false);
  });
});

describe("error keys and null dereferences", () => {
  it("takes the quoted key of a property read and recognises missing-value errors", () => {
    expect(quotedKeys("Cannot read properties of undefined (reading 'amount')")).toEqual(["amount"]);
    expect(quotedKeys("KeyError: 'tax_rate'")).toEqual(["tax_rate"]);
    expect(quotedKeys("division by zero")).toEqual([]);
    expect(isNullDereference("TypeError Cannot read properties of null (reading 'amount')")).toBe(true);
    expect(isNullDereference("AttributeError: 'NoneType' object has no attribute 'rate'")).toBe(true);
    expect(isNullDereference("java.lang.NullPointerException")).toBe(true);
    expect(isNullDereference("RangeError: Maximum call stack size exceeded")).toBe(false);
  });

  it("names what a line dereferences, ignoring strings and comments", () => {
    expect(dereferencedNames("  const value = computeApplyDiscount(entry.amount, step);")).toEqual(["entry"]);
    expect(dereferencedNames(`  log.debug("x.y", rates[code]?.rate); // note.z`)).toEqual(["log", "rates"]);
  });

  it("finds a removed guard on a dereferenced name, not one that was only moved", () => {
    const removed = { removedLines: ["  if (!entry) {", "    return empty();", "  }"], addedLines: [] };
    expect(removedGuard(removed, ["entry"])).toEqual({ name: "entry", line: "  if (!entry) {" });
    const moved = {
      removedLines: ["  if (!entry) {", "    return empty();", "  }"],
      addedLines: ["  if (entry === null) return empty();"],
    };
    expect(removedGuard(moved, ["entry"])).toBeUndefined();
    const other = { removedLines: ["  if (!record) {"], addedLines: [] };
    expect(removedGuard(other, ["entry"])).toBeUndefined();
  });
});
