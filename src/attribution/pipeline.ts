/**
 * The attribution pipeline (DESIGN.md §5): anomaly → repository → fresh mirror → sandbox → deployed SHA →
 * candidate changes (time window from the changes rows, containment from one rev-list in the sandbox) →
 * evidence (tree, blame of the mapped frames at the deployed SHA, per-candidate zero-context diffs) →
 * `attribute()` → optional Claude rewrite of the paragraph → one row in `attributions` plus an audit entry.
 *
 * Idempotent: a re-run recomputes everything from the same "as of first-seen" inputs and replaces the row.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import type { Logger } from "pino";
import { type Database, withOrg } from "../../db/client.ts";
import { attributions } from "../../db/schema/attributions.ts";
import { tickets } from "../../db/schema/changes.ts";
import { type Anomaly, anomalies } from "../../db/schema/incidents.ts";
import type { CompleteText } from "../../integrations/anthropic/client.ts";
import type { SandboxDriver } from "../../sandbox/driver.ts";
import { resolveVersionToSha } from "../changes/deploys.ts";
import type { ChangesDeps } from "../changes/deps.ts";
import { type CandidateChangeRecord, listCandidateChanges } from "../changes/queries.ts";
import { selectRepositoryForService } from "../changes/repositories.ts";
import { ensureMirrorFresh } from "../changes/sync.ts";
import { type OrgContext, systemContext } from "../context.ts";
import { AppError, NotFoundError } from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import { attribute } from "./attribute.ts";
import { calleesBefore } from "./callees.ts";
import { findContradictedChange } from "./contradicted.ts";
import {
  type DeployedSha,
  deploysBefore,
  likelyDeployedSha,
  previousDeployOf,
  resolveDeployedSha,
} from "./deployed-sha.ts";
import { summarizeDiffs } from "./diff-parser.ts";
import { bareFunctionName } from "./features.ts";
import { rewriteReasoning } from "./llm-reasoning.ts";
import { buildRepoPathIndex, mapStackFrames } from "./path-mapping.ts";
import { SandboxGit } from "./sandbox-git.ts";
import type {
  AnomalyKind,
  AttributionInput,
  AttributionResult,
  CandidateChange,
  FileDiff,
  FrameBlame,
  FrameSource,
  RankedSuspect,
} from "./types.ts";

export interface AttributionDeps {
  db: Database;
  logger: Logger;
  changes: ChangesDeps;
  sandbox: SandboxDriver;
  sandboxTtlMs: number;
  /** Claude, when ANTHROPIC_API_KEY is set. */
  complete?: CompleteText;
  /** A mirror fetched within this long is used as is (default 2 minutes). */
  mirrorMaxAgeMs?: number;
  /** How far before first-seen a merged change is still a candidate (default 14 days). */
  lookbackMs?: number;
  /**
   * Receives the exact input handed to `attribute()`, before scoring. Unset in production; the benchmark
   * sets it to re-score the same inputs offline (baselines, ablations, calibration).
   */
  captureInput?: (anomalyId: string, input: AttributionInput) => void;
}

export const DEFAULT_LOOKBACK_MS = 14 * 24 * 3_600_000;
const DEFAULT_MIRROR_MAX_AGE_MS = 2 * 60_000;
/** Changes merged this long after first-seen are still read, so the filter can say why they are out. */
const AFTER_FIRST_SEEN_MS = 7 * 24 * 3_600_000;
/** Commit dates may precede merge times a little (rebases, clock skew): rev-list looks back further. */
const REV_LIST_SLACK_MS = 2 * 24 * 3_600_000;
const MAX_CANDIDATES = 500;
/** Frames (crash site first) whose files are read for the dependency feature. */
const SOURCE_FRAMES = 5;

export type PhaseTimings = Record<string, number>;

export interface StoredSuspect {
  rank: number;
  changeId: string | null;
  candidateId: string;
  prNumber: number | null;
  title: string;
  author: { login?: string; email?: string; name?: string };
  mergedAt: string | null;
  mergeSha: string | null;
  htmlUrl: string | null;
  score: number;
  facts: RankedSuspect["facts"];
  ticket: StoredTicket | null;
}

