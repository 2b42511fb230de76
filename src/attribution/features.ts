/**
 * Evidence features (ATTRIBUTION.md §5.3). Each feature of a candidate is a value in [0, 1] plus the
 * facts that justify it: a human sentence and pointers to files, lines and commits. The weights are
 * attached by the scorer once the mode is known; this module only measures.
 *
 * Frame weighting: frame k (k = index among in-app frames, crash site 0) weighs w_k = 0.8^k. The design
 * averages Σ w_k·x_k / W over the mapped frames, which shrinks a crash-site hit as the stack grows (one
 * hit of 10 mapped frames is worth 0.22). We combine the frames with a noisy-or, 1 − Π(1 − w_k·x_k): a
 * crash-site hit is worth 1 whatever the stack depth, a hit only at frame 2 is worth 0.64, and several
 * hits add up without exceeding 1. Repeated frames (recursion) count once, at their shallowest depth.
 */
import { dereferencedNames, isNullDereference, quotedKeys, removedGuard } from "./callees.ts";
import type { MappedFrame } from "./path-mapping.ts";
import { scoreTextMatches, type TextMatch } from "./text-evidence.ts";
import type {
  AnomalyKind,
  AttributionInput,
  CandidateChange,
  DiffHunk,
  EvidencePointer,
  FeatureId,
} from "./types.ts";

export const FRAME_DECAY = 0.8;
/** Hunk proximity reaches 0 at this many lines from the frame line (design: max(0, 1 − d/10)). */
export const HUNK_PROXIMITY_LINES = 10;
/**
 * Recency half-life per anomaly kind. Errors: 50 h, the half-life of the design's exp(−Δ/72 h). Metric
 * and log alerts use minute-scale doubling buckets instead (see recencyDecay).
 */
export const DEFAULT_ERROR_HALF_LIFE_HOURS = 50;
export const METRIC_BUCKET_MINUTES = 10;

export interface FactDraft {
  sentence: string;
  pointers: EvidencePointer[];
}

export interface FeatureDraft {
  feature: FeatureId;
  value: number;
  facts: FactDraft[];
}

export type CandidateFeatures = Record<FeatureId, FeatureDraft>;

export interface WeightedFrame {
  k: number;
  w: number;
  path: string;
  line?: number;
  functionName?: string;
  label: string;
}

export interface FeatureContext {
  kind: AnomalyKind;
  firstSeenAt: Date;
  deployedSha: string;
  previousDeploySha?: string;
  frames: WeightedFrame[];
  blameByLine: Map<string, string>;
  /** Frame lines at the deployed SHA (lineKey → text and callees), from input.frameSources. */
  sourceByLine: Map<string, { text?: string; callees: string[] }>;
  /** Keys the error message quotes ('amount'), for changes off the stack. */
  errorKeys: string[];
  /** The error is a read through a null / undefined / None / nil value. */
  nullDereference: boolean;
  ignoreRevs: Set<string>;
  text: Map<string, TextMatch>;
  validTicket: (c: CandidateChange) => boolean;
  risk: { mean: number; std: number };
  halfLifeHours?: number;
  ownership: NonNullable<AttributionInput["ownership"]>;
  servicePaths: string[];
  dependencyPaths: NonNullable<AttributionInput["dependencyPaths"]>;
  service?: string;
}

// ---------------------------------------------------------------------------------------------------
// formatting shared with the reasoning

export function shortSha(sha: string): string {
  return sha.slice(0, 7);
}

/** ISO 8601 to the second, UTC: what the reasoning and the citation check speak. */
export function isoTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function candidateLabel(c: CandidateChange): string {
  return c.prNumber !== undefined ? `PR #${c.prNumber}` : `commit ${shortSha(c.mergeSha)}`;
}

