import { createHash } from "node:crypto";
import type { CanonicalEntry } from "../entry.ts";

/**
 * The evidence bundle format shared by the exporter and the offline verifier. Nothing here touches the
 * database: `causeway verify` imports this file and the Merkle/checkpoint code only.
 */
export const BUNDLE_FORMAT = "causeway.evidence-bundle/v1";
export const CRITERIA = ["cc7.1", "cc8.1"] as const;
export type Criterion = (typeof CRITERIA)[number];

/** The audit action of an entry that records one evidence row's facts. */
export const ROW_ACTION = "evidence.row";
/** The audit action of an export's manifest: population, count, digest of the rows, summary. */
export const MANIFEST_ACTION = "evidence.exported";

export const POPULATION_RULES: Record<Criterion, string> = {
  "cc7.1":
    "Every anomaly of the org whose detection time (detected_at, when Causeway received its first signal) falls in [from, to] UTC inclusive, open or resolved, ordered by detection time then id; one row each.",
  "cc8.1":
    "Every change (merged pull request or direct commit) of the org merged in [from, to] UTC inclusive or deployed in that period (a deploy whose SHA is the change's merge or head SHA), ordered by merge time (when Causeway recorded the change, if the merge time is unknown) then id; then every audit entry in the period whose action is an approval, rejection, exception, escalation or incident decision (action matches /(approv|reject|refus|confirm|intend|exception|escalat|acknowledge|resolve|reopen|override)/), ordered by audit index.",
};

export const DECISION_ACTION_PATTERN =
  "(approv|reject|refus|confirm|intend|exception|escalat|acknowledge|resolve|reopen|override)";

/** One row: the audit entry that is its evidence (facts inside `entry.data`), its index and audit path. */
export interface BundleRow {
  auditIndex: string;
  entry: CanonicalEntry;
  /** Base64 hashes, leaf to root, against the bundle's checkpoint. */
  inclusionProof: string[];
}

export interface BundleCheckpoint {
  note: string;
  origin: string;
  size: string;
  rootHash: string;
  keyName: string;
  keyId: string;
  /** The verifier key the exporter signed with; `causeway verify --key` pins one instead of trusting this. */
  vkey: string;
}

export interface Bundle {
  format: typeof BUNDLE_FORMAT;
  criterion: Criterion;
  org: { id: string; name: string };
  period: { from: string; to: string };
  generatedAt: string;
  populationRule: string;
  redactPaths: boolean;
  summary: Record<string, unknown>;
  checkpoint: BundleCheckpoint;
  previousCheckpoint: { note: string; size: string; rootHash: string } | null;
  /** RFC 9162 consistency proof from previousCheckpoint to checkpoint (base64), null without a previous one. */
  consistencyProof: string[] | null;
  rows: BundleRow[];
  manifest: BundleRow;
}

/** What the manifest entry's data commits to. */
export interface ManifestData {
  criterion: Criterion;
  period: { from: string; to: string };
  populationRule: string;
  redactPaths: boolean;
  rowCount: number;
  /** Base64 SHA-256 over the rows' leaf hashes concatenated in bundle order: dropping or reordering shows. */
  rowsDigest: string;
  summary: Record<string, unknown>;
  previousCheckpointSize: string | null;
}

/** Incremental rows digest: feed leaf hashes in order. */
export class RowsDigest {
  readonly #hash = createHash("sha256");
  #count = 0;

  add(leafHash: Uint8Array): void {
    this.#hash.update(leafHash);
    this.#count += 1;
  }

  get count(): number {
    return this.#count;
  }

  digest(): string {
    return this.#hash.digest("base64");
  }
}

/** Milliseconds → whole seconds; summaries use seconds. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  // Nearest-rank: the smallest value with at least p % of the values at or below it.
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** The CC7.1 facts the summary reads (a subset of what a row carries). */
export interface Cc71SummaryInput {
  status: string;
  attributed: boolean;
  ttdSeconds: number | null;
  ttrSeconds: number | null;
  resolvedAt: string | null;
}

/** Counts, shares and TTD/TTR percentiles; the verifier recomputes it from the rows it carries. */
export class Cc71Summary {
  #anomalies = 0;
  #attributed = 0;
  #resolved = 0;
  #openAtEnd = 0;
  readonly #ttd: number[] = [];
  readonly #ttr: number[] = [];

  constructor(private readonly periodEnd: string) {}

