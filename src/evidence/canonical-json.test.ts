import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CanonicalJsonError, canonicalize, canonicalizeToBytes } from "./canonical-json.ts";

const cp = (code: number): string => String.fromCodePoint(code);

describe("RFC 8785 examples", () => {
  it("§3.2.2: primitives, escaping and whitespace removal", () => {
    // The RFC's sample input, as JSON text, so the parser sees the same escapes and number spellings.
    const input = String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`;
    expect(canonicalize(JSON.parse(input))).toBe(
      String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
    );
  });

  it("§3.2.3: sorts keys by UTF-16 code units, not code points", () => {
    const input = String.raw`{
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }`;
    const expected =
      `{"\\r":"Carriage Return","1":"One","${cp(0x80)}":"Control",` +
      `"${cp(0xf6)}":"Latin Small Letter O With Diaeresis","${cp(0x20ac)}":"Euro Sign",` +
      `"${cp(0x1f600)}":"Emoji: Grinning Face","${cp(0xfb33)}":"Hebrew Letter Dalet With Dagesh"}`;
    expect(canonicalize(JSON.parse(input))).toBe(expected);
    // The surrogate pair (0xD83D…) sorts before U+FB33 although its code point is larger.
    expect(cp(0x1f600) > cp(0xfb33)).toBe(false);
  });

  it("§3.2.4: hashes the UTF-8 encoding of the canonical text", () => {
    const bytes = canonicalizeToBytes({ "€": 1, "\r": 2, "😀": 3 });
    // {"\r":2,"€":1,"😀":3} with € = e2 82 ac and U+1F600 = f0 9f 98 80.
    expect(Buffer.from(bytes).toString("hex")).toBe("7b225c72223a322c22e282ac223a312c22f09f9880223a337d");
  });

  it("cyberphone reference test data: weird.json", () => {
    // github.com/cyberphone/json-canonicalization testdata/input|output/weird.json
    const input = String.raw`{
      "\u20ac": "Euro Sign",
      "1": "One",
      "\u0080": "Control\u007f",
      "\ud83d\ude02": "Smiley",
      "\u00f6": "Latin Small Letter O With Diaeresis",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "</script>": "Browser Challenge"
    }`;
    const expected =
      `{"1":"One","</script>":"Browser Challenge","${cp(0x80)}":"Control${cp(0x7f)}",` +
      `"${cp(0xf6)}":"Latin Small Letter O With Diaeresis","${cp(0x20ac)}":"Euro Sign",` +
      `"${cp(0x1f602)}":"Smiley","${cp(0xfb33)}":"Hebrew Letter Dalet With Dagesh"}`;
    expect(canonicalize(JSON.parse(input))).toBe(expected);
  });

  // Appendix B: IEEE 754 bit patterns and their canonical text.
  const NUMBERS: [string, string][] = [
    ["0000000000000000", "0"],
    ["8000000000000000", "0"],
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"],
    ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"],
    ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"],
    ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"],
    ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"],
  ];
  const fromBits = (bits: string): number => {
    const view = new DataView(new ArrayBuffer(8));
    view.setBigUint64(0, BigInt(`0x${bits}`));
    return view.getFloat64(0);
  };

  it.each(NUMBERS)("Appendix B: 0x%s → %s", (bits, expected) => {
    expect(canonicalize(fromBits(bits))).toBe(expected);
    expect(canonicalize([fromBits(bits)])).toBe(`[${expected}]`);
  });

  it.each([
    ["7fffffffffffffff", "NaN"],
    ["7ff0000000000000", "Infinity"],
    ["fff0000000000000", "-Infinity"],
  ])("Appendix B: 0x%s (%s) is an error", (bits) => {
    expect(() => canonicalize({ n: fromBits(bits) })).toThrow(CanonicalJsonError);
  });
});

describe("values without a canonical form", () => {
  const rejects = (value: unknown, path: string) => {
    let caught: unknown;
    try {
      canonicalize(value);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CanonicalJsonError);
    expect((caught as CanonicalJsonError).path).toBe(path);
  };

  it("rejects undefined wherever it appears", () => {
    rejects(undefined, "$");
    rejects({ a: undefined }, "$.a");
    rejects([1, undefined], "$[1]");
  });

  it("rejects bigint, functions and symbols", () => {
    rejects(1n, "$");
    rejects({ seq: 7n }, "$.seq");
    rejects({ f: () => 1 }, "$.f");
    rejects([Symbol("x")], "$[0]");
    rejects({ [Symbol("k")]: 1 }, "$");
  });

  it("rejects non-finite numbers", () => {
    rejects(Number.NaN, "$");
    rejects({ x: [Number.POSITIVE_INFINITY] }, "$.x[0]");
    rejects({ "a b": Number.NEGATIVE_INFINITY }, '$["a b"]');
  });

  it("rejects objects JSON.stringify would reshape", () => {
    rejects({ at: new Date(0) }, "$.at");
    rejects(new Map([["a", 1]]), "$");
    rejects({ s: new Set([1]) }, "$.s");
    rejects({ b: new Uint8Array(2) }, "$.b");
    rejects({ n: new Number(1) }, "$.n");
    class Entry {
      a = 1;
    }
    rejects([new Entry()], "$[0]");
  });

  it("rejects cycles, holes and lone surrogates", () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    rejects(cyclic, "$.self");
    // biome-ignore lint/suspicious/noSparseArray: the hole is the test
    rejects([1, , 3], "$[1]");
    rejects({ s: "\ud800" }, "$.s");
    rejects({ "\udc00": 1 }, '$["\\udc00"]');
    rejects("a\ude00b\ud83d", "$");
  });

  it("accepts repeated (non-circular) references and null-prototype objects", () => {
    const shared = { x: 1 };
    expect(canonicalize({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { b: 2, a: 1 });
    expect(canonicalize(bare)).toBe('{"a":1,"b":2}');
  });
});

describe("properties", () => {
  // JSON values without -0 (JSON text has no way to keep it apart from 0 anyway).
  const json = fc
    .jsonValue({ maxDepth: 4, stringUnit: "binary" })
    .map((v) => JSON.parse(JSON.stringify(v)) as unknown);

  it("parses back to the same value and is a fixed point", () => {
    fc.assert(
      fc.property(json, (value) => {
        const text = canonicalize(value);
        expect(JSON.parse(text)).toEqual(value);
        expect(canonicalize(JSON.parse(text))).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it("does not depend on key insertion order", () => {
    const entries = fc.uniqueArray(fc.tuple(fc.string({ unit: "binary" }), fc.integer()), {
      selector: ([k]) => k,
      maxLength: 12,
    });
    fc.assert(
      fc.property(entries, fc.nat(), (pairs, seed) => {
        const shuffled = [...pairs].sort((a, b) => ((a[1] ^ seed) & 7) - ((b[1] ^ seed) & 7));
        expect(canonicalize(Object.fromEntries(shuffled))).toBe(canonicalize(Object.fromEntries(pairs)));
      }),
      { numRuns: 300 },
    );
  });

  it("matches ECMAScript's own JSON string and number serialization, which RFC 8785 adopts", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary" }),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        (s, n) => {
          expect(canonicalize(s)).toBe(JSON.stringify(s));
          expect(canonicalize(n)).toBe(JSON.stringify(n));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("emits no whitespace outside strings and only the escapes JSON requires", () => {
    fc.assert(
      fc.property(json, (value) => {
        const text = canonicalize(value);
        const outsideStrings = text.replace(/"(?:[^"\\]|\\.)*"/g, '""');
        expect(outsideStrings).not.toMatch(/\s/);
        for (const m of text.matchAll(/\\(u[0-9a-f]{4}|.)/g)) {
          const esc = m[1]!;
          if (esc.startsWith("u")) {
            // Only controls without a short form get \u escapes.
            const code = Number.parseInt(esc.slice(1), 16);
            expect(code).toBeLessThan(0x20);
            expect([0x08, 0x09, 0x0a, 0x0c, 0x0d]).not.toContain(code);
          } else expect('"\\bfnrt').toContain(esc);
        }
      }),
      { numRuns: 300 },
    );
  });
});
