import { sql } from "drizzle-orm";
import type { OrgTx } from "../../../db/client.ts";
import { DECISION_ACTION_PATTERN } from "./format.ts";

/**
 * The facts of each evidence row, read page by page (keyset pagination, so a 365-day export never holds
 * more than a page of source rows). A row's facts are what its `evidence.row` audit entry records; the
 * shapes are documented in docs/evidence.md and read back by the summary (format.ts) and the Markdown view.
 */

// Each page of an export is one append transaction, and the appends are its critical path: 2,000 rows a
// page halved the per-transaction round trips of a 100k-row export (recording 17.8 → 15.4 s) for about
// 45 MB more peak RSS (two pages in flight).
export const PAGE_SIZE = 2_000;

type Raw = Record<string, unknown>;

function iso(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const d = value instanceof Date ? value : new Date(String(value));
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function str(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

function seconds(from: string | null, to: string | null): number | null {
  if (!from || !to) return null;
  const ms = Date.parse(to) - Date.parse(from);
  return ms >= 0 ? Math.round(ms / 1000) : 0;
}

/** `src/foo/bar.ts`, `/srv/app/x.py:12`: things that look like file paths inside free text. */
const PATH_IN_TEXT = /(?:[A-Za-z0-9_.@~-]+)?(?:\/[A-Za-z0-9_.@~-]+)+(?::\d+)?/g;
export const REDACTED_PATH = "[path]";

export function redactPathsInText(text: string): string {
  // URLs are not internal paths: keep them (PR and ticket links are evidence).
  return text.replace(/\S*\/\S*/g, (token) =>
    /^[(<[]?https?:\/\//.test(token) ? token : token.replace(PATH_IN_TEXT, REDACTED_PATH),
  );
}

interface EvidencePointerLike {
  file?: string;
  line?: number;
  commit?: string;
}

/** Attribution evidence facts: sentences and pointers, paths stripped when asked. */
function evidenceFacts(facts: unknown, redactPaths: boolean): Array<Record<string, unknown>> {
  if (!Array.isArray(facts)) return [];
  return facts.slice(0, 20).map((f: Raw) => {
    const pointers = Array.isArray(f.pointers) ? (f.pointers as EvidencePointerLike[]) : [];
    return {
      feature: str(f.feature),
      sentence: redactPaths ? redactPathsInText(String(f.sentence ?? "")) : String(f.sentence ?? ""),
      pointers: pointers.map((p) =>
        p.commit !== undefined
          ? { commit: p.commit }
          : { file: redactPaths ? REDACTED_PATH : String(p.file ?? ""), ...(p.line ? { line: p.line } : {}) },
      ),
    };
  });
}

function ticketOf(ticket: unknown): Record<string, unknown> | null {
  if (!ticket || typeof ticket !== "object") return null;
  const t = ticket as Raw;
  return {
    key: str(t.key),
    summary: str(t.summary),
    status: str(t.status),
    linkType: str(t.linkSource ?? t.linkType),
    ...(typeof t.linkConfidence === "number" ? { linkConfidence: t.linkConfidence } : {}),
  };
}

export interface FactsRow {
  subjectType: string;
  subjectId: string;
  facts: Record<string, unknown>;
}

/**
 * A page of ids as one text parameter, for `x in (${uuidList(ids)})`: a thousand bind parameters cost
 * more to prepare and bind than the query costs to run.
 */
const uuidList = (ids: readonly string[]) =>
  sql`select unnest(string_to_array(${ids.join(",")}, ',')::uuid[])`;

/** Puts fetched rows back in population order (the ids' order); ids that vanished meanwhile are skipped. */
function inOrder(ids: readonly string[], rows: Raw[]): Raw[] {
  const byId = new Map(rows.map((r) => [String(r.id), r]));
  return ids.map((id) => byId.get(id)).filter((r): r is Raw => r !== undefined);
}

/**
 * CC7.1 population: ids of the anomalies detected in [from, to], ordered by detection time then id. One
 * sorted query up front (a snapshot of the population, a few MB for 100k rows); the facts are then read a
 * page of ids at a time by primary key.
 */
export async function cc71Population(tx: OrgTx, input: { from: Date; to: Date }): Promise<string[]> {
  const rows = await tx.execute<{ id: string }>(sql`
    select a.id from anomalies a
    where a.detected_at >= ${input.from.toISOString()}::timestamptz
      and a.detected_at <= ${input.to.toISOString()}::timestamptz
    order by a.detected_at, a.id`);
  return rows.map((r) => r.id);
}

/** CC7.1 facts of a page of anomaly ids, in the ids' order. */
export async function cc71Page(
  tx: OrgTx,
  input: { ids: readonly string[]; redactPaths: boolean },
): Promise<FactsRow[]> {
  if (input.ids.length === 0) return [];
  const rows = await tx.execute<Raw>(sql`
    select a.id, a.title, a.source, a.kind, a.severity, a.status, a.service, a.environment, a.release,
      a.error_type, a.labels, a.count, a.first_seen_at, a.detected_at, a.resolved_at, a.incident_id,
      i.title as incident_title, i.status as incident_status, i.resolution as incident_resolution,
      at.status as attribution_status, at.suspects -> 0 as suspect, at.ticket, at.confidence, at.reasoning,
      at.reasoning_source, at.details -> 'contradictedTicket' as contradicted_ticket,
      dc.status as dc_status, dc.provider as dc_provider, dc.context as dc_context, dc.last_error as dc_error,
      dc.attempts as dc_attempts, dc.fetched_at as dc_fetched_at
    from anomalies a
    left join incidents i on i.id = a.incident_id
    left join attributions at on at.anomaly_id = a.id
    left join anomaly_detection_context dc on dc.anomaly_id = a.id
    where a.id in (${uuidList(input.ids)})`);
  return inOrder(input.ids, rows).map((r) => {
    const detectedAt = iso(r.detected_at)!;
    const firstSeenAt = iso(r.first_seen_at);
    const resolvedAt = iso(r.resolved_at);
    const suspect = r.suspect as Raw | null;
    const resolution = r.incident_resolution as Raw | null;
    const facts: Record<string, unknown> = {
      anomaly: {
        id: r.id,
        title: r.title,
        kind: r.kind,
        service: str(r.service),
        environment: str(r.environment),
        release: str(r.release),
        occurrences: Number(r.count),
      },
      detectedAt,
      firstSeenAt,
      resolvedAt,
      status: r.status,
      severity: r.severity,
      signal: {
        source: r.source,
        kind: r.kind,
        errorType: str(r.error_type),
      },
      rule: {
        name: r.title,
        labels: (r.labels as Record<string, string> | null) ?? {},
        detectionContext: r.dc_status
          ? {
              status: r.dc_status,
              provider: r.dc_provider,
              attempts: Number(r.dc_attempts ?? 0),
              fetchedAt: iso(r.dc_fetched_at),
              ...(r.dc_context ? { context: r.dc_context } : {}),
              ...(r.dc_error ? { lastError: r.dc_error } : {}),
            }
          : null,
      },
      incident: r.incident_id
        ? { id: r.incident_id, title: r.incident_title, status: r.incident_status }
        : null,
      attribution: r.attribution_status
        ? {
            status: r.attribution_status,
            suspect:
              suspect && r.attribution_status === "done"
                ? {
                    changeId: str(suspect.changeId),
                    prNumber: suspect.prNumber ?? null,
                    title: str(suspect.title),
                    author: suspect.author ?? {},
                    mergedAt: str(suspect.mergedAt),
                    mergeSha: str(suspect.mergeSha),
                    url: str(suspect.htmlUrl),
                    score: suspect.score ?? null,
                  }
                : null,
            evidence:
              suspect && r.attribution_status === "done"
                ? evidenceFacts(suspect.facts, input.redactPaths)
                : [],
            authorizingTicket: r.attribution_status === "done" ? ticketOf(r.ticket) : null,
            contradictedTicket: ticketOf(r.contradicted_ticket),
            confidence: r.confidence ?? null,
            reasoning:
              typeof r.reasoning === "string"
                ? input.redactPaths
                  ? redactPathsInText(r.reasoning)
                  : r.reasoning
                : null,
            reasoningSource: str(r.reasoning_source),
          }
        : null,
      ttdSeconds: seconds(firstSeenAt, detectedAt),
      ttrSeconds: seconds(detectedAt, resolvedAt),
      resolution: resolutionOf(r.status as string, resolvedAt, resolution),
    };
    return {
      subjectType: "anomaly",
      subjectId: String(r.id),
      facts,
      cursor: { at: detectedAt, id: String(r.id) },
    };
  });
}

function resolutionOf(
  status: string,
  resolvedAt: string | null,
  incident: Raw | null,
): Record<string, unknown> {
  if (status !== "resolved") return { reason: "open" };
  if (incident && typeof incident.reason === "string") {
    return {
      reason: incident.reason,
      ...(incident.changeId ? { changeId: incident.changeId } : {}),
      ...(incident.prUrl ? { prUrl: incident.prUrl } : {}),
      ...(incident.ticketKey ? { ticketKey: incident.ticketKey } : {}),
      ...(incident.note ? { note: incident.note } : {}),
      ...(incident.by ? { by: incident.by } : {}),
      at: incident.at ?? resolvedAt,
    };
  }
  // Resolved by the sender (a "resolved" signal) without a recorded human decision.
  return { reason: "resolved_by_source", at: resolvedAt };
}

/**
 * CC8.1 population: ids of the changes merged in [from, to], or deployed in it (a deploy of the merge or
 * head SHA), ordered by merge time (creation time when unknown) then id.
 */
export async function cc81ChangePopulation(tx: OrgTx, input: { from: Date; to: Date }): Promise<string[]> {
  const from = input.from.toISOString();
  const to = input.to.toISOString();
  const rows = await tx.execute<{ id: string }>(sql`
    select c.id from changes c
    where c.state = 'merged'
      and (
        (c.merged_at >= ${from}::timestamptz and c.merged_at <= ${to}::timestamptz)
        or exists (
          select 1 from deploys d
          where d.org_id = c.org_id and d.deployed_at >= ${from}::timestamptz and d.deployed_at <= ${to}::timestamptz
            and (d.sha = c.merge_sha or d.sha = c.head_sha)
        )
      )
    order by date_trunc('milliseconds', coalesce(c.merged_at, c.created_at)), c.id`);
  return rows.map((r) => r.id);
}

/** CC8.1 facts of a page of change ids, in the ids' order. */
export async function cc81ChangePage(
  tx: OrgTx,
  input: { ids: readonly string[]; to: Date; redactPaths: boolean },
): Promise<FactsRow[]> {
  if (input.ids.length === 0) return [];
  const to = input.to.toISOString();
  const rows = await tx.execute<Raw>(sql`
    select c.id, c.kind, c.pr_number, c.title, c.branch, c.base, c.author_login, c.author_name, c.author_email,
      c.merged_at, c.merge_sha, c.head_sha, c.html_url, c.reverts_sha, c.reverted_by_sha, c.reviewers, c.files,
      c.docs_or_tests_only, c.sources, date_trunc('milliseconds', coalesce(c.merged_at, c.created_at)) as order_at, r.name as repository
    from changes c
    join repositories r on r.id = c.repository_id
    where c.id in (${uuidList(input.ids)})`);
  const idList = uuidList(input.ids);
  const links = await tx.execute<Raw>(sql`
    select ct.change_id, ct.ticket_key, ct.link_type, ct.source, ct."primary", ct.score,
      t.summary, t.status, t.approvers, t.url
    from change_tickets ct
    left join tickets t on t.org_id = ct.org_id and t.key = ct.ticket_key
    where ct.change_id in (${idList})
    order by ct."primary" desc, ct.link_type, ct.ticket_key`);
  const shas = [...new Set(rows.flatMap((r) => [r.merge_sha, r.head_sha]).filter((s): s is string => !!s))];
  const deploys =
    shas.length === 0
      ? []
      : await tx.execute<Raw>(sql`
    select sha, service, environment, version, deployed_at, source from deploys
    where sha in (${sql.join(
      shas.map((s) => sql`${s}`),
      sql`, `,
    )}) and deployed_at <= ${to}::timestamptz
    order by deployed_at, id`);
  return inOrder(input.ids, rows).map((r) => {
    const mine = links.filter((l) => l.change_id === r.id);
    const tickets = mine.map((l) => ({
      key: l.ticket_key,
      linkType: l.link_type,
      source: l.source,
      primary: Boolean(l.primary),
      ...(l.score !== null && l.score !== undefined ? { score: Number(l.score) } : {}),
      summary: str(l.summary),
      status: str(l.status),
      approvers: Array.isArray(l.approvers)
        ? (l.approvers as Raw[]).map((p) => str(p.displayName) ?? str(p.accountId)).filter(Boolean)
        : [],
      url: str(l.url),
    }));
    const primary = tickets.find((t) => t.primary) ?? tickets[0] ?? null;
    const shasOf = new Set([r.merge_sha, r.head_sha].filter(Boolean));
    const files = Array.isArray(r.files) ? (r.files as Array<{ path?: string }>) : [];
    const mergedAt = iso(r.merged_at);
    const facts: Record<string, unknown> = {
      /** The population rule's sort key: merge time, or when Causeway recorded the change if unknown. */
      orderAt: iso(r.order_at),
      change: {
        id: r.id,
        kind: r.kind,
        repository: r.repository,
        prNumber: r.pr_number ?? null,
        title: r.title,
        branch: str(r.branch),
        base: str(r.base),
        author: { login: str(r.author_login), name: str(r.author_name) },
        mergedAt,
        mergeSha: str(r.merge_sha),
        headSha: str(r.head_sha),
        url: str(r.html_url),
        revertsSha: str(r.reverts_sha),
        revertedBySha: str(r.reverted_by_sha),
        docsOrTestsOnly: Boolean(r.docs_or_tests_only),
        sources: r.sources ?? [],
      },
      ticket: primary,
      tickets,
      reviewers: Array.isArray(r.reviewers) ? r.reviewers : [],
      deploys: deploys
        .filter((d) => shasOf.has(d.sha))
        .map((d) => ({
          service: d.service,
          environment: d.environment,
          version: str(d.version),
          sha: d.sha,
          deployedAt: iso(d.deployed_at),
          source: d.source,
        })),
      files: input.redactPaths
        ? { count: files.length }
        : { count: files.length, paths: files.slice(0, 200).map((f) => String(f.path ?? "")) },
    };
    return { subjectType: "change", subjectId: String(r.id), facts };
  });
}

/** CC8.1 decisions: audit entries in [from, to] whose action is an approval, rejection, exception, …. */
export async function cc81DecisionPage(
  tx: OrgTx,
  input: { orgId: string; from: Date; to: Date; afterSeq: bigint | null; limit?: number },
): Promise<Array<{ seq: bigint; leafHash: Uint8Array }>> {
  const rows = await tx.execute<{ seq: string; hash: Buffer }>(sql`
    select l.seq::text as seq, n.hash
    from audit_log l
    join audit_tree_nodes n on n.org_id = l.org_id and n.level = 0 and n.idx = l.seq
    where l.org_id = ${input.orgId}
      and l.at >= ${input.from.toISOString()}::timestamptz and l.at <= ${input.to.toISOString()}::timestamptz
      and l.action ~ ${DECISION_ACTION_PATTERN} and l.action not like 'evidence.%'
      ${input.afterSeq === null ? sql`` : sql`and l.seq > ${input.afterSeq.toString()}::bigint`}
    order by l.seq
    limit ${input.limit ?? PAGE_SIZE}`);
  return rows.map((r) => ({ seq: BigInt(r.seq), leafHash: new Uint8Array(r.hash) }));
}
