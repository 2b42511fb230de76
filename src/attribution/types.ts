/**
 * Input and output shapes of attribution (DESIGN.md §5, ATTRIBUTION.md §5). Everything here is plain
 * data: the git work (blame at the deployed SHA, diffs, ancestry) happens in a sandbox elsewhere and its
 * results arrive already parsed, so `attribute()` is a pure, deterministic function of this input.
 */
import type { StackFrame } from "../../integrations/core/types.ts";

export type AnomalyKind = "error" | "metric" | "log";

export interface AttributionAnomaly {
  kind: AnomalyKind;
  title: string;
  errorType?: string;
  message?: string;
  /** Crash site first (index 0 threw), as in Signal.frames. Empty for metric and log anomalies. */
  frames: StackFrame[];
  service?: string;
  /** t0: everything is judged "as of" this instant. */
  firstSeenAt: Date;
  release?: string;
}

/** One hunk of a unified diff with zero context (`git diff -U0`). */
export interface DiffHunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  /** Text after the second `@@` (git's function context), trimmed; "" when absent. */
  header: string;
  addedLines: string[];
  removedLines: string[];
}

export type FileChangeStatus = "added" | "deleted" | "modified" | "renamed" | "copied";

export interface FileDiff {
  /** Path before the change; null for an added file. */
  oldPath: string | null;
  /** Path after the change; null for a deleted file. */
  newPath: string | null;
  status: FileChangeStatus;
  binary: boolean;
  /** Rename / copy similarity in percent, when git reported it. */
  similarity?: number;
  oldMode?: string;
  newMode?: string;
  /** True for `diff --cc` / `diff --combined` output of a merge commit. */
  combined: boolean;
  hunks: DiffHunk[];
  /** Declarations (function / class / const ...) found on added lines, in order of appearance, unique. */
  addedIdentifiers: string[];
  /** Functions named by hunk headers or declared on added / removed lines, unique. */
  touchedFunctions: string[];
  /** "\ No newline at end of file" seen for the old / new side. */
  noNewlineAtEof: { old: boolean; new: boolean };
}

export interface CandidateAuthor {
  login?: string;
  email?: string;
  name?: string;
}

export type TicketLinkSource = "explicit" | "inferred";

export interface CandidateTicket {
  key: string;
  summary: string;
  linkSource: TicketLinkSource;
  /** For inferred links: the linker's confidence in [0, 1]. */
  linkConfidence?: number;
}

/** A pull request (or a direct commit to the default branch) that may have caused the anomaly. */
export interface CandidateChange {
  /** Stable id, also the last tie-break ("pr-118", or the commit SHA for a direct push). */
  id: string;
  prNumber?: number;
  title: string;
  body: string;
  branch?: string;
  author: CandidateAuthor;
  mergedAt: Date;
  /** When the release holding this change was deployed; recency uses it when present. */
  deployedAt?: Date;
  mergeSha: string;
  /** Every commit of the PR (inner commits of a merge workflow too), full SHAs. */
  commits: string[];
  /** Changed paths as they are at the candidate's merge (new side; old side for deletions). */
  files: string[];
  /** Zero-context hunks per changed path (diff-parser output keyed by new path). */
  hunks: Record<string, DiffHunk[]>;
  addedIdentifiers: string[];
  touchedFunctions: string[];
  /** `git merge-base --is-ancestor mergeSha deployedSha` succeeded. */
  isAncestorOfDeployed: boolean;
  /** Every changed path is documentation or tests. */
  docsOrTestsOnly: boolean;
  /** Reverted (or named as the regression by a fix) after t0: the post-hoc signal. */
  revertedLater: boolean;
  /**
   * How many deploys back the change first shipped: 0 = in the deployed release but not in the previous
   * deploy, 1 = already in the previous deploy, ... Undefined when deploy history is unknown.
   */
  releasesBack?: number;
  ticket?: CandidateTicket;
  /** Labels such as "hotfix" (feed the risk prior). */
  labels?: string[];
}

/** Blame at the deployed SHA of one mapped frame line, run with the formatting-only commits ignored. */
export interface FrameBlame {
  /** Repository path (as mapped by path-mapping). */
  path: string;
  line: number;
  blameSha: string;
}

