import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.ts";
import {
  BM25_K1,
  buildBm25Index,
  inverseDocumentFrequency,
  matchQuery,
  maxPossibleScore,
  normalizedSimilarity,
  scoreQuery,
  tokenize,
} from "./text-similarity.ts";

describe("tokenize", () => {
  it.each([
    ["getUserById", ["get", "user", "id", "getuserbyid"]],
    ["HTTPServerError", ["http", "server", "error", "httpservererror"]],
    ["retry_policy-v2.config/path", ["retry", "policy", "retrypolicy", "v2", "config", "path"]],
    ["payments/client.py:88", ["payment", "client", "py"]],
    ["Error 502 on port 8080, step 2 of 3", ["error", "502", "port", "8080", "step"]],
    ["ORA-00942: table does not exist", ["ora", "00942", "table", "exist"]],
    ["The retries and timeouts of payments", ["retry", "timeout", "payment"]],
    ["status process redis fixes batches", ["status", "process", "redis", "fix", "batch"]],
    ["sha256 utf8 e1234 x y", ["sha256", "utf8", "e1234"]],
    ["Überweisung FEHLGESCHLAGEN", ["überweisung", "fehlgeschlagen"]],
    ["", []],
  ])("%j", (text, expected) => {
    expect(tokenize(text)).toEqual(expected);
  });

  it("can keep plurals", () => {
    expect(tokenize("retries payments", { stem: false })).toEqual(["retries", "payments"]);
  });

  it("never yields stop words, empty or one-character tokens (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 200 }), (text) => {
        for (const token of tokenize(text)) {
          expect(token.length).toBeGreaterThanOrEqual(2);
          expect(token).toBe(token.toLowerCase());
          expect(["the", "and", "of", "to"]).not.toContain(token);
          expect(token).not.toMatch(/^\d{1,2}$/);
        }
      }),
    );
  });
});

