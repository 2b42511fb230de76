/**
 * The optional Claude pass over the reasoning paragraph (ATTRIBUTION.md §5.5): the model sees only the
 * evidence facts (secrets redacted) and the deterministic paragraph, and may only re-word them. Its text
 * is kept only when every PR, file, line, SHA, time and ticket it cites is in the same facts; otherwise the
 * deterministic paragraph stands.
 */
import type { CompleteText } from "../../integrations/anthropic/client.ts";
import { checkCitations, citableFacts, type ReasoningInput, redactSecrets } from "./reasoning.ts";

export interface RewriteOutcome {
  reasoning: string;
  source: "deterministic" | "llm";
  /** Why a rewrite was not used (rejected citations, an error), for the log and the stored details. */
  rejected?: string;
}

const SYSTEM = [
  "You explain to an on-call engineer why a code change is the suspected cause of a production anomaly.",
  "Rewrite the given paragraph as one clear, compact paragraph of plain prose.",
  "Use only the evidence facts given. Do not re-rank suspects. Do not add any pull request number, file,",
  "line number, commit SHA, time or ticket key that is not written in the facts. No markdown, no lists.",
].join(" ");

const MAX_TOKENS = 600;

export function reasoningPrompt(result: ReasoningInput, deterministic: string, anomalyTitle: string): string {
  const facts = citableFacts(result);
  const keep = facts.flatMap((f) => f.pointers.flatMap((p) => ("commit" in p ? [p.commit] : [])));
  const lines = facts.map((f, i) => `${i + 1}. [${f.feature}] ${f.sentence}`);
  const text = [
    `Anomaly: ${anomalyTitle}`,
    `Confidence: ${result.confidence.level} (${result.confidence.score.toFixed(2)})`,
    "Evidence facts:",
    ...lines,
    "",
    "Paragraph to rewrite:",
    deterministic,
  ].join("\n");
  return redactSecrets(text, { keep });
}

export async function rewriteReasoning(
  complete: CompleteText,
  result: ReasoningInput,
  deterministic: string,
  anomalyTitle: string,
): Promise<RewriteOutcome> {
  if (result.suspects.length === 0) return { reasoning: deterministic, source: "deterministic" };
  let text: string;
  try {
    text = await complete({
      system: SYSTEM,
      user: reasoningPrompt(result, deterministic, anomalyTitle),
      maxTokens: MAX_TOKENS,
    });
  } catch (error) {
    return {
      reasoning: deterministic,
      source: "deterministic",
      rejected: `request failed: ${error instanceof Error ? error.message : "unknown"}`,
    };
  }
  if (text.length === 0)
    return { reasoning: deterministic, source: "deterministic", rejected: "empty reply" };
  const problems = checkCitations(text, citableFacts(result));
  if (problems.length > 0) {
    return {
      reasoning: deterministic,
      source: "deterministic",
      rejected: `cites what the evidence does not: ${problems
        .slice(0, 5)
        .map((p) => `${p.kind} ${p.cited}`)
        .join(", ")}`,
    };
  }
  return { reasoning: text, source: "llm" };
}