function hours(ms: number): string {
  const h = ms / 3_600_000;
  if (h < 1) return `${Math.max(1, Math.round(h * 60))} min`;
  if (h < 48) return `${h.toFixed(1)} h`;
  return `${(h / 24).toFixed(1)} days`;
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

// ---------------------------------------------------------------------------------------------------
// frames

/** Normalises a runtime function name to the bare callable name a diff declares. */
export function bareFunctionName(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  let name = raw.trim();
  name = name.replace(/\s*\[as [^\]]+\]$/, "");
  name = name.replace(/^(async|new|get|set|static)\s+/, "");
  name = name.replace(/<[^<>]*>/g, (m) =>
    /^<(anonymous|module|lambda|listcomp|genexpr|init|clinit)>$/.test(m) ? m : "",
  );
  name = name.replace(/\(.*\)$/, "");
  const parts = name.split(/::|\.|#|\//).filter((p) => p !== "");
  const last = parts[parts.length - 1];
  if (!last || /^<.*>$/.test(last) || /^(anonymous|\?|lambda\$\d+|apply|call)$/.test(last)) return undefined;
  if (!/^[A-Za-z_$][\w$]*[?!]?$/.test(last)) return undefined;
  return last;
}

function frameLabel(k: number, fn: string | undefined): string {
  const where = k === 0 ? "crash site" : `frame ${k} of the stack`;
  return fn ? `${where}, in ${fn}()` : where;
}

export function weightFrames(mapped: readonly MappedFrame[]): WeightedFrame[] {
  const out: WeightedFrame[] = [];
  for (const m of mapped) {
    if (m.repoPath === undefined) continue;
    const functionName = bareFunctionName(m.frame.function);
    const wf: WeightedFrame = {
      k: m.inAppIndex,
      w: FRAME_DECAY ** m.inAppIndex,
      path: m.repoPath,
      label: frameLabel(m.inAppIndex, functionName),
    };
    if (m.frame.line !== undefined && m.frame.line > 0) wf.line = m.frame.line;
    if (functionName !== undefined) wf.functionName = functionName;
    out.push(wf);
  }
  return out;
}

function noisyOr(parts: readonly number[]): number {
  let keep = 1;
  for (const p of parts) keep *= 1 - Math.min(1, Math.max(0, p));
  return 1 - keep;
}

/** First occurrence per key: recursion and repeated frames count once, at the shallowest depth. */
function firstBy<T>(items: readonly T[], key: (t: T) => string | undefined): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const it of items) {
    const k = key(it);
    if (k === undefined || seen.has(k)) continue;
    seen.add(k);
    out.push(it);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// context

export function lineKey(path: string, line: number): string {
  return `${path}:${line}`;
}

export function changedLineCount(c: CandidateChange): number {
  let n = 0;
  for (const hunks of Object.values(c.hunks))
    for (const h of hunks) n += h.addedLines.length + h.removedLines.length;
  return n;
}

export function ticketProjectIsKnown(key: string, known: readonly string[] | undefined): boolean {
  if (!known || known.length === 0) return true;
  const project = key.toUpperCase().replace(/-\d+$/, "");
  return known.some((k) => k.toUpperCase() === project);
}

export function buildFeatureContext(
  input: AttributionInput,
  frames: WeightedFrame[],
  candidates: readonly CandidateChange[],
): FeatureContext {
  const blameByLine = new Map<string, string>();
  for (const b of input.blame) blameByLine.set(lineKey(b.path, b.line), b.blameSha);
  const sourceByLine = new Map<string, { text?: string; callees: string[] }>();
  for (const fs of input.frameSources ?? []) sourceByLine.set(lineKey(fs.path, fs.line), fs);
  const validTicket = (c: CandidateChange) =>
    c.ticket !== undefined && ticketProjectIsKnown(c.ticket.key, input.knownProjectKeys);

  const a = input.anomaly;
  const query = [
    a.title,
    a.errorType ?? "",
    a.message ?? "",
    a.service ?? "",
    ...frames.map((f) => f.functionName ?? ""),
    ...frames.map((f) => f.path.split("/").pop() ?? ""),
  ].join("\n");
  const docs = candidates.map((c) => ({
    id: c.id,
    text: [
      c.title,
      c.body,
      c.branch ?? "",
      validTicket(c) ? c.ticket!.summary : "",
      c.addedIdentifiers.join(" "),
    ].join("\n"),
  }));

  const sizes = candidates.map((c) => Math.log1p(changedLineCount(c)));
  const mean = sizes.length ? sizes.reduce((s, x) => s + x, 0) / sizes.length : 0;
  const variance = sizes.length ? sizes.reduce((s, x) => s + (x - mean) ** 2, 0) / sizes.length : 0;

  const ctx: FeatureContext = {
    kind: a.kind,
    firstSeenAt: a.firstSeenAt,
    deployedSha: input.deployedSha,
    frames,
    blameByLine,
    sourceByLine,
    errorKeys: a.kind === "error" ? quotedKeys(a.message) : [],
    nullDereference: a.kind === "error" && isNullDereference(`${a.errorType ?? ""} ${a.message ?? a.title}`),
    ignoreRevs: new Set(input.ignoreRevs ?? []),
    text: scoreTextMatches(query, docs),
    validTicket,
    risk: { mean, std: Math.sqrt(variance) },
    ownership: input.ownership ?? [],
    servicePaths: input.servicePaths ?? [],
    dependencyPaths: input.dependencyPaths ?? [],
  };
  if (input.previousDeploySha !== undefined) ctx.previousDeploySha = input.previousDeploySha;
  if (input.recencyHalfLifeHours !== undefined) ctx.halfLifeHours = input.recencyHalfLifeHours;
  if (a.service !== undefined) ctx.service = a.service;
  return ctx;
}

// ---------------------------------------------------------------------------------------------------
// features

/** The candidate's own SHAs that may take blame credit (formatting-only commits never do). */
export function creditedShas(c: CandidateChange, ignoreRevs: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const sha of [...c.commits, c.mergeSha]) if (!ignoreRevs.has(sha)) out.add(sha);
  return out;
}