export interface StoredTicket {
  key: string;
  summary: string;
  status: string | null;
  linkSource: "explicit" | "inferred";
  linkConfidence?: number;
}

/** The ticket whose change the top suspect undid (contradicted.ts), as stored in details. */
export interface StoredContradiction extends StoredTicket {
  changeId: string | null;
  prNumber: number | null;
  mergeSha: string;
  path: string;
  lines: number;
  sentence: string;
}

function changeLabel(c: CandidateChange): string {
  return c.prNumber !== undefined ? `PR #${c.prNumber}` : `commit ${c.mergeSha.slice(0, 12)}`;
}

export interface AttributionOutcome {
  status: "done" | "no_suspect";
  result?: AttributionResult;
  suspects: StoredSuspect[];
  timings: PhaseTimings;
}

class Timer {
  readonly timings: PhaseTimings = {};
  private readonly start = performance.now();
  async phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.timings[name] = Math.round((performance.now() - t) * 10) / 10;
    }
  }
  finish(): PhaseTimings {
    this.timings["total"] = Math.round((performance.now() - this.start) * 10) / 10;
    return this.timings;
  }
}

function anomalyKind(a: Anomaly): AnomalyKind {
  return a.kind === "metric" || a.kind === "log" ? a.kind : "error";
}

/** Formatting-only: every file's removed and added text are equal once whitespace is dropped. */
export function isFormattingOnlyPatch(files: readonly FileDiff[]): boolean {
  if (files.length === 0) return false;
  for (const f of files) {
    if (f.status !== "modified" || f.binary || f.hunks.length === 0) return false;
    const squash = (lines: string[]) => lines.join("").replace(/\s+/g, "");
    const removed = squash(f.hunks.flatMap((h) => h.removedLines));
    const added = squash(f.hunks.flatMap((h) => h.addedLines));
    if (removed !== added) return false;
  }
  return true;
}

/** Marks the row running (creating it when the job came before the hook's insert, e.g. a retry). */
async function markRunning(deps: AttributionDeps, ctx: OrgContext, anomalyId: string): Promise<Anomaly> {
  return withOrg(deps.db, ctx.orgId, async (tx) => {
    const [anomaly] = await tx.select().from(anomalies).where(eq(anomalies.id, anomalyId));
    if (!anomaly) throw new NotFoundError("anomaly");
    await tx
      .insert(attributions)
      .values({ orgId: ctx.orgId, anomalyId, status: "running", attempts: 1, startedAt: new Date() })
      .onConflictDoUpdate({
        target: attributions.anomalyId,
        set: {
          status: "running",
          attempts: sql`${attributions.attempts} + 1`,
          startedAt: new Date(),
          error: null,
        },
      });
    return anomaly;
  });
}

interface StoreInput {
  status: "done" | "no_suspect" | "failed";
  repositoryId?: string | null;
  deployed?: DeployedSha | null;
  suspects?: StoredSuspect[];
  ticket?: StoredTicket | null;
  confidence?: { level: "high" | "medium" | "low"; score: number } | null;
  reasoning?: string | null;
  reasoningSource?: "deterministic" | "llm" | null;
  details?: Record<string, unknown>;
  timings: PhaseTimings;
  error?: string | null;
}

async function store(deps: AttributionDeps, ctx: OrgContext, anomalyId: string, input: StoreInput) {
  await withOrg(deps.db, ctx.orgId, async (tx) => {
    const values = {
      status: input.status,
      repositoryId: input.repositoryId ?? null,
      deployedSha: input.deployed?.sha ?? null,
      deployedShaSource: input.deployed?.source ?? null,
      suspects: input.suspects ?? [],
      ticket: (input.ticket ?? null) as Record<string, unknown> | null,
      confidence: input.confidence ?? null,
      reasoning: input.reasoning ?? null,
      reasoningSource: input.reasoningSource ?? null,
      details: input.details ?? {},
      timings: input.timings,
      error: input.error ?? null,
      finishedAt: new Date(),
    };
    const [row] = await tx
      .insert(attributions)
      .values({ orgId: ctx.orgId, anomalyId, attempts: 1, ...values })
      .onConflictDoUpdate({ target: attributions.anomalyId, set: values })
      .returning({ id: attributions.id });
    const top = input.suspects?.[0];
    await appendAudit(tx, ctx, {
      action: input.status === "failed" ? "attribution.failed" : "attribution.completed",
      subjectType: "anomaly",
      subjectId: anomalyId,
      data: {
        attributionId: row?.id,
        status: input.status,
        deployedSha: input.deployed?.sha ?? null,
        topChangeId: top?.changeId ?? null,
        topPrNumber: top?.prNumber ?? null,
        confidence: input.confidence?.level ?? null,
        ticket: input.ticket?.key ?? null,
        ...(input.error ? { error: input.error } : {}),
      },
    });
  });
}

