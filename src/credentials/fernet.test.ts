import { createHmac } from "node:crypto";
import { inspect } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeBase64Url,
  encodeBase64Url,
  Fernet,
  generateFernetKey,
  InvalidFernetKeyError,
  InvalidTokenError,
  type InvalidTokenReason,
  MultiFernet,
} from "./fernet.ts";
import generateVectors from "./fixtures/fernet-generate.json";
import invalidVectors from "./fixtures/fernet-invalid.json";
import verifyVectors from "./fixtures/fernet-verify.json";

const SPEC_SECRET = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
const SPEC_TOKEN = generateVectors[0]!.token;
const T0 = new Date("2024-05-01T12:00:00Z");

function secondsAfter(date: Date, seconds: number): Date {
  return new Date(date.getTime() + seconds * 1000);
}

/** Runs `fn` and returns the InvalidTokenError reason, failing the test on success or on any other error. */
function rejection(fn: () => unknown): InvalidTokenReason {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidTokenError);
    return (err as InvalidTokenError).reason;
  }
  throw new Error("expected the token to be rejected, but it was accepted");
}

function flipBit(token: string, byteIndex: number, bit: number): string {
  const bytes = decodeBase64Url(token)!;
  bytes[byteIndex]! ^= 1 << bit;
  return encodeBase64Url(bytes);
}

describe("Fernet spec vectors", () => {
  it.each(generateVectors)("generate: $src at $now", (vector) => {
    const token = new Fernet(vector.secret).encrypt(vector.src, {
      now: new Date(vector.now),
      iv: Uint8Array.from(vector.iv),
    });
    expect(token).toBe(vector.token);
  });

  it.each(verifyVectors)("verify: $src at $now with ttl $ttl_sec", (vector) => {
    const fernet = new Fernet(vector.secret);
    const plaintext = fernet.decryptString(vector.token, {
      ttlSeconds: vector.ttl_sec,
      now: new Date(vector.now),
    });
    expect(plaintext).toBe(vector.src);
  });

  // The spec only says these must fail; the reason pins down which check caught each one.
  const expectedReasons: Record<string, InvalidTokenReason> = {
    "incorrect mac": "bad_signature",
    "too short": "too_short",
    "invalid base64": "malformed",
    "payload size not multiple of block size": "bad_length",
    "payload padding error": "bad_padding",
    "far-future TS (unacceptable clock skew)": "future_timestamp",
    "expired TTL": "expired",
    "incorrect IV (causes padding error)": "bad_padding",
  };

  it("has an expected reason for every invalid vector", () => {
    expect(invalidVectors.map((v) => v.desc).sort()).toEqual(Object.keys(expectedReasons).sort());
  });

  it.each(invalidVectors)("invalid: $desc", (vector) => {
    const fernet = new Fernet(vector.secret);
    const reason = rejection(() =>
      fernet.decrypt(vector.token, { ttlSeconds: vector.ttl_sec, now: new Date(vector.now) }),
    );
    expect(reason).toBe(expectedReasons[vector.desc]);
  });

  // Cases from fernet/spec's unmerged commit 8a21920 ("require strict base64 decoding").
  it.each([
    ["trailing characters after b64 padding", `${SPEC_TOKEN}trailingdata`],
    [
      "invalid characters in b64",
      "*gAAAAAAdwJ6wAAECAwQFBgcI!CQoLDA0ODy021?cpGVWKZ_eEwC@GM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==",
    ],
    [
      "invalid non-urlsafe characters in b64",
      "gAAAAAAdwJ6wAAEC/AwQFBgcICQoLDA0ODy+021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==",
    ],
  ])("strict base64: %s", (_desc, token) => {
    const fernet = new Fernet(SPEC_SECRET);
    expect(rejection(() => fernet.decrypt(token))).toBe("malformed");
  });
});