function blameFeature(c: CandidateChange, ctx: FeatureContext): FeatureDraft {
  const shas = creditedShas(c, ctx.ignoreRevs);
  const parts: number[] = [];
  const facts: FactDraft[] = [];
  for (const f of firstBy(ctx.frames, (f) => (f.line === undefined ? undefined : lineKey(f.path, f.line)))) {
    const sha = ctx.blameByLine.get(lineKey(f.path, f.line!));
    if (sha === undefined || !shas.has(sha)) continue;
    parts.push(f.w);
    facts.push({
      sentence: `Line ${f.line} of ${f.path} (${f.label}) was last changed by ${candidateLabel(c)} (commit ${shortSha(sha)}, blame at deployed SHA ${shortSha(ctx.deployedSha)}).`,
      pointers: [{ file: f.path, line: f.line! }, { commit: sha }],
    });
  }
  return { feature: "blame", value: noisyOr(parts), facts };
}

/** Distance from a line to a hunk's new-side range; a pure deletion sits between newStart and newStart+1. */
function hunkDistance(line: number, h: DiffHunk): number {
  const lo = h.newStart;
  const hi = h.newLines === 0 ? h.newStart + 1 : h.newStart + h.newLines - 1;
  if (line < lo) return lo - line;
  if (line > hi) return line - hi;
  return 0;
}

function hunkRange(h: DiffHunk): string {
  if (h.newLines === 0) return `lines removed after line ${h.newStart}`;
  if (h.newLines === 1) return `line ${h.newStart}`;
  return `lines ${h.newStart}-${h.newStart + h.newLines - 1}`;
}

function hunkProximityFeature(c: CandidateChange, ctx: FeatureContext): FeatureDraft {
  const shas = creditedShas(c, ctx.ignoreRevs);
  const parts: number[] = [];
  const facts: FactDraft[] = [];
  for (const f of firstBy(ctx.frames, (f) => (f.line === undefined ? undefined : lineKey(f.path, f.line)))) {
    const hunks = c.hunks[f.path];
    if (!hunks || hunks.length === 0) continue;
    // Exact hits belong to the blame feature.
    const blamed = ctx.blameByLine.get(lineKey(f.path, f.line!));
    if (blamed !== undefined && shas.has(blamed)) continue;
    let best: { d: number; h: DiffHunk } | undefined;
    for (const h of hunks) {
      const d = hunkDistance(f.line!, h);
      if (!best || d < best.d) best = { d, h };
    }
    if (!best) continue;
    const x = Math.max(0, 1 - best.d / HUNK_PROXIMITY_LINES);
    if (x <= 0) continue;
    parts.push(f.w * x);
    const distance = best.d === 0 ? "covering" : `${best.d} line${best.d === 1 ? "" : "s"} from`;
    facts.push({
      sentence: `${candidateLabel(c)} changed ${f.path} (${hunkRange(best.h)}), ${distance} line ${f.line} (${f.label}).`,
      pointers: [{ file: f.path, line: f.line! }],
    });
  }
  return { feature: "hunk_proximity", value: noisyOr(parts), facts };
}