/** Records a failure that will not be retried (the job calls it on its last attempt). */
export async function recordAttributionFailure(
  deps: AttributionDeps,
  orgId: string,
  anomalyId: string,
  error: unknown,
): Promise<void> {
  const message =
    error instanceof AppError ? (error.detail ?? error.code) : error instanceof Error ? error.name : "error";
  await store(deps, systemContext(orgId, "attribution"), anomalyId, {
    status: "failed",
    timings: {},
    error: message.slice(0, 500),
  });
}

function toCandidate(
  r: CandidateChangeRecord,
  patchFiles: FileDiff[] | undefined,
  firstSeenAt: Date,
  reachable: ReadonlySet<string>,
  previous: ReadonlySet<string> | undefined,
): CandidateChange {
  const summary = patchFiles ? summarizeDiffs(patchFiles) : undefined;
  const c: CandidateChange = {
    id: r.id,
    title: r.title,
    body: r.body,
    author: r.author,
    mergedAt: r.mergedAt,
    mergeSha: r.mergeSha,
    commits: r.commits,
    files: summary && summary.files.length > 0 ? summary.files : r.files,
    hunks: summary?.hunks ?? {},
    addedIdentifiers: summary?.addedIdentifiers ?? [],
    touchedFunctions: summary?.touchedFunctions ?? [],
    isAncestorOfDeployed: reachable.has(r.mergeSha),
    docsOrTestsOnly: r.docsOrTestsOnly,
    revertedLater:
      r.revertedBySha !== null && (r.revertedAt === null || r.revertedAt.getTime() > firstSeenAt.getTime()),
  };
  if (r.prNumber !== undefined) c.prNumber = r.prNumber;
  if (r.branch) c.branch = r.branch;
  if (previous) c.releasesBack = previous.has(r.mergeSha) ? 1 : 0;
  if (r.ticket && !r.ticket.deleted) {
    c.ticket = { key: r.ticket.key, summary: r.ticket.summary, linkSource: r.ticket.linkSource };
    if (r.ticket.linkConfidence !== undefined) c.ticket.linkConfidence = r.ticket.linkConfidence;
  }
  return c;
}

/**
 * Runs attribution for one anomaly and stores the result (status done or no_suspect). Errors propagate to
 * the job, which retries retryable ones and records the last failure with `recordAttributionFailure`.
 */
