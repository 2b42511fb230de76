/**
 * The attribution entry point: anomaly + candidate changes + git evidence → ranked suspects with evidence
 * facts, a confidence (or an explicit "no confident suspect") and a reasoning paragraph. Pure and
 * deterministic: the same input gives the same output, whatever the order of candidates.
 */
import { ValidationError } from "../errors.ts";
import { weightFrames } from "./features.ts";
import { buildRepoPathIndex, mapStackFrames } from "./path-mapping.ts";
import { buildReasoning } from "./reasoning.ts";
import { applyHardFilters, assessConfidence, CONFIDENCE, scoreCandidates, topProbability } from "./score.ts";
import type { AttributionInput, AttributionResult, NoSuspectReason, UnmappedFrame } from "./types.ts";

/** Throws ValidationError for input the scorer cannot rank deterministically (duplicate ids). */
export function attribute(input: AttributionInput): AttributionResult {
  const ids = new Set<string>();
  for (const [i, c] of input.candidates.entries()) {
    if (ids.has(c.id))
      throw new ValidationError([{ path: `candidates.${i}.id`, message: "duplicate candidate id" }]);
    ids.add(c.id);
  }
  const index = buildRepoPathIndex(input.files);
  const mapped = mapStackFrames(input.anomaly.frames, index);
  const frames = weightFrames(mapped);
  const unmappedFrames: UnmappedFrame[] = mapped
    .filter((m) => m.repoPath === undefined)
    .map((m) => {
      const u: UnmappedFrame = {
        file: m.frame.file || m.frame.module || "",
        reason: m.unmappedReason ?? "no_match",
      };
      if (m.frame.line !== undefined) u.line = m.frame.line;
      return u;
    });

  // Aggregates over candidates (BM25 statistics, the size z-score) sum floating-point numbers; a fixed
  // order makes them, and so the scores, bit-identical whatever order the caller used.
  const ordered = [...input.candidates].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const { eligible, filtered } = applyHardFilters({ ...input, candidates: ordered });
  const outcome = scoreCandidates(input, frames, eligible);
  const confidence = assessConfidence(outcome, eligible);

  let noSuspectReason: NoSuspectReason | undefined;
  const top = outcome.suspects[0];
  if (!top) noSuspectReason = "no_candidates";
  else if (input.anomaly.kind === "error" && mapped.length > 0 && frames.length === 0)
    noSuspectReason = "no_mapped_frames";
  else if (
    top.score < CONFIDENCE.noSuspectFloor ||
    topProbability(outcome.suspects.map((s) => s.score)) < CONFIDENCE.noSuspectMinProbability
  ) {
    noSuspectReason = "weak_evidence";
  }

  const partial: Omit<AttributionResult, "reasoning"> = {
    status: noSuspectReason ? "no_suspect" : "done",
    mode: outcome.mode,
    suspects: outcome.suspects,
    filtered,
    unmappedFrames,
    confidence: noSuspectReason ? { ...confidence, level: "low" } : confidence,
  };
  if (noSuspectReason) partial.noSuspectReason = noSuspectReason;
  return { ...partial, reasoning: buildReasoning(partial) };
}
