import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ParsedSlackInteraction, parseSlackInteraction } from "./interaction.ts";

const raw = new Uint8Array(readFileSync(new URL("./fixtures/block-actions.txt", import.meta.url)));
const enc = new TextEncoder();

function payloadOfFixture(): Record<string, unknown> {
  const text = new TextDecoder().decode(raw);
  return JSON.parse(new URLSearchParams(text).get("payload") ?? "null");
}

function form(payload: unknown): Uint8Array {
  return enc.encode(new URLSearchParams({ payload: JSON.stringify(payload) }).toString());
}

describe("parseSlackInteraction", () => {
  it("parses a block_actions button click into a typed interaction", () => {
    expect(parseSlackInteraction(raw)).toEqual({
      ok: true,
      interaction: {
        type: "block_actions",
        user: { id: "U04QK7Z2M1P", username: "ines.okafor", name: "ines.okafor", teamId: "T02HV8C4N3R" },
        team: { id: "T02HV8C4N3R", domain: "acme-pay" },
        apiAppId: "A06CAUSEWAY1",
        actions: [
          {
            actionId: "causeway.confirm_suspect",
            blockId: "suspect_actions",
            value: "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b:482",
            type: "button",
            actionTs: "1773151923.518204",
          },
        ],
        message: { ts: "1773151805.004200" },
        channel: { id: "C05INCDNT9", name: "inc-checkout" },
        responseUrl: "https://hooks.slack.com/actions/T02HV8C4N3R/7204391158711/q3Xw9ZkLbN2vR8tY6uP1mC4d",
        triggerId: "7204391158823.2598284154883.a1f0c9e8d7b6a5f4e3d2c1b0a9f8e7d6",
      },
    } satisfies ParsedSlackInteraction);
  });

  it("falls back to the container for the message ts and channel id", () => {
    const payload = payloadOfFixture();
    delete payload["message"];
    delete payload["channel"];
    const result = parseSlackInteraction(form(payload));
    expect(result.ok && result.interaction.message).toEqual({ ts: "1773151805.004200" });
    expect(result.ok && result.interaction.channel).toEqual({ id: "C05INCDNT9", name: null });
  });

  it("drops a response_url that is not https", () => {
    const payload = { ...payloadOfFixture(), response_url: "http://169.254.169.254/latest/meta-data" };
    const result = parseSlackInteraction(form(payload));
    expect(result.ok && result.interaction.responseUrl).toBeNull();
  });

  it.each([
    ["bytes that are not UTF-8", new Uint8Array([0x70, 0x61, 0xff, 0xfe]), "not_utf8"],
    ["an empty body", new Uint8Array(), "missing_payload"],
    ["a form without payload", enc.encode("token=abc&team_id=T1"), "missing_payload"],
    ["two payload fields", enc.encode("payload=%7B%7D&payload=%7B%7D"), "missing_payload"],
    ["a payload that is not JSON", enc.encode("payload=%7Bnope"), "invalid_json"],
    ["a JSON body instead of a form", enc.encode('{"type":"block_actions"}'), "missing_payload"],
    [
      "a view_submission",
      form({ type: "view_submission", user: { id: "U1" }, view: {} }),
      "unsupported_type",
    ],
    ["a payload that is an array", form([1, 2]), "unsupported_type"],
    ["block_actions without actions", form({ ...payloadOfFixture(), actions: [] }), "invalid_block_actions"],
    [
      "block_actions without a user id",
      form({ ...payloadOfFixture(), user: { username: "x" } }),
      "invalid_block_actions",
    ],
  ])("refuses %s", (_name, body, reason) => {
    expect(parseSlackInteraction(body)).toEqual({ ok: false, reason });
  });

  it("never throws on arbitrary bytes or arbitrary JSON payloads", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        expect(typeof parseSlackInteraction(bytes).ok).toBe("boolean");
      }),
    );
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(typeof parseSlackInteraction(form(value)).ok).toBe("boolean");
      }),
    );
    const base = payloadOfFixture();
    const keys = Object.keys(base);
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(), (value, pick) => {
        const key = keys[pick % keys.length] ?? "actions";
        const result = parseSlackInteraction(form({ ...base, [key]: value }));
        if (result.ok) expect(result.interaction.actions.length).toBeGreaterThan(0);
      }),
    );
  });
});
