import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseProviderConfig } from "../core/config-schemas.ts";
import type { VerifyInput } from "../core/types.ts";
import { verifyMezmo } from "./verify.ts";

const raw = new Uint8Array(readFileSync(new URL("./fixtures/alert.json", import.meta.url)));
const OLD_SECRET = "mz-old-2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c";
const NEW_SECRET = "mz-new-7b9d1f3a5c7e9b0d2f4a6c8e0b1d3f5a";
const REJECTED = { ok: false, reason: "bad_signature" };

function input(
  headers: Record<string, string>,
  query: Record<string, string> = {},
  config: Record<string, unknown> = {},
): VerifyInput {
  return {
    rawBody: raw,
    headers: { "content-type": "application/json", ...headers },
    secrets: [OLD_SECRET, NEW_SECRET],
    config,
    query,
    now: new Date("2026-03-10T14:06:02Z"),
  };
}

const QUERY_OK = { allowQueryToken: true };

describe("verifyMezmo", () => {
  it.each([
    ["the default token header, old secret", { "x-causeway-token": OLD_SECRET }, {}, {}],
    ["the default token header, new secret", { "x-causeway-token": NEW_SECRET }, {}, {}],
    ["the token query parameter when allowed", {}, { token: OLD_SECRET }, QUERY_OK],
    ["the header when the query is also allowed", { "x-causeway-token": NEW_SECRET }, {}, QUERY_OK],
  ])("accepts %s", (_name, headers, query, config) => {
    expect(verifyMezmo(input(headers, query, config))).toEqual({ ok: true });
  });

  it("reads the header name from config", () => {
    const config = { authHeader: "X-Incident-Engine-Token" };
    expect(verifyMezmo(input({ "x-incident-engine-token": NEW_SECRET }, {}, config))).toEqual({ ok: true });
    expect(verifyMezmo(input({ "x-causeway-token": NEW_SECRET }, {}, config))).toEqual(REJECTED);
  });

  it("reads the config the integration store writes (integrations/core/config-schemas.ts)", () => {
    const parsed = parseProviderConfig("mezmo", { authHeader: "X-Mezmo-Token" });
    if (!parsed.ok) throw new Error("config rejected");
    expect(verifyMezmo(input({ "x-mezmo-token": NEW_SECRET }, {}, parsed.config))).toEqual({ ok: true });
    // allowQueryToken defaults to false.
    expect(verifyMezmo(input({}, { token: NEW_SECRET }, parsed.config))).toEqual(REJECTED);
  });

  it.each([
    ["nothing", {}, {}, QUERY_OK],
    ["a wrong header token", { "x-causeway-token": "mz-guess" }, {}, {}],
    ["a truncated header token", { "x-causeway-token": NEW_SECRET.slice(1) }, {}, {}],
    ["a prefixed header token", { "x-causeway-token": `Bearer ${NEW_SECRET}` }, {}, {}],
    ["a query token when the integration does not allow it", {}, { token: NEW_SECRET }, {}],
    ["a wrong query token", {}, { token: "nope" }, QUERY_OK],
    ["the secret in another query parameter", {}, { key: NEW_SECRET }, QUERY_OK],
    ["a Bearer token (not a Mezmo method)", { authorization: `Bearer ${NEW_SECRET}` }, {}, {}],
    ["an empty token", { "x-causeway-token": "" }, { token: "" }, QUERY_OK],
  ])("rejects %s", (_name, headers, query, config) => {
    expect(verifyMezmo(input(headers, query, config))).toEqual(REJECTED);
  });

  it("rejects when there are no secrets, and under an invalid config", () => {
    expect(verifyMezmo({ ...input({ "x-causeway-token": NEW_SECRET }), secrets: [] })).toEqual(REJECTED);
    expect(verifyMezmo(input({ "x-causeway-token": NEW_SECRET }, {}, { authHeader: 7 }))).toEqual(REJECTED);
    expect(verifyMezmo(input({ "x-causeway-token": NEW_SECRET }, {}, { allowQueryToken: "yes" }))).toEqual(
      REJECTED,
    );
  });

  it("accepts exactly when a presented token equals a secret", () => {
    const token = fc.string({ minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 256 }),
        token,
        token,
        fc.array(token, { maxLength: 3 }),
        fc.boolean(),
        (body, header, q, secrets, allowQueryToken) => {
          const result = verifyMezmo({
            rawBody: body,
            headers: { "x-causeway-token": header },
            query: { token: q },
            secrets,
            config: { allowQueryToken },
            now: new Date(),
          });
          const expected = secrets.includes(header) || (allowQueryToken && secrets.includes(q));
          expect(result.ok).toBe(expected);
        },
      ),
    );
  });

  it("never throws on arbitrary input", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 128 }),
        fc.dictionary(fc.string(), fc.string()),
        fc.dictionary(fc.string(), fc.string()),
        fc.array(fc.string(), { maxLength: 3 }),
        fc.dictionary(fc.string(), fc.jsonValue()),
        (body, headers, query, secrets, config) => {
          const result = verifyMezmo({ rawBody: body, headers, query, secrets, config, now: new Date() });
          expect(typeof result.ok).toBe("boolean");
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.anything(),
        fc.anything(),
        fc.anything(),
        fc.anything(),
        (rawBody, headers, query, secrets) => {
          expect(
            verifyMezmo({ rawBody, headers, query, secrets, config: {}, now: new Date() } as never),
          ).toEqual(REJECTED);
        },
      ),
    );
  });
});
