/**
 * Tokenizer and BM25 (Okapi, k1 = 1.2, b = 0.75) for short engineering texts: ticket summaries, PR
 * titles and bodies, branch names, error messages and stack-frame names. Identifiers are split the way
 * engineers write them (camelCase, snake_case, kebab-case, dotted and slashed paths) so `retryPolicy`,
 * `retry_policy` and `retry-policy` meet on `retry` + `policy`.
 */
import { ValidationError } from "../errors.ts";

export const BM25_K1 = 1.2;
export const BM25_B = 0.75;

// Common English function words plus the words every PR template and ticket carries.
const STOP_WORDS = new Set(
  (
    "a about above after again against all also am an and any are as at be because been before being " +
    "below between both but by can could did do does doing down during each either else etc few for from " +
    "further had has have having he her here hers him his how i if in into is it its itself just may me " +
    "might more most much must my no nor not now of off on once only or other our ours out over own per " +
    "please same shall she should so some such than that the their theirs them then there these they this " +
    "those through to too under until up upon us very via was we were what when where which while who whom " +
    "why will with within without would yet you your yours"
  ).split(" "),
);

export interface TokenizeOptions {
  /** Fold simple English plurals (`retries` → `retry`). Default true. */
  stem?: boolean;
}

/** Splits one identifier into words at camelCase humps and underscores. */
function identifierParts(identifier: string): string[] {
  return identifier
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .split(/[\s_]+/)
    .filter((part) => part !== "");
}

function foldPlural(token: string): string {
  if (token.length < 4 || /\d/.test(token)) return token;
  if (token.endsWith("ies") && token.length > 4) return `${token.slice(0, -3)}y`;
  if (token.endsWith("sses")) return token.slice(0, -2);
  if (/(?:x|ch|sh)es$/.test(token)) return token.slice(0, -2);
  if (token.endsWith("s") && !/(?:ss|us|is)$/.test(token)) return token.slice(0, -1);
  return token;
}

function keep(token: string): boolean {
  if (STOP_WORDS.has(token)) return false;
  // Pure numbers survive only when they look like codes (404, 8080, 00942), not list counters.
  if (/^\d+$/.test(token)) return token.length >= 3;
  return token.length >= 2;
}

/**
 * Lower-cased terms of a text, in order. Identifiers joined by `_` or camelCase humps also yield the
 * joined form (`getUserById` → get, user, id, getuserbyid) so an exact identifier match counts extra.
 */
export function tokenize(text: string, options: TokenizeOptions = {}): string[] {
  const stem = options.stem ?? true;
  const tokens: string[] = [];
  const push = (raw: string) => {
    let token = raw.toLowerCase();
    if (STOP_WORDS.has(token)) return;
    if (stem) token = foldPlural(token);
    if (keep(token)) tokens.push(token);
  };
  // Words are runs of letters, digits and underscores; `-`, `.`, `/` and everything else separate them.
  for (const match of text.matchAll(/[\p{L}\p{N}_]+/gu)) {
    const parts = identifierParts(match[0]);
    for (const part of parts) push(part);
    if (parts.length > 1) push(parts.join(""));
  }
  return tokens;
}

export interface Bm25Document {
  id: string;
  text: string;
}

interface IndexedDocument {
  id: string;
  length: number;
  termFrequencies: Map<string, number>;
}

export interface Bm25Index {
  readonly k1: number;
  readonly b: number;
  readonly documents: readonly IndexedDocument[];
  readonly documentFrequency: ReadonlyMap<string, number>;
  readonly averageLength: number;
}

export interface Bm25Options extends TokenizeOptions {
  k1?: number;
  b?: number;
}

