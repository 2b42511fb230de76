import { z } from "zod";
import { fingerprintOf } from "../core/hmac.ts";
import { asText, isJsonObject, parseTime } from "../core/json.ts";
import type { NormalizeInput, NormalizeResult, Signal, SignalLink } from "../core/types.ts";

/*
 * GitHub webhooks → Signals. The event name is the `X-GitHub-Event` header, never guessed from the body.
 *
 *   pull_request opened / reopened / edited / synchronize / closed → "change" (merged = closed && merged)
 *   push (except a branch deletion) → "change" for the pushed range
 *   deployment_status with state "success" → "deploy": this SHA now runs in this environment
 *   check_run completed → "change" carrying the check's conclusion
 *   ping, other actions and states, every other event → stored, acknowledged, ignored
 *
 * Change and deploy signals are facts, not alerts: they never open anomalies, so their status is always
 * "firing" and carries no meaning, and their severity is "info". Later stages read `data`.
 *
 * Fingerprints are stable ids: repository + PR number (every event of one PR updates one record),
 * repository + pushed head SHA, the deployment id, the check run id.
 */

const EVENT_HEADER = "x-github-event";
const PR_ACTIONS = new Set(["opened", "reopened", "edited", "synchronize", "closed"]);

const optText = z.string().nullish();
const repositorySchema = z.looseObject({ full_name: z.string().min(1), html_url: optText });
const loginSchema = z.looseObject({ login: optText }).nullish();
const refSchema = z.looseObject({ ref: optText, sha: optText }).nullish();

const pullRequestEventSchema = z.looseObject({
  action: z.string(),
  number: z.number().int().optional(),
  repository: repositorySchema,
  pull_request: z.looseObject({
    number: z.number().int(),
    title: optText,
    body: optText,
    html_url: optText,
    user: loginSchema,
    created_at: optText,
    updated_at: optText,
    closed_at: optText,
    merged: z.boolean().nullish(),
    merged_at: optText,
    merge_commit_sha: optText,
    merged_by: loginSchema,
    head: refSchema,
    base: refSchema,
    labels: z.array(z.unknown()).nullish(),
  }),
});

const commitSchema = z.looseObject({
  id: z.string(),
  message: optText,
  timestamp: optText,
  url: optText,
  author: z.looseObject({ name: optText, email: optText, username: optText }).nullish(),
  added: z.array(z.unknown()).nullish(),
  modified: z.array(z.unknown()).nullish(),
  removed: z.array(z.unknown()).nullish(),
});

const pushEventSchema = z.looseObject({
  ref: z.string().min(1),
  before: optText,
  after: z.string().min(1),
  created: z.boolean().nullish(),
  deleted: z.boolean().nullish(),
  forced: z.boolean().nullish(),
  compare: optText,
  commits: z.array(z.unknown()).nullish(),
  head_commit: z.looseObject({ timestamp: optText }).nullish(),
  pusher: z.looseObject({ name: optText }).nullish(),
  repository: repositorySchema.extend({ pushed_at: z.union([z.number(), z.string()]).nullish() }),
});

const deploymentStatusEventSchema = z.looseObject({
  deployment_status: z.looseObject({
    id: z.number().nullish(),
    state: z.string(),
    environment: optText,
    description: optText,
    target_url: optText,
    log_url: optText,
    environment_url: optText,
    created_at: optText,
  }),
  deployment: z.looseObject({
    id: z.number(),
    sha: optText,
    ref: optText,
    environment: optText,
    created_at: optText,
    production_environment: z.boolean().nullish(),
  }),
  repository: repositorySchema,
});

const checkRunEventSchema = z.looseObject({
  action: z.string(),
  repository: repositorySchema,
  check_run: z.looseObject({
    id: z.number(),
    name: optText,
    head_sha: optText,
    status: optText,
    conclusion: optText,
    started_at: optText,
    completed_at: optText,
    html_url: optText,
    check_suite: z.looseObject({ head_branch: optText }).nullish(),
    app: z.looseObject({ slug: optText }).nullish(),
    pull_requests: z.array(z.unknown()).nullish(),
  }),
});