describe("BM25", () => {
  const docs = [
    { id: "d1", text: "retry payment" },
    { id: "d2", text: "payment refund" },
    { id: "d3", text: "invoice pdf" },
  ];

  it("matches the Okapi formula with k1 = 1.2, b = 0.75", () => {
    const index = buildBm25Index(docs);
    expect(index.averageLength).toBe(2);
    const idfRetry = Math.log(1 + (3 - 1 + 0.5) / (1 + 0.5));
    const idfPayment = Math.log(1 + (3 - 2 + 0.5) / (2 + 0.5));
    expect(inverseDocumentFrequency(index, "retry")).toBeCloseTo(idfRetry, 12);
    const scores = scoreQuery(index, "retry payment");
    // Every document has average length, so each matching term with tf = 1 contributes exactly its idf.
    expect(scores.get("d1")).toBeCloseTo(idfRetry + idfPayment, 12);
    expect(scores.get("d2")).toBeCloseTo(idfPayment, 12);
    expect(scores.get("d3")).toBe(0);
    expect([...scores.keys()]).toEqual(["d1", "d2", "d3"]);
  });

  it("saturates term frequency and penalizes long documents", () => {
    const index = buildBm25Index([
      { id: "once", text: "timeout alpha beta gamma" },
      { id: "thrice", text: "timeout timeout timeout alpha" },
      { id: "long", text: `timeout ${"filler ".repeat(30)}` },
      { id: "none", text: "delta" },
    ]);
    const s = scoreQuery(index, "timeout");
    expect(s.get("thrice")!).toBeGreaterThan(s.get("once")!);
    expect(s.get("thrice")!).toBeLessThan(3 * s.get("once")!);
    expect(s.get("long")!).toBeLessThan(s.get("once")!);
    expect(s.get("none")).toBe(0);
  });

  it("weighs rare terms above common ones", () => {
    const index = buildBm25Index([
      { id: "a", text: "payment webhook signature" },
      { id: "b", text: "payment refund" },
      { id: "c", text: "payment export" },
    ]);
    expect(inverseDocumentFrequency(index, "signature")).toBeGreaterThan(
      inverseDocumentFrequency(index, "payment"),
    );
    expect(inverseDocumentFrequency(index, "unseen")).toBe(0);
  });

  it("normalizes by the maximum possible score, counting terms no document holds", () => {
    const index = buildBm25Index(docs);
    const idfRetry = Math.log(1 + 2.5 / 1.5);
    const idfPayment = Math.log(1 + 1.5 / 2.5);
    // zebra is in no document: it counts as if one document of N + 1 held it.
    const idfZebra = Math.log(1 + 3.5 / 1.5);
    expect(maxPossibleScore(index, "retry payment")).toBeCloseTo((idfRetry + idfPayment) * (BM25_K1 + 1), 12);
    const max = maxPossibleScore(index, "retry payment zebra");
    expect(max).toBeCloseTo((idfRetry + idfPayment + idfZebra) * (BM25_K1 + 1), 12);

    // A document of average length holding each query term once scores 1 / (k1 + 1) of the bound.
    expect(normalizedSimilarity(index, "retry payment").get("d1")).toBeCloseTo(1 / (BM25_K1 + 1), 12);
    const norm = normalizedSimilarity(index, "retry payment zebra");
    expect(norm.get("d1")).toBeCloseTo((idfRetry + idfPayment) / max, 12);
    expect(norm.get("d1")!).toBeLessThan(1 / (BM25_K1 + 1));
    expect(norm.get("d3")).toBe(0);
    expect([...normalizedSimilarity(index, "zebra").values()]).toEqual([0, 0, 0]);
    expect([...normalizedSimilarity(index, "").values()]).toEqual([0, 0, 0]);
  });

  it("reports the matched terms of each document", () => {
    const index = buildBm25Index(docs);
    const match = matchQuery(index, "Retry the payment, retry the payment!");
    expect(match.get("d1")).toMatchObject({ matchedTerms: ["retry", "payment"] });
    expect(match.get("d2")).toMatchObject({ matchedTerms: ["payment"] });
    expect(match.get("d3")).toEqual({ score: 0, normalized: 0, matchedTerms: [] });
    // Repeating a query term does not change the score.
    expect(match.get("d1")!.score).toBeCloseTo(scoreQuery(index, "retry payment").get("d1")!, 12);
  });

  it("keeps normalized similarity in [0, 1] and zero exactly when nothing matches (property)", () => {
    const word = fc.constantFrom("retry", "payment", "refund", "invoice", "timeout", "webhook", "pdf", "502");
    const text = fc.array(word, { maxLength: 12 }).map((w) => w.join(" "));
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 6 }), text, (texts, query) => {
        const index = buildBm25Index(texts.map((t, i) => ({ id: `d${i}`, text: t })));
        const queryTokens = new Set(tokenize(query));
        for (const [id, value] of normalizedSimilarity(index, query)) {
          expect(value).toBeGreaterThanOrEqual(0);
          expect(value).toBeLessThanOrEqual(1);
          const docTokens = tokenize(texts[Number(id.slice(1))]!);
          const overlaps = docTokens.some((t) => queryTokens.has(t));
          expect(value > 0).toBe(overlaps);
        }
      }),
    );
  });

  it("ranks the PR that matches an error above unrelated PRs", () => {
    const index = buildBm25Index([
      { id: "pr-1", text: "Add retryCount to PaymentClient charge retries\nfeature/pay-12-retry" },
      { id: "pr-2", text: "Refactor invoice PDF rendering" },
      { id: "pr-3", text: "Bump eslint and prettier" },
      { id: "pr-4", text: "Payment export to CSV for finance" },
    ]);
    const scores = scoreQuery(
      index,
      "TypeError: Cannot read properties of undefined (reading 'retryCount') at PaymentClient.charge",
    );
    const ranked = [...scores].sort((a, b) => b[1] - a[1]).map(([id]) => id);
    expect(ranked[0]).toBe("pr-1");
    expect(scores.get("pr-3")).toBe(0);
  });

  it("handles an empty corpus and empty documents, and rejects duplicate ids", () => {
    expect(scoreQuery(buildBm25Index([]), "anything").size).toBe(0);
    const empty = buildBm25Index([{ id: "e", text: "" }]);
    expect(empty.averageLength).toBe(0);
    expect(scoreQuery(empty, "retry").get("e")).toBe(0);
    expect(() =>
      buildBm25Index([
        { id: "x", text: "a" },
        { id: "x", text: "b" },
      ]),
    ).toThrow(ValidationError);
  });
});
