import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseProviderConfig } from "../core/config-schemas.ts";
import { hmacSha256Hex } from "../core/hmac.ts";
import type { VerifyInput } from "../core/types.ts";
import { verifyGrafana } from "./verify.ts";

const raw = new Uint8Array(readFileSync(new URL("./fixtures/group-firing.json", import.meta.url)));
const resolvedRaw = new Uint8Array(readFileSync(new URL("./fixtures/group-resolved.json", import.meta.url)));
const OLD_SECRET = "gf-old-3c5e7a9b1d2f4a6c8e0b2d4f6a8c0e1b";
const NEW_SECRET = "gf-new-9e7c5a3b1f0d2e4c6a8b0d2f4e6c8a0b";
const NOW = new Date("2026-03-10T14:06:05Z");
const NOW_S = Math.floor(NOW.getTime() / 1000);
const TS_HEADER = "x-grafana-alerting-timestamp";

function input(
  headers: Record<string, string>,
  config: Record<string, unknown> = {},
  body: Uint8Array = raw,
): VerifyInput {
  return {
    rawBody: body,
    headers: { "content-type": "application/json", "user-agent": "Grafana", ...headers },
    secrets: [OLD_SECRET, NEW_SECRET],
    config,
    query: {},
    now: NOW,
  };
}

function signWithTimestamp(secret: string, ts: string, body: Uint8Array = raw): string {
  return hmacSha256Hex(secret, Buffer.concat([Buffer.from(`${ts}:`), body]));
}

const REJECTED = { ok: false, reason: "bad_signature" };

describe("verifyGrafana: HMAC over the body (Grafana ≥ 12, no timestamp header)", () => {
  it("accepts a signature made with either active secret", () => {
    for (const secret of [OLD_SECRET, NEW_SECRET]) {
      const result = verifyGrafana(input({ "x-grafana-alerting-signature": hmacSha256Hex(secret, raw) }));
      expect(result.ok).toBe(true);
      if (result.ok) expect(result.deliveryKey).toMatch(/^group:[0-9a-f]{32}$/);
    }
  });

  const good = hmacSha256Hex(NEW_SECRET, raw);
  it.each([
    ["a signature from another secret", hmacSha256Hex("other", raw)],
    ["a truncated signature", good.slice(0, 63)],
    ["a sha256= prefixed signature", `sha256=${good}`],
    ["a signature over another body", hmacSha256Hex(NEW_SECRET, resolvedRaw)],
    ["a signature that includes a timestamp nobody asked for", signWithTimestamp(NEW_SECRET, String(NOW_S))],
  ])("rejects %s", (_name, signature) => {
    expect(verifyGrafana(input({ "x-grafana-alerting-signature": signature }))).toEqual(REJECTED);
  });

  it("rejects a missing signature, and a signature under the wrong header", () => {
    expect(verifyGrafana(input({}))).toEqual(REJECTED);
    expect(verifyGrafana(input({ "x-grafana-alert-signature": good }))).toEqual(REJECTED);
  });

  it("rejects a signature computed over re-serialized JSON", () => {
    const text = new TextDecoder().decode(raw);
    // Go escapes & < > as \u0026 \u003c \u003e; JSON.stringify does not.
    expect(text).toContain("\\u0026");
    const reserialized = new TextEncoder().encode(JSON.stringify(JSON.parse(text)));
    const signature = hmacSha256Hex(NEW_SECRET, reserialized);
    expect(verifyGrafana(input({ "x-grafana-alerting-signature": signature }))).toEqual(REJECTED);
  });

  it("reads a renamed signature header from config, case-insensitively", () => {
    const config = { hmacHeader: "X-Causeway-Signature" };
    expect(verifyGrafana(input({ "x-causeway-signature": good }, config)).ok).toBe(true);
    expect(verifyGrafana(input({ "x-grafana-alerting-signature": good }, config))).toEqual(REJECTED);
  });

  it("gives the firing and the partly resolved notification different delivery keys", () => {
    const a = verifyGrafana(input({ "x-grafana-alerting-signature": good }));
    const b = verifyGrafana(
      input({ "x-grafana-alerting-signature": hmacSha256Hex(NEW_SECRET, resolvedRaw) }, {}, resolvedRaw),
    );
    expect(a.ok && b.ok && a.deliveryKey !== b.deliveryKey).toBe(true);
  });
});

