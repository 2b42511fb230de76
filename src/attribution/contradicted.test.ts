import { describe, expect, it } from "vitest";
import { findContradictedChange } from "./contradicted.ts";
import type { CandidateChange, DiffHunk } from "./types.ts";

function hunk(removed: string[], added: string[]): DiffHunk {
  return {
    oldStart: 10,
    oldLines: removed.length,
    newStart: 10,
    newLines: added.length,
    header: "",
    addedLines: added,
    removedLines: removed,
  };
}

function change(
  id: string,
  day: number,
  hunks: Record<string, DiffHunk[]>,
  ticket?: string,
): CandidateChange {
  return {
    id,
    title: id,
    body: "",
    author: {},
    mergedAt: new Date(Date.UTC(2026, 10, day)),
    mergeSha: id.padEnd(40, "0"),
    commits: [],
    files: Object.keys(hunks),
    hunks,
    addedIdentifiers: [],
    touchedFunctions: [],
    isAncestorOfDeployed: true,
    docsOrTestsOnly: false,
    revertedLater: false,
    ...(ticket
      ? { ticket: { key: ticket, summary: `summary of ${ticket}`, linkSource: "explicit" as const } }
      : {}),
  };
}

const GUARD = "  if (!campaigns[code]) return subtotal;";
const RATE = "  return subtotal * (1 - campaigns[code].rate);";

describe("findContradictedChange", () => {
  it("names the ticket of the latest earlier change whose added lines the suspect removed", () => {
    const older = change("pr-3", 1, { "src/discount.ts": [hunk([], [GUARD, RATE])] }, "PAY-3");
    const guard = change("pr-7", 5, { "src/discount.ts": [hunk([], [GUARD])] }, "PAY-7");
    const suspect = change("pr-11", 9, { "src/discount.ts": [hunk([GUARD, "}"], ["}"])] }, "PAY-11");
    const found = findContradictedChange(suspect, [older, guard, suspect]);
    expect(found?.candidate.id).toBe("pr-7");
    expect(found?.ticket.key).toBe("PAY-7");
    expect(found?.path).toBe("src/discount.ts");
    expect(found?.lines).toBe(1);
    expect(found?.example).toBe(GUARD.trim());
  });

  it("is null when the latest writer had no ticket, even if an older one did", () => {
    const ticketed = change("pr-3", 1, { "a.ts": [hunk([], [GUARD])] }, "PAY-3");
    const untracked = change("abc123", 4, { "a.ts": [hunk([], [GUARD])] });
    const suspect = change("pr-9", 8, { "a.ts": [hunk([GUARD], [])] }, "PAY-9");
    expect(findContradictedChange(suspect, [ticketed, untracked])).toBeNull();
  });

  it("ignores later changes, other files, its own ticket and trivial lines", () => {
    const later = change("pr-20", 20, { "a.ts": [hunk([], [GUARD])] }, "PAY-20");
    const otherFile = change("pr-2", 2, { "b.ts": [hunk([], [GUARD])] }, "PAY-2");
    const sameTicket = change("pr-4", 3, { "a.ts": [hunk([], [RATE])] }, "PAY-9");
    const braces = change("pr-5", 4, { "a.ts": [hunk([], ["}", "  // note", ""])] }, "PAY-5");
    const suspect = change("pr-9", 8, { "a.ts": [hunk([GUARD, RATE, "}", "  // note", ""], [])] }, "PAY-9");
    expect(findContradictedChange(suspect, [later, otherFile, sameTicket, braces])).toBeNull();
  });

  it("is null for a suspect that removed nothing", () => {
    const older = change("pr-3", 1, { "a.ts": [hunk([], [GUARD])] }, "PAY-3");
    const suspect = change("pr-9", 8, { "a.ts": [hunk([], [RATE])] }, "PAY-9");
    expect(findContradictedChange(suspect, [older])).toBeNull();
  });
});
