/** The `attribution` object of GET /api/v1/anomalies/{id} (wire shape, separate from the table). */
import { z } from "@hono/zod-openapi";
import type { Attribution } from "../../db/schema/attributions.ts";
import type { StoredContradiction, StoredSuspect, StoredTicket } from "./pipeline.ts";

const Pointer = z.union([
  z.object({ file: z.string(), line: z.number().int().optional() }),
  z.object({ commit: z.string() }),
]);

const Fact = z.object({
  feature: z.string(),
  weight: z.number(),
  value: z.number(),
  sentence: z.string(),
  pointers: z.array(Pointer),
});

const TicketLink = z
  .object({
    key: z.string(),
    summary: z.string(),
    status: z.string().nullable(),
    linkSource: z.enum(["explicit", "inferred"]),
    linkConfidence: z.number().optional(),
  })
  .openapi("AttributionTicket");

const Contradiction = TicketLink.omit({ linkConfidence: true })
  .extend({
    changeId: z.uuid().nullable(),
    prNumber: z.number().int().nullable(),
    mergeSha: z.string(),
    path: z.string(),
    lines: z.number().int(),
    sentence: z.string(),
  })
  .openapi("AttributionContradictedTicket", {
    description:
      "The ticket the top suspect worked against: it removed lines that an earlier change, linked to this ticket, had added.",
  });

const Suspect = z
  .object({
    rank: z.number().int(),
    changeId: z.uuid().nullable(),
    prNumber: z.number().int().nullable(),
    title: z.string(),
    author: z.object({
      login: z.string().optional(),
      email: z.string().optional(),
      name: z.string().optional(),
    }),
    mergedAt: z.iso.datetime().nullable(),
    mergeSha: z.string().nullable(),
    htmlUrl: z.string().nullable(),
    score: z.number(),
    facts: z.array(Fact),
    ticket: TicketLink.nullable(),
  })
  .openapi("AttributionSuspect");

export const AttributionSchema = z
  .object({
    status: z.enum(["pending", "running", "done", "no_suspect", "failed"]),
    repositoryId: z.uuid().nullable(),
    deployedSha: z.string().nullable(),
    deployedShaSource: z.string().nullable(),
    suspects: z.array(Suspect),
    ticket: TicketLink.nullable(),
    contradictedTicket: Contradiction.nullable(),
    confidence: z.object({ level: z.enum(["high", "medium", "low"]), score: z.number() }).nullable(),
    reasoning: z.string().nullable(),
    reasoningSource: z.enum(["deterministic", "llm"]).nullable(),
    mode: z.string().nullable(),
    noSuspectReason: z.string().nullable(),
    filtered: z.array(z.object({ candidateId: z.string(), reason: z.string(), sentence: z.string() })),
    unmappedFrames: z.array(
      z.object({ file: z.string(), line: z.number().int().optional(), reason: z.string() }),
    ),
    timings: z.record(z.string(), z.number()),
    error: z.string().nullable(),
    attempts: z.number().int(),
    requestedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime().nullable(),
  })
  .openapi("Attribution");

export type AttributionWire = z.infer<typeof AttributionSchema>;

interface StoredFiltered {
  candidateId: string;
  reason: string;
  fact: { sentence: string };
}

export function attributionToWire(a: Attribution): AttributionWire {
  const details = a.details as {
    mode?: string;
    noSuspectReason?: string | null;
    filtered?: StoredFiltered[];
    unmappedFrames?: { file: string; line?: number; reason: string }[];
    contradictedTicket?: StoredContradiction | null;
  };
  return {
    status: a.status,
    repositoryId: a.repositoryId,
    deployedSha: a.deployedSha,
    deployedShaSource: a.deployedShaSource,
    suspects: a.suspects as StoredSuspect[],
    ticket: (a.ticket as StoredTicket | null) ?? null,
    contradictedTicket: details.contradictedTicket ?? null,
    confidence: a.confidence ?? null,
    reasoning: a.reasoning,
    reasoningSource: a.reasoningSource ?? null,
    mode: details.mode ?? null,
    noSuspectReason: details.noSuspectReason ?? null,
    filtered: (details.filtered ?? []).map((f) => ({
      candidateId: f.candidateId,
      reason: f.reason,
      sentence: f.fact.sentence,
    })),
    unmappedFrames: details.unmappedFrames ?? [],
    timings: a.timings,
    error: a.error,
    attempts: a.attempts,
    requestedAt: a.requestedAt.toISOString(),
    finishedAt: a.finishedAt?.toISOString() ?? null,
  };
}