export function normalizeGitHub(input: NormalizeInput): NormalizeResult {
  const event = isJsonObject(input.headers) ? asText(input.headers[EVENT_HEADER]) : undefined;
  if (event === undefined) return { ok: false, reason: "missing X-GitHub-Event header" };
  if (!isJsonObject(input.body)) return { ok: false, reason: `${event} payload is not a JSON object` };
  const action = asText(input.body["action"]);
  const eventType = action === undefined ? event : `${event}.${action}`;

  switch (event) {
    case "pull_request": {
      if (action === undefined || !PR_ACTIONS.has(action)) return ignored(eventType);
      const parsed = pullRequestEventSchema.safeParse(input.body);
      if (!parsed.success) return malformed(event, parsed.error);
      return { ok: true, eventType, signals: [pullRequestSignal(parsed.data, input.receivedAt)] };
    }
    case "push": {
      const parsed = pushEventSchema.safeParse(input.body);
      if (!parsed.success) return malformed(event, parsed.error);
      // A branch deletion pushes no code.
      if (parsed.data.deleted === true) return ignored("push.deleted");
      return { ok: true, eventType, signals: [pushSignal(parsed.data, input.receivedAt)] };
    }
    case "deployment_status": {
      const parsed = deploymentStatusEventSchema.safeParse(input.body);
      if (!parsed.success) return malformed(event, parsed.error);
      const stateType = `deployment_status.${parsed.data.deployment_status.state}`;
      // Only a successful status means the SHA is running; pending, failed and inactive ones are kept raw.
      if (parsed.data.deployment_status.state !== "success") return ignored(stateType);
      return { ok: true, eventType: stateType, signals: [deploySignal(parsed.data, input.receivedAt)] };
    }
    case "check_run": {
      if (action !== "completed") return ignored(eventType);
      const parsed = checkRunEventSchema.safeParse(input.body);
      if (!parsed.success) return malformed(event, parsed.error);
      return { ok: true, eventType, signals: [checkRunSignal(parsed.data, input.receivedAt)] };
    }
    default:
      return ignored(eventType);
  }
}

function pullRequestSignal(event: z.infer<typeof pullRequestEventSchema>, receivedAt: Date): Signal {
  const pr = event.pull_request;
  const repository = event.repository.full_name;
  const merged = event.action === "closed" && pr.merged === true;
  const headSha = asText(pr.head?.sha);
  const mergeCommitSha = merged ? (asText(pr.merge_commit_sha) ?? null) : null;
  const title = asText(pr.title) ?? `Pull request #${pr.number}`;
  const occurredAt =
    (merged
      ? parseTime(pr.merged_at)
      : event.action === "closed"
        ? parseTime(pr.closed_at)
        : event.action === "opened"
          ? parseTime(pr.created_at)
          : parseTime(pr.updated_at)) ?? receivedAt;
  const branch = asText(pr.head?.ref) ?? null;
  const base = asText(pr.base?.ref) ?? null;

  return {
    kind: "change",
    source: "github",
    fingerprint: fingerprintOf(["github", "pull_request", repository, String(pr.number)]),
    title: `${title} (${repository}#${pr.number})`,
    severity: "info",
    status: "firing",
    commitSha: mergeCommitSha ?? headSha,
    occurredAt,
    frames: [],
    labels: compact({
      repository,
      action: event.action,
      merged: String(merged),
      branch: branch ?? undefined,
      base: base ?? undefined,
    }),
    links: links([["pull_request", pr.html_url]]),
    data: {
      number: pr.number,
      title,
      body: pr.body ?? null,
      branch,
      base,
      author: asText(pr.user?.login) ?? null,
      mergedAt: merged ? isoOrNull(pr.merged_at) : null,
      mergeCommitSha,
      mergedBy: merged ? (asText(pr.merged_by?.login) ?? null) : null,
      headSha: headSha ?? null,
      htmlUrl: asText(pr.html_url) ?? null,
      repository,
      action: event.action,
      merged,
      labels: labelNames(pr.labels),
    },
  };
}