function functionFeature(c: CandidateChange, ctx: FeatureContext): FeatureDraft {
  const touched = new Set(c.touchedFunctions.map((n) => bareFunctionName(n) ?? n));
  const files = new Set(c.files);
  const parts: number[] = [];
  const facts: FactDraft[] = [];
  for (const f of firstBy(ctx.frames, (f) => (f.functionName ? `${f.path}#${f.functionName}` : undefined))) {
    // The name must be changed in the frame's own file: "handle" or "run" exist everywhere.
    if (!files.has(f.path) || !touched.has(f.functionName!)) continue;
    parts.push(f.w);
    const at = f.line !== undefined ? `${f.path}:${f.line}` : f.path;
    facts.push({
      sentence: `${candidateLabel(c)} changed function ${f.functionName}() in ${f.path}, which is on the stack at ${at} (${f.k === 0 ? "crash site" : `frame ${f.k} of the stack`}).`,
      pointers: f.line !== undefined ? [{ file: f.path, line: f.line }] : [{ file: f.path }],
    });
  }
  return { feature: "function", value: noisyOr(parts), facts };
}

/** 1/log2(2 + files changed): 0.63 for one file, 0.18 for a 40-file sweep. */
export function sweepDamping(filesChanged: number): number {
  return 1 / Math.log2(2 + Math.max(0, filesChanged));
}

function fileFeature(c: CandidateChange, ctx: FeatureContext): FeatureDraft {
  const files = new Set(c.files);
  const parts: number[] = [];
  const hits: WeightedFrame[] = [];
  for (const f of firstBy(ctx.frames, (f) => f.path)) {
    if (!files.has(f.path)) continue;
    parts.push(f.w);
    hits.push(f);
  }
  const damping = sweepDamping(c.files.length);
  const value = noisyOr(parts) * damping;
  const facts: FactDraft[] = hits.map((f) => ({
    sentence: `${candidateLabel(c)} changed ${f.path}, a file on the stack (${f.label}); it changed ${c.files.length} file${c.files.length === 1 ? "" : "s"} in all, so file overlap counts ${pct(damping)}.`,
    pointers: [{ file: f.path }],
  }));
  return { feature: "file", value, facts };
}

/** Weight of a changed off-stack line that names the key the error quotes, relative to a callee hit. */
export const ERROR_KEY_CREDIT = 0.5;

function wordIn(text: string, word: string): boolean {
  return new RegExp(`(^|[^\\w$])${word.replace(/[$]/g, "\\$")}([^\\w$]|$)`).test(text);
}

/**
 * Code the failing line depends on that is not the line itself:
 * - a removed guard: for a null / undefined dereference, the candidate deleted a check on a name the
 *   crash line dereferences (`if (!entry) return` above `entry.amount`), within the hunk-proximity
 *   distance; blame cannot see a deletion;
 * - a callee: the candidate changed a function that a frame's function called before reaching the frame
 *   line (it returned, so it is not on the stack, but what it returned is what failed);
 * - off the stack files, changed lines that name the key the error message quotes ("reading 'amount'"
 *   and a config entry `"amount"` removed), at half credit.
 * The frame's own function is the "function" feature's business and is not counted here.
 */
