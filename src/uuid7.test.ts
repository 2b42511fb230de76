import { describe, expect, it } from "vitest";
import { uuidv7 } from "./uuid7.ts";

const FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("uuidv7", () => {
  it("has the v7 layout with the time in its first 48 bits", () => {
    const at = Date.UTC(2026, 11, 3, 14, 40, 0, 123);
    const id = uuidv7(at);
    expect(id).toMatch(FORMAT);
    expect(Number.parseInt(id.replace(/-/g, "").slice(0, 12), 16)).toBe(at);
  });

  it("sorts by time across milliseconds and does not repeat within one", () => {
    const earlier = uuidv7(1_000_000);
    const later = uuidv7(1_000_001);
    expect(earlier < later).toBe(true);
    const burst = Array.from({ length: 10_000 }, () => uuidv7(2_000_000));
    expect(new Set(burst).size).toBe(burst.length);
    for (const id of burst) expect(id).toMatch(FORMAT);
  });
});