function pushSignal(event: z.infer<typeof pushEventSchema>, receivedAt: Date): Signal {
  const repository = event.repository.full_name;
  const commits = (event.commits ?? []).flatMap((raw) => {
    const parsed = commitSchema.safeParse(raw);
    if (!parsed.success) return [];
    const c = parsed.data;
    return [
      {
        id: c.id,
        message: c.message ?? "",
        author: {
          name: asText(c.author?.name) ?? null,
          email: asText(c.author?.email) ?? null,
          username: asText(c.author?.username) ?? null,
        },
        timestamp: isoOrNull(c.timestamp),
        added: strings(c.added),
        modified: strings(c.modified),
        removed: strings(c.removed),
      },
    ];
  });
  const ref = event.ref;
  const target = ref.replace(/^refs\/(heads|tags)\//, "");
  const count = commits.length === 1 ? "1 commit" : `${commits.length} commits`;

  return {
    kind: "change",
    source: "github",
    fingerprint: fingerprintOf(["github", "push", repository, event.after]),
    title: `Push to ${target} in ${repository} (${count})`,
    severity: "info",
    status: "firing",
    commitSha: event.after,
    // When the branch moved, not when its head commit was authored.
    occurredAt:
      epochSeconds(event.repository.pushed_at) ?? parseTime(event.head_commit?.timestamp) ?? receivedAt,
    frames: [],
    labels: compact({ repository, ref, forced: String(event.forced === true) }),
    links: links([["compare", event.compare]]),
    data: {
      ref,
      before: asText(event.before) ?? null,
      after: event.after,
      forced: event.forced === true,
      created: event.created === true,
      pusher: asText(event.pusher?.name) ?? null,
      commits,
      repository,
    },
  };
}

function deploySignal(event: z.infer<typeof deploymentStatusEventSchema>, receivedAt: Date): Signal {
  const status = event.deployment_status;
  const deployment = event.deployment;
  const repository = event.repository.full_name;
  const sha = asText(deployment.sha) ?? null;
  const environment = asText(status.environment) ?? asText(deployment.environment);
  const createdAt = parseTime(status.created_at);

  return {
    kind: "deploy",
    source: "github",
    fingerprint: fingerprintOf(["github", "deployment", String(deployment.id)]),
    title: `Deployed ${repository}@${sha?.slice(0, 7) ?? "unknown"} to ${environment ?? "an unnamed environment"}`,
    severity: "info",
    // Deploy signals are facts; "firing" here only means "this happened" (see the file comment).
    status: "firing",
    environment,
    commitSha: sha ?? undefined,
    occurredAt: createdAt ?? receivedAt,
    frames: [],
    labels: compact({ repository, state: status.state, environment }),
    links: links([
      ["deployment_log", status.log_url ?? status.target_url],
      ["environment", status.environment_url],
    ]),
    data: {
      environment: environment ?? null,
      state: status.state,
      sha,
      ref: asText(deployment.ref) ?? null,
      deploymentId: deployment.id,
      deploymentStatusId: status.id ?? null,
      createdAt: createdAt?.toISOString() ?? null,
      productionEnvironment: deployment.production_environment ?? null,
      description: asText(status.description) ?? null,
      repository,
    },
  };
}

function checkRunSignal(event: z.infer<typeof checkRunEventSchema>, receivedAt: Date): Signal {
  const run = event.check_run;
  const repository = event.repository.full_name;
  const name = asText(run.name) ?? `check run ${run.id}`;
  const headSha = asText(run.head_sha) ?? null;
  const conclusion = asText(run.conclusion) ?? null;
  const status = asText(run.status) ?? null;
  const pullRequests = (run.pull_requests ?? []).flatMap((pr) =>
    isJsonObject(pr) && typeof pr["number"] === "number" ? [pr["number"]] : [],
  );

  return {
    kind: "change",
    source: "github",
    fingerprint: fingerprintOf(["github", "check_run", String(run.id)]),
    title: `Check "${name}" ${conclusion ?? status ?? "reported"} on ${repository}@${headSha?.slice(0, 7) ?? "unknown"}`,
    severity: "info",
    status: "firing",
    commitSha: headSha ?? undefined,
    occurredAt: parseTime(run.completed_at) ?? parseTime(run.started_at) ?? receivedAt,
    frames: [],
    labels: compact({ repository, check: name, conclusion: conclusion ?? undefined }),
    links: links([["check_run", run.html_url]]),
    data: {
      checkRunId: run.id,
      name,
      status,
      conclusion,
      headSha,
      headBranch: asText(run.check_suite?.head_branch) ?? null,
      pullRequests,
      app: asText(run.app?.slug) ?? null,
      repository,
      action: event.action,
    },
  };
}

function ignored(eventType: string): NormalizeResult {
  return { ok: true, signals: [], eventType, ignored: true };
}

/** Names the paths zod rejected, never the values: payloads may hold anything. */
function malformed(event: string, error: z.ZodError): NormalizeResult {
  const paths = [...new Set(error.issues.map((issue) => issue.path.map(String).join(".") || "(root)"))];
  return { ok: false, reason: `malformed ${event} payload at ${paths.slice(0, 5).join(", ")}` };
}

function links(pairs: ReadonlyArray<readonly [string, string | null | undefined]>): SignalLink[] {
  return pairs.flatMap(([rel, url]) => {
    const text = asText(url);
    return text !== undefined && /^https?:\/\//i.test(text) ? [{ rel, url: text }] : [];
  });
}

function compact(entries: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(entries)) if (value !== undefined) out[key] = value;
  return out;
}

function labelNames(labels: unknown[] | null | undefined): string[] {
  return (labels ?? []).flatMap((label) => {
    const name = isJsonObject(label) ? asText(label["name"]) : undefined;
    return name === undefined ? [] : [name];
  });
}

function strings(values: unknown[] | null | undefined): string[] {
  return (values ?? []).filter((value): value is string => typeof value === "string");
}

function isoOrNull(value: unknown): string | null {
  return parseTime(value)?.toISOString() ?? null;
}

/** Push payloads carry `repository.pushed_at` as Unix seconds (other events use ISO strings). */
function epochSeconds(value: unknown): Date | undefined {
  if (typeof value !== "number") return parseTime(value);
  const date = new Date(value * 1000);
  return Number.isFinite(value) && !Number.isNaN(date.getTime()) ? date : undefined;
}
