import { describe, expect, it } from "vitest";
import { IngestPressure } from "./pressure.ts";

describe("IngestPressure", () => {
  it("counts arrivals over the last half second and forgets older ones", () => {
    let now = 0;
    const gauge = new IngestPressure(100, 250, 2, () => now);
    for (let i = 0; i < 40; i++) gauge.note();
    expect(gauge.rate()).toBe(80);
    expect(gauge.busy()).toBe(false);
    now = 300;
    for (let i = 0; i < 10; i++) gauge.note();
    expect(gauge.rate()).toBe(100);
    expect(gauge.busy()).toBe(true);
    now = 550; // the first bucket has left the window
    expect(gauge.rate()).toBe(20);
    expect(gauge.busy()).toBe(false);
    now = 10_000; // a long quiet spell clears everything
    expect(gauge.rate()).toBe(0);
  });

  it("is never busy with a threshold of 0 (yielding turned off)", () => {
    const gauge = new IngestPressure(0, 250, 2, () => 0);
    for (let i = 0; i < 1000; i++) gauge.note();
    expect(gauge.busy()).toBe(false);
  });
});