describe("verifyGrafana: HMAC over timestamp:body", () => {
  const config = { timestampHeader: "X-Grafana-Alerting-Timestamp" };

  it("accepts a fresh timestamp signed with either secret", () => {
    for (const secret of [OLD_SECRET, NEW_SECRET]) {
      const ts = String(NOW_S - 2);
      const headers = { [TS_HEADER]: ts, "x-grafana-alerting-signature": signWithTimestamp(secret, ts) };
      expect(verifyGrafana(input(headers, config)).ok).toBe(true);
    }
  });

  it.each([
    ["exactly 300 s old", -300, true],
    ["300 s in the future", 300, true],
    ["301 s old", -301, false],
    ["an hour in the future", 3600, false],
  ])("a correctly signed timestamp %s is accepted: %s", (_name, offset, accepted) => {
    const ts = String(NOW_S + offset);
    const headers = { [TS_HEADER]: ts, "x-grafana-alerting-signature": signWithTimestamp(NEW_SECRET, ts) };
    expect(verifyGrafana(input(headers, config))).toEqual(
      accepted
        ? { ok: true, deliveryKey: expect.stringMatching(/^group:/) }
        : { ok: false, reason: "stale_timestamp" },
    );
  });

  it("reports a stale but wrongly signed request as a bad signature, revealing nothing", () => {
    const ts = String(NOW_S - 3600);
    const headers = { [TS_HEADER]: ts, "x-grafana-alerting-signature": signWithTimestamp("other", ts) };
    expect(verifyGrafana(input(headers, config))).toEqual(REJECTED);
  });

  it("rejects a replay with a fresh timestamp swapped in", () => {
    const old = String(NOW_S - 3600);
    const headers = {
      [TS_HEADER]: String(NOW_S),
      "x-grafana-alerting-signature": signWithTimestamp(NEW_SECRET, old),
    };
    expect(verifyGrafana(input(headers, config))).toEqual(REJECTED);
  });

  it.each([
    ["missing", undefined],
    ["not a number", "yesterday"],
    ["in milliseconds with a fraction", "1773151565.5"],
    ["negative", "-1"],
  ])("rejects a timestamp that is %s", (_name, ts) => {
    const signed = signWithTimestamp(NEW_SECRET, ts ?? "");
    const headers: Record<string, string> = { "x-grafana-alerting-signature": signed };
    if (ts !== undefined) headers[TS_HEADER] = ts;
    expect(verifyGrafana(input(headers, config))).toEqual(REJECTED);
  });

  it("uses the integration's tolerance, and treats a null timestamp header as none", () => {
    const ts = String(NOW_S - 100);
    const headers = { [TS_HEADER]: ts, "x-grafana-alerting-signature": signWithTimestamp(NEW_SECRET, ts) };
    expect(verifyGrafana(input(headers, { ...config, timestampToleranceSeconds: 60 }))).toEqual({
      ok: false,
      reason: "stale_timestamp",
    });
    expect(verifyGrafana(input(headers, { ...config, timestampToleranceSeconds: 120 })).ok).toBe(true);
    const bodyOnly = { "x-grafana-alerting-signature": hmacSha256Hex(NEW_SECRET, raw) };
    expect(verifyGrafana(input(bodyOnly, { timestampHeader: null })).ok).toBe(true);
  });

  it("reads the config the integration store writes (integrations/core/config-schemas.ts)", () => {
    const parsed = parseProviderConfig("grafana", { timestampHeader: "X-Grafana-Alerting-Timestamp" });
    if (!parsed.ok) throw new Error("config rejected");
    const ts = String(NOW_S);
    const headers = { [TS_HEADER]: ts, "x-grafana-alerting-signature": signWithTimestamp(NEW_SECRET, ts) };
    expect(verifyGrafana(input(headers, parsed.config)).ok).toBe(true);
    const stale = String(NOW_S - 301);
    const staleHeaders = {
      [TS_HEADER]: stale,
      "x-grafana-alerting-signature": signWithTimestamp(NEW_SECRET, stale),
    };
    expect(verifyGrafana(input(staleHeaders, parsed.config))).toEqual({
      ok: false,
      reason: "stale_timestamp",
    });
    const bearer = parseProviderConfig("grafana", { webhookAuth: "bearer" });
    if (!bearer.ok) throw new Error("config rejected");
    expect(verifyGrafana(input({ authorization: `Bearer ${OLD_SECRET}` }, bearer.config)).ok).toBe(true);
  });

  it("rejects a body-only signature when a timestamp header is configured", () => {
    const headers = {
      [TS_HEADER]: String(NOW_S),
      "x-grafana-alerting-signature": hmacSha256Hex(NEW_SECRET, raw),
    };
    expect(verifyGrafana(input(headers, config))).toEqual(REJECTED);
  });
});

