import { sql } from "drizzle-orm";
import {
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  real,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { credentials } from "./credentials.ts";
import { orgs } from "./orgs.ts";
import { tenantIsolation } from "./tenancy.ts";

/** A repository Causeway mirrors and reads; `services` says which anomalies it serves. */
export const repositories = pgTable(
  "repositories",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    url: text("url").notNull(),
    provider: text("provider").$type<"github" | "git">().notNull(),
    defaultBranch: text("default_branch").notNull().default("main"),
    services: jsonb("services").$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    jiraProjectKeys: jsonb("jira_project_keys").$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    credentialId: uuid("credential_id").references(() => credentials.id, { onDelete: "set null" }),
    config: jsonb("config").$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    headSha: text("head_sha"),
    lastFetchedAt: timestamp("last_fetched_at", { withTimezone: true }),
    lastFetchError: text("last_fetch_error"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
    deletedAt: timestamp("deleted_at", { withTimezone: true }),
  },
  (t) => [
    uniqueIndex("repositories_org_id_name_key").on(t.orgId, t.name).where(sql`deleted_at is null`),
    index("repositories_credential_id_idx").on(t.credentialId),
    tenantIsolation(),
  ],
).enableRLS();

export interface ChangedFile {
  path: string;
  /** The path before a rename. */
  oldPath?: string;
  status: "added" | "modified" | "deleted" | "renamed" | "copied" | "other";
}

/**
 * A change that reached the default branch: a merged pull request (from git history, webhooks or the API,
 * one row however many sources report it) or a direct push (a commit without a PR).
 */
export const changes = pgTable(
  "changes",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    repositoryId: uuid("repository_id")
      .notNull()
      .references(() => repositories.id, { onDelete: "cascade" }),
    kind: text("kind").$type<"pull_request" | "commit">().notNull(),
    prNumber: integer("pr_number"),
    title: text("title").notNull(),
    body: text("body"),
    branch: text("branch"),
    base: text("base"),
    authorLogin: text("author_login"),
    authorEmail: text("author_email"),
    authorName: text("author_name"),
    state: text("state").$type<"open" | "merged" | "closed">().notNull().default("merged"),
    openedAt: timestamp("opened_at", { withTimezone: true }),
    mergedAt: timestamp("merged_at", { withTimezone: true }),
    mergeSha: text("merge_sha"),
    headSha: text("head_sha"),
    files: jsonb("files").$type<ChangedFile[]>().notNull().default(sql`'[]'::jsonb`),
    commits: jsonb("commits").$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    revertsSha: text("reverts_sha"),
    revertedBySha: text("reverted_by_sha"),
    docsOrTestsOnly: boolean("docs_or_tests_only").notNull().default(false),
    reviewers: jsonb("reviewers").$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    htmlUrl: text("html_url"),
    /** Which sources reported it: git, webhook, api. */
    sources: jsonb("sources").$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("changes_org_id_repository_id_pr_number_key")
      .on(t.orgId, t.repositoryId, t.prNumber)
      .where(sql`pr_number is not null`),
    uniqueIndex("changes_org_id_repository_id_merge_sha_key")
      .on(t.orgId, t.repositoryId, t.mergeSha)
      .where(sql`merge_sha is not null`),
    index("changes_org_id_merged_at_idx").on(t.orgId, t.mergedAt),
    index("changes_repository_id_idx").on(t.repositoryId),
    index("changes_org_id_author_idx").on(t.orgId, t.authorLogin),
    tenantIsolation(),
  ],
).enableRLS();

/** A deploy of a version/SHA of a service to an environment. */
export const deploys = pgTable(
  "deploys",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    repositoryId: uuid("repository_id").references(() => repositories.id, { onDelete: "set null" }),
    service: text("service").notNull(),
    environment: text("environment").notNull(),
    version: text("version"),
    sha: text("sha").notNull(),
    deployedAt: timestamp("deployed_at", { withTimezone: true, precision: 3 }).notNull(),
    source: text("source").$type<"api" | "github" | "release">().notNull(),
    externalId: text("external_id"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index("deploys_org_id_service_env_at_idx").on(t.orgId, t.service, t.environment, t.deployedAt),
    index("deploys_org_id_version_idx").on(t.orgId, t.version),
    index("deploys_repository_id_idx").on(t.repositoryId),
    uniqueIndex("deploys_org_id_source_external_id_key")
      .on(t.orgId, t.source, t.externalId)
      .where(sql`external_id is not null`),
    tenantIsolation(),
  ],
).enableRLS();

export interface TicketPerson {
  accountId?: string;
  displayName?: string;
  email?: string;
}

export interface StatusTransition {
  from: string | null;
  to: string;
  at: string;
}

/** A Jira ticket as last seen by webhook or REST fetch. */
export const tickets = pgTable(
  "tickets",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    key: text("key").notNull(),
    projectKey: text("project_key").notNull(),
    externalId: text("external_id"),
    summary: text("summary").notNull(),
    description: text("description"),
    status: text("status"),
    statusCategory: text("status_category"),
    statusHistory: jsonb("status_history").$type<StatusTransition[]>().notNull().default(sql`'[]'::jsonb`),
    assignee: jsonb("assignee").$type<TicketPerson>(),
    reporter: jsonb("reporter").$type<TicketPerson>(),
    approvers: jsonb("approvers").$type<TicketPerson[]>().notNull().default(sql`'[]'::jsonb`),
    fixVersions: jsonb("fix_versions").$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    url: text("url"),
    ticketCreatedAt: timestamp("ticket_created_at", { withTimezone: true }),
    ticketUpdatedAt: timestamp("ticket_updated_at", { withTimezone: true }),
    deletedAt: timestamp("deleted_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("tickets_org_id_key_key").on(t.orgId, t.key), tenantIsolation()],
).enableRLS();

/** PR → ticket link, explicit (a key in branch / title / body / commit) or inferred with its score. */
export const changeTickets = pgTable(
  "change_tickets",
  {
    id: uuid("id").primaryKey().default(sql`gen_random_uuid()`),
    orgId: uuid("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    changeId: uuid("change_id")
      .notNull()
      .references(() => changes.id, { onDelete: "cascade" }),
    ticketKey: text("ticket_key").notNull(),
    linkType: text("link_type").$type<"explicit" | "inferred">().notNull(),
    source: text("source").$type<"branch" | "title" | "body" | "commit" | "inferred">().notNull(),
    primary: boolean("primary").notNull().default(false),
    score: real("score"),
    features: jsonb("features").$type<Record<string, unknown>>(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("change_tickets_change_id_ticket_key_key").on(t.changeId, t.ticketKey),
    index("change_tickets_org_id_ticket_key_idx").on(t.orgId, t.ticketKey),
    tenantIsolation(),
  ],
).enableRLS();

export type Repository = typeof repositories.$inferSelect;
export type Change = typeof changes.$inferSelect;
export type Deploy = typeof deploys.$inferSelect;
export type Ticket = typeof tickets.$inferSelect;
export type ChangeTicket = typeof changeTickets.$inferSelect;