function dependencyFeature(c: CandidateChange, ctx: FeatureContext): FeatureDraft {
  const touched = new Set(c.touchedFunctions.map((n) => bareFunctionName(n) ?? n));
  const parts: number[] = [];
  const facts: FactDraft[] = [];
  const counted = new Set<string>();
  const frames = firstBy(ctx.frames, (f) => (f.line === undefined ? undefined : lineKey(f.path, f.line)));
  const crash = frames.find((f) => f.k === 0);
  const crashText = crash ? ctx.sourceByLine.get(lineKey(crash.path, crash.line!))?.text : undefined;
  if (crash && crashText !== undefined && ctx.nullDereference) {
    const names = dereferencedNames(crashText);
    for (const h of c.hunks[crash.path] ?? []) {
      if (hunkDistance(crash.line!, h) > HUNK_PROXIMITY_LINES) continue;
      const guard = removedGuard(h, names);
      if (!guard) continue;
      parts.push(crash.w);
      facts.push({
        sentence: `${candidateLabel(c)} removed a check on ${guard.name} ("${guard.line.trim()}") near line ${crash.line} of ${crash.path} (${crash.label}), where the error reads through a missing value.`,
        pointers: [{ file: crash.path, line: crash.line! }],
      });
      break;
    }
  }
  for (const f of frames) {
    const callees = ctx.sourceByLine.get(lineKey(f.path, f.line!))?.callees ?? [];
    for (const name of callees) {
      if (name === f.functionName || !touched.has(name) || counted.has(name)) continue;
      counted.add(name);
      parts.push(f.w);
      facts.push({
        sentence: `${candidateLabel(c)} changed ${name}(), which ${f.functionName ? `${f.functionName}()` : "the frame's function"} calls before line ${f.line} of ${f.path} (${f.label}).`,
        pointers: [{ file: f.path, line: f.line! }],
      });
      break;
    }
  }
  if (ctx.errorKeys.length > 0) {
    const stackFiles = new Set(ctx.frames.map((f) => f.path));
    for (const [file, hunks] of Object.entries(c.hunks)) {
      if (stackFiles.has(file)) continue;
      const key = ctx.errorKeys.find((k) =>
        hunks.some((h) => [...h.addedLines, ...h.removedLines].some((l) => wordIn(l, k))),
      );
      if (key === undefined) continue;
      parts.push(ERROR_KEY_CREDIT);
      facts.push({
        sentence: `${candidateLabel(c)} changed lines of ${file} that name ${key}, the key the error could not read.`,
        pointers: [{ file }],
      });
      break;
    }
  }
  return { feature: "dependency", value: noisyOr(parts), facts };
}

function textFeature(c: CandidateChange, ctx: FeatureContext): FeatureDraft {
  const m = ctx.text.get(c.id);
  if (!m || m.value <= 0) return { feature: "text", value: 0, facts: [] };
  const terms = m.sharedTerms.slice(0, 6).join(", ");
  return {
    feature: "text",
    value: m.value,
    facts: [
      {
        sentence: `${candidateLabel(c)}'s description shares the terms ${terms} with the anomaly (text match ${pct(m.value)} of the best candidate).`,
        pointers: [],
      },
    ],
  };
}

/** Recency in [0, 1]: exponential half-life for errors, doubling buckets for metric and log alerts. */
export function recencyDecay(deltaMs: number, kind: AnomalyKind, halfLifeHours?: number): number {
  const delta = Math.max(0, deltaMs);
  if (halfLifeHours !== undefined || kind === "error") {
    const half = (halfLifeHours ?? DEFAULT_ERROR_HALF_LIFE_HOURS) * 3_600_000;
    return 0.5 ** (delta / half);
  }
  // ChangeRCA-style buckets: full credit within 10 minutes, then halve each time the gap doubles.
  const bucket =
    delta <= METRIC_BUCKET_MINUTES * 60_000
      ? 0
      : Math.ceil(Math.log2(delta / (METRIC_BUCKET_MINUTES * 60_000)));
  return 0.5 ** bucket;
}

function recencyFeature(c: CandidateChange, ctx: FeatureContext): FeatureDraft {
  const shippedAt = c.deployedAt ?? c.mergedAt;
  const delta = ctx.firstSeenAt.getTime() - shippedAt.getTime();
  const decay = recencyDecay(delta, ctx.kind, ctx.halfLifeHours);
  const membership = c.releasesBack === undefined ? 0 : 0.5 ** Math.max(0, c.releasesBack);
  const value = 0.5 * decay + 0.5 * membership;
  const when = c.deployedAt
    ? `merged at ${isoTime(c.mergedAt)} and deployed at ${isoTime(c.deployedAt)}`
    : `merged at ${isoTime(c.mergedAt)}`;
  const facts: FactDraft[] = [
    {
      sentence: `${candidateLabel(c)} was ${when}, ${hours(delta)} before the anomaly was first seen at ${isoTime(ctx.firstSeenAt)}.`,
      pointers: [{ commit: c.mergeSha }],
    },
  ];
  if (c.releasesBack === 0) {
    const prev = ctx.previousDeploySha
      ? ` and not in the previous deploy ${shortSha(ctx.previousDeploySha)}`
      : "";
    facts.push({
      sentence: `${candidateLabel(c)} is new in the deployed release ${shortSha(ctx.deployedSha)}${prev}.`,
      pointers: [{ commit: ctx.deployedSha }],
    });
  } else if (c.releasesBack !== undefined) {
    facts.push({
      sentence: `${candidateLabel(c)} already shipped ${c.releasesBack} deploy${c.releasesBack === 1 ? "" : "s"} before the deployed release.`,
      pointers: [],
    });
  }
  return { feature: "recency", value, facts };
}

