import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseProviderConfig } from "../core/config-schemas.ts";
import type { VerifyInput } from "../core/types.ts";
import { verifySignoz } from "./verify.ts";

const firing = new Uint8Array(readFileSync(new URL("./fixtures/alert-firing.json", import.meta.url)));
const resolved = new Uint8Array(readFileSync(new URL("./fixtures/alert-resolved.json", import.meta.url)));
const OLD_SECRET = "sz-old-5e1d9c3b7a2f4e6d8c0b1a3f5e7d9c2b";
const NEW_SECRET = "sz-new-8b6d4f2a0c9e7b5d3f1a2c4e6b8d0f9a";

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

function input(
  authorization: string | undefined,
  body: Uint8Array = firing,
  config: Record<string, unknown> = {},
): VerifyInput {
  return {
    rawBody: body,
    headers: {
      "content-type": "application/json",
      ...(authorization === undefined ? {} : { authorization }),
    },
    secrets: [OLD_SECRET, NEW_SECRET],
    config,
    query: {},
    now: new Date("2026-03-10T14:06:05Z"),
  };
}

const BASIC = { webhookAuth: "basic" };

describe("verifySignoz", () => {
  it.each([
    ["the bearer token field (default), old secret", `Bearer ${OLD_SECRET}`, {}],
    ["the bearer token field, new secret", `Bearer ${NEW_SECRET}`, { webhookAuth: "bearer" }],
    ["Basic with an empty username (SigNoz's documented setup)", basic("", NEW_SECRET), BASIC],
    ["Basic with a username", basic("signoz", OLD_SECRET), BASIC],
  ])("accepts %s", (_name, authorization, config) => {
    const result = verifySignoz(input(authorization, firing, config));
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.deliveryKey).toMatch(/^group:[0-9a-f]{32}$/);
  });

  it("reads the config the integration store writes (integrations/core/config-schemas.ts)", () => {
    for (const raw of [{}, { webhookAuth: "basic" }]) {
      const parsed = parseProviderConfig("signoz", raw);
      if (!parsed.ok) throw new Error("config rejected");
      const header =
        parsed.config["webhookAuth"] === "basic" ? basic("", NEW_SECRET) : `Bearer ${NEW_SECRET}`;
      expect(verifySignoz(input(header, firing, parsed.config)).ok).toBe(true);
    }
  });

  it.each([
    ["no Authorization header", undefined, {}],
    ["a wrong token", "Bearer sz-wrong", {}],
    ["a truncated token", `Bearer ${NEW_SECRET.slice(0, 20)}`, {}],
    ["a token with a prefix", `Bearer sha256=${NEW_SECRET}`, {}],
    ["Basic when bearer is configured", basic("", NEW_SECRET), {}],
    ["the secret as the username", basic(NEW_SECRET, ""), BASIC],
  ])("rejects %s", (_name, authorization, config) => {
    expect(verifySignoz(input(authorization, firing, config))).toEqual({
      ok: false,
      reason: "bad_signature",
    });
  });

  it("gives the firing and the resolved notification different delivery keys", () => {
    const a = verifySignoz(input(`Bearer ${NEW_SECRET}`));
    const b = verifySignoz(input(`Bearer ${NEW_SECRET}`, resolved));
    expect(a.ok && b.ok && a.deliveryKey !== b.deliveryKey).toBe(true);
  });

  it("never throws on arbitrary bytes, headers and secrets", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 256 }),
        fc.dictionary(fc.string(), fc.string()),
        fc.array(fc.string(), { maxLength: 3 }),
        (body, headers, secrets) => {
          const result = verifySignoz({
            rawBody: body,
            headers,
            secrets,
            config: {},
            query: {},
            now: new Date(),
          });
          expect(typeof result.ok).toBe("boolean");
          if (!result.ok) expect(result.reason).toBe("bad_signature");
        },
      ),
    );
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (rawBody, headers) => {
        expect(verifySignoz({ rawBody, headers, secrets: [NEW_SECRET] } as never).ok).toBe(false);
      }),
    );
  });
});