describe("token encoding", () => {
  const fernet = new Fernet(SPEC_SECRET);

  it("accepts the spec token without its padding", () => {
    expect(fernet.decryptString(SPEC_TOKEN.replace(/=+$/, ""))).toBe("hello");
  });

  it("writes padded url-safe base64 only", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (data) => {
        const token = fernet.encrypt(data);
        expect(token).toMatch(/^[A-Za-z0-9_-]+={0,2}$/);
        expect(token.length % 4).toBe(0);
      }),
      { numRuns: 50 },
    );
  });

  it.each([
    ["standard alphabet character", SPEC_TOKEN.replace("_", "/")],
    ["a third padding character", `${SPEC_TOKEN}=`],
    ["a single padding character where two belong", SPEC_TOKEN.slice(0, -1)],
    ["padding in the middle", `gAAA=${SPEC_TOKEN.slice(4)}`],
    ["whitespace", ` ${SPEC_TOKEN}`],
    ["non-zero bits after the last byte", SPEC_TOKEN.replace(/A==$/, "B==")],
    ["a length that is 1 mod 4", `${SPEC_TOKEN.replace(/=+$/, "")}AAA`],
    ["non-ASCII characters", SPEC_TOKEN.replace("g", "ğ")],
  ])("rejects %s as malformed", (_desc, token) => {
    expect(rejection(() => fernet.decrypt(token))).toBe("malformed");
  });

  it("rejects the empty token", () => {
    expect(rejection(() => fernet.decrypt(""))).toBe("too_short");
  });

  it("rejects an unknown version even with a valid MAC", () => {
    // 0x81 is the unmerged microsecond draft; a correctly signed token proves the version check itself fires.
    const key = Buffer.from(decodeBase64Url(SPEC_SECRET)!);
    const bytes = decodeBase64Url(SPEC_TOKEN)!;
    bytes[0] = 0x81;
    createHmac("sha256", key.subarray(0, 16))
      .update(bytes.subarray(0, bytes.length - 32))
      .digest()
      .copy(bytes, bytes.length - 32);
    expect(rejection(() => fernet.decrypt(encodeBase64Url(bytes)))).toBe("unsupported_version");
  });

  it("decodes base64url round trips canonically", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
        const encoded = encodeBase64Url(data);
        expect(decodeBase64Url(encoded)).toEqual(Buffer.from(data));
        expect(decodeBase64Url(encoded.replace(/=+$/, ""))).toEqual(Buffer.from(data));
      }),
    );
  });
});

describe("round trips", () => {
  const fernet = new Fernet(generateFernetKey());

  it("round-trips arbitrary binary payloads", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        expect(fernet.decrypt(fernet.encrypt(data))).toEqual(Buffer.from(data));
      }),
    );
  });

  it("round-trips arbitrary Unicode strings", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => {
        expect(fernet.decryptString(fernet.encrypt(text))).toBe(text);
      }),
    );
  });

  it("carries every byte value, including NUL and invalid UTF-8", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(fernet.decrypt(fernet.encrypt(all))).toEqual(Buffer.from(all));
  });

  it("refuses to turn a binary payload into a string", () => {
    const token = fernet.encrypt(Uint8Array.from([0xff, 0xfe, 0x00]));
    expect(rejection(() => fernet.decryptString(token))).toBe("not_utf8");
  });

  it("round-trips the empty message as one full padding block", () => {
    const token = fernet.encrypt("");
    expect(decodeBase64Url(token)!.length).toBe(1 + 8 + 16 + 16 + 32);
    expect(fernet.decrypt(token)).toEqual(Buffer.alloc(0));
  });

  it("sizes the ciphertext as the PKCS#7-padded message", () => {
    for (const n of [0, 1, 15, 16, 17, 31, 32, 33]) {
      const decoded = decodeBase64Url(fernet.encrypt(Buffer.alloc(n, 7)))!;
      expect(decoded.length - 57).toBe(16 * (Math.floor(n / 16) + 1));
    }
  });

  it("uses a fresh IV per token", () => {
    const a = decodeBase64Url(fernet.encrypt("same", { now: T0 }))!;
    const b = decodeBase64Url(fernet.encrypt("same", { now: T0 }))!;
    expect(a.subarray(0, 9)).toEqual(b.subarray(0, 9));
    expect(a.subarray(9, 25)).not.toEqual(b.subarray(9, 25));
  });

  it("writes the version byte and the big-endian timestamp in seconds", () => {
    const decoded = decodeBase64Url(fernet.encrypt("x", { now: new Date(T0.getTime() + 999) }))!;
    expect(decoded[0]).toBe(0x80);
    expect(decoded.readBigUInt64BE(1)).toBe(BigInt(T0.getTime() / 1000));
  });

  it("does not copy the caller's buffer by reference", () => {
    const data = Buffer.from("secret");
    const token = fernet.encrypt(data);
    data.fill(0);
    expect(fernet.decryptString(token)).toBe("secret");
  });

  it("rejects tokens made under another key as bad signatures", () => {
    const token = new Fernet(generateFernetKey()).encrypt("x");
    expect(rejection(() => fernet.decrypt(token))).toBe("bad_signature");
  });

  it("rejects an IV that is not 16 bytes and a date before 1970", () => {
    expect(() => fernet.encrypt("x", { iv: new Uint8Array(15) })).toThrow(RangeError);
    expect(() => fernet.encrypt("x", { now: new Date("1969-12-31T23:59:59Z") })).toThrow(RangeError);
  });
});

