import { z } from "zod";
import { fingerprintOf } from "../core/hmac.ts";
import { asText, isJsonObject, parseTime } from "../core/json.ts";
import type { NormalizeInput, NormalizeResult, Severity, Signal, SignalStatus } from "../core/types.ts";
import { adfToText, isAdfDocument } from "./adf.ts";

/*
 * Jira issue webhooks → "ticket" Signals. `webhookEvent` decides:
 *
 *   jira:issue_created, jira:issue_updated, jira:issue_deleted → one ticket Signal
 *   anything else (comment_*, worklog_*, sprint_*, version_*, …) → stored, acknowledged, ignored
 *
 * Tickets never open anomalies; later stages (change ↔ ticket linking, CC8.1) read `data`. Status says
 * whether the ticket is still live: "resolved" once its status category is done or it was deleted.
 *
 * The fingerprint is the issue id, not the key: a key changes when the issue moves project, the id
 * does not.
 *
 * Approvers. Webhook payloads carry custom fields by id only (customfield_10027), never by name, so a field
 * is read as approvers when either
 *   1. its value has the shape of Jira Service Management's approvals field: a list of approvals each
 *      with `approvers: [{ approver: <user>, approverDecision }]` (decisions kept), or
 *   2. the delivery's changelog names it: an item whose `field` is "Approvers" (any case, or
 *      "Approver") and whose `fieldId` is a customfield, holding users (a multi-user picker).
 * The first match wins and its field id is reported as `approversField`. When neither matches, `approvers`
 * is null (unknown), not [] (nobody): a later delivery that does not touch the field says nothing about it.
 */

const ISSUE_EVENTS = new Set(["jira:issue_created", "jira:issue_updated", "jira:issue_deleted"]);

const optText = z.string().nullish();
const idSchema = z.union([z.string().min(1), z.number()]);
const namedSchema = z.looseObject({ name: optText }).nullish();

const userSchema = z
  .looseObject({ accountId: optText, displayName: optText, emailAddress: optText })
  .nullish()
  .catch(null);

const changelogItemSchema = z.looseObject({
  field: optText,
  fieldId: optText,
  from: z.unknown(),
  fromString: optText,
  to: z.unknown(),
  toString: optText,
});

const webhookSchema = z.looseObject({
  webhookEvent: z.string(),
  issue_event_type_name: optText,
  timestamp: z.number().nullish(),
  user: userSchema,
  changelog: z.looseObject({ id: idSchema.nullish(), items: z.array(z.unknown()).nullish() }).nullish(),
});

const fieldsSchema = z.looseObject({
  summary: optText,
  description: z.unknown().optional(),
  status: z
    .looseObject({ name: optText, statusCategory: z.looseObject({ key: optText, name: optText }).nullish() })
    .nullish(),
  priority: namedSchema,
  issuetype: namedSchema,
  resolution: namedSchema,
  project: z.looseObject({ key: optText }).nullish(),
  assignee: userSchema,
  reporter: userSchema,
  fixVersions: z.array(z.unknown()).nullish(),
  labels: z.array(z.unknown()).nullish(),
  components: z.array(z.unknown()).nullish(),
  created: optText,
  updated: optText,
});
type IssueFields = z.infer<typeof fieldsSchema>;

const issueSchema = z.looseObject({
  id: idSchema.nullish(),
  key: z.string().min(1),
  self: optText,
  fields: fieldsSchema.nullish(),
});

export interface JiraUser {
  accountId: string | null;
  displayName: string | null;
  emailAddress: string | null;
}

export interface JiraApprover extends JiraUser {
  /** JSM approvals only: "approved", "declined" or "pending"; null for a plain user-picker field. */
  decision: string | null;
}

/** Jira priority name → Severity; the default scheme's names plus the older Blocker…Trivial scheme. */
export function severityFromPriority(name: string | null | undefined): Severity {
  switch (name?.trim().toLowerCase()) {
    case "highest":
    case "blocker":
    case "critical":
      return "critical";
    case "high":
    case "major":
      return "high";
    case "low":
    case "minor":
      return "low";
    case "lowest":
    case "trivial":
      return "info";
    default:
      return "medium";
  }
}

