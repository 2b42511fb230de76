import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hmacSha256Hex } from "../core/hmac.ts";
import type { VerifyInput } from "../core/types.ts";
import { verifyPagerDuty } from "./verify.ts";

const raw = new Uint8Array(readFileSync(new URL("./fixtures/incident-triggered.json", import.meta.url)));
const OLD_SECRET = "pd-old-7c1e0a9b3f5d2e8a4c6b1d9f0e3a5c7b";
const NEW_SECRET = "pd-new-e4b8a1c7d2f9e6b3a0c5d8f1e4b7a2c9";
const WEBHOOK_ID = "5ac64822-6a0a-4bd4-9c1b-0d3e9a1f7e21";
const REJECTED = { ok: false, reason: "bad_signature" };

function input(headers: Record<string, string>, body: Uint8Array = raw): VerifyInput {
  return {
    rawBody: body,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "user-agent": "PagerDuty-Webhook/V3.0",
      "x-webhook-id": WEBHOOK_ID,
      "x-webhook-subscription": "PSUB8X2",
      ...headers,
    },
    secrets: [OLD_SECRET, NEW_SECRET],
    config: {},
    query: {},
    now: new Date("2026-03-10T14:06:03Z"),
  };
}

const v1 = (secret: string, body: Uint8Array = raw) => `v1=${hmacSha256Hex(secret, body)}`;

describe("verifyPagerDuty", () => {
  it("accepts a signature made with either of our active secrets and returns X-Webhook-Id", () => {
    for (const secret of [OLD_SECRET, NEW_SECRET]) {
      expect(verifyPagerDuty(input({ "x-pagerduty-signature": v1(secret) }))).toEqual({
        ok: true,
        deliveryKey: WEBHOOK_ID,
      });
    }
  });

  it("accepts a two-entry header during PagerDuty's rotation when only the second entry matches", () => {
    const header = `${v1("a-secret-we-never-had")},${v1(NEW_SECRET)}`;
    expect(verifyPagerDuty(input({ "x-pagerduty-signature": header }))).toEqual({
      ok: true,
      deliveryKey: WEBHOOK_ID,
    });
    // Whitespace after the comma is tolerated.
    const spaced = `${v1("a-secret-we-never-had")}, ${v1(OLD_SECRET)}`;
    expect(verifyPagerDuty(input({ "x-pagerduty-signature": spaced })).ok).toBe(true);
  });

  it("rejects a two-entry header where neither entry matches", () => {
    const header = `${v1("one-unknown-secret")},${v1("another-unknown-secret")}`;
    expect(verifyPagerDuty(input({ "x-pagerduty-signature": header }))).toEqual(REJECTED);
  });

  it("accepts without a delivery key when X-Webhook-Id is absent or not a short printable token", () => {
    const headers = input({ "x-pagerduty-signature": v1(NEW_SECRET) }).headers;
    delete headers["x-webhook-id"];
    expect(verifyPagerDuty({ ...input({}), headers })).toEqual({ ok: true, deliveryKey: undefined });
    expect(
      verifyPagerDuty(input({ "x-pagerduty-signature": v1(NEW_SECRET), "x-webhook-id": "a\tb" })),
    ).toEqual({ ok: true, deliveryKey: undefined });
  });

  const good = hmacSha256Hex(NEW_SECRET, raw);
  it.each([
    ["a signature from another secret", v1("not-the-secret")],
    ["a truncated signature", `v1=${good.slice(0, 63)}`],
    ["a signature without the v1= prefix", good],
    ["a signature with a v0= prefix", `v0=${good}`],
    ["a signature with a sha256= prefix", `sha256=${good}`],
    ["a signature with a V1= prefix", `V1=${good}`],
    ["an empty v1 entry", "v1="],
    ["an empty header", ""],
    ["only commas", ",,,"],
    ["a non-hex signature of the right length", `v1=${"g".repeat(64)}`],
    ["the digest twice without a separator", `v1=${good}${good}`],
  ])("rejects %s", (_name, signature) => {
    expect(verifyPagerDuty(input({ "x-pagerduty-signature": signature }))).toEqual(REJECTED);
  });

  it("rejects a missing signature header", () => {
    expect(verifyPagerDuty(input({}))).toEqual(REJECTED);
  });

  it("rejects a signature computed over re-serialized JSON instead of the bytes that arrived", () => {
    const text = new TextDecoder().decode(raw);
    const reserialized = JSON.stringify(JSON.parse(text));
    expect(reserialized).not.toBe(text);
    const signature = v1(NEW_SECRET, new TextEncoder().encode(reserialized));
    expect(verifyPagerDuty(input({ "x-pagerduty-signature": signature }))).toEqual(REJECTED);
  });

  it("rejects a body changed by one byte after signing", () => {
    const tampered = raw.slice();
    tampered[100] = (tampered[100] ?? 0) ^ 0x01;
    expect(verifyPagerDuty(input({ "x-pagerduty-signature": v1(NEW_SECRET) }, tampered))).toEqual(REJECTED);
  });

  it("rejects when the integration has no secrets, or only an empty one", () => {
    const signature = v1("");
    expect(verifyPagerDuty({ ...input({ "x-pagerduty-signature": signature }), secrets: [] })).toEqual(
      REJECTED,
    );
    expect(verifyPagerDuty({ ...input({ "x-pagerduty-signature": signature }), secrets: [""] })).toEqual(
      REJECTED,
    );
  });

  it("never throws on arbitrary bytes, headers and secrets, and accepts only a matching v1 entry", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512 }),
        fc.dictionary(fc.string(), fc.string()),
        fc.option(fc.string()),
        fc.array(fc.string(), { maxLength: 3 }),
        (body, headers, signature, secrets) => {
          const h = signature === null ? headers : { ...headers, "x-pagerduty-signature": signature };
          const result = verifyPagerDuty({
            rawBody: body,
            headers: h,
            secrets,
            config: {},
            query: {},
            now: new Date(),
          });
          const entries = (signature ?? "").split(",").map((entry) => entry.trim());
          const expected = secrets.some(
            (s) => s.length > 0 && entries.includes(`v1=${hmacSha256Hex(s, body)}`),
          );
          expect(result.ok).toBe(expected);
          if (!result.ok) expect(result.reason).toBe("bad_signature");
        },
      ),
    );
  });

  it("accepts the real signature among arbitrary junk entries", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string().filter((s) => !s.includes(",")),
          { maxLength: 5 },
        ),
        (junk) => {
          const header = [...junk, v1(OLD_SECRET)].join(",");
          expect(verifyPagerDuty(input({ "x-pagerduty-signature": header })).ok).toBe(true);
        },
      ),
    );
  });

  it("never throws when the input itself is malformed", () => {
    const malformed = [
      { ...input({}), rawBody: "not bytes" },
      { ...input({}), secrets: "not a list" },
      { ...input({}), headers: { "x-pagerduty-signature": 42 } },
      { ...input({}), headers: null },
    ] as unknown as VerifyInput[];
    for (const value of malformed) expect(verifyPagerDuty(value)).toEqual(REJECTED);
  });
});