describe("TTL and clock skew", () => {
  const fernet = new Fernet(generateFernetKey());
  const token = fernet.encrypt("payload", { now: T0 });

  it("accepts a token exactly ttl seconds old and rejects one a second older", () => {
    expect(fernet.decryptString(token, { ttlSeconds: 60, now: secondsAfter(T0, 60) })).toBe("payload");
    expect(rejection(() => fernet.decrypt(token, { ttlSeconds: 60, now: secondsAfter(T0, 61) }))).toBe(
      "expired",
    );
  });

  it("allows 60 s of clock skew into the future and no more", () => {
    expect(fernet.decryptString(token, { ttlSeconds: 10, now: secondsAfter(T0, -60) })).toBe("payload");
    expect(rejection(() => fernet.decrypt(token, { ttlSeconds: 10, now: secondsAfter(T0, -61) }))).toBe(
      "future_timestamp",
    );
  });

  it("checks neither age nor skew without a TTL, like Python and fernet.js", () => {
    expect(fernet.decryptString(token, { now: secondsAfter(T0, 10 * 365 * 86400) })).toBe("payload");
    expect(fernet.decryptString(token, { now: secondsAfter(T0, -36000) })).toBe("payload");
  });

  it("checks the age before the MAC, as the spec orders it", () => {
    const forged = flipBit(token, 60, 0);
    expect(rejection(() => fernet.decrypt(forged, { ttlSeconds: 5, now: secondsAfter(T0, 6) }))).toBe(
      "expired",
    );
  });

  it("handles timestamps near 2^64 without overflow", () => {
    const bytes = decodeBase64Url(token)!;
    bytes.writeBigUInt64BE(2n ** 64n - 1n, 1);
    expect(rejection(() => fernet.decrypt(encodeBase64Url(bytes), { ttlSeconds: 60, now: T0 }))).toBe(
      "future_timestamp",
    );
  });

  it("rejects a negative or fractional TTL", () => {
    expect(() => fernet.decrypt(token, { ttlSeconds: -1 })).toThrow(RangeError);
    expect(() => fernet.decrypt(token, { ttlSeconds: 1.5 })).toThrow(RangeError);
  });
});

describe("tampering", () => {
  const fernet = new Fernet(SPEC_SECRET);

  it("rejects every single-bit flip of the spec token (exhaustive)", () => {
    const length = decodeBase64Url(SPEC_TOKEN)!.length;
    for (let i = 0; i < length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const reason = rejection(() => fernet.decrypt(flipBit(SPEC_TOKEN, i, bit)));
        expect(reason).toBe(i === 0 ? "unsupported_version" : "bad_signature");
      }
    }
  });

  it("rejects any bit flip in any token, with or without a TTL", () => {
    const key = generateFernetKey();
    const f = new Fernet(key);
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 80 }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        fc.boolean(),
        (data, position, bit, withTtl) => {
          const token = f.encrypt(data, { now: T0 });
          const index = position % decodeBase64Url(token)!.length;
          const opts = withTtl ? { ttlSeconds: 3600, now: T0 } : {};
          rejection(() => f.decrypt(flipBit(token, index, bit), opts));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("rejects any bit flip in any character of the token text", () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 15 }), (position, bit) => {
        const index = position % SPEC_TOKEN.length;
        const code = SPEC_TOKEN.charCodeAt(index) ^ (1 << bit);
        const tampered = SPEC_TOKEN.slice(0, index) + String.fromCharCode(code) + SPEC_TOKEN.slice(index + 1);
        rejection(() => fernet.decrypt(tampered));
      }),
      { numRuns: 1000 },
    );
  });

  it("rejects truncation and extension by whole blocks", () => {
    const bytes = decodeBase64Url(fernet.encrypt("a".repeat(40)))!;
    expect(rejection(() => fernet.decrypt(encodeBase64Url(bytes.subarray(0, bytes.length - 16))))).toBe(
      "bad_signature",
    );
    expect(rejection(() => fernet.decrypt(encodeBase64Url(Buffer.concat([bytes, Buffer.alloc(16)]))))).toBe(
      "bad_signature",
    );
  });

  it("throws only InvalidTokenError for arbitrary input", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: "binary" }),
          fc
            .uint8Array({ maxLength: 200 })
            .map((b) => encodeBase64Url(Buffer.concat([Buffer.from([0x80]), b]))),
        ),
        (token) => {
          rejection(() => fernet.decrypt(token, { ttlSeconds: 60, now: T0 }));
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("keys", () => {
  it("generates distinct 32-byte keys that Fernet accepts", () => {
    const a = generateFernetKey();
    const b = generateFernetKey();
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}=$/);
    expect(decodeBase64Url(a)!.length).toBe(32);
    expect(new Fernet(a).decryptString(new Fernet(a).encrypt("k"))).toBe("k");
  });

  it("accepts raw key bytes and unpadded key text equivalently", () => {
    const raw = decodeBase64Url(SPEC_SECRET)!;
    expect(new Fernet(raw).decryptString(SPEC_TOKEN)).toBe("hello");
    expect(new Fernet(SPEC_SECRET.replace(/=$/, "")).decryptString(SPEC_TOKEN)).toBe("hello");
  });

  it.each([
    ["too short", "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4"],
    ["too long", `${SPEC_SECRET.slice(0, -1)}AAAA`],
    ["standard base64 alphabet", "cw/0x689RpI+jtRR7oE8h/eQsKImvJapLeSbXpwF4e4="],
    ["empty", ""],
    ["16 raw bytes", new Uint8Array(16)],
  ])("rejects a key that is %s without echoing it", (_desc, key) => {
    let caught: unknown;
    try {
      new Fernet(key);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidFernetKeyError);
    if (typeof key === "string" && key.length > 0) expect((caught as Error).message).not.toContain(key);
  });

  it("keeps key material out of inspect and JSON output", () => {
    const fernet = new Fernet(SPEC_SECRET);
    const raw = decodeBase64Url(SPEC_SECRET)!;
    const shown = inspect(fernet, { depth: 10, showHidden: true }) + JSON.stringify(fernet);
    expect(shown).not.toContain(SPEC_SECRET.slice(0, 20));
    expect(shown).not.toContain(raw.subarray(0, 16).toString("hex"));
    expect(shown).not.toContain(raw.subarray(16).toString("hex"));
    expect(inspect(new MultiFernet([fernet]), { depth: 10 })).not.toContain(SPEC_SECRET.slice(0, 20));
  });
});

