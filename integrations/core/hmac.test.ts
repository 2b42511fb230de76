import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  fingerprintOf,
  hmacSha256Hex,
  matchesAnyHmacHex,
  matchesAnySecret,
  parseBasicAuth,
  parseBearer,
  timingSafeEqualHex,
  timingSafeEqualString,
} from "./hmac.ts";
import { parseJsonBytes } from "./json.ts";

const enc = new TextEncoder();

describe("hmacSha256Hex", () => {
  it("matches GitHub's documented test vector", () => {
    expect(hmacSha256Hex("It's a Secret to Everybody", enc.encode("Hello, World!"))).toBe(
      "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    );
  });
});

describe("timingSafeEqualHex", () => {
  const digest = hmacSha256Hex("s", enc.encode("body"));

  it("accepts equal digests regardless of hex case", () => {
    expect(timingSafeEqualHex(digest, digest)).toBe(true);
    expect(timingSafeEqualHex(digest.toUpperCase(), digest)).toBe(true);
  });

  it.each([
    ["different digest", hmacSha256Hex("t", enc.encode("body"))],
    ["truncated", digest.slice(0, 63)],
    ["truncated to even length", digest.slice(0, 62)],
    ["prefixed", `sha256=${digest}`],
    ["non-hex of equal length", `${digest.slice(0, 62)}zz`],
    ["empty", ""],
  ])("rejects %s", (_name, other) => {
    expect(timingSafeEqualHex(other, digest)).toBe(false);
  });

  it("rejects non-strings and never throws", () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (a, b) => {
        const result = timingSafeEqualHex(a, b);
        expect(typeof result).toBe("boolean");
        if (typeof a !== "string" || typeof b !== "string") expect(result).toBe(false);
      }),
    );
  });
});

describe("timingSafeEqualString and matchesAny*", () => {
  it("compares tokens exactly", () => {
    expect(timingSafeEqualString("tok-1", "tok-1")).toBe(true);
    expect(timingSafeEqualString("tok-1", "tok-2")).toBe(false);
    expect(timingSafeEqualString("tok-1", "tok-10")).toBe(false);
    expect(timingSafeEqualString("", "")).toBe(false);
  });

  it("matches any of several secrets and skips unusable ones", () => {
    const body = enc.encode('{"a":1}');
    const sig = hmacSha256Hex("new", body);
    expect(matchesAnyHmacHex(sig, ["old", "new"], body)).toBe(true);
    expect(matchesAnyHmacHex(sig, ["old"], body)).toBe(false);
    expect(matchesAnyHmacHex(sig, [], body)).toBe(false);
    expect(matchesAnyHmacHex(sig, ["", 42, null], body)).toBe(false);
    expect(matchesAnySecret("new", ["old", "new"])).toBe(true);
    expect(matchesAnySecret("", ["", "new"])).toBe(false);
    expect(matchesAnySecret("nope", ["old", "new"])).toBe(false);
  });
});

describe("parseBasicAuth / parseBearer", () => {
  it("decodes Basic credentials, keeping colons in the password", () => {
    const header = `Basic ${Buffer.from("causeway:pa:ss").toString("base64")}`;
    expect(parseBasicAuth(header)).toEqual({ username: "causeway", password: "pa:ss" });
    expect(parseBasicAuth(`basic ${Buffer.from(":only-pass").toString("base64")}`)).toEqual({
      username: "",
      password: "only-pass",
    });
  });

  it.each([
    undefined,
    "",
    "Basic",
    "Basic !!!",
    `Bearer ${Buffer.from("a:b").toString("base64")}`,
    `Basic ${Buffer.from("no-colon").toString("base64")}`,
  ])("rejects malformed Basic header %j", (header) => {
    expect(parseBasicAuth(header)).toBeUndefined();
  });

  it("extracts Bearer tokens", () => {
    expect(parseBearer("Bearer abc.def")).toBe("abc.def");
    expect(parseBearer("bearer   abc ")).toBe("abc");
    expect(parseBearer("Bearer")).toBeUndefined();
    expect(parseBearer("Bearer a b")).toBeUndefined();
    expect(parseBearer("Basic abc")).toBeUndefined();
    expect(parseBearer(7)).toBeUndefined();
  });

  it("never throws on arbitrary input", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.anything()), (value) => {
        parseBasicAuth(value);
        parseBearer(value);
      }),
    );
  });
});

describe("fingerprintOf", () => {
  it("is 32 hex chars, stable, and sensitive to part boundaries", () => {
    const fp = fingerprintOf(["sentry", "issue", "42"]);
    expect(fp).toMatch(/^[0-9a-f]{32}$/);
    expect(fingerprintOf(["sentry", "issue", "42"])).toBe(fp);
    expect(fingerprintOf(["ab", "c"])).not.toBe(fingerprintOf(["a", "bc"]));
  });
});

describe("parseJsonBytes", () => {
  it("parses UTF-8 JSON and rejects invalid JSON or invalid UTF-8", () => {
    expect(parseJsonBytes(enc.encode('{"a":"é"}'))).toEqual({ ok: true, value: { a: "é" } });
    expect(parseJsonBytes(enc.encode("{"))).toEqual({ ok: false });
    expect(parseJsonBytes(new Uint8Array([0x7b, 0xff, 0x7d]))).toEqual({ ok: false });
  });

  it("never throws on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array(), (bytes) => {
        expect(typeof parseJsonBytes(bytes).ok).toBe("boolean");
      }),
    );
  });
});
