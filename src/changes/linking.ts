/**
 * PR → ticket links (ATTRIBUTION.md §4). Explicit keys come first, in precedence order branch, title, body,
 * commit messages (jira-keys.ts), each validated against the org's known Jira project keys, so `UTF-8` or
 * `SHA-256` never link. Only a change that names no key may get an inferred link (ticket-inference.ts),
 * and only above its threshold; it is marked inferred with its score and the features behind it.
 *
 * Idempotent and stable: explicit links are only ever added (a key the PR once named stays named); an
 * explicit key replaces an earlier inferred guess; an inferred link, once made, is not re-guessed (a
 * ticket deleted later keeps its links, marked by the ticket's deletedAt).
 */
import { and, asc, eq, inArray, isNull, sql } from "drizzle-orm";
import type { OrgTx } from "../../db/client.ts";
import {
  type Change,
  changeTickets,
  integrations,
  repositories,
  type Ticket,
  tickets,
} from "../../db/schema/index.ts";
import { type ExplicitKey, extractExplicitKeys, KEY_SOURCES } from "./jira-keys.ts";
import {
  inferTicketLink,
  type StatusCategory,
  type StatusInterval,
  type TicketForInference,
} from "./ticket-inference.ts";

const DAY = 86_400_000;
/** Tickets considered for inference: touched from 30 days before the PR opened to 7 days after it merged. */
const INFERENCE_BEFORE_MS = 30 * DAY;
const INFERENCE_AFTER_MS = 7 * DAY;
const MAX_INFERENCE_CANDIDATES = 500;

/** A bound parameter for comparisons with SQL expressions (the driver binds Date only for columns). */
const timestamp = (ms: number) => sql`${new Date(ms).toISOString()}::timestamptz`;

export interface JiraSettings {
  /** Upper-case project keys the org declared (Jira integrations and repositories). */
  projectKeys: string[];
  /** Hosts of the org's Jira sites: a key inside a URL counts only on these. */
  jiraHosts: string[];
}

/** The project keys and Jira hosts an org declared, from its Jira integrations and its repositories. */
export async function jiraSettings(tx: OrgTx, orgId: string): Promise<JiraSettings> {
  const keys = new Set<string>();
  const hosts = new Set<string>();
  const rows = await tx
    .select({ config: integrations.config })
    .from(integrations)
    .where(
      and(eq(integrations.orgId, orgId), eq(integrations.provider, "jira"), isNull(integrations.deletedAt)),
    );
  for (const { config } of rows) {
    const projectKeys = config["projectKeys"];
    if (Array.isArray(projectKeys))
      for (const k of projectKeys) if (typeof k === "string") keys.add(k.toUpperCase());
    const base = config["baseUrl"];
    if (typeof base === "string" && URL.canParse(base)) hosts.add(new URL(base).hostname.toLowerCase());
  }
  const repos = await tx
    .select({ keys: repositories.jiraProjectKeys })
    .from(repositories)
    .where(and(eq(repositories.orgId, orgId), isNull(repositories.deletedAt)));
  for (const repo of repos) for (const k of repo.keys) keys.add(k.toUpperCase());
  return { projectKeys: [...keys].sort(), jiraHosts: [...hosts].sort() };
}

export interface LinkInput {
  change: Change;
  /** The change's own commit messages when the caller has them (git merges, the API's PR commits). */
  commitMessages?: Array<{ sha?: string; message: string }>;
}

export interface LinkOutcome {
  explicit: number;
  inferred: number;
  /** Keys linked explicitly that have no ticket row yet: worth a REST fetch. */
  missingTickets: string[];
}

const SOURCE_RANK = new Map<string, number>([...KEY_SOURCES.map((s, i) => [s, i] as const), ["inferred", 9]]);

function category(key: string | null): StatusCategory | undefined {
  if (key === "new") return "todo";
  if (key === "indeterminate") return "in_progress";
  if (key === "done") return "done";
  return undefined;
}

/** Our stored status transitions as the intervals the inference reads. */
export function statusIntervals(ticket: Ticket): StatusInterval[] {
  const history = [...ticket.statusHistory].sort((a, b) => a.at.localeCompare(b.at));
  const intervals: StatusInterval[] = history.map((t, i) => {
    const next = history[i + 1];
    const interval: StatusInterval = {
      status: t.to,
      from: new Date(t.at),
      to: next ? new Date(next.at) : null,
    };
    if (!next) {
      const c = category(ticket.statusCategory);
      if (c) interval.category = c;
    }
    return interval;
  });
  return intervals;
}

function forInference(ticket: Ticket): TicketForInference {
  const out: TicketForInference = {
    key: ticket.key,
    summary: ticket.summary,
    statusHistory: statusIntervals(ticket),
  };
  if (ticket.description) out.description = ticket.description;
  if (ticket.assignee) {
    const a: NonNullable<TicketForInference["assignee"]> = {};
    if (ticket.assignee.accountId) a.accountId = ticket.assignee.accountId;
    if (ticket.assignee.email) a.email = ticket.assignee.email;
    if (ticket.assignee.displayName) a.displayName = ticket.assignee.displayName;
    out.assignee = a;
  }
  return out;
}