function underPrefix(path: string, prefix: string): boolean {
  if (prefix === "" || prefix === "/") return true;
  const p = prefix.replace(/^\/+/, "");
  return p.endsWith("/") ? path.startsWith(p) : path === p || path.startsWith(`${p}/`);
}

function authorIdentities(c: CandidateChange): Set<string> {
  const ids = [
    c.author.login,
    c.author.email,
    c.author.name,
    c.author.login ? `@${c.author.login}` : undefined,
  ];
  return new Set(ids.filter((x): x is string => !!x).map((x) => x.toLowerCase()));
}

/** Share of the candidate's changed lines (files without hunks count one line) under `prefixes`. */
function shareUnder(c: CandidateChange, prefixes: readonly string[]): number {
  let total = 0;
  let inside = 0;
  for (const file of c.files) {
    const hunks = c.hunks[file] ?? [];
    const n = Math.max(
      1,
      hunks.reduce((s, h) => s + h.addedLines.length + h.removedLines.length, 0),
    );
    total += n;
    if (prefixes.some((p) => underPrefix(file, p))) inside += n;
  }
  return total === 0 ? 0 : inside / total;
}

function ownershipFeature(c: CandidateChange, ctx: FeatureContext): FeatureDraft {
  const components: number[] = [];
  const facts: FactDraft[] = [];

  if (ctx.frames.length > 0 && ctx.ownership.length > 0) {
    const ids = authorIdentities(c);
    const who = c.author.login ?? c.author.email ?? c.author.name ?? "the author";
    const parts: number[] = [];
    for (const f of firstBy(ctx.frames, (f) => f.path)) {
      // The most specific entry wins, as in CODEOWNERS.
      const entry = [...ctx.ownership]
        .filter((e) => underPrefix(f.path, e.path))
        .sort((a, b) => b.path.length - a.path.length || (a.path < b.path ? -1 : 1))[0];
      if (!entry?.owners.some((o) => ids.has(o.toLowerCase()))) continue;
      parts.push(f.w);
      facts.push({
        sentence: `${who}, the author of ${candidateLabel(c)}, owns or recently changed ${entry.path}, which holds ${f.path} (${f.label}).`,
        pointers: [{ file: f.path }],
      });
    }
    components.push(noisyOr(parts));
  }

  if (ctx.servicePaths.length > 0 || ctx.dependencyPaths.length > 0) {
    const own = shareUnder(c, ctx.servicePaths);
    let best = own;
    let via: { prefix: string; hops: number } | undefined;
    for (const d of ctx.dependencyPaths) {
      const v = shareUnder(c, [d.prefix]) * (2 / (2 + Math.max(1, d.hops)));
      if (v > best) {
        best = v;
        via = d;
      }
    }
    components.push(best);
    const service = ctx.service ? `the ${ctx.service} service` : "the anomalous service";
    if (best > 0 && !via) {
      facts.push({
        sentence: `${pct(own)} of ${candidateLabel(c)}'s changed lines are under the paths of ${service} (${ctx.servicePaths.join(", ")}).`,
        pointers: [],
      });
    } else if (via) {
      facts.push({
        sentence: `${candidateLabel(c)} changes ${via.prefix}, a dependency ${via.hops} hop${via.hops === 1 ? "" : "s"} from ${service}.`,
        pointers: [],
      });
    }
  }
  const value = components.length === 0 ? 0 : components.reduce((s, x) => s + x, 0) / components.length;
  return { feature: "ownership", value, facts };
}

