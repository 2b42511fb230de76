import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { NormalizeInput } from "../core/types.ts";
import { normalizeSlack } from "./normalize.ts";

const raw = new Uint8Array(readFileSync(new URL("./fixtures/block-actions.txt", import.meta.url)));
const text = new TextDecoder().decode(raw);
const payloadJson = new URLSearchParams(text).get("payload") ?? "";

function input(body: unknown): NormalizeInput {
  return {
    body,
    headers: { "content-type": "application/x-www-form-urlencoded" },
    config: {},
    receivedAt: new Date("2026-03-10T14:12:04Z"),
  };
}

const IGNORED_BLOCK_ACTIONS = { ok: true, signals: [], eventType: "block_actions", ignored: true };

describe("normalizeSlack", () => {
  it("acknowledges a block_actions interaction without signals, whatever form the body takes", () => {
    expect(normalizeSlack(input(text))).toEqual(IGNORED_BLOCK_ACTIONS);
    expect(normalizeSlack(input(raw))).toEqual(IGNORED_BLOCK_ACTIONS);
    expect(normalizeSlack(input({ payload: payloadJson }))).toEqual(IGNORED_BLOCK_ACTIONS);
    expect(normalizeSlack(input(JSON.parse(payloadJson)))).toEqual(IGNORED_BLOCK_ACTIONS);
  });

  it("names other interaction types", () => {
    const body = new URLSearchParams({
      payload: JSON.stringify({ type: "view_submission", view: {} }),
    }).toString();
    expect(normalizeSlack(input(body))).toEqual({
      ok: true,
      signals: [],
      eventType: "view_submission",
      ignored: true,
    });
  });

  it("refuses a body that is not a Slack interaction", () => {
    for (const body of [
      null,
      42,
      "hello",
      { payload: "{nope" },
      { payload: "[]" },
      { type: "<script>" },
      [],
    ]) {
      expect(normalizeSlack(input(body))).toEqual({ ok: false, reason: "not a Slack interaction payload" });
    }
  });

  it("never throws on arbitrary JSON, strings or bytes, and never returns signals", () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.string(), fc.uint8Array({ maxLength: 256 })), (body) => {
        const result = normalizeSlack(input(body));
        if (result.ok) expect(result.signals).toEqual([]);
      }),
    );
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const result = normalizeSlack(input({ payload: JSON.stringify(value) }));
        if (result.ok) expect(result.signals).toEqual([]);
      }),
    );
  });
});
