import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hmacSha256Hex } from "../core/hmac.ts";
import type { VerifyInput } from "../core/types.ts";
import { verifyJira } from "./verify.ts";

const raw = new Uint8Array(readFileSync(new URL("./fixtures/issue-updated-status.json", import.meta.url)));
const OLD_SECRET = "jira-old-3e1f5a7c9b2d4f6a8c0e1b3d5f7a9c2e";
const NEW_SECRET = "jira-new-8b6d4f2a0c9e7b5d3f1a8c6e4b2d0f9a";
const IDENTIFIER = "4a7f2c9e-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
const REJECTED = { ok: false, reason: "bad_signature" };

function input(headers: Record<string, string>, body: Uint8Array = raw): VerifyInput {
  return {
    rawBody: body,
    headers: {
      "content-type": "application/json; charset=UTF-8",
      "user-agent": "Atlassian Webhook HTTP Client",
      "x-atlassian-webhook-identifier": IDENTIFIER,
      ...headers,
    },
    secrets: [OLD_SECRET, NEW_SECRET],
    config: { baseUrl: "https://acme-pay.atlassian.net" },
    query: {},
    now: new Date("2026-03-10T13:41:10Z"),
  };
}

const sha256 = (secret: string, body: Uint8Array = raw) => `sha256=${hmacSha256Hex(secret, body)}`;

describe("verifyJira", () => {
  it("accepts X-Hub-Signature made with either active secret and returns the webhook identifier", () => {
    for (const secret of [OLD_SECRET, NEW_SECRET]) {
      expect(verifyJira(input({ "x-hub-signature": sha256(secret) }))).toEqual({
        ok: true,
        deliveryKey: IDENTIFIER,
      });
    }
  });

  it("keeps the same delivery key on a retry (X-Atlassian-Webhook-Retry)", () => {
    const headers = { "x-hub-signature": sha256(NEW_SECRET), "x-atlassian-webhook-retry": "1" };
    expect(verifyJira(input(headers))).toEqual({ ok: true, deliveryKey: IDENTIFIER });
  });

  it("accepts without a delivery key when the identifier is absent", () => {
    const headers = input({ "x-hub-signature": sha256(NEW_SECRET) }).headers;
    delete headers["x-atlassian-webhook-identifier"];
    expect(verifyJira({ ...input({}), headers })).toEqual({ ok: true, deliveryKey: undefined });
  });

  it("does not read GitHub's X-Hub-Signature-256 header", () => {
    expect(verifyJira(input({ "x-hub-signature-256": sha256(NEW_SECRET) }))).toEqual(REJECTED);
  });

  const good = hmacSha256Hex(NEW_SECRET, raw);
  it.each([
    ["a signature from another secret", sha256("not-the-secret")],
    ["a truncated signature", `sha256=${good.slice(0, 32)}`],
    ["a bare hex digest without the prefix", good],
    ["a sha1= prefix", `sha1=${good}`],
    ["a method=… WebSub variant", `method=sha256&signature=${good}`],
    ["the prefix alone", "sha256="],
    ["an empty header", ""],
  ])("rejects %s", (_name, signature) => {
    expect(verifyJira(input({ "x-hub-signature": signature }))).toEqual(REJECTED);
  });

  it("rejects an unsigned delivery (a webhook registered without a secret, or a Connect app's JWT)", () => {
    expect(verifyJira(input({}))).toEqual(REJECTED);
    expect(verifyJira(input({ authorization: "JWT eyJhbGciOiJIUzI1NiJ9.e30.c2ln" }))).toEqual(REJECTED);
  });

  it("rejects a signature computed over re-serialized JSON instead of the bytes that arrived", () => {
    const text = new TextDecoder().decode(raw);
    const reserialized = JSON.stringify(JSON.parse(text));
    expect(reserialized).not.toBe(text);
    expect(
      verifyJira(input({ "x-hub-signature": sha256(NEW_SECRET, new TextEncoder().encode(reserialized)) })),
    ).toEqual(REJECTED);
  });

  it("rejects a body changed by one byte after signing", () => {
    const tampered = raw.slice();
    tampered[50] = (tampered[50] ?? 0) ^ 0x01;
    expect(verifyJira(input({ "x-hub-signature": sha256(NEW_SECRET) }, tampered))).toEqual(REJECTED);
  });

  it("rejects when the integration has no secrets, or only an empty one", () => {
    const signature = sha256("");
    expect(verifyJira({ ...input({ "x-hub-signature": signature }), secrets: [] })).toEqual(REJECTED);
    expect(verifyJira({ ...input({ "x-hub-signature": signature }), secrets: [""] })).toEqual(REJECTED);
  });

  it("never throws on arbitrary bytes, headers and secrets, and accepts only a matching signature", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512 }),
        fc.dictionary(fc.string(), fc.string()),
        fc.option(fc.string()),
        fc.array(fc.string(), { maxLength: 3 }),
        (body, headers, signature, secrets) => {
          const h = signature === null ? headers : { ...headers, "x-hub-signature": signature };
          const result = verifyJira({
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

  it("never throws when the input itself is malformed", () => {
    const malformed = [
      { ...input({}), rawBody: [1, 2, 3] },
      { ...input({}), secrets: null },
      { ...input({}), headers: { "x-hub-signature": { value: "sha256=00" } } },
      { ...input({}), headers: 7 },
    ] as unknown as VerifyInput[];
    for (const value of malformed) expect(verifyJira(value)).toEqual(REJECTED);
  });
});