export async function runAttribution(
  deps: AttributionDeps,
  orgId: string,
  anomalyId: string,
): Promise<AttributionOutcome> {
  const ctx = systemContext(orgId, "attribution");
  const timer = new Timer();
  const anomaly = await timer.phase("load", () => markRunning(deps, ctx, anomalyId));
  const t0 = anomaly.firstSeenAt;
  const lookback = deps.lookbackMs ?? DEFAULT_LOOKBACK_MS;

  const repo = await timer.phase("repository", () =>
    withOrg(deps.db, orgId, (tx) => selectRepositoryForService(tx, orgId, anomaly.service)),
  );
  if (!repo) {
    const reasoning = anomaly.service
      ? `No confident suspect: no repository is registered for the service ${anomaly.service}.`
      : "No confident suspect: the anomaly names no service and the organization has several repositories.";
    await store(deps, ctx, anomalyId, {
      status: "no_suspect",
      reasoning,
      reasoningSource: "deterministic",
      details: { noSuspectReason: "no_repository" },
      timings: timer.finish(),
    });
    return { status: "no_suspect", suspects: [], timings: timer.timings };
  }

  const mirror = await timer.phase("mirror", () =>
    ensureMirrorFresh(deps.changes, ctx, repo.id, deps.mirrorMaxAgeMs ?? DEFAULT_MIRROR_MAX_AGE_MS),
  );
  const handle = await timer.phase("sandbox", () =>
    deps.sandbox.ensure({
      orgId,
      repositoryId: repo.id,
      mirrorPath: mirror.path,
      ttlMs: deps.sandboxTtlMs,
    }),
  );
  const git = new SandboxGit(deps.sandbox, handle);

  const { releaseSha, deployHistory, records } = await timer.phase("candidates_query", () =>
    withOrg(deps.db, orgId, async (tx) => ({
      releaseSha: await resolveVersionToSha(tx, orgId, anomaly.service, anomaly.release),
      deployHistory: await deploysBefore(tx, orgId, anomaly, repo.id),
      records: await listCandidateChanges(tx, orgId, {
        repositoryId: repo.id,
        mergedAfter: new Date(t0.getTime() - lookback),
        mergedBefore: new Date(t0.getTime() + AFTER_FIRST_SEEN_MS),
        limit: MAX_CANDIDATES,
      }),
    })),
  );

  // Ancestry (what the deployed commit contains) and its tree, read in one sandbox round trip.
  const since = new Date(t0.getTime() - lookback - REV_LIST_SLACK_MS);
  const readAt = (sha: string, previousSha: string | undefined) =>
    Promise.all([
      timer.phase("ancestry", () =>
        Promise.all([
          git.reachableSince(sha, since),
          previousSha ? git.reachableSince(previousSha, since) : undefined,
        ]),
      ),
      timer.phase("tree", () => git.listFiles(sha)),
    ]);
  // The commit most likely deployed is read at while the deployed SHA is being resolved (same round trip);
  // when resolution lands elsewhere, the guess is dropped and the reads run again at the real one.
  const guess = likelyDeployedSha({ anomaly, releaseSha, deploys: deployHistory });
  const guessPrevious = guess ? previousDeployOf(deployHistory, guess) : undefined;
  const speculative = guess ? readAt(guess, guessPrevious).catch(() => undefined) : undefined;
  const deployed = await timer.phase("deployed_sha", () =>
    resolveDeployedSha({
      anomaly,
      defaultBranch: repo.defaultBranch,
      git,
      releaseSha,
      deploys: deployHistory,
    }),
  );
  if (!deployed) {
    await store(deps, ctx, anomalyId, {
      status: "no_suspect",
      repositoryId: repo.id,
      reasoning: `No confident suspect: no commit of ${repo.name} can be placed as deployed at the anomaly's first-seen time.`,
      reasoningSource: "deterministic",
      details: { noSuspectReason: "no_deployed_sha" },
      timings: timer.finish(),
    });
    return { status: "no_suspect", suspects: [], timings: timer.timings };
  }

  const guessed =
    deployed.sha === guess && deployed.previousSha === guessPrevious ? await speculative : undefined;
  const [[reachable, previous], files] = guessed ?? (await readAt(deployed.sha, deployed.previousSha));

  // Diffs of every candidate contained in the deployed SHA (the others are filtered without evidence).
  const contained = records.filter((r) => reachable.has(r.mergeSha));
  const mapped = mapStackFrames(anomaly.frames, buildRepoPathIndex(files));
  const byPath = new Map<string, number[]>();
  for (const m of mapped) {
    if (m.repoPath === undefined || m.frame.line === undefined || m.frame.line < 1) continue;
    byPath.set(m.repoPath, [...(byPath.get(m.repoPath) ?? []), m.frame.line]);
  }
  const blameAll = async (paths: readonly string[], ignore: readonly string[]): Promise<FrameBlame[]> => {
    const blamed = await Promise.all(
      paths.map(async (path) => ({
        path,
        lines: (await git.blameLines(deployed.sha, path, byPath.get(path)!, ignore)) ?? [],
      })),
    );
    return blamed.flatMap(({ path, lines }) =>
      lines.map((b) => ({ path, line: b.finalLine, blameSha: b.sha })),
    );
  };
  // Blame runs alongside the diffs, before the formatting-only commits are known: `--ignore-rev` only
  // re-attributes lines whose blame lands on an ignored commit, so only files where that happened are
  // blamed again below, through them.
  const [patches, frameSources, ignoreFile, firstBlame] = await Promise.all([
    timer.phase("diffs", () => git.patches(contained.map((r) => r.mergeSha))),
    // The first frames' lines as the deployed files read, with what their functions called before them.
    timer.phase("sources", async () => {
      const wanted = mapped
        .filter((m) => m.repoPath !== undefined && m.frame.line !== undefined && m.frame.line > 0)
        .slice(0, SOURCE_FRAMES);
      const paths = [...new Set(wanted.map((m) => m.repoPath!))];
      const texts = new Map(
        await Promise.all(paths.map(async (p) => [p, await git.fileAt(deployed.sha, p)] as const)),
      );
      const out: FrameSource[] = [];
      for (const m of wanted) {
        const text = texts.get(m.repoPath!);
        if (!text) continue;
        const line = m.frame.line!;
        const fn = bareFunctionName(m.frame.function);
        const source: FrameSource = { path: m.repoPath!, line, callees: calleesBefore(text, line, fn) };
        const own = text.split("\n")[line - 1];
        if (own !== undefined) source.text = own;
        out.push(source);
      }
      return out;
    }),
    files.includes(".git-blame-ignore-revs")
      ? git.fileAt(deployed.sha, ".git-blame-ignore-revs")
      : Promise.resolve(null),
    timer.phase("blame", () => blameAll([...byPath.keys()], [])),
  ]);

  // Formatting-only changes: blame sees through all their commits, and they get no credit.
  const ignoreRevs = new Set<string>();
  for (const r of contained) {
    const patch = patches.get(r.mergeSha);
    if (patch && isFormattingOnlyPatch(patch.files)) {
      for (const sha of [r.mergeSha, ...r.commits]) if (reachable.has(sha)) ignoreRevs.add(sha);
    }
  }
  for (const line of (ignoreFile ?? "").split("\n")) {
    const sha = line.trim().toLowerCase();
    if (reachable.has(sha)) ignoreRevs.add(sha);
  }

  let blame = firstBlame;
  const throughFormatting = [...new Set(blame.filter((b) => ignoreRevs.has(b.blameSha)).map((b) => b.path))];
  if (throughFormatting.length > 0) {
    const again = await timer.phase("blame_ignore_revs", () => blameAll(throughFormatting, [...ignoreRevs]));
    blame = [...blame.filter((b) => !throughFormatting.includes(b.path)), ...again];
  }

  const candidates = records.map((r) =>
    toCandidate(r, patches.get(r.mergeSha)?.files, t0, reachable, previous),
  );
  const anomalyInput = {
    kind: anomalyKind(anomaly),
    title: anomaly.title,
    frames: anomaly.frames,
    firstSeenAt: t0,
    ...(anomaly.errorType ? { errorType: anomaly.errorType } : {}),
    ...(anomaly.message ? { message: anomaly.message } : {}),
    ...(anomaly.service ? { service: anomaly.service } : {}),
    ...(anomaly.release ? { release: anomaly.release } : {}),
  };
  const input: AttributionInput = {
    anomaly: anomalyInput,
    deployedSha: deployed.sha,
    ...(deployed.previousSha ? { previousDeploySha: deployed.previousSha } : {}),
    files,
    candidates,
    blame,
    frameSources,
    ignoreRevs: [...ignoreRevs],
    ...(repo.jiraProjectKeys.length > 0 ? { knownProjectKeys: repo.jiraProjectKeys } : {}),
  };
  deps.captureInput?.(anomalyId, input);
  const result = await timer.phase("score", async () => attribute(input));

  let reasoning = result.reasoning;
  let reasoningSource: "deterministic" | "llm" = "deterministic";
  let llmRejected: string | undefined;
  if (deps.complete && result.suspects.length > 0) {
    const complete = deps.complete;
    const rewrite = await timer.phase("reasoning_llm", () =>
      rewriteReasoning(complete, result, result.reasoning, anomaly.title),
    );
    reasoning = rewrite.reasoning;
    reasoningSource = rewrite.source;
    llmRejected = rewrite.rejected;
    if (llmRejected) deps.logger.warn({ anomalyId, reason: llmRejected }, "LLM reasoning rejected");
  }

  const byId = new Map(records.map((r) => [r.id, r]));
  const ticketKeys = [...new Set(records.flatMap((r) => (r.ticket ? [r.ticket.key] : [])))];
  const statuses = await withOrg(deps.db, orgId, async (tx) =>
    ticketKeys.length === 0
      ? new Map<string, string | null>()
      : new Map(
          (
            await tx
              .select({ key: tickets.key, status: tickets.status })
              .from(tickets)
              .where(and(eq(tickets.orgId, orgId), inArray(tickets.key, ticketKeys)))
          ).map((t) => [t.key, t.status]),
        ),
  );
  const suspects: StoredSuspect[] = result.suspects.map((s) => {
    const r = byId.get(s.candidateId);
    const c = candidates.find((x) => x.id === s.candidateId);
    return {
      rank: s.rank,
      changeId: r?.changeId ?? null,
      candidateId: s.candidateId,
      prNumber: s.prNumber ?? null,
      title: s.title,
      author: r?.author ?? {},
      mergedAt: r?.mergedAt.toISOString() ?? null,
      mergeSha: r?.mergeSha ?? null,
      htmlUrl: r?.htmlUrl ?? null,
      score: s.score,
      facts: s.facts,
      ticket: c?.ticket
        ? {
            key: c.ticket.key,
            summary: c.ticket.summary,
            status: statuses.get(c.ticket.key) ?? null,
            linkSource: c.ticket.linkSource,
            ...(c.ticket.linkConfidence !== undefined ? { linkConfidence: c.ticket.linkConfidence } : {}),
          }
        : null,
    };
  });

  // The ticket the top suspect worked against: it removed lines an earlier ticketed change had added.
  const topCandidate = candidates.find((c) => c.id === result.suspects[0]?.candidateId);
  const contradicted =
    result.status === "done" && topCandidate ? findContradictedChange(topCandidate, candidates) : null;
  const contradictedTicket: StoredContradiction | null = contradicted
    ? {
        key: contradicted.ticket.key,
        summary: contradicted.ticket.summary,
        status: statuses.get(contradicted.ticket.key) ?? null,
        linkSource: contradicted.ticket.linkSource,
        changeId: byId.get(contradicted.candidate.id)?.changeId ?? null,
        prNumber: contradicted.candidate.prNumber ?? null,
        mergeSha: contradicted.candidate.mergeSha,
        path: contradicted.path,
        lines: contradicted.lines,
        sentence: `${changeLabel(topCandidate!)} removed ${contradicted.lines === 1 ? "a line" : `${contradicted.lines} lines`} of ${contradicted.path} that ${changeLabel(contradicted.candidate)} had added for ${contradicted.ticket.key}${contradicted.ticket.summary ? ` (${contradicted.ticket.summary})` : ""}.`,
      }
    : null;

  const timings = timer.finish();
  timings["gitCommands"] = git.commands;
  timings["sandboxExecs"] = git.execs;
  await store(deps, ctx, anomalyId, {
    status: result.status,
    repositoryId: repo.id,
    deployed,
    suspects,
    ticket: result.status === "done" ? (suspects[0]?.ticket ?? null) : null,
    confidence: { level: result.confidence.level, score: result.confidence.score },
    reasoning,
    reasoningSource,
    details: {
      mode: result.mode,
      noSuspectReason: result.noSuspectReason ?? null,
      filtered: result.filtered,
      unmappedFrames: result.unmappedFrames,
      margin: result.confidence.margin,
      because: result.confidence.because,
      candidates: candidates.length,
      ignoreRevs: [...ignoreRevs],
      contradictedTicket,
      ...(llmRejected ? { llmRejected } : {}),
    },
    timings,
  });
  return { status: result.status, result, suspects, timings };
}
