/**
 * The Claude rewrite of the reasoning paragraph, with the real @anthropic-ai/sdk client pointed at a local
 * fake Messages API: a faithful rewrite is kept, one citing a PR that is not in the evidence is rejected,
 * and a secret in the anomaly never reaches the fake.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAnthropicCompletion } from "../../integrations/anthropic/client.ts";
import { attribute } from "../../src/attribution/attribute.ts";
import { reasoningPrompt, rewriteReasoning } from "../../src/attribution/llm-reasoning.ts";
import { candidate, errorInput, hunk, sha } from "../../src/attribution/test-builders.ts";
import { type FakeAnthropic, startFakeAnthropic } from "../fakes/anthropic.ts";

const API_KEY = "sk-ant-test-0123456789abcdef";
const SECRET = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";

function scenario(message = "Cannot read properties of undefined (reading 'price')") {
  const culprit = candidate(118, {
    title: "Price carts from the catalogue",
    hunks: { "src/checkout/cart.ts": [hunk(42, 1, { header: "total()" })] },
  });
  const rival = candidate(121, { hunks: { "src/search/query.ts": [hunk(3)] } });
  const input = errorInput({
    candidates: [culprit, rival],
    blame: [{ path: "src/checkout/cart.ts", line: 42, blameSha: sha("pr-118-c1") }],
  });
  input.anomaly.message = message;
  input.anomaly.title = `TypeError: ${message}`;
  return { input, result: attribute(input) };
}

describe("LLM reasoning against a fake Anthropic Messages API", () => {
  let fake: FakeAnthropic;
  beforeAll(async () => {
    fake = await startFakeAnthropic(API_KEY);
  });
  afterAll(() => fake.close());
  const complete = () => createAnthropicCompletion({ apiKey: API_KEY, baseUrl: fake.url, timeoutMs: 5_000 });

  it("keeps a faithful rewrite that cites only what the evidence holds", async () => {
    const { input, result } = scenario();
    expect(result.suspects[0]?.prNumber).toBe(118);
    const faithful =
      "PR #118 is the most likely cause: it last changed line 42 of src/checkout/cart.ts, where the crash happens.";
    fake.replyWith(faithful);
    const before = fake.requests.length;
    const out = await rewriteReasoning(complete(), result, result.reasoning, input.anomaly.title);
    expect(out).toEqual({ reasoning: faithful, source: "llm" });
    expect(fake.requests).toHaveLength(before + 1);
    const req = fake.requests.at(-1)!;
    expect(req.path).toBe("/v1/messages");
    expect(req.headers["x-api-key"] ?? req.headers["authorization"]).toMatch(API_KEY);
    const body = req.body as { messages: { role: string; content: string }[]; system: string };
    expect(body.messages[0]?.content).toContain("PR #118");
    expect(body.system).toMatch(/Do not add any pull request number/);
  });

  it("rejects a rewrite that cites a PR number the evidence does not hold", async () => {
    const { input, result } = scenario();
    fake.replyWith("PR #999 changed src/checkout/cart.ts:42 and caused the crash.");
    const out = await rewriteReasoning(complete(), result, result.reasoning, input.anomaly.title);
    expect(out.source).toBe("deterministic");
    expect(out.reasoning).toBe(result.reasoning);
    expect(out.rejected).toMatch(/pr #?999/i);
  });

  it("rejects a rewrite that invents a file line", async () => {
    const { input, result } = scenario();
    fake.replyWith("PR #118 changed src/checkout/cart.ts:77, which crashed.");
    const out = await rewriteReasoning(complete(), result, result.reasoning, input.anomaly.title);
    expect(out.source).toBe("deterministic");
  });

  it("never sends a secret from the anomaly message", async () => {
    const { input, result } = scenario(`card declined for key ${SECRET} (reading 'price')`);
    expect(reasoningPrompt(result, result.reasoning, input.anomaly.title)).not.toContain(SECRET);
    fake.replyWith("PR #118 last changed line 42 of src/checkout/cart.ts.");
    const before = fake.requests.length;
    const out = await rewriteReasoning(complete(), result, result.reasoning, input.anomaly.title);
    expect(out.source).toBe("llm");
    const sent = JSON.stringify(fake.requests.slice(before));
    expect(sent).toContain("[REDACTED]");
    expect(sent).not.toContain(SECRET);
    expect(sent).not.toContain("4eC39HqLyjWDarjtT1zdp7dc");
  });

  it("keeps the deterministic paragraph when the API fails", async () => {
    const { input, result } = scenario();
    const bad = createAnthropicCompletion({
      apiKey: "sk-ant-wrong-key-000000",
      baseUrl: fake.url,
      timeoutMs: 5_000,
    });
    const out = await rewriteReasoning(bad, result, result.reasoning, input.anomaly.title);
    expect(out.source).toBe("deterministic");
    expect(out.reasoning).toBe(result.reasoning);
    expect(out.rejected).toMatch(/HTTP 401/);
  });
});
