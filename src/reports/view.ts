import { asc, eq, inArray } from "drizzle-orm";
import { z } from "zod";
import type { OrgTx } from "../../db/client.ts";
import { attributions } from "../../db/schema/attributions.ts";
import { tickets } from "../../db/schema/changes.ts";
import { anomalies, type Incident, incidents, signals } from "../../db/schema/incidents.ts";
import { type IncidentReport, incidentReports } from "../../db/schema/reports.ts";

/** Everything the investigation report shows, read in one transaction. */
export interface ReportView {
  incident: Pick<
    Incident,
    | "id"
    | "title"
    | "status"
    | "severity"
    | "service"
    | "environment"
    | "openedAt"
    | "reopenCount"
    | "resolution"
  >;
  anomalyCount: number;
  signalCount: number;
  firstSeenAt: Date;
  sourceAlertUrl: string | null;
  attribution: {
    status: string;
    confidence: { level: string; score: number } | null;
    reasoning: string | null;
    suspect: SuspectView | null;
    runnersUp: SuspectView[];
  } | null;
  verdict: IncidentReport["verdict"];
  rejectedCount: number;
  timelineUrl: string;
}

export interface SuspectView {
  candidateId: string;
  changeId: string | null;
  prNumber: number | null;
  title: string;
  author: string | null;
  mergedAt: Date | null;
  url: string | null;
  score: number | null;
  ticket: TicketView | null;
}

export interface TicketView {
  key: string;
  summary: string;
  status: string | null;
  url: string | null;
  linkSource: "explicit" | "inferred";
}

const text = z.string().nullish();
/** Suspects as the attribution stage stores them; read leniently, one bad entry never hides the report. */
const StoredSuspect = z.looseObject({
  candidateId: z.string(),
  changeId: text,
  prNumber: z.number().int().nullish(),
  title: z.string().default(""),
  author: z.looseObject({ login: text, email: text, name: text }).nullish(),
  mergedAt: text,
  htmlUrl: text,
  score: z.number().nullish(),
  ticket: z
    .looseObject({
      key: z.string(),
      summary: z.string().default(""),
      status: text,
      linkSource: z.enum(["explicit", "inferred"]).default("explicit"),
    })
    .nullish(),
});

function suspectsOf(raw: unknown[]): SuspectView[] {
  const out: SuspectView[] = [];
  for (const item of raw) {
    const parsed = StoredSuspect.safeParse(item);
    if (!parsed.success) continue;
    const s = parsed.data;
    const mergedAt = s.mergedAt ? new Date(s.mergedAt) : null;
    out.push({
      candidateId: s.candidateId,
      changeId: s.changeId ?? null,
      prNumber: s.prNumber ?? null,
      title: s.title,
      author: s.author?.login ?? s.author?.name ?? s.author?.email ?? null,
      mergedAt: mergedAt && !Number.isNaN(mergedAt.getTime()) ? mergedAt : null,
      url: s.htmlUrl ?? null,
      score: s.score ?? null,
      ticket: s.ticket
        ? {
            key: s.ticket.key,
            summary: s.ticket.summary,
            status: s.ticket.status ?? null,
            url: null,
            linkSource: s.ticket.linkSource,
          }
        : null,
    });
  }
  return out;
}

function firstLink(payload: Record<string, unknown>): string | null {
  const links = payload["links"];
  if (!Array.isArray(links)) return null;
  for (const link of links) {
    const url = (link as { url?: unknown } | null)?.url;
    if (typeof url === "string" && /^https?:\/\//.test(url)) return url;
  }
  return null;
}

export async function loadReportView(
  tx: OrgTx,
  incidentId: string,
  publicBaseUrl: string,
): Promise<ReportView | null> {
  const [incident] = await tx.select().from(incidents).where(eq(incidents.id, incidentId));
  if (!incident) return null;
  const members = await tx
    .select()
    .from(anomalies)
    .where(eq(anomalies.incidentId, incidentId))
    .orderBy(asc(anomalies.firstSeenAt))
    .limit(500);
  const ids = members.map((a) => a.id);
  const [report] = await tx.select().from(incidentReports).where(eq(incidentReports.incidentId, incidentId));
  const rejected = new Set(report?.rejectedCandidates ?? []);
  const firstSignal = ids.length
    ? (
        await tx
          .select({ payload: signals.payload })
          .from(signals)
          .where(inArray(signals.anomalyId, ids))
          .orderBy(asc(signals.receivedAt))
          .limit(1)
      )[0]
    : undefined;
  const rows = ids.length
    ? await tx.select().from(attributions).where(inArray(attributions.anomalyId, ids))
    : [];
  // The earliest anomaly's finished attribution speaks for the incident; a pending one says "running".
  const order = new Map(ids.map((id, i) => [id, i]));
  rows.sort((a, b) => (order.get(a.anomalyId) ?? 0) - (order.get(b.anomalyId) ?? 0));
  const chosen =
    rows.find((r) => r.status === "done") ?? rows.find((r) => r.status === "no_suspect") ?? rows[0] ?? null;
  let attribution: ReportView["attribution"] = null;
  if (chosen) {
    const all = suspectsOf(chosen.suspects).filter((s) => !rejected.has(s.candidateId));
    const suspect = all[0] ?? null;
    if (suspect?.ticket) {
      const [ticket] = await tx
        .select({ url: tickets.url, status: tickets.status, summary: tickets.summary })
        .from(tickets)
        .where(eq(tickets.key, suspect.ticket.key))
        .limit(1);
      if (ticket) {
        suspect.ticket.url = ticket.url;
        suspect.ticket.status = ticket.status ?? suspect.ticket.status;
        suspect.ticket.summary = suspect.ticket.summary || ticket.summary;
      }
    }
    attribution = {
      status: chosen.status,
      confidence: chosen.confidence
        ? { level: chosen.confidence.level, score: chosen.confidence.score }
        : null,
      reasoning: chosen.reasoning,
      suspect,
      runnersUp: all.slice(1, 4),
    };
  }
  const base = publicBaseUrl.replace(/\/+$/, "");
  return {
    incident,
    anomalyCount: members.length,
    signalCount: members.reduce((n, a) => n + a.count, 0),
    firstSeenAt: members[0]?.firstSeenAt ?? incident.openedAt,
    sourceAlertUrl: firstSignal ? firstLink(firstSignal.payload) : null,
    attribution,
    verdict: report?.verdict ?? null,
    rejectedCount: rejected.size,
    timelineUrl: `${base}/api/v1/incidents/${incident.id}/timeline`,
  };
}
