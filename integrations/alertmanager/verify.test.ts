import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseProviderConfig } from "../core/config-schemas.ts";
import { parseBasicAuth, parseBearer } from "../core/hmac.ts";
import type { VerifyInput } from "../core/types.ts";
import { alertGroupDeliveryKey, verifyAlertmanager } from "./verify.ts";

const firing = new Uint8Array(readFileSync(new URL("./fixtures/group-firing.json", import.meta.url)));
const resolved = new Uint8Array(readFileSync(new URL("./fixtures/group-resolved.json", import.meta.url)));
const OLD_SECRET = "am-old-7f3b9c2e5d1a4f6b8c0e2d4f6a8b0c1d";
const NEW_SECRET = "am-new-1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d";

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
      "user-agent": "Alertmanager/0.28.1",
      ...(authorization === undefined ? {} : { authorization }),
    },
    secrets: [OLD_SECRET, NEW_SECRET],
    config,
    query: {},
    now: new Date("2026-03-10T14:06:05Z"),
  };
}

const BASIC = { webhookAuth: "basic" };

describe("verifyAlertmanager", () => {
  it.each([
    ["Bearer (the default), old secret", `Bearer ${OLD_SECRET}`, {}],
    ["Bearer, new secret", `Bearer ${NEW_SECRET}`, { webhookAuth: "bearer" }],
    ["lower-case scheme", `bearer ${NEW_SECRET}`, {}],
    ["Basic, old secret as password", basic("alertmanager", OLD_SECRET), BASIC],
    ["Basic, new secret as password, empty user", basic("", NEW_SECRET), BASIC],
  ])("accepts %s", (_name, authorization, config) => {
    const result = verifyAlertmanager(input(authorization, firing, config));
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.deliveryKey).toMatch(/^group:[0-9a-f]{32}$/);
  });

  it("reads the config the integration store writes (integrations/core/config-schemas.ts)", () => {
    const parsed = parseProviderConfig("alertmanager", { webhookAuth: "basic" });
    if (!parsed.ok) throw new Error("config rejected");
    expect(verifyAlertmanager(input(basic("am", NEW_SECRET), firing, parsed.config)).ok).toBe(true);
    expect(verifyAlertmanager(input(`Bearer ${NEW_SECRET}`, firing, parsed.config)).ok).toBe(false);
  });

  it.each([
    ["no Authorization header", undefined, {}],
    ["a wrong Bearer token", "Bearer not-the-secret", {}],
    ["a truncated Bearer token", `Bearer ${NEW_SECRET.slice(0, -1)}`, {}],
    ["a Bearer token with a suffix", `Bearer ${NEW_SECRET}x`, {}],
    ["the secret without a scheme", NEW_SECRET, {}],
    ["the secret under another scheme", `Token ${NEW_SECRET}`, {}],
    ["an empty Bearer token", "Bearer ", {}],
    ["Basic when Bearer is configured", basic("alertmanager", NEW_SECRET), {}],
    ["Bearer when Basic is configured", `Bearer ${NEW_SECRET}`, BASIC],
    ["the secret as the Basic username", basic(NEW_SECRET, "password"), BASIC],
    ["a Basic password that is wrong", basic("alertmanager", "wrong"), BASIC],
    ["an unknown webhookAuth", `Bearer ${NEW_SECRET}`, { webhookAuth: "oauth2" }],
  ])("rejects %s", (_name, authorization, config) => {
    expect(verifyAlertmanager(input(authorization, firing, config))).toEqual({
      ok: false,
      reason: "bad_signature",
    });
  });

  it("rejects when the integration has no secrets", () => {
    expect(verifyAlertmanager({ ...input(`Bearer ${NEW_SECRET}`), secrets: [] }).ok).toBe(false);
    expect(verifyAlertmanager({ ...input("Bearer "), secrets: [""] }).ok).toBe(false);
  });

  it("keys deliveries on content: retries dedup, the resolved notification of the same group does not", () => {
    const first = verifyAlertmanager(input(`Bearer ${NEW_SECRET}`));
    const retry = verifyAlertmanager(input(`Bearer ${NEW_SECRET}`, firing.slice()));
    const resolution = verifyAlertmanager(input(`Bearer ${NEW_SECRET}`, resolved));
    expect(first.ok && retry.ok && resolution.ok).toBe(true);
    if (!first.ok || !retry.ok || !resolution.ok) return;
    expect(retry.deliveryKey).toBe(first.deliveryKey);
    expect(resolution.deliveryKey).not.toBe(first.deliveryKey);
    // The same alerts with different whitespace are the same notification.
    const reencoded = new TextEncoder().encode(
      JSON.stringify(JSON.parse(new TextDecoder().decode(firing)), null, 2),
    );
    expect(alertGroupDeliveryKey(reencoded)).toBe(first.deliveryKey);
  });

  it("falls back to a hash of the raw body when it is not an alert group", () => {
    const body = new TextEncoder().encode("not json at all");
    const result = verifyAlertmanager(input(`Bearer ${NEW_SECRET}`, body));
    expect(result).toEqual({
      ok: true,
      deliveryKey: `body:${createHash("sha256").update(body).digest("hex")}`,
    });
  });

  it("never throws on arbitrary bytes, headers and secrets", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512 }),
        fc.dictionary(fc.string(), fc.string()),
        fc.option(fc.string(), { nil: undefined }),
        fc.array(fc.string(), { maxLength: 3 }),
        fc.constantFrom("bearer", "basic"),
        (body, headers, authorization, secrets, webhookAuth) => {
          const h = authorization === undefined ? headers : { ...headers, authorization };
          const result = verifyAlertmanager({
            rawBody: body,
            headers: h,
            secrets,
            config: { webhookAuth },
            query: {},
            now: new Date(),
          });
          if (!result.ok) expect(result.reason).toBe("bad_signature");
          // Accepted only when the Bearer token or the Basic password is one of the secrets.
          const presented =
            webhookAuth === "bearer"
              ? parseBearer(h.authorization)
              : parseBasicAuth(h.authorization)?.password;
          const expected = presented !== undefined && presented.length > 0 && secrets.includes(presented);
          expect(result.ok).toBe(expected);
        },
      ),
    );
  });

  it("accepts any non-blank secret sent as Bearer, and rejects it with one character changed", () => {
    const token = fc.stringMatching(/^[A-Za-z0-9._~+/-]{1,64}$/);
    fc.assert(
      fc.property(token, fc.uint8Array({ maxLength: 64 }), (secret, body) => {
        const base = { rawBody: body, secrets: [secret], config: {}, query: {}, now: new Date() };
        expect(verifyAlertmanager({ ...base, headers: { authorization: `Bearer ${secret}` } }).ok).toBe(true);
        const changed = secret.slice(0, -1) + (secret.endsWith("a") ? "b" : "a");
        expect(verifyAlertmanager({ ...base, headers: { authorization: `Bearer ${changed}` } }).ok).toBe(
          false,
        );
      }),
    );
  });

  it("never throws on structurally broken input", () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.anything(), (rawBody, headers, secrets) => {
        const result = verifyAlertmanager({
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
