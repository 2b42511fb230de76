/**
 * The explanation paragraph (ATTRIBUTION.md §5.5), built only from evidence fact sentences joined by
 * wording that cites nothing, so `checkCitations(paragraph, citableFacts(result))` is empty by
 * construction. An optional LLM rewrite is accepted only if its citations check out against the same
 * facts, and what is sent to it goes through `redactSecrets` first.
 */
import type { AttributionResult, EvidenceFact, FeatureId, RankedSuspect, UnmappedFrame } from "./types.ts";

export { type CitationKind, type CitationProblem, checkCitations } from "./citations.ts";
export { type RedactOptions, redactSecrets, SECRET_PLACEHOLDER } from "./redact-secrets.ts";

/** Suspects whose facts the paragraph (and an LLM rewrite) may cite. */
export const REASONING_SUSPECTS = 3;
const MAX_FACTS_PER_FEATURE = 3;
const MAX_FILTER_SENTENCES = 3;

/** Order in which evidence is told: the strongest kinds first, the post-hoc signal last. */
const NARRATIVE_ORDER: readonly FeatureId[] = [
  "blame",
  "function",
  "hunk_proximity",
  "file",
  "dependency",
  "recency",
  "ownership",
  "text",
  "risk",
  "revert",
];

export type ReasoningInput = Omit<AttributionResult, "reasoning">;

function mappingFact(u: UnmappedFrame): EvidenceFact {
  const where = u.line !== undefined ? `${u.file}:${u.line}` : u.file;
  const why =
    u.reason === "ambiguous" ? "several repository files match it equally" : "no repository file matches it";
  return {
    feature: "mapping",
    weight: 0,
    value: 0,
    sentence: `The in-app frame ${where} did not map to a repository file (${why}).`,
    pointers: [],
  };
}

/** Every fact the paragraph may draw on: top suspects, filter decisions, unmapped frames. */
export function citableFacts(result: ReasoningInput): EvidenceFact[] {
  return [
    ...result.suspects.slice(0, REASONING_SUSPECTS).flatMap((s) => s.facts),
    ...result.filtered.map((f) => f.fact),
    ...result.unmappedFrames.map(mappingFact),
  ];
}

function identity(s: RankedSuspect): EvidenceFact[] {
  return s.facts.filter((f) => f.feature === "identity");
}

function evidenceSentences(s: RankedSuspect, limitPerFeature: number): string[] {
  const out: string[] = [];
  for (const id of NARRATIVE_ORDER) {
    const facts = s.facts.filter((f) => f.feature === id);
    if (id === "risk" && s.facts.some((f) => f.feature === "blame")) continue; // size adds nothing to a blame hit
    out.push(...facts.slice(0, limitPerFeature).map((f) => f.sentence));
  }
  return out;
}

/** The single most contributing fact of a suspect (weight × value), for runners-up. */
function strongestFact(s: RankedSuspect): EvidenceFact | undefined {
  let best: EvidenceFact | undefined;
  for (const f of s.facts) {
    if (f.feature === "identity" || f.feature === "risk") continue;
    if (!best || f.weight * f.value > best.weight * best.value) best = f;
  }
  return best;
}

function fmt(x: number): string {
  return x.toFixed(2);
}

export function buildReasoning(result: ReasoningInput): string {
  const parts: string[] = [];
  const [top, ...rest] = result.suspects;
  const c = result.confidence;

  if (result.status === "no_suspect") {
    switch (result.noSuspectReason) {
      case "no_candidates":
        parts.push("No confident suspect: no candidate change survived the filters.");
        break;
      case "no_mapped_frames":
        parts.push(
          "No confident suspect: none of the in-app stack frames maps to a file of the repository at the deployed SHA.",
        );
        parts.push(...result.unmappedFrames.slice(0, 5).map((u) => mappingFact(u).sentence));
        break;
      default:
        parts.push(
          `No confident suspect: the evidence is too thin (best score ${fmt(c.topScore)}, probability ${fmt(c.score)}).`,
        );
    }
    if (top) {
      parts.push("The strongest candidate considered was:");
      parts.push(...identity(top).map((f) => f.sentence));
      const f = strongestFact(top);
      if (f) parts.push(f.sentence);
    }
  } else if (top) {
    parts.push("Most likely cause:");
    parts.push(...identity(top).map((f) => f.sentence));
    parts.push(...evidenceSentences(top, MAX_FACTS_PER_FEATURE));
    parts.push(
      `Confidence ${c.level} (${fmt(c.score)}; score ${fmt(c.topScore)}, margin ${fmt(c.margin)} over the runner-up): ${c.because}.`,
    );
    const runners = rest.slice(0, REASONING_SUSPECTS - 1);
    runners.forEach((r, i) => {
      parts.push(i === 0 ? `Runner-up (score ${fmt(r.score)}):` : `Also considered (score ${fmt(r.score)}):`);
      const idf = identity(r)[0];
      if (idf) parts.push(idf.sentence);
      const f = strongestFact(r);
      if (f) parts.push(f.sentence);
    });
  }

  if (result.filtered.length > 0) {
    parts.push(
      `Ruled out before scoring: ${result.filtered.length} candidate${result.filtered.length === 1 ? "" : "s"}.`,
    );
    parts.push(...result.filtered.slice(0, MAX_FILTER_SENTENCES).map((f) => f.fact.sentence));
  }
  return parts.join(" ");
}