export function normalizeJira(input: NormalizeInput): NormalizeResult {
  const envelope = webhookSchema.safeParse(input.body);
  if (!envelope.success) return { ok: false, reason: "expected a Jira webhook with webhookEvent" };
  const event = envelope.data;
  const eventType = event.webhookEvent;
  if (!ISSUE_EVENTS.has(eventType)) return { ok: true, signals: [], eventType, ignored: true };
  const parsed = issueSchema.safeParse(isJsonObject(input.body) ? input.body["issue"] : undefined);
  if (!parsed.success) return { ok: false, reason: `${eventType} without an issue key` };
  const issue = parsed.data;
  const fields: IssueFields = issue.fields ?? {};

  const deleted = eventType === "jira:issue_deleted";
  const at = epochMillis(event.timestamp) ?? parseTime(fields.updated) ?? input.receivedAt;
  const changelog = changelogItems(event.changelog?.items);
  const statusTransitions = changelog
    .filter((item) => item.fieldId === "status" || (item.fieldId === null && item.field === "status"))
    .map((item) => ({ from: item.from, to: item.to, at: at.toISOString() }));
  const approvals = approversOf(fields, changelog);
  const statusCategory = asText(fields.status?.statusCategory?.key) ?? null;
  const status: SignalStatus = deleted || statusCategory === "done" ? "resolved" : "firing";
  const summary = asText(fields.summary) ?? null;
  const url = browseUrl(issue.key, input.config, issue.self);
  const projectKey = asText(fields.project?.key) ?? issue.key.split("-")[0] ?? null;
  const issueId = issue.id == null ? null : String(issue.id);

  const labels: Record<string, string> = { webhook_event: eventType };
  for (const [name, value] of [
    ["project", projectKey],
    ["issue_type", fields.issuetype?.name],
    ["status", fields.status?.name],
    ["status_category", statusCategory],
    ["priority", fields.priority?.name],
    ["issue_event_type", event.issue_event_type_name],
  ] as const) {
    const text = asText(value);
    if (text !== undefined) labels[name] = text;
  }

  const signal: Signal = {
    kind: "ticket",
    source: "jira",
    fingerprint: fingerprintOf(["jira", "issue", issueId ?? issue.key]),
    title: summary === null ? issue.key : `${issue.key}: ${summary}`,
    severity: severityFromPriority(fields.priority?.name),
    status,
    occurredAt: at,
    frames: [],
    labels,
    links: url === null ? [] : [{ rel: "issue", url }],
    data: {
      issueId,
      key: issue.key,
      projectKey,
      summary,
      description: descriptionOf(fields.description),
      issueType: asText(fields.issuetype?.name) ?? null,
      priority: asText(fields.priority?.name) ?? null,
      status: asText(fields.status?.name) ?? null,
      statusCategory,
      resolution: asText(fields.resolution?.name) ?? null,
      assignee: userOf(fields.assignee),
      reporter: userOf(fields.reporter),
      approvers: approvals.approvers,
      approversField: approvals.field,
      fixVersions: names(fields.fixVersions),
      components: names(fields.components),
      labels: (fields.labels ?? []).filter((label): label is string => typeof label === "string"),
      url,
      createdAt: parseTime(fields.created)?.toISOString() ?? null,
      updatedAt: parseTime(fields.updated)?.toISOString() ?? null,
      changelog,
      statusTransitions,
      actor: userOf(event.user),
      deleted,
    },
  };
  return { ok: true, eventType, signals: [signal] };
}

interface ChangelogItem {
  field: string | null;
  fieldId: string | null;
  from: string | null;
  to: string | null;
}