const CONFIG_FILE =
  /(^|\/)(config|configs|conf|settings|migrations?|flags?|feature[-_]?flags?)(\/|\.|$)|\.(ya?ml|toml|ini|env|properties|conf|cfg|tf|tfvars)$|(^|\/)(Dockerfile|docker-compose\.ya?ml|\.env[\w.-]*)$/i;

function riskFeature(c: CandidateChange, ctx: FeatureContext): FeatureDraft {
  const lines = changedLineCount(c);
  const z = ctx.risk.std > 0 ? (Math.log1p(lines) - ctx.risk.mean) / ctx.risk.std : 0;
  const size = 1 / (1 + Math.exp(-z));
  const configFiles = c.files.filter((f) => CONFIG_FILE.test(f));
  const hotfix = [c.title, c.branch ?? "", ...(c.labels ?? [])].some((s) => /hot-?fix/i.test(s));
  const value = Math.min(1, 0.6 * size + (configFiles.length > 0 ? 0.25 : 0) + (hotfix ? 0.15 : 0));
  const extras: string[] = [];
  if (configFiles.length > 0)
    extras.push(`configuration or migration files (${configFiles.slice(0, 3).join(", ")})`);
  if (hotfix) extras.push("a hotfix label");
  const facts: FactDraft[] = [
    {
      sentence: `${candidateLabel(c)} changes ${lines} line${lines === 1 ? "" : "s"} in ${c.files.length} file${c.files.length === 1 ? "" : "s"}${extras.length ? `, with ${extras.join(" and ")}` : ""}.`,
      pointers: configFiles.slice(0, 3).map((file) => ({ file })),
    },
  ];
  return { feature: "risk", value, facts };
}

function revertFeature(c: CandidateChange): FeatureDraft {
  if (!c.revertedLater) return { feature: "revert", value: 0, facts: [] };
  return {
    feature: "revert",
    value: 1,
    facts: [
      {
        sentence: `Post-hoc: ${candidateLabel(c)} was reverted (or named as the regression by a later fix) after the anomaly was first seen.`,
        pointers: [{ commit: c.mergeSha }],
      },
    ],
  };
}

export function computeFeatures(c: CandidateChange, ctx: FeatureContext): CandidateFeatures {
  return {
    blame: blameFeature(c, ctx),
    hunk_proximity: hunkProximityFeature(c, ctx),
    function: functionFeature(c, ctx),
    file: fileFeature(c, ctx),
    dependency: dependencyFeature(c, ctx),
    text: textFeature(c, ctx),
    recency: recencyFeature(c, ctx),
    ownership: ownershipFeature(c, ctx),
    risk: riskFeature(c, ctx),
    revert: revertFeature(c),
  };
}

/** Frames that can anchor a "high" confidence: the crash site and its two callers. */
export const ANCHOR_FRAMES = 3;

/**
 * What ties the candidate to the top of the stack, if anything: exact-line blame on one of the first
 * three in-app frames, or a change to the frame's function whose hunk covers the frame line itself (the
 * case where blame went through an ignored formatting commit). A nearby hunk is not enough.
 */
export function stackAnchor(c: CandidateChange, ctx: FeatureContext): "blame" | "function" | undefined {
  const shas = creditedShas(c, ctx.ignoreRevs);
  const touched = new Set(c.touchedFunctions.map((n) => bareFunctionName(n) ?? n));
  let anchor: "blame" | "function" | undefined;
  for (const f of ctx.frames) {
    if (f.k >= ANCHOR_FRAMES || f.line === undefined) continue;
    const blamed = ctx.blameByLine.get(lineKey(f.path, f.line));
    if (blamed !== undefined && shas.has(blamed)) return "blame";
    const covers = (c.hunks[f.path] ?? []).some((h) => hunkDistance(f.line!, h) === 0);
    if (covers && f.functionName !== undefined && touched.has(f.functionName) && c.files.includes(f.path)) {
      anchor = "function";
    }
  }
  return anchor;
}

/** L + H + Fn + Fi + callee > 0: the candidate touches the stack, or code the stack called, at least at file level. */
export function hasCodeEvidence(f: CandidateFeatures): boolean {
  return f.blame.value + f.hunk_proximity.value + f.function.value + f.file.value + f.dependency.value > 0;
}
