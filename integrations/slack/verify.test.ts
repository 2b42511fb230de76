import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hmacSha256Hex } from "../core/hmac.ts";
import type { VerifyInput } from "../core/types.ts";
import { verifySlack } from "./verify.ts";

const raw = new Uint8Array(readFileSync(new URL("./fixtures/block-actions.txt", import.meta.url)));
const OLD_SECRET = "8f742231b10e8888abcd99aaabbb85a5";
const NEW_SECRET = "3c9d1e7f5a2b4c6d8e0f1a3b5c7d9e1f";
const TS = 1773151924;
const NOW = new Date(TS * 1000 + 1200);
const REJECTED = { ok: false, reason: "bad_signature" };
const STALE = { ok: false, reason: "stale_timestamp" };

function sign(secret: string, timestamp: string | number, body: Uint8Array = raw): string {
  const base = Buffer.concat([Buffer.from(`v0:${timestamp}:`), body]);
  return `v0=${hmacSha256Hex(secret, base)}`;
}

function input(
  headers: Record<string, string>,
  options: { body?: Uint8Array; now?: Date } = {},
): VerifyInput {
  return {
    rawBody: options.body ?? raw,
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
      "x-slack-request-timestamp": String(TS),
      ...headers,
    },
    secrets: [OLD_SECRET, NEW_SECRET],
    config: {},
    query: {},
    now: options.now ?? NOW,
  };
}

