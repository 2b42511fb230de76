import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseProviderConfig } from "../core/config-schemas.ts";
import { hmacSha256Hex } from "../core/hmac.ts";
import type { VerifyInput } from "../core/types.ts";
import { datadogDeliveryKey, verifyDatadog } from "./verify.ts";

const triggered = new Uint8Array(readFileSync(new URL("./fixtures/monitor-triggered.json", import.meta.url)));
const recovered = new Uint8Array(readFileSync(new URL("./fixtures/monitor-recovered.json", import.meta.url)));
const OLD_SECRET = "dd-old-0c2e4a6b8d1f3e5a7c9b2d4f6e8a0c1b";
const NEW_SECRET = "dd-new-6f4d2b0a9e8c7d6f5e4a3b2c1d0e9f8a";
const REJECTED = { ok: false, reason: "bad_signature" };
const TRIGGERED_KEY = "cycle:7581234567890123400:Triggered:7581234567890123456";

function input(
  headers: Record<string, string>,
  config: Record<string, unknown> = {},
  body: Uint8Array = triggered,
): VerifyInput {
  return {
    rawBody: body,
    headers: { "content-type": "application/json", "user-agent": "Datadog Webhook", ...headers },
    secrets: [OLD_SECRET, NEW_SECRET],
    config,
    query: {},
    now: new Date("2026-03-10T14:06:02Z"),
  };
}

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;

const HMAC = { webhookAuth: "hmac" };
const BASIC = { webhookAuth: "basic" };

