import { describe, expect, it } from "vitest";
import type { CommitPatch } from "./diff-parser.ts";
import { PatchCache, patchBytes } from "./patch-cache.ts";

function patch(sha: string, lineLength: number): CommitPatch {
  return {
    sha,
    files: [
      {
        oldPath: "a.ts",
        newPath: "a.ts",
        status: "modified",
        binary: false,
        combined: false,
        hunks: [
          {
            oldStart: 1,
            oldLines: 1,
            newStart: 1,
            newLines: 1,
            header: "",
            addedLines: ["x".repeat(lineLength)],
            removedLines: [],
          },
        ],
        addedIdentifiers: [],
        touchedFunctions: [],
        noNewlineAtEof: { old: false, new: false },
      },
    ],
  };
}

describe("PatchCache", () => {
  it("serves a patch only for the repository it was read from", () => {
    const cache = new PatchCache(1 << 20);
    const p = patch("a".repeat(40), 10);
    cache.set("repo-1", p.sha, p);
    expect(cache.get("repo-1", p.sha)).toBe(p);
    expect(cache.get("repo-2", p.sha)).toBeUndefined();
    expect([cache.hits, cache.misses]).toEqual([1, 1]);
  });

  it("evicts the least recently used entries past its bound", () => {
    const one = patch("1".repeat(40), 100);
    const size = patchBytes(one);
    const cache = new PatchCache(size * 10 + 1);
    for (let i = 0; i < 10; i++) cache.set("r", `sha${i}`, patch(`sha${i}`, 100));
    expect(cache.size).toBe(10);
    cache.get("r", "sha0"); // used again: now the newest
    cache.set("r", "sha10", patch("sha10", 100));
    expect(cache.size).toBe(10);
    expect(cache.get("r", "sha1")).toBeUndefined(); // the oldest unused went first
    expect(cache.get("r", "sha0")).toBeDefined();
    expect(cache.bytes).toBeLessThanOrEqual(size * 10 + 1);
  });

  it("keeps no patch larger than a tenth of it, and nothing when resized to 0", () => {
    const cache = new PatchCache(10_000);
    cache.set("r", "big", patch("big", 1_000));
    expect(cache.get("r", "big")).toBeUndefined();
    cache.set("r", "small", patch("small", 10));
    expect(cache.size).toBe(1);
    cache.resize(0);
    expect(cache.size).toBe(0);
    cache.set("r", "small", patch("small", 10));
    expect(cache.size).toBe(0);
  });
});
