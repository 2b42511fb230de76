import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clipText, makeStorable, storableString } from "./storable-text.ts";

const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

describe("storable strings", () => {
  it("replaces NUL and unpaired surrogates with U+FFFD and keeps everything else", () => {
    expect(storableString("a\u0000b")).toBe("a\ufffdb");
    expect(storableString("x\ud800y\udfffz")).toBe("x\ufffdy\ufffdz");
    expect(storableString("🚨 Café")).toBe("🚨 Café");
    const plain = "TypeError: x is undefined";
    expect(storableString(plain)).toBe(plain);
  });

  it("cleans strings and keys of nested objects and arrays in place, leaving Dates alone", () => {
    const when = new Date("2026-12-03T10:00:00Z");
    const signal = {
      title: "bad\u0000title",
      occurredAt: when,
      tags: { "key\u0000": "v\ud800", ok: "fine" },
      frames: [{ filename: "a\u0000.ts", lineno: 3 }, "loose\udc00", 7, null],
    };
    const out = makeStorable(signal);
    expect(out).toBe(signal);
    expect(out).toEqual({
      title: "bad\ufffdtitle",
      occurredAt: when,
      tags: { "key\ufffd": "v\ufffd", ok: "fine" },
      frames: [{ filename: "a\ufffd.ts", lineno: 3 }, "loose\ufffd", 7, null],
    });
    expect(out.occurredAt).toBe(when);
  });

  it("leaves no unstorable character in any string, and changes nothing in a string without one", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        const cleaned = storableString(s);
        expect(UNSTORABLE.test(cleaned)).toBe(false);
        if (!UNSTORABLE.test(s)) expect(cleaned).toBe(s);
        expect(cleaned.length).toBe(s.length);
      }),
    );
  });

  it("clips without splitting a surrogate pair", () => {
    const title = `${"x".repeat(499)}🚨 and more`;
    expect(clipText(title, 500)).toBe("x".repeat(499));
    expect(clipText(title, 501)).toBe(`${"x".repeat(499)}🚨`);
    expect(clipText("short", 500)).toBe("short");
  });
});