function changelogItems(items: unknown[] | null | undefined): ChangelogItem[] {
  return (items ?? []).flatMap((raw) => {
    const parsed = changelogItemSchema.safeParse(raw);
    if (!parsed.success) return [];
    const item = parsed.data;
    return [
      {
        field: asText(item.field) ?? null,
        fieldId: asText(item.fieldId) ?? null,
        from: item.fromString ?? null,
        to: item.toString ?? null,
      },
    ];
  });
}

function descriptionOf(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (isAdfDocument(value)) return adfToText(value);
  return null;
}

function userOf(value: z.infer<typeof userSchema>): JiraUser | null {
  if (value == null) return null;
  const user = {
    accountId: asText(value.accountId) ?? null,
    displayName: asText(value.displayName) ?? null,
    emailAddress: asText(value.emailAddress) ?? null,
  };
  return user.accountId === null && user.displayName === null ? null : user;
}

function names(values: unknown[] | null | undefined): string[] {
  return (values ?? []).flatMap((value) => {
    const name = isJsonObject(value) ? asText(value["name"]) : undefined;
    return name === undefined ? [] : [name];
  });
}

/** See the file comment for which custom fields count as approvers. */
function approversOf(
  rawFields: Record<string, unknown>,
  changelog: ChangelogItem[],
): { approvers: JiraApprover[] | null; field: string | null } {
  // null, not []: "no approvers field recognized in this delivery" is not "nobody approved".
  const none = { approvers: null, field: null };
  const customFields = Object.keys(rawFields)
    .filter((key) => key.startsWith("customfield_"))
    .sort();

  for (const key of customFields) {
    const approvers = jsmApprovers(rawFields[key]);
    if (approvers !== undefined) return { approvers, field: key };
  }
  const named = changelog.find(
    (item) => item.fieldId?.startsWith("customfield_") === true && /^approvers?$/i.test(item.field ?? ""),
  );
  if (named?.fieldId != null && Object.hasOwn(rawFields, named.fieldId)) {
    const value = rawFields[named.fieldId];
    const users = (Array.isArray(value) ? value : [value]).flatMap((raw) => {
      const user = userOf(userSchema.safeParse(raw).data);
      return user === null ? [] : [{ ...user, decision: null }];
    });
    return { approvers: users, field: named.fieldId };
  }
  return none;
}

/** Approvers of a JSM approvals field value, or undefined when the value does not have that shape. */
function jsmApprovers(value: unknown): JiraApprover[] | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  if (!value.every((approval) => isJsonObject(approval) && Array.isArray(approval["approvers"])))
    return undefined;
  return value.flatMap((approval) =>
    (approval as { approvers: unknown[] }).approvers.flatMap((entry) => {
      if (!isJsonObject(entry)) return [];
      const user = userOf(userSchema.safeParse(entry["approver"]).data);
      return user === null ? [] : [{ ...user, decision: asText(entry["approverDecision"]) ?? null }];
    }),
  );
}

/**
 * `<site>/browse/<KEY>`. The site is the integration's configured `baseUrl` when set, else what precedes
 * `/rest/` in the issue's `self` (Cloud and Data Center under a context path alike).
 */
function browseUrl(key: string, config: unknown, self: string | null | undefined): string | null {
  const path = `/browse/${encodeURIComponent(key)}`;
  const configured = isJsonObject(config) ? asText(config["baseUrl"]) : undefined;
  const site = configured !== undefined ? httpUrl(configured) : undefined;
  if (site !== undefined) return `${site.origin}${site.pathname.replace(/\/+$/, "")}${path}`;
  const api = self == null ? undefined : httpUrl(self);
  if (api === undefined) return null;
  const restAt = api.pathname.indexOf("/rest/");
  if (restAt < 0) return null;
  return `${api.origin}${api.pathname.slice(0, restAt)}${path}`;
}

function httpUrl(value: string): URL | undefined {
  if (!URL.canParse(value)) return undefined;
  const url = new URL(value);
  return url.protocol === "https:" || url.protocol === "http:" ? url : undefined;
}

function epochMillis(value: number | null | undefined): Date | undefined {
  if (typeof value !== "number" || !Number.isFinite(value)) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