describe("verifyGrafana: Bearer and Basic (older Grafana)", () => {
  const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;

  it("accepts the secret as a Bearer token in bearer mode, with either secret", () => {
    for (const secret of [OLD_SECRET, NEW_SECRET]) {
      expect(verifyGrafana(input({ authorization: `Bearer ${secret}` }, { webhookAuth: "bearer" })).ok).toBe(
        true,
      );
    }
    expect(
      verifyGrafana(input({ authorization: `Bearer ${NEW_SECRET}x` }, { webhookAuth: "bearer" })),
    ).toEqual(REJECTED);
    expect(
      verifyGrafana(input({ authorization: basic("grafana", NEW_SECRET) }, { webhookAuth: "bearer" })),
    ).toEqual(REJECTED);
  });

  it("accepts the secret as the Basic password in basic mode", () => {
    expect(
      verifyGrafana(input({ authorization: basic("grafana", OLD_SECRET) }, { webhookAuth: "basic" })).ok,
    ).toBe(true);
    expect(
      verifyGrafana(input({ authorization: basic("grafana", "nope") }, { webhookAuth: "basic" })),
    ).toEqual(REJECTED);
    expect(verifyGrafana(input({ authorization: `Bearer ${NEW_SECRET}` }, { webhookAuth: "basic" }))).toEqual(
      REJECTED,
    );
  });

  it("does not accept a Bearer token when configured for HMAC", () => {
    expect(verifyGrafana(input({ authorization: `Bearer ${NEW_SECRET}` }))).toEqual(REJECTED);
  });

  it("rejects everything under an invalid config", () => {
    const headers = { "x-grafana-alerting-signature": hmacSha256Hex(NEW_SECRET, raw) };
    expect(verifyGrafana(input(headers, { webhookAuth: "none" }))).toEqual(REJECTED);
    expect(verifyGrafana(input(headers, { timestampHeader: 42 }))).toEqual(REJECTED);
  });
});

describe("verifyGrafana: properties", () => {
  const configs = fc.oneof(
    fc.constant({}),
    fc.constant({ timestampHeader: TS_HEADER }),
    fc.constant({ webhookAuth: "bearer" }),
    fc.constant({ webhookAuth: "basic" }),
    fc.dictionary(fc.string(), fc.jsonValue()),
  );

  it("never throws on arbitrary bytes, headers, secrets and config", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 256 }),
        fc.dictionary(
          fc.constantFrom("x-grafana-alerting-signature", TS_HEADER, "authorization", "x"),
          fc.string(),
        ),
        fc.array(fc.string(), { maxLength: 3 }),
        configs,
        fc.date(),
        (body, headers, secrets, config, now) => {
          const result = verifyGrafana({ rawBody: body, headers, secrets, config, query: {}, now });
          if (!result.ok) expect(["bad_signature", "stale_timestamp"]).toContain(result.reason);
        },
      ),
    );
  });

  it("accepts a correct timestamped signature over arbitrary bytes and rejects any changed byte", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 256 }), fc.nat(), (body, index) => {
        const ts = String(NOW_S);
        const headers = {
          [TS_HEADER]: ts,
          "x-grafana-alerting-signature": signWithTimestamp(NEW_SECRET, ts, body),
        };
        const config = { timestampHeader: TS_HEADER };
        expect(verifyGrafana(input(headers, config, body)).ok).toBe(true);
        const tampered = body.slice();
        const i = index % tampered.length;
        tampered[i] = (tampered[i] ?? 0) ^ 0xff;
        expect(verifyGrafana(input(headers, config, tampered))).toEqual(REJECTED);
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
          const result = verifyGrafana({ rawBody, headers, secrets, config, query: {}, now: NOW } as never);
          expect(result).toEqual(REJECTED);
        },
      ),
    );
  });
});