describe("verifyDatadog", () => {
  it.each([
    ["the static token header (default), old secret", { "x-causeway-token": OLD_SECRET }, {}],
    ["the static token header, new secret", { "x-causeway-token": NEW_SECRET }, { webhookAuth: "header" }],
    ["Basic auth with the secret as password", { authorization: basic("datadog", NEW_SECRET) }, BASIC],
    [
      "DD-WEBHOOK-SIGNATURE, old secret",
      { "dd-webhook-signature": hmacSha256Hex(OLD_SECRET, triggered) },
      HMAC,
    ],
    [
      "DD-WEBHOOK-SIGNATURE, new secret",
      { "dd-webhook-signature": hmacSha256Hex(NEW_SECRET, triggered) },
      HMAC,
    ],
  ])("accepts %s and keys the delivery on cycle key + transition", (_name, headers, config) => {
    expect(verifyDatadog(input(headers, config))).toEqual({ ok: true, deliveryKey: TRIGGERED_KEY });
  });

  it("reads the token header name from config", () => {
    const config = { authHeader: "X-Incident-Engine-Token" };
    expect(verifyDatadog(input({ "x-incident-engine-token": NEW_SECRET }, config)).ok).toBe(true);
    expect(verifyDatadog(input({ "x-causeway-token": NEW_SECRET }, config))).toEqual(REJECTED);
  });

  it("reads the config the integration store writes (integrations/core/config-schemas.ts)", () => {
    const header = parseProviderConfig("datadog", {});
    const hmac = parseProviderConfig("datadog", { webhookAuth: "hmac" });
    if (!header.ok || !hmac.ok) throw new Error("config rejected");
    expect(verifyDatadog(input({ "x-causeway-token": NEW_SECRET }, header.config)).ok).toBe(true);
    const signature = hmacSha256Hex(NEW_SECRET, triggered);
    expect(verifyDatadog(input({ "dd-webhook-signature": signature }, hmac.config)).ok).toBe(true);
    expect(verifyDatadog(input({ "x-causeway-token": NEW_SECRET }, hmac.config))).toEqual(REJECTED);
  });

  const good = hmacSha256Hex(NEW_SECRET, triggered);
  it.each([
    ["nothing", {}, {}],
    ["a wrong token", { "x-causeway-token": "dd-guess" }, {}],
    ["a truncated token", { "x-causeway-token": NEW_SECRET.slice(0, -4) }, {}],
    ["the token in another header", { "x-api-key": NEW_SECRET }, {}],
    ["a Bearer token (not a Datadog method)", { authorization: `Bearer ${NEW_SECRET}` }, {}],
    ["Basic auth when the token header is configured", { authorization: basic("dd", NEW_SECRET) }, {}],
    ["a valid signature when the token header is configured", { "dd-webhook-signature": good }, {}],
    ["the token header when Basic is configured", { "x-causeway-token": NEW_SECRET }, BASIC],
    ["Basic with the secret as the username", { authorization: basic(NEW_SECRET, "x") }, BASIC],
    ["the token header when HMAC is configured", { "x-causeway-token": NEW_SECRET }, HMAC],
    ["a signature from another secret", { "dd-webhook-signature": hmacSha256Hex("other", triggered) }, HMAC],
    ["a truncated signature", { "dd-webhook-signature": good.slice(0, 32) }, HMAC],
    ["a sha256= prefixed signature", { "dd-webhook-signature": `sha256=${good}` }, HMAC],
    ["the secret itself as a signature", { "dd-webhook-signature": NEW_SECRET }, HMAC],
    ["an unknown webhookAuth", { "x-causeway-token": NEW_SECRET }, { webhookAuth: "oauth2" }],
  ])("rejects %s", (_name, headers, config) => {
    expect(verifyDatadog(input(headers, config))).toEqual(REJECTED);
  });

  it("rejects a signature computed over re-serialized JSON", () => {
    const text = new TextDecoder().decode(triggered);
    const reserialized = new TextEncoder().encode(JSON.stringify(JSON.parse(text)));
    expect(Buffer.compare(Buffer.from(reserialized), Buffer.from(triggered))).not.toBe(0);
    const headers = { "dd-webhook-signature": hmacSha256Hex(NEW_SECRET, reserialized) };
    expect(verifyDatadog(input(headers, HMAC))).toEqual(REJECTED);
  });

  it("rejects under an invalid config", () => {
    expect(verifyDatadog(input({ "x-causeway-token": NEW_SECRET }, { authHeader: "" }))).toEqual(REJECTED);
  });

  it("gives the recovery of the same cycle its own delivery key", () => {
    const result = verifyDatadog(input({ "x-causeway-token": NEW_SECRET }, {}, recovered));
    expect(result).toEqual({
      ok: true,
      deliveryKey: "cycle:7581234567890123400:Recovered:7581234567890129876",
    });
  });

  it("falls back to the event id, then to a hash of the body", () => {
    const enc = new TextEncoder();
    expect(datadogDeliveryKey(enc.encode('{"id":"123","title":"[Triggered] x"}'))).toBe("event:123");
    // Unfilled template variables do not count as values.
    expect(datadogDeliveryKey(enc.encode('{"id":"123","alert_cycle_key":"$ALERT_CYCLE_KEY"}'))).toBe(
      "event:123",
    );
    const junk = enc.encode("not json");
    expect(datadogDeliveryKey(junk)).toBe(`body:${createHash("sha256").update(junk).digest("hex")}`);
    expect(
      datadogDeliveryKey(
        enc.encode(JSON.stringify({ alert_cycle_key: "c".repeat(500), alert_transition: "Triggered" })),
      ),
    ).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("never throws on arbitrary bytes, headers, secrets and config", () => {
    const headerNames = fc.constantFrom(
      "x-causeway-token",
      "authorization",
      "dd-webhook-signature",
      "x-other",
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 256 }),
        fc.dictionary(headerNames, fc.string()),
        fc.array(fc.string(), { maxLength: 3 }),
        fc.oneof(
          fc.constant({}),
          fc.constant(HMAC),
          fc.constant(BASIC),
          fc.dictionary(fc.string(), fc.jsonValue()),
        ),
        (body, headers, secrets, config) => {
          const result = verifyDatadog({
            rawBody: body,
            headers,
            secrets,
            config,
            query: {},
            now: new Date(),
          });
          if (!result.ok) expect(result.reason).toBe("bad_signature");
          else expect(typeof result.deliveryKey).toBe("string");
        },
      ),
    );
  });

  it("accepts the right signature over arbitrary bytes and rejects it for any other body", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), fc.uint8Array({ maxLength: 256 }), (body, other) => {
        const headers = { "dd-webhook-signature": hmacSha256Hex(NEW_SECRET, body) };
        expect(verifyDatadog(input(headers, HMAC, body)).ok).toBe(true);
        if (Buffer.compare(Buffer.from(body), Buffer.from(other)) !== 0) {
          expect(verifyDatadog(input(headers, HMAC, other))).toEqual(REJECTED);
        }
      }),
    );
  });

  it("never throws on structurally broken input", () => {
    fc.assert(
      fc.property(
        fc.anything(),
        fc.anything(),
        fc.anything(),
        fc.anything(),
        (rawBody, headers, secrets, config) => {
          expect(
            verifyDatadog({ rawBody, headers, secrets, config, query: {}, now: new Date() } as never),
          ).toEqual(REJECTED);
        },
      ),
    );
  });
});