describe("verifySlack", () => {
  it("accepts a signature made with either active signing secret, with no delivery key", () => {
    for (const secret of [OLD_SECRET, NEW_SECRET]) {
      expect(verifySlack(input({ "x-slack-signature": sign(secret, TS) }))).toEqual({
        ok: true,
        deliveryKey: undefined,
      });
    }
  });

  it("matches Slack's documented example request", () => {
    const body = new TextEncoder().encode(
      "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
    );
    const result = verifySlack({
      ...input(
        {
          "x-slack-request-timestamp": "1531420618",
          "x-slack-signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        },
        { body, now: new Date(1531420618 * 1000 + 5000) },
      ),
      secrets: ["8f742231b10e8888abcd99yyyzzz85a5"],
    });
    expect(result).toEqual({ ok: true, deliveryKey: undefined });
  });

  it("accepts a timestamp exactly five minutes old or ahead", () => {
    for (const offset of [-300, 300]) {
      const now = new Date((TS + offset) * 1000);
      expect(verifySlack(input({ "x-slack-signature": sign(NEW_SECRET, TS) }, { now })).ok).toBe(true);
    }
  });

  it("rejects an authentic request more than five minutes old as stale", () => {
    const now = new Date((TS + 301) * 1000);
    expect(verifySlack(input({ "x-slack-signature": sign(NEW_SECRET, TS) }, { now }))).toEqual(STALE);
    const muchLater = new Date((TS + 86_400) * 1000);
    expect(verifySlack(input({ "x-slack-signature": sign(NEW_SECRET, TS) }, { now: muchLater }))).toEqual(
      STALE,
    );
  });

  it("rejects an authentic request stamped more than five minutes in the future as stale", () => {
    const now = new Date((TS - 301) * 1000);
    expect(verifySlack(input({ "x-slack-signature": sign(NEW_SECRET, TS) }, { now }))).toEqual(STALE);
  });

  it("rejects as stale when the server clock is unusable", () => {
    const now = new Date(Number.NaN);
    expect(verifySlack(input({ "x-slack-signature": sign(NEW_SECRET, TS) }, { now }))).toEqual(STALE);
  });

  it("rejects a replay whose timestamp header was moved forward: the timestamp is inside the MAC", () => {
    const oldTs = TS - 3600;
    const headers = { "x-slack-signature": sign(NEW_SECRET, oldTs), "x-slack-request-timestamp": String(TS) };
    expect(verifySlack(input(headers))).toEqual(REJECTED);
  });

  it("reports a forged request with an old timestamp as a bad signature, not as stale", () => {
    const oldTs = TS - 3600;
    const headers = {
      "x-slack-signature": sign("forger", oldTs),
      "x-slack-request-timestamp": String(oldTs),
    };
    expect(verifySlack(input(headers))).toEqual(REJECTED);
  });

  const good = sign(NEW_SECRET, TS).slice(3);
  it.each([
    ["a signature from another secret", sign("not-the-secret", TS)],
    ["a truncated signature", `v0=${good.slice(0, 63)}`],
    ["a bare hex digest without the prefix", good],
    ["a v1= prefix", `v1=${good}`],
    ["a sha256= prefix", `sha256=${good}`],
    ["a signature of the body alone", `v0=${hmacSha256Hex(NEW_SECRET, raw)}`],
    ["the prefix alone", "v0="],
    ["an empty header", ""],
  ])("rejects %s", (_name, signature) => {
    expect(verifySlack(input({ "x-slack-signature": signature }))).toEqual(REJECTED);
  });

  it.each([
    ["missing", undefined],
    ["empty", ""],
    ["fractional", `${TS}.5`],
    ["negative", `-${TS}`],
    ["padded with spaces", ` ${TS}`],
    ["absurdly long", "9".repeat(20)],
  ])("rejects a %s timestamp header", (_name, timestamp) => {
    const headers = input({ "x-slack-signature": sign(NEW_SECRET, timestamp ?? "") }).headers;
    if (timestamp === undefined) delete headers["x-slack-request-timestamp"];
    else headers["x-slack-request-timestamp"] = timestamp;
    expect(verifySlack({ ...input({}), headers })).toEqual(REJECTED);
  });

  it("rejects a missing signature header", () => {
    expect(verifySlack(input({}))).toEqual(REJECTED);
  });

  it("rejects a signature over the re-encoded form instead of the bytes that arrived", () => {
    // Decoding and re-encoding changes the bytes: the fixture escapes '*' as %2A, URLSearchParams leaves it bare.
    const text = new TextDecoder().decode(raw);
    const reencoded = new URLSearchParams({
      payload: JSON.stringify(JSON.parse(new URLSearchParams(text).get("payload") ?? "")),
    }).toString();
    expect(reencoded).not.toBe(text);
    const signature = sign(NEW_SECRET, TS, new TextEncoder().encode(reencoded));
    expect(verifySlack(input({ "x-slack-signature": signature }))).toEqual(REJECTED);
  });

  it("rejects a body changed by one byte after signing", () => {
    const tampered = raw.slice();
    tampered[40] = (tampered[40] ?? 0) ^ 0x01;
    expect(verifySlack(input({ "x-slack-signature": sign(NEW_SECRET, TS) }, { body: tampered }))).toEqual(
      REJECTED,
    );
  });

  it("rejects when the integration has no secrets, or only an empty one", () => {
    const signature = sign("", TS);
    expect(verifySlack({ ...input({ "x-slack-signature": signature }), secrets: [] })).toEqual(REJECTED);
    expect(verifySlack({ ...input({ "x-slack-signature": signature }), secrets: [""] })).toEqual(REJECTED);
  });

  it("never throws on arbitrary bytes, headers, secrets and clocks, and accepts only a fresh valid signature", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512 }),
        fc.dictionary(fc.string(), fc.string()),
        fc.option(fc.string()),
        fc.option(fc.string()),
        fc.array(fc.string(), { maxLength: 3 }),
        fc.date({ noInvalidDate: false }),
        (body, headers, signature, timestamp, secrets, now) => {
          const h: Record<string, string> = { ...headers };
          if (signature !== null) h["x-slack-signature"] = signature;
          if (timestamp !== null) h["x-slack-request-timestamp"] = timestamp;
          const result = verifySlack({ rawBody: body, headers: h, secrets, config: {}, query: {}, now });
          const ts = h["x-slack-request-timestamp"];
          const sig = h["x-slack-signature"];
          const authentic =
            ts !== undefined &&
            /^\d{1,12}$/.test(ts) &&
            secrets.some((s) => s.length > 0 && sig === sign(s, ts, body));
          expect(result.ok).toBe(authentic && Math.abs(now.getTime() / 1000 - Number(ts)) <= 300);
          if (!authentic) expect(result).toEqual(REJECTED);
        },
      ),
    );
  });

  it("accepts any fresh body signed with the secret, whatever its bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.integer({ min: -300, max: 300 }), (body, skew) => {
        const now = new Date((TS + skew) * 1000);
        expect(
          verifySlack(input({ "x-slack-signature": sign(OLD_SECRET, TS, body) }, { body, now })).ok,
        ).toBe(true);
      }),
    );
  });

  it("never throws when the input itself is malformed", () => {
    const malformed = [
      { ...input({ "x-slack-signature": sign(NEW_SECRET, TS) }), now: "yesterday" },
      { ...input({}), rawBody: "payload=%7B%7D" },
      { ...input({}), secrets: {} },
      { ...input({}), headers: undefined },
    ] as unknown as VerifyInput[];
    for (const value of malformed) expect(verifySlack(value).ok).toBe(false);
  });
});