export function buildBm25Index(docs: readonly Bm25Document[], options: Bm25Options = {}): Bm25Index {
  const seen = new Set<string>();
  const documents: IndexedDocument[] = [];
  const documentFrequency = new Map<string, number>();
  let totalLength = 0;
  for (const doc of docs) {
    if (seen.has(doc.id)) {
      throw new ValidationError([
        { path: "docs", message: `duplicate document id ${JSON.stringify(doc.id)}` },
      ]);
    }
    seen.add(doc.id);
    const tokens = tokenize(doc.text, options);
    const termFrequencies = new Map<string, number>();
    for (const token of tokens) termFrequencies.set(token, (termFrequencies.get(token) ?? 0) + 1);
    for (const term of termFrequencies.keys())
      documentFrequency.set(term, (documentFrequency.get(term) ?? 0) + 1);
    documents.push({ id: doc.id, length: tokens.length, termFrequencies });
    totalLength += tokens.length;
  }
  return {
    k1: options.k1 ?? BM25_K1,
    b: options.b ?? BM25_B,
    documents,
    documentFrequency,
    averageLength: documents.length === 0 ? 0 : totalLength / documents.length,
  };
}

/** Lucene's non-negative BM25 idf: ln(1 + (N − df + 0.5) / (df + 0.5)). Zero for unseen terms. */
export function inverseDocumentFrequency(index: Bm25Index, term: string): number {
  const df = index.documentFrequency.get(term) ?? 0;
  if (df === 0) return 0;
  const n = index.documents.length;
  return Math.log(1 + (n - df + 0.5) / (df + 0.5));
}

/**
 * The idf a term would have in the corpus plus one hypothetical document that holds every query term:
 * for a term no document holds, df = 1 in N + 1 documents. This weighs what the query says and the
 * corpus never does, so a short query with one common word matched does not read as a full match.
 */
function boundIdf(index: Bm25Index, term: string): number {
  const df = index.documentFrequency.get(term) ?? 0;
  if (df > 0) return inverseDocumentFrequency(index, term);
  return Math.log(1 + (index.documents.length + 0.5) / 1.5);
}

/** The distinct query terms; each counts once, however often the query repeats it. */
function queryTerms(queryText: string): string[] {
  return [...new Set(tokenize(queryText))];
}

export interface QueryMatch {
  score: number;
  /** score / maxPossibleScore, in [0, 1). */
  normalized: number;
  /** Query terms the document contains, in query order. */
  matchedTerms: string[];
}

function matchTerms(index: Bm25Index, terms: readonly string[]): Map<string, QueryMatch> {
  const idfs = terms.map((term) => inverseDocumentFrequency(index, term));
  const max = terms.reduce((sum, term) => sum + boundIdf(index, term) * (index.k1 + 1), 0);
  const result = new Map<string, QueryMatch>();
  for (const doc of index.documents) {
    let score = 0;
    const matchedTerms: string[] = [];
    const norm = index.averageLength === 0 ? 1 : 1 - index.b + (index.b * doc.length) / index.averageLength;
    terms.forEach((term, i) => {
      const tf = doc.termFrequencies.get(term) ?? 0;
      if (tf === 0) return;
      matchedTerms.push(term);
      score += (idfs[i]! * tf * (index.k1 + 1)) / (tf + index.k1 * norm);
    });
    result.set(doc.id, { score, normalized: max === 0 ? 0 : Math.min(1, score / max), matchedTerms });
  }
  return result;
}

/** Score, normalized score and matched terms of every document, in index order. */
export function matchQuery(index: Bm25Index, queryText: string): Map<string, QueryMatch> {
  return matchTerms(index, queryTerms(queryText));
}

/** BM25 score of every document (0 when nothing matches), in index order. */
export function scoreQuery(index: Bm25Index, queryText: string): Map<string, number> {
  return new Map([...matchQuery(index, queryText)].map(([id, m]) => [id, m.score]));
}

/**
 * An upper bound of any document's score for this query: every query term contributes its idf ×
 * (k1 + 1), the limit as its frequency grows; a term no document holds counts at the idf it would have
 * if one document held it.
 */
export function maxPossibleScore(index: Bm25Index, queryText: string): number {
  return queryTerms(queryText).reduce((sum, term) => sum + boundIdf(index, term) * (index.k1 + 1), 0);
}

/**
 * score / maxPossibleScore, in [0, 1). A document of average length that contains every query term
 * once scores about 1 / (k1 + 1) ≈ 0.45; callers that want that to read as a full match can multiply
 * by k1 + 1.
 */
export function normalizedSimilarity(index: Bm25Index, queryText: string): Map<string, number> {
  return new Map([...matchQuery(index, queryText)].map(([id, m]) => [id, m.normalized]));
}