/** A mapped frame line as the file reads at the deployed SHA (callees.ts). */
export interface FrameSource {
  path: string;
  line: number;
  /** The frame line's own text. */
  text?: string;
  /** Names the frame's function called before reaching the line, nearest first. */
  callees: string[];
}

/** A directory prefix ("src/checkout/") or exact path and the identities (login, e-mail, name) owning it. */
export interface OwnershipEntry {
  path: string;
  owners: string[];
}

export interface DependencyPaths {
  prefix: string;
  /** Hops from the anomalous service in the dependency graph (1 = direct dependency). */
  hops: number;
}

export type FeatureId =
  | "blame"
  | "hunk_proximity"
  | "function"
  | "file"
  | "dependency"
  | "text"
  | "recency"
  | "ownership"
  | "risk"
  | "revert";

export type Weights = Record<FeatureId, number>;

export type ScoringMode = "stack" | "no_code_evidence" | "no_stack";

export interface AttributionInput {
  anomaly: AttributionAnomaly;
  deployedSha: string;
  previousDeploySha?: string;
  /** Repository file list at the deployed SHA (`git ls-tree -r --name-only`). */
  files: string[];
  candidates: CandidateChange[];
  /** Blame of each mapped frame line at the deployed SHA. */
  blame: FrameBlame[];
  /**
   * Mapped frame lines read from the files at the deployed SHA: their text and the names their function
   * called before reaching them (callees.ts). Feeds the "dependency" feature.
   */
  frameSources?: FrameSource[];
  /**
   * Formatting-only commits. The sandbox passes them to blame as `--ignore-rev`; attribution also refuses
   * them blame credit, so a blame that still lands on one is not evidence.
   */
  ignoreRevs?: string[];
  ownership?: OwnershipEntry[];
  /** Path prefixes of the anomaly's service. */
  servicePaths?: string[];
  dependencyPaths?: DependencyPaths[];
  /** Known Jira project keys; when given, a ticket of another project is treated as no ticket (decoys). */
  knownProjectKeys?: string[];
  /** Per-mode weight overrides. */
  weights?: Partial<Record<ScoringMode, Partial<Weights>>>;
  /** Half-life of the recency decay; defaults depend on the anomaly kind (see features.ts). */
  recencyHalfLifeHours?: number;
}

export type EvidencePointer = { file: string; line?: number } | { commit: string };

export type EvidenceKind = FeatureId | "filter" | "identity" | "mapping";

/** One human-readable, checkable statement. Reasoning paragraphs are built from these only. */
export interface EvidenceFact {
  feature: EvidenceKind;
  /** Weight of the feature in the active mode (0 for identity / filter / mapping facts). */
  weight: number;
  /** The feature's value in [0, 1] for this candidate. */
  value: number;
  sentence: string;
  pointers: EvidencePointer[];
}

export interface FeatureValue {
  feature: FeatureId;
  weight: number;
  value: number;
  facts: EvidenceFact[];
}

export interface RankedSuspect {
  rank: number;
  candidateId: string;
  prNumber?: number;
  title: string;
  score: number;
  features: FeatureValue[];
  /** Identity facts first, then the facts of every feature with a non-zero value. */
  facts: EvidenceFact[];
}

export type FilterReason =
  | "not_in_deployed_sha"
  | "merged_after_first_seen"
  | "deployed_after_first_seen"
  | "docs_or_tests_only"
  | "formatting_only";

export interface FilteredCandidate {
  candidateId: string;
  reason: FilterReason;
  fact: EvidenceFact;
}

export type ConfidenceLevel = "high" | "medium" | "low";

export interface Confidence {
  level: ConfidenceLevel;
  /** Softmax probability of the top suspect over the ranked candidates. */
  score: number;
  topScore: number;
  /** Top score minus the runner-up's (the top score when there is no runner-up). */
  margin: number;
  /** Why the level is what it is, for the report. */
  because: string;
}

export type NoSuspectReason = "no_candidates" | "no_mapped_frames" | "weak_evidence";

export interface UnmappedFrame {
  file: string;
  line?: number;
  reason: "ambiguous" | "no_match";
}

export interface AttributionResult {
  status: "done" | "no_suspect";
  noSuspectReason?: NoSuspectReason;
  mode: ScoringMode;
  suspects: RankedSuspect[];
  filtered: FilteredCandidate[];
  unmappedFrames: UnmappedFrame[];
  confidence: Confidence;
  reasoning: string;
}
