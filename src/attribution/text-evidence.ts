/**
 * The text feature (T of ATTRIBUTION.md §5.3): BM25 between what the anomaly says (exception type,
 * message, title, frame functions, file basenames) and what each candidate says about itself (title, body,
 * branch, linked ticket summary, identifiers on added lines), via the shared BM25 of src/changes.
 *
 * Dividing by the best candidate (the design's normalisation) always hands some candidate a 1.0, even
 * when the best "match" is one common word. So the ratio is also damped by how many distinct query terms
 * the document shares: a single shared term is worth at most a third, three or more count fully. This
 * keeps text alone from lifting a thin candidate over the abstention floor.
 */
import { buildBm25Index, scoreQuery, tokenize } from "../changes/text-similarity.ts";

export interface TextDoc {
  id: string;
  text: string;
}

export interface TextMatch {
  /** In [0, 1]. */
  value: number;
  /** Query terms the document shares, in query order (for the explanation). */
  sharedTerms: string[];
}

/**
 * Words the shared tokenizer keeps but that every error or PR carries; they neither explain a match nor
 * count towards coverage (BM25's idf already discounts them in the score itself).
 */
const NOISE = new Set(
  (
    "error errors exception failed failure fail cannot can't read property properties undefined null none nil " +
    "true false object function fix fixes fixed add adds added update updates updated use new get set src lib " +
    "index ts js tsx jsx py java kt go rb test tests type value"
  ).split(" "),
);

/** Distinct terms of a text as the shared BM25 tokenizer sees them, minus the noise words. */
export function explanationTerms(text: string): string[] {
  return [...new Set(tokenize(text))].filter((t) => !NOISE.has(t) && t.length >= 3 && !/^\d+$/.test(t));
}

const FULL_COVERAGE_TERMS = 3;

export function scoreTextMatches(query: string, docs: readonly TextDoc[]): Map<string, TextMatch> {
  const out = new Map<string, TextMatch>();
  const queryTerms = explanationTerms(query);
  if (docs.length === 0) return out;
  const raw =
    queryTerms.length === 0 ? new Map<string, number>() : scoreQuery(buildBm25Index([...docs]), query);
  let max = 0;
  for (const v of raw.values()) if (Number.isFinite(v) && v > max) max = v;
  for (const doc of docs) {
    const docTerms = new Set(explanationTerms(doc.text));
    const sharedTerms = queryTerms.filter((t) => docTerms.has(t));
    const r = raw.get(doc.id) ?? 0;
    const ratio = max > 0 && Number.isFinite(r) ? Math.max(0, r) / max : 0;
    const coverage = Math.min(1, sharedTerms.length / FULL_COVERAGE_TERMS);
    out.set(doc.id, { value: clamp01(ratio * coverage), sharedTerms });
  }
  return out;
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}
