import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hmacSha256Hex } from "../core/hmac.ts";
import type { VerifyInput } from "../core/types.ts";
import { verifyGitHub } from "./verify.ts";

const raw = new Uint8Array(
  readFileSync(new URL("./fixtures/pull-request-closed-merged.json", import.meta.url)),
);
const OLD_SECRET = "gh-old-0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a";
const NEW_SECRET = "gh-new-a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0";
const DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
const REJECTED = { ok: false, reason: "bad_signature" };

function input(headers: Record<string, string>, body: Uint8Array = raw): VerifyInput {
  return {
    rawBody: body,
    headers: {
      "content-type": "application/json",
      "user-agent": "GitHub-Hookshot/044aadd",
      "x-github-event": "pull_request",
      "x-github-delivery": DELIVERY,
      "x-github-hook-id": "498120334",
      ...headers,
    },
    secrets: [OLD_SECRET, NEW_SECRET],
    config: {},
    query: {},
    now: new Date("2026-03-10T13:58:03Z"),
  };
}

const sha256 = (secret: string, body: Uint8Array = raw) => `sha256=${hmacSha256Hex(secret, body)}`;

describe("verifyGitHub", () => {
  it("accepts a signature made with either active secret and returns X-GitHub-Delivery", () => {
    for (const secret of [OLD_SECRET, NEW_SECRET]) {
      expect(verifyGitHub(input({ "x-hub-signature-256": sha256(secret) }))).toEqual({
        ok: true,
        deliveryKey: DELIVERY,
      });
    }
  });

  it("matches GitHub's documented test vector", () => {
    const body = new TextEncoder().encode("Hello, World!");
    const signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    const result = verifyGitHub({
      ...input({ "x-hub-signature-256": signature }, body),
      secrets: ["It's a Secret to Everybody"],
    });
    expect(result).toEqual({ ok: true, deliveryKey: DELIVERY });
  });

  it("accepts without a delivery key when X-GitHub-Delivery is absent or not a short printable token", () => {
    const headers = input({ "x-hub-signature-256": sha256(NEW_SECRET) }).headers;
    delete headers["x-github-delivery"];
    expect(verifyGitHub({ ...input({}), headers })).toEqual({ ok: true, deliveryKey: undefined });
    expect(
      verifyGitHub(
        input({ "x-hub-signature-256": sha256(NEW_SECRET), "x-github-delivery": "x".repeat(200) }),
      ),
    ).toEqual({ ok: true, deliveryKey: undefined });
  });

  const good = hmacSha256Hex(NEW_SECRET, raw);
  it.each([
    ["a signature from another secret", sha256("not-the-secret")],
    ["a truncated signature", `sha256=${good.slice(0, 60)}`],
    ["a bare hex digest without the prefix", good],
    ["a sha1= prefix on the SHA-256 digest", `sha1=${good}`],
    ["an upper-case SHA256= prefix", `SHA256=${good}`],
    ["a v1= prefix", `v1=${good}`],
    ["a prefix with a space", `sha256= ${good}`],
    ["the prefix alone", "sha256="],
    ["an empty header", ""],
  ])("rejects %s", (_name, signature) => {
    expect(verifyGitHub(input({ "x-hub-signature-256": signature }))).toEqual(REJECTED);
  });

  it("rejects a missing X-Hub-Signature-256 even when a valid legacy SHA-1 X-Hub-Signature is present", () => {
    const sha1 = createHmac("sha1", NEW_SECRET).update(raw).digest("hex");
    expect(verifyGitHub(input({ "x-hub-signature": `sha1=${sha1}` }))).toEqual(REJECTED);
    expect(verifyGitHub(input({}))).toEqual(REJECTED);
  });

  it("rejects a signature computed over re-serialized JSON instead of the bytes that arrived", () => {
    const text = new TextDecoder().decode(raw);
    const reserialized = JSON.stringify(JSON.parse(text));
    expect(reserialized).not.toBe(text);
    const signature = sha256(NEW_SECRET, new TextEncoder().encode(reserialized));
    expect(verifyGitHub(input({ "x-hub-signature-256": signature }))).toEqual(REJECTED);
  });

  it("rejects a body changed by one byte after signing", () => {
    const tampered = raw.slice();
    tampered[200] = (tampered[200] ?? 0) ^ 0x01;
    expect(verifyGitHub(input({ "x-hub-signature-256": sha256(NEW_SECRET) }, tampered))).toEqual(REJECTED);
  });

  it("rejects when the integration has no secrets, or only an empty one", () => {
    const signature = sha256("");
    expect(verifyGitHub({ ...input({ "x-hub-signature-256": signature }), secrets: [] })).toEqual(REJECTED);
    expect(verifyGitHub({ ...input({ "x-hub-signature-256": signature }), secrets: [""] })).toEqual(REJECTED);
  });

  it("never throws on arbitrary bytes, headers and secrets, and accepts only a matching signature", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512 }),
        fc.dictionary(fc.string(), fc.string()),
        fc.option(fc.string()),
        fc.array(fc.string(), { maxLength: 3 }),
        (body, headers, signature, secrets) => {
          const h = signature === null ? headers : { ...headers, "x-hub-signature-256": signature };
          const result = verifyGitHub({
            rawBody: body,
            headers: h,
            secrets,
            config: {},
            query: {},
            now: new Date(),
          });
          const expected = secrets.some((s) => s.length > 0 && signature === sha256(s, body));
          expect(result.ok).toBe(expected);
          if (!result.ok) expect(result.reason).toBe("bad_signature");
        },
      ),
    );
  });

  it("accepts any body signed with the secret, whatever its bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (body) => {
        expect(verifyGitHub(input({ "x-hub-signature-256": sha256(OLD_SECRET, body) }, body)).ok).toBe(true);
      }),
    );
  });

  it("never throws when the input itself is malformed", () => {
    const malformed = [
      { ...input({}), rawBody: null },
      { ...input({}), secrets: undefined },
      { ...input({}), headers: { "x-hub-signature-256": ["sha256=00"] } },
      { ...input({}), headers: undefined },
    ] as unknown as VerifyInput[];
    for (const value of malformed) expect(verifyGitHub(value)).toEqual(REJECTED);
  });
});
