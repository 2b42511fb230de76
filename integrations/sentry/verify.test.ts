import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hmacSha256Hex } from "../core/hmac.ts";
import type { VerifyInput } from "../core/types.ts";
import { verifySentry } from "./verify.ts";

const raw = new Uint8Array(readFileSync(new URL("./fixtures/event-alert-triggered.json", import.meta.url)));
const OLD_SECRET = "2f4c1e8a9b7d6f3e5a1c0b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f";
const NEW_SECRET = "f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9";
const REQUEST_ID = "0a8f4b2e6c1d4e3f9b7a5c3d1e2f4a6b";

function input(headers: Record<string, string>, body: Uint8Array = raw): VerifyInput {
  return {
    rawBody: body,
    headers: {
      "content-type": "application/json",
      "request-id": REQUEST_ID,
      "sentry-hook-resource": "event_alert",
      "sentry-hook-timestamp": "1773151532",
      ...headers,
    },
    secrets: [OLD_SECRET, NEW_SECRET],
    config: {},
    query: {},
    now: new Date("2026-03-10T14:05:33Z"),
  };
}

describe("verifySentry", () => {
  it("accepts a signature made with either active secret and returns Request-ID as the delivery key", () => {
    for (const secret of [OLD_SECRET, NEW_SECRET]) {
      const result = verifySentry(input({ "sentry-hook-signature": hmacSha256Hex(secret, raw) }));
      expect(result).toEqual({ ok: true, deliveryKey: REQUEST_ID });
    }
  });

  it("accepts without a delivery key when Request-ID is absent", () => {
    const headers = input({ "sentry-hook-signature": hmacSha256Hex(NEW_SECRET, raw) }).headers;
    delete headers["request-id"];
    const result = verifySentry({ ...input({}), headers });
    expect(result).toEqual({ ok: true, deliveryKey: undefined });
  });

  const good = hmacSha256Hex(NEW_SECRET, raw);
  it.each([
    ["a signature from another secret", hmacSha256Hex("not-the-secret", raw)],
    ["a truncated signature", good.slice(0, 40)],
    ["a signature with a sha256= prefix", `sha256=${good}`],
    ["a signature with a v1= prefix", `v1=${good}`],
    ["an empty signature", ""],
    ["a non-hex signature of the right length", "z".repeat(64)],
  ])("rejects %s", (_name, signature) => {
    expect(verifySentry(input({ "sentry-hook-signature": signature }))).toEqual({
      ok: false,
      reason: "bad_signature",
    });
  });

  it("rejects a missing signature header", () => {
    expect(verifySentry(input({}))).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("rejects a signature computed over re-serialized JSON instead of the bytes that arrived", () => {
    const text = new TextDecoder().decode(raw);
    // Sentry escapes non-ASCII as \uXXXX; JSON.stringify does not, so the bytes differ.
    expect(text).toContain("\\u201e");
    const reserialized = JSON.stringify(JSON.parse(text));
    expect(reserialized).not.toBe(text);
    const signature = hmacSha256Hex(NEW_SECRET, new TextEncoder().encode(reserialized));
    expect(verifySentry(input({ "sentry-hook-signature": signature }))).toEqual({
      ok: false,
      reason: "bad_signature",
    });
  });

  it("rejects a body changed by one byte after signing", () => {
    const tampered = raw.slice();
    tampered[tampered.length - 3] = (tampered[tampered.length - 3] ?? 0) ^ 0x01;
    expect(
      verifySentry(input({ "sentry-hook-signature": hmacSha256Hex(NEW_SECRET, raw) }, tampered)),
    ).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("rejects when the integration has no secrets, or only an empty one", () => {
    const signature = hmacSha256Hex("", raw);
    expect(verifySentry({ ...input({ "sentry-hook-signature": signature }), secrets: [] }).ok).toBe(false);
    expect(verifySentry({ ...input({ "sentry-hook-signature": signature }), secrets: [""] }).ok).toBe(false);
  });

  it("drops a Request-ID that is not a short printable token", () => {
    const signature = hmacSha256Hex(NEW_SECRET, raw);
    const result = verifySentry(input({ "sentry-hook-signature": signature, "request-id": "a\nb" }));
    expect(result).toEqual({ ok: true, deliveryKey: undefined });
  });

  it("never throws on arbitrary bytes, headers and secrets, and only accepts a matching signature", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512 }),
        fc.dictionary(fc.string(), fc.string()),
        fc.option(fc.string()),
        fc.array(fc.string(), { maxLength: 3 }),
        (body, headers, signature, secrets) => {
          const h = signature === null ? headers : { ...headers, "sentry-hook-signature": signature };
          const result = verifySentry({
            rawBody: body,
            headers: h,
            secrets,
            config: {},
            query: {},
            now: new Date(),
          });
          const expected = secrets.some(
            (s) => s.length > 0 && signature !== null && signature.toLowerCase() === hmacSha256Hex(s, body),
          );
          expect(result.ok).toBe(expected);
          if (!result.ok) expect(result.reason).toBe("bad_signature");
        },
      ),
    );
  });

  it("accepts the right signature over arbitrary bytes and rejects any single changed hex digit", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512 }),
        fc.string({ minLength: 1 }),
        fc.nat(63),
        (body, secret, position) => {
          const signature = hmacSha256Hex(secret, body);
          const base = { rawBody: body, secrets: [secret], config: {}, query: {}, now: new Date() };
          expect(verifySentry({ ...base, headers: { "sentry-hook-signature": signature } }).ok).toBe(true);
          const flipped =
            signature.slice(0, position) +
            (signature[position] === "0" ? "1" : "0") +
            signature.slice(position + 1);
          expect(verifySentry({ ...base, headers: { "sentry-hook-signature": flipped } }).ok).toBe(false);
        },
      ),
    );
  });

  it("never throws on structurally broken input", () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.anything(), (rawBody, headers, secrets) => {
        const result = verifySentry({
          rawBody,
          headers,
          secrets,
          config: {},
          query: {},
          now: new Date(),
        } as never);
        expect(result).toEqual({ ok: false, reason: "bad_signature" });
      }),
    );
  });
});