async function setPrimary(tx: OrgTx, changeId: string): Promise<void> {
  const links = await tx
    .select()
    .from(changeTickets)
    .where(eq(changeTickets.changeId, changeId))
    .orderBy(asc(changeTickets.createdAt), asc(changeTickets.id));
  if (links.length === 0) return;
  const best = [...links].sort(
    (a, b) => (SOURCE_RANK.get(a.source) ?? 9) - (SOURCE_RANK.get(b.source) ?? 9),
  )[0]!;
  for (const link of links) {
    const primary = link.id === best.id;
    if (link.primary !== primary) {
      await tx.update(changeTickets).set({ primary }).where(eq(changeTickets.id, link.id));
    }
  }
}

function explicitFeatures(key: ExplicitKey): Record<string, unknown> {
  const features: Record<string, unknown> = { index: key.index, alsoIn: key.alsoIn };
  if (key.commitSha !== undefined) features.commitSha = key.commitSha;
  return features;
}

/** Links each change to its tickets. Runs in the caller's org transaction. */
export async function linkChanges(
  tx: OrgTx,
  orgId: string,
  inputs: readonly LinkInput[],
  settings?: JiraSettings,
): Promise<LinkOutcome> {
  const outcome: LinkOutcome = { explicit: 0, inferred: 0, missingTickets: [] };
  const jira = settings ?? (await jiraSettings(tx, orgId));
  if (jira.projectKeys.length === 0 || inputs.length === 0) return outcome;
  const missing = new Set<string>();

  for (const { change, commitMessages } of inputs) {
    const explicit = extractExplicitKeys(
      {
        branch: change.branch ?? undefined,
        title: change.title,
        body: change.body ?? undefined,
        commits: commitMessages ?? [],
      },
      jira.projectKeys,
      { jiraHosts: jira.jiraHosts },
    );
    const existing = await tx.select().from(changeTickets).where(eq(changeTickets.changeId, change.id));

    if (explicit.length > 0) {
      const inferred = existing.filter((l) => l.linkType === "inferred").map((l) => l.id);
      if (inferred.length > 0) await tx.delete(changeTickets).where(inArray(changeTickets.id, inferred));
      const have = new Set(existing.filter((l) => l.linkType === "explicit").map((l) => l.ticketKey));
      const fresh = explicit.filter((k) => !have.has(k.key));
      if (fresh.length > 0) {
        await tx
          .insert(changeTickets)
          .values(
            fresh.map((k) => ({
              orgId,
              changeId: change.id,
              ticketKey: k.key,
              linkType: "explicit" as const,
              source: k.source,
              features: explicitFeatures(k),
            })),
          )
          .onConflictDoNothing();
        outcome.explicit += fresh.length;
      }
      if (fresh.length > 0 || inferred.length > 0) await setPrimary(tx, change.id);
      const known = await tx
        .select({ key: tickets.key })
        .from(tickets)
        .where(
          and(
            eq(tickets.orgId, orgId),
            inArray(
              tickets.key,
              explicit.map((k) => k.key),
            ),
          ),
        );
      const knownKeys = new Set(known.map((k) => k.key));
      for (const k of explicit) if (!knownKeys.has(k.key)) missing.add(k.key);
      continue;
    }
    if (existing.length > 0 || change.state !== "merged") continue;

    const end = (change.mergedAt ?? change.createdAt).getTime();
    const start = (change.openedAt ?? change.mergedAt ?? change.createdAt).getTime();
    const candidates = await tx
      .select()
      .from(tickets)
      .where(
        and(
          eq(tickets.orgId, orgId),
          isNull(tickets.deletedAt),
          inArray(tickets.projectKey, jira.projectKeys),
          sql`coalesce(${tickets.ticketUpdatedAt}, ${tickets.updatedAt}) >= ${timestamp(start - INFERENCE_BEFORE_MS)}`,
          sql`coalesce(${tickets.ticketCreatedAt}, ${tickets.createdAt}) <= ${timestamp(end + INFERENCE_AFTER_MS)}`,
        ),
      )
      .orderBy(asc(tickets.key))
      .limit(MAX_INFERENCE_CANDIDATES);
    if (candidates.length === 0) continue;
    const author: { login?: string; email?: string; name?: string } = {};
    if (change.authorLogin) author.login = change.authorLogin;
    if (change.authorEmail) author.email = change.authorEmail;
    if (change.authorName) author.name = change.authorName;
    const result = inferTicketLink(
      {
        ...(change.prNumber == null ? {} : { number: change.prNumber }),
        title: change.title,
        body: change.body ?? "",
        ...(change.branch ? { branch: change.branch } : {}),
        author,
        createdAt: new Date(start),
        mergedAt: new Date(end),
      },
      candidates.map(forInference),
    );
    if (!result.link) continue;
    await tx
      .insert(changeTickets)
      .values({
        orgId,
        changeId: change.id,
        ticketKey: result.link.key,
        linkType: "inferred",
        source: "inferred",
        primary: true,
        score: result.link.score,
        features: { features: result.link.features, fired: result.link.fired },
      })
      .onConflictDoNothing();
    outcome.inferred++;
  }
  outcome.missingTickets = [...missing].sort();
  return outcome;
}
