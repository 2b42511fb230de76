import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type JsonKind, jsonKind } from "./json-kind.ts";

/** The reference: what JSON.parse of the decoded bytes says. */
function parsedKind(bytes: Uint8Array): JsonKind | null {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return null;
  }
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value as JsonKind;
}

const utf8 = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));

describe("jsonKind", () => {
  it("agrees with JSON.parse on hand-picked edge cases", () => {
    const cases = [
      "",
      " ",
      "{}",
      " {\n\t\r} ",
      "[]",
      "[1,]",
      "[,1]",
      '{"a":1,}',
      '{"a" 1}',
      "{a:1}",
      "{'a':1}",
      '{"a":1}{}',
      "01",
      "-0",
      "-",
      "1.",
      ".5",
      "1e",
      "1e+",
      "1E-7",
      "-12.5e10",
      "+1",
      "0x10",
      "Infinity",
      "NaN",
      "true",
      "tru",
      "truex",
      "null",
      "nul",
      '"\\u12"',
      '"\\u12G4"',
      '"\\uD800"',
      '"\\x41"',
      '"\t"',
      '"a\\/b"',
      '"unterminated',
      '"\u0000"',
      "\u00a0{}",
      "\ufeff{}",
      '{"ü":"ß"}',
      "[[[[[]]]]]",
      "[[[[[]]]]",
      '{"a":[{"b":null}]}',
      "1 2",
      "// comment\n{}",
    ];
    for (const text of cases) expect([text, jsonKind(utf8(text))]).toEqual([text, parsedKind(utf8(text))]);
  });

  it("accepts deep nesting as V8 does", () => {
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    expect(jsonKind(utf8(deep))).toBe(parsedKind(utf8(deep)));
    expect(jsonKind(utf8(`${deep}]`))).toBeNull();
  });

  it("treats invalid UTF-8 like the decoder does: fine inside strings, an error outside", () => {
    const inString = Uint8Array.from([0x22, 0xe2, 0x22, 0xff, 0xc0, 0x80, 0x22]);
    expect(jsonKind(inString)).toBe(parsedKind(inString));
    const outside = Uint8Array.from([0x7b, 0xff, 0x7d]);
    expect(jsonKind(outside)).toBe(parsedKind(outside));
  });

  it("recognizes every JSON value JSON.stringify writes, with its kind", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(undefined, 0, 2), (value, indent) => {
        const bytes = utf8(JSON.stringify(value, null, indent));
        expect(jsonKind(bytes)).toBe(parsedKind(bytes));
      }),
      { numRuns: 2_000 },
    );
  });

  it("agrees with JSON.parse on mutated JSON texts", () => {
    const mutation = fc.record({
      at: fc.nat(),
      op: fc.constantFrom("insert", "delete", "replace"),
      char: fc.constantFrom(...' \t\n,:{}[]"\\-+.0123456789eEtrufalsn/xu\u0000\u00e9'.split("")),
    });
    fc.assert(
      fc.property(fc.jsonValue(), fc.array(mutation, { minLength: 1, maxLength: 3 }), (value, mutations) => {
        let text = JSON.stringify(value);
        for (const m of mutations) {
          const at = text.length === 0 ? 0 : m.at % (text.length + 1);
          text =
            m.op === "insert"
              ? text.slice(0, at) + m.char + text.slice(at)
              : m.op === "delete"
                ? text.slice(0, at) + text.slice(at + 1)
                : text.slice(0, at) + m.char + text.slice(at + 1);
        }
        const bytes = utf8(text);
        expect(jsonKind(bytes)).toBe(parsedKind(bytes));
      }),
      { numRuns: 5_000 },
    );
  });

  it("agrees with JSON.parse on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(jsonKind(bytes)).toBe(parsedKind(bytes));
      }),
      { numRuns: 5_000 },
    );
  });
});
