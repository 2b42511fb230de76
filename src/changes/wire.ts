/** Wire shapes of the changes API (separate from the drizzle rows) and the row → wire mappings. */
import { z } from "@hono/zod-openapi";
import type { Change, Deploy, Ticket, TicketPerson } from "../../db/schema/index.ts";
import type { BackfillResult } from "./backfill.ts";
import type { ChangeDetail, LinkWithTicket, TicketDetail } from "./queries.ts";
import { configOf, type RepositoryView } from "./repositories.ts";
import type { SyncResult } from "./sync.ts";

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export const RepositorySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    url: z.string(),
    provider: z.enum(["github", "git"]),
    defaultBranch: z.string(),
    services: z.array(z.string()),
    jiraProjectKeys: z.array(z.string()),
    githubRepository: z.string().nullable(),
    githubApiBaseUrl: z.string().nullable(),
    credential: z
      .object({
        kind: z.enum(["token", "ssh_key", "github_app"]),
        last4: z.string().nullable(),
        createdAt: z.iso.datetime().nullable(),
        integrationId: z.uuid().nullable(),
      })
      .nullable(),
    headSha: z.string().nullable(),
    lastFetchedAt: z.iso.datetime().nullable(),
    lastFetchError: z.string().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi("Repository");

export function repositoryToWire(view: RepositoryView): z.infer<typeof RepositorySchema> {
  const r = view.repository;
  const config = configOf(r);
  return {
    id: r.id,
    name: r.name,
    url: r.url,
    provider: r.provider,
    defaultBranch: r.defaultBranch,
    services: r.services,
    jiraProjectKeys: r.jiraProjectKeys,
    githubRepository: config.fullName ?? null,
    githubApiBaseUrl: config.githubApiBaseUrl ?? null,
    credential: view.credential
      ? {
          kind: view.credential.kind,
          last4: view.credential.last4,
          createdAt: iso(view.credential.createdAt),
          integrationId: view.credential.integrationId,
        }
      : null,
    headSha: r.headSha,
    lastFetchedAt: iso(r.lastFetchedAt),
    lastFetchError: r.lastFetchError,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

export const SyncResultSchema = z
  .object({
    repositoryId: z.uuid(),
    headSha: z.string().nullable(),
    previousHeadSha: z.string().nullable(),
    cloned: z.boolean(),
    forcePushed: z.boolean(),
    imported: z.number().int(),
    pullRequests: z.number().int(),
    commits: z.number().int(),
    links: z.object({ explicit: z.number().int(), inferred: z.number().int() }),
  })
  .openapi("RepositorySync");

export const syncToWire = (r: SyncResult): z.infer<typeof SyncResultSchema> => ({ ...r });

export const BackfillResultSchema = z
  .object({
    pages: z.number().int(),
    stored: z.number().int(),
    links: z.object({ explicit: z.number().int(), inferred: z.number().int() }),
  })
  .openapi("RepositoryBackfill");

export const backfillToWire = (r: BackfillResult): z.infer<typeof BackfillResultSchema> => ({ ...r });

const Person = z.object({
  accountId: z.string().optional(),
  displayName: z.string().optional(),
  email: z.string().optional(),
});

const LinkSchema = z.object({
  key: z.string(),
  linkType: z.enum(["explicit", "inferred"]),
  source: z.enum(["branch", "title", "body", "commit", "inferred"]),
  primary: z.boolean(),
  score: z.number().nullable(),
});

const LinkedTicketSchema = LinkSchema.extend({
  summary: z.string().nullable(),
  status: z.string().nullable(),
  url: z.string().nullable(),
  /** The ticket was deleted in Jira after it was linked (the link stays). */
  deleted: z.boolean(),
  deletedAt: z.iso.datetime().nullable(),
  /** For inferred links: the features that produced the score. */
  features: z.record(z.string(), z.unknown()).nullable(),
});

export const ChangeSchema = z
  .object({
    id: z.uuid(),
    repositoryId: z.uuid(),
    kind: z.enum(["pull_request", "commit"]),
    prNumber: z.number().int().nullable(),
    title: z.string(),
    body: z.string().nullable(),
    branch: z.string().nullable(),
    base: z.string().nullable(),
    author: z.object({
      login: z.string().nullable(),
      email: z.string().nullable(),
      name: z.string().nullable(),
    }),
    state: z.enum(["open", "merged", "closed"]),
    openedAt: z.iso.datetime().nullable(),
    mergedAt: z.iso.datetime().nullable(),
    mergeSha: z.string().nullable(),
    headSha: z.string().nullable(),
    files: z.array(
      z.object({
        path: z.string(),
        oldPath: z.string().optional(),
        status: z.enum(["added", "modified", "deleted", "renamed", "copied", "other"]),
      }),
    ),
    commits: z.array(z.string()),
    revertsSha: z.string().nullable(),
    revertedBySha: z.string().nullable(),
    docsOrTestsOnly: z.boolean(),
    reviewers: z.array(z.string()),
    htmlUrl: z.string().nullable(),
    sources: z.array(z.string()),
    tickets: z.array(LinkSchema),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi("Change");

export const DeploySchema = z
  .object({
    id: z.uuid(),
    repositoryId: z.uuid().nullable(),
    service: z.string(),
    environment: z.string(),
    version: z.string().nullable(),
    sha: z.string(),
    deployedAt: z.iso.datetime(),
    source: z.enum(["api", "github", "release"]),
    externalId: z.string().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi("Deploy");

export const ChangeDetailSchema = ChangeSchema.extend({
  repositoryName: z.string(),
  tickets: z.array(LinkedTicketSchema),
  deploys: z.array(DeploySchema),
}).openapi("ChangeDetail");

export function deployToWire(d: Deploy): z.infer<typeof DeploySchema> {
  return {
    id: d.id,
    repositoryId: d.repositoryId,
    service: d.service,
    environment: d.environment,
    version: d.version,
    sha: d.sha,
    deployedAt: d.deployedAt.toISOString(),
    source: d.source,
    externalId: d.source === "release" ? null : d.externalId,
    createdAt: d.createdAt.toISOString(),
  };
}

function linkToWire(l: LinkWithTicket): z.infer<typeof LinkSchema> {
  return {
    key: l.link.ticketKey,
    linkType: l.link.linkType,
    source: l.link.source,
    primary: l.link.primary,
    score: l.link.score,
  };
}

export function changeToWire(c: Change, links: LinkWithTicket[]): z.infer<typeof ChangeSchema> {
  return {
    id: c.id,
    repositoryId: c.repositoryId,
    kind: c.kind,
    prNumber: c.prNumber,
    title: c.title,
    body: c.body,
    branch: c.branch,
    base: c.base,
    author: { login: c.authorLogin, email: c.authorEmail, name: c.authorName },
    state: c.state,
    openedAt: iso(c.openedAt),
    mergedAt: iso(c.mergedAt),
    mergeSha: c.mergeSha,
    headSha: c.headSha,
    files: c.files,
    commits: c.commits,
    revertsSha: c.revertsSha,
    revertedBySha: c.revertedBySha,
    docsOrTestsOnly: c.docsOrTestsOnly,
    reviewers: c.reviewers,
    htmlUrl: c.htmlUrl,
    sources: c.sources,
    tickets: links.map(linkToWire),
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  };
}

export function changeDetailToWire(d: ChangeDetail): z.infer<typeof ChangeDetailSchema> {
  return {
    ...changeToWire(d.change, []),
    repositoryName: d.repositoryName,
    tickets: d.links.map((l) => ({
      ...linkToWire(l),
      summary: l.ticket?.summary ?? null,
      status: l.ticket?.status ?? null,
      url: l.ticket?.url ?? null,
      deleted: l.ticket?.deletedAt != null,
      deletedAt: iso(l.ticket?.deletedAt),
      features: l.link.features ?? null,
    })),
    deploys: d.deploys.map(deployToWire),
  };
}

export const TicketSchema = z
  .object({
    id: z.uuid(),
    key: z.string(),
    projectKey: z.string(),
    summary: z.string(),
    description: z.string().nullable(),
    status: z.string().nullable(),
    statusCategory: z.string().nullable(),
    statusHistory: z.array(z.object({ from: z.string().nullable(), to: z.string(), at: z.string() })),
    assignee: Person.nullable(),
    reporter: Person.nullable(),
    approvers: z.array(Person),
    fixVersions: z.array(z.string()),
    url: z.string().nullable(),
    createdAt: z.iso.datetime().nullable(),
    updatedAt: z.iso.datetime().nullable(),
    deletedAt: z.iso.datetime().nullable(),
    changes: z.array(
      z.object({
        id: z.uuid(),
        repositoryId: z.uuid(),
        prNumber: z.number().int().nullable(),
        title: z.string(),
        mergedAt: z.iso.datetime().nullable(),
        linkType: z.enum(["explicit", "inferred"]),
        source: z.enum(["branch", "title", "body", "commit", "inferred"]),
        primary: z.boolean(),
        score: z.number().nullable(),
      }),
    ),
  })
  .openapi("Ticket");

const person = (p: TicketPerson | null) => (p ? { ...p } : null);

export function ticketToWire(detail: TicketDetail): z.infer<typeof TicketSchema> {
  const t: Ticket = detail.ticket;
  return {
    id: t.id,
    key: t.key,
    projectKey: t.projectKey,
    summary: t.summary,
    description: t.description,
    status: t.status,
    statusCategory: t.statusCategory,
    statusHistory: t.statusHistory,
    assignee: person(t.assignee),
    reporter: person(t.reporter),
    approvers: t.approvers.map((a) => ({ ...a })),
    fixVersions: t.fixVersions,
    url: t.url,
    createdAt: iso(t.ticketCreatedAt),
    updatedAt: iso(t.ticketUpdatedAt),
    deletedAt: iso(t.deletedAt),
    changes: detail.changes.map(({ change, link }) => ({
      id: change.id,
      repositoryId: change.repositoryId,
      prNumber: change.prNumber,
      title: change.title,
      mergedAt: iso(change.mergedAt),
      linkType: link.linkType,
      source: link.source,
      primary: link.primary,
      score: link.score,
    })),
  };
}
