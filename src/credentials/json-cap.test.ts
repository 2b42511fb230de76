import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { capJson } from "./json-cap.ts";

const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v), "utf8");

describe("capJson", () => {
  it("leaves a value under the budget alone", () => {
    const value = { data: [1, 2, 3] };
    expect(capJson(value, 1024)).toEqual({ value, truncated: false, bytes: bytes(value) });
  });

  it("keeps the head of the largest array and says it truncated", () => {
    const logs = Array.from({ length: 2_000 }, (_, i) => ({ id: `log-${i}`, message: "x".repeat(200) }));
    const value = { data: logs, meta: { page: { after: "cursor" } } };
    const capped = capJson(value, 64 * 1024);
    expect(capped.truncated).toBe(true);
    expect(capped.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(bytes(capped.value)).toBe(capped.bytes);
    const kept = (capped.value as { data: typeof logs }).data;
    expect(kept.length).toBeGreaterThan(200);
    expect(kept).toEqual(logs.slice(0, kept.length));
    expect((capped.value as { meta: unknown }).meta).toEqual(value.meta);
    // The caller's value is not modified.
    expect(value.data).toHaveLength(2_000);
  });

  it("shortens nested arrays too (series of points)", () => {
    const value = {
      series: [{ metric: "cpu", pointlist: Array.from({ length: 50_000 }, (_, i) => [i, i / 3]) }],
    };
    const capped = capJson(value, 32 * 1024);
    expect(capped.truncated).toBe(true);
    expect(capped.bytes).toBeLessThanOrEqual(32 * 1024);
    const points = (capped.value as typeof value).series[0]!.pointlist;
    expect(points.length).toBeGreaterThan(100);
  });

  it("drops a value that has no array to cut", () => {
    expect(capJson({ blob: "y".repeat(10_000) }, 1_000)).toEqual({ value: null, truncated: true, bytes: 4 });
  });

  it("always ends under the budget", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.integer({ min: 16, max: 4096 }), (value, max) => {
        const capped = capJson(value, max);
        expect(bytes(capped.value ?? null)).toBeLessThanOrEqual(Math.max(max, 4));
        if (!capped.truncated) expect(capped.value).toEqual(value);
      }),
      { numRuns: 300 },
    );
  });
});
