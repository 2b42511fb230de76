import { describe, expect, it } from "vitest";
import { IngestPressure } from "./pressure.ts";

describe("IngestPressure", () => {
  it("counts arrivals over the last half second and forgets older ones", () => {
    let now = 0;
    const gauge = new IngestPressure(100, { now: () => now });
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

  it("is strained while a write in the window took longer than the budget, and never with a budget of 0", () => {
    let now = 0;
    const gauge = new IngestPressure(100, { now: () => now, writeBudgetMs: 25 });
    gauge.noteWrite(10);
    expect(gauge.strained()).toBe(false);
    gauge.noteWrite(40);
    gauge.noteWrite(5); // a fast write afterwards does not hide the slow one
    expect(gauge.strained()).toBe(true);
    now = 300;
    gauge.noteWrite(3);
    expect(gauge.strained()).toBe(true);
    now = 550; // the slow write's bucket has left the window
    expect(gauge.strained()).toBe(false);
    const off = new IngestPressure(100, { now: () => 0 });
    off.noteWrite(10_000);
    expect(off.strained()).toBe(false);
  });

  it("is never busy with a threshold of 0 (yielding turned off)", () => {
    const gauge = new IngestPressure(0, { now: () => 0 });
    for (let i = 0; i < 1000; i++) gauge.note();
    expect(gauge.busy()).toBe(false);
  });
});
