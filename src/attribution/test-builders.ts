/**
 * Plain-data builders for attribution tests: candidates, hunks and inputs with realistic SHAs. No I/O.
 */
import { createHash } from "node:crypto";
import type { StackFrame } from "../../integrations/core/types.ts";
import type { AttributionInput, CandidateChange, DiffHunk } from "./types.ts";

export const T0 = new Date("2024-05-01T12:00:00Z");

export function sha(name: string): string {
  return createHash("sha1").update(name).digest("hex");
}

export function hoursBefore(h: number, from: Date = T0): Date {
  return new Date(from.getTime() - h * 3_600_000);
}

export const DEPLOYED_SHA = sha("deployed");
export const PREVIOUS_SHA = sha("previous-deploy");

/** A zero-context hunk adding `newLines` lines at `newStart` (removing as many unless told otherwise). */
export function hunk(
  newStart: number,
  newLines = 1,
  opts: { removed?: number; header?: string; added?: string[] } = {},
): DiffHunk {
  const removed = opts.removed ?? newLines;
  return {
    oldStart: newStart,
    oldLines: removed,
    newStart,
    newLines,
    header: opts.header ?? "",
    addedLines: opts.added ?? Array.from({ length: newLines }, (_, i) => `  line ${newStart + i};`),
    removedLines: Array.from({ length: removed }, (_, i) => `  old ${newStart + i};`),
  };
}

export function candidate(pr: number, over: Partial<CandidateChange> = {}): CandidateChange {
  const id = over.id ?? `pr-${pr}`;
  const base: CandidateChange = {
    id,
    prNumber: pr,
    title: `Change ${pr}`,
    body: "",
    branch: `feature/change-${pr}`,
    author: { login: `dev${pr}` },
    mergedAt: hoursBefore(3),
    mergeSha: sha(`${id}-merge`),
    commits: [sha(`${id}-c1`)],
    files: [],
    hunks: {},
    addedIdentifiers: [],
    touchedFunctions: [],
    isAncestorOfDeployed: true,
    docsOrTestsOnly: false,
    revertedLater: false,
    releasesBack: 0,
  };
  const c = { ...base, ...over };
  if (over.hunks && !over.files) c.files = Object.keys(over.hunks);
  return c;
}

export const REPO_FILES = [
  "src/checkout/cart.ts",
  "src/checkout/pricing.ts",
  "src/checkout/tax.ts",
  "src/api/routes.ts",
  "src/payments/gateway.ts",
  "src/search/query.ts",
  "config/tax-rates.yaml",
  "docs/checkout.md",
  "package.json",
  ...Array.from({ length: 40 }, (_, i) => `src/shared/module-${i}.ts`),
];

/** TypeError in Cart.total (cart.ts:42) called from applyDiscounts (pricing.ts:17) and the route. */
export const CHECKOUT_FRAMES: StackFrame[] = [
  { file: "/app/src/checkout/cart.ts", line: 42, function: "Cart.total", inApp: true },
  { file: "/app/src/checkout/pricing.ts", line: 17, function: "applyDiscounts", inApp: true },
  { file: "/app/node_modules/express/lib/router/layer.js", line: 95, function: "handle", inApp: false },
  { file: "/app/src/api/routes.ts", line: 88, function: "handleCheckout", inApp: true },
];

export function errorInput(over: Partial<AttributionInput> = {}): AttributionInput {
  return {
    anomaly: {
      kind: "error",
      title: "TypeError: Cannot read properties of undefined (reading 'price')",
      errorType: "TypeError",
      message: "Cannot read properties of undefined (reading 'price')",
      frames: CHECKOUT_FRAMES,
      service: "checkout",
      firstSeenAt: T0,
      release: "v1.8.3",
    },
    deployedSha: DEPLOYED_SHA,
    previousDeploySha: PREVIOUS_SHA,
    files: REPO_FILES,
    candidates: [],
    blame: [],
    ...over,
  };
}