describe("MultiFernet", () => {
  const oldKey = generateFernetKey();
  const newKey = generateFernetKey();

  it("encrypts under the first key and decrypts under any", () => {
    const multi = new MultiFernet([newKey, oldKey]);
    const fromOld = new Fernet(oldKey).encrypt("old secret");
    expect(multi.decryptString(fromOld)).toBe("old secret");
    const fromMulti = multi.encrypt("new secret");
    expect(new Fernet(newKey).decryptString(fromMulti)).toBe("new secret");
    expect(rejection(() => new Fernet(oldKey).decrypt(fromMulti))).toBe("bad_signature");
  });

  it("rejects a token none of its keys made", () => {
    const multi = new MultiFernet([newKey, oldKey]);
    const stranger = new Fernet(generateFernetKey()).encrypt("x");
    expect(rejection(() => multi.decrypt(stranger))).toBe("bad_signature");
  });

  it("reports key-independent failures as they are rather than as a MAC mismatch", () => {
    const multi = new MultiFernet([newKey, oldKey]);
    const token = new Fernet(oldKey).encrypt("x", { now: T0 });
    expect(rejection(() => multi.decrypt(token, { ttlSeconds: 1, now: secondsAfter(T0, 2) }))).toBe(
      "expired",
    );
    expect(rejection(() => multi.decrypt("%%%"))).toBe("malformed");
  });

  it("rotates a token to the first key with a new IV and timestamp, keeping only the plaintext", () => {
    const binary = Uint8Array.from([0, 255, 1, 254, 0x80]);
    const original = new Fernet(oldKey).encrypt(binary, { now: T0 });
    const later = secondsAfter(T0, 86400);
    const rotated = new MultiFernet([newKey, oldKey]).rotate(original, { now: later });

    expect(new Fernet(newKey).decrypt(rotated)).toEqual(Buffer.from(binary));
    expect(rejection(() => new Fernet(oldKey).decrypt(rotated))).toBe("bad_signature");
    const before = decodeBase64Url(original)!;
    const after = decodeBase64Url(rotated)!;
    expect(after.readBigUInt64BE(1)).toBe(BigInt(later.getTime() / 1000));
    expect(after.subarray(9, 25)).not.toEqual(before.subarray(9, 25));
  });

  it("rotates tokens that are older than any TTL", () => {
    const original = new Fernet(oldKey).encrypt("ancient", { now: new Date("2001-01-01T00:00:00Z") });
    const rotated = new MultiFernet([newKey, oldKey]).rotate(original);
    expect(new Fernet(newKey).decryptString(rotated, { ttlSeconds: 60 })).toBe("ancient");
  });

  it("refuses to rotate a token it cannot verify", () => {
    const stranger = new Fernet(generateFernetKey()).encrypt("x");
    expect(rejection(() => new MultiFernet([newKey]).rotate(stranger))).toBe("bad_signature");
  });

  it("needs at least one key", () => {
    expect(() => new MultiFernet([])).toThrow(RangeError);
  });
});
