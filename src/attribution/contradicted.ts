/**
 * The ticket a suspect change contradicted: the suspect removed or rewrote lines that an earlier change
 * had added, and that earlier change was authorized by a ticket. The suspect then undid work a ticket
 * asked for — the finding an auditor wants next to "the ticket that authorized it" (CC7.1 rows).
 *
 * Read from the zero-context patches the pipeline already has (candidates in the look-back window), so
 * it costs no sandbox command; "where known" means an earlier writer of those lines inside that window.
 * Only substantive lines count: blank lines, lone braces and comment-only lines match too easily.
 */
import type { CandidateChange, CandidateTicket } from "./types.ts";

export interface ContradictedChange {
  /** The earlier change whose added lines the suspect removed. */
  candidate: CandidateChange;
  ticket: CandidateTicket;
  path: string;
  /** How many of the suspect's removed lines that change had added in this file. */
  lines: number;
  /** One of them, trimmed, as evidence. */
  example: string;
}

const MIN_LINE_LENGTH = 6;

function substantive(line: string): string | null {
  const t = line.trim();
  if (t.length < MIN_LINE_LENGTH) return null;
  if (/^(\/\/|#|\/\*|\*|--|<!--)/.test(t)) return null;
  if (/^[{}()[\];,]+$/.test(t)) return null;
  return t;
}

/** The suspect's removed lines per path (the old side of each hunk), normalized. */
function removedByPath(suspect: CandidateChange): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [path, hunks] of Object.entries(suspect.hunks)) {
    const lines = new Set<string>();
    for (const h of hunks) {
      for (const l of h.removedLines) {
        const s = substantive(l);
        if (s) lines.add(s);
      }
    }
    if (lines.size > 0) out.set(path, lines);
  }
  return out;
}

/**
 * The latest change merged before the suspect that added lines the suspect removed, when it carries a
 * ticket other than the suspect's own. Deterministic: ties go to more lines, then the candidate id.
 */
export function findContradictedChange(
  suspect: CandidateChange,
  candidates: readonly CandidateChange[],
): ContradictedChange | null {
  const removed = removedByPath(suspect);
  if (removed.size === 0) return null;
  // The latest earlier writer of those lines, with or without a ticket: if it has none, what the suspect
  // undid was not ticketed work, whatever older changes touched the same lines.
  let best: { candidate: CandidateChange; path: string; lines: number; example: string } | null = null;
  for (const c of candidates) {
    if (c.id === suspect.id || c.mergedAt.getTime() >= suspect.mergedAt.getTime()) continue;
    for (const [path, lines] of removed) {
      let count = 0;
      let example = "";
      for (const h of c.hunks[path] ?? []) {
        for (const l of h.addedLines) {
          const s = substantive(l);
          if (s && lines.has(s)) {
            count++;
            example ||= s;
          }
        }
      }
      if (count === 0) continue;
      const at = c.mergedAt.getTime();
      const bestAt = best?.candidate.mergedAt.getTime() ?? -Infinity;
      if (
        !best ||
        at > bestAt ||
        (at === bestAt && (count > best.lines || (count === best.lines && c.id < best.candidate.id)))
      ) {
        best = { candidate: c, path, lines: count, example };
      }
    }
  }
  const ticket = best?.candidate.ticket;
  if (!best || !ticket || ticket.key === suspect.ticket?.key) return null;
  return { ...best, ticket };
}