  add(f: Cc71SummaryInput): void {
    this.#anomalies += 1;
    if (f.attributed) this.#attributed += 1;
    if (f.resolvedAt !== null) this.#resolved += 1;
    if (f.resolvedAt === null || f.resolvedAt > this.periodEnd) this.#openAtEnd += 1;
    if (f.ttdSeconds !== null) this.#ttd.push(f.ttdSeconds);
    if (f.ttrSeconds !== null) this.#ttr.push(f.ttrSeconds);
  }

  result(): Record<string, unknown> {
    const ttd = [...this.#ttd].sort((a, b) => a - b);
    const ttr = [...this.#ttr].sort((a, b) => a - b);
    const share = (n: number) =>
      this.#anomalies === 0 ? null : Math.round((n / this.#anomalies) * 10_000) / 10_000;
    return {
      anomalies: this.#anomalies,
      attributed: this.#attributed,
      attributedShare: share(this.#attributed),
      resolved: this.#resolved,
      resolvedShare: share(this.#resolved),
      openAtPeriodEnd: this.#openAtEnd,
      ttdSeconds: { median: percentile(ttd, 50), p90: percentile(ttd, 90) },
      ttrSeconds: { median: percentile(ttr, 50), p90: percentile(ttr, 90) },
    };
  }
}

export interface Cc81SummaryInput {
  kind: "change" | "decision";
  ticketLink?: "explicit" | "inferred" | null;
  deployed?: boolean;
  reviewed?: boolean;
}

export class Cc81Summary {
  #changes = 0;
  #explicit = 0;
  #inferred = 0;
  #noTicket = 0;
  #deployed = 0;
  #reviewed = 0;
  #decisions = 0;

  add(f: Cc81SummaryInput): void {
    if (f.kind === "decision") {
      this.#decisions += 1;
      return;
    }
    this.#changes += 1;
    if (f.ticketLink === "explicit") this.#explicit += 1;
    else if (f.ticketLink === "inferred") this.#inferred += 1;
    else this.#noTicket += 1;
    if (f.deployed) this.#deployed += 1;
    if (f.reviewed) this.#reviewed += 1;
  }

  result(): Record<string, unknown> {
    return {
      changes: this.#changes,
      withExplicitTicket: this.#explicit,
      withInferredTicket: this.#inferred,
      withoutTicket: this.#noTicket,
      reviewed: this.#reviewed,
      deployed: this.#deployed,
      decisions: this.#decisions,
    };
  }
}

/** The summary input of one row's facts (rows of either criterion); null for entries that are not rows. */
export function summaryInputOf(
  criterion: Criterion,
  entry: Pick<CanonicalEntry, "action" | "data">,
): Cc71SummaryInput | Cc81SummaryInput {
  if (criterion === "cc8.1") {
    if (entry.action !== ROW_ACTION) return { kind: "decision" };
    const f = (entry.data.facts ?? {}) as Record<string, unknown>;
    const ticket = f.ticket as { linkType?: string } | null | undefined;
    return {
      kind: "change",
      ticketLink: ticket?.linkType === "explicit" || ticket?.linkType === "inferred" ? ticket.linkType : null,
      deployed: Array.isArray(f.deploys) && f.deploys.length > 0,
      reviewed: Array.isArray(f.reviewers) && f.reviewers.length > 0,
    };
  }
  const f = (entry.data.facts ?? {}) as Record<string, unknown>;
  const attribution = f.attribution as { suspect?: unknown } | null | undefined;
  return {
    status: String(f.status),
    attributed: Boolean(attribution?.suspect),
    ttdSeconds: typeof f.ttdSeconds === "number" ? f.ttdSeconds : null,
    ttrSeconds: typeof f.ttrSeconds === "number" ? f.ttrSeconds : null,
    resolvedAt: typeof f.resolvedAt === "string" ? f.resolvedAt : null,
  };
}

export function summaryOf(criterion: Criterion, periodEnd: string) {
  const s = criterion === "cc7.1" ? new Cc71Summary(periodEnd) : new Cc81Summary();
  return {
    add(entry: Pick<CanonicalEntry, "action" | "data">) {
      (s as { add(x: unknown): void }).add(summaryInputOf(criterion, entry));
    },
    /** A row already reduced by summaryInputOf (the exporter keeps that rather than the row). */
    addInput(input: ReturnType<typeof summaryInputOf>) {
      (s as { add(x: unknown): void }).add(input);
    },
    result: () => s.result(),
  };
}
