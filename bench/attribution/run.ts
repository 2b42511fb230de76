/**
 * Attribution benchmark (issue 7, ATTRIBUTION.md §6). Seeded scenarios become real git repositories; the
 * real service (the composition root's app and job runner, on a fresh database) receives them through its
 * real routes: Jira webhooks (signed), repository registration and sync, deploys, then a signed Sentry
 * event alert or Datadog monitor webhook; the attribution job runs on the job runner and the result is
 * read back from GET /api/v1/anomalies/{id}. Prints top-1 / top-3 / MRR (per stratum too), "high"
 * precision, ticket-link precision / recall and latency, then the latency run on a 10,000-commit
 * repository (built once with git fast-import and cached under bench/out/).
 *
 *   npx tsx bench/attribution/run.ts
 *
 * Environment: TEST_DATABASE_URL or BENCH_DATABASE_URL (a superuser URL; default the local system
 * Postgres), BENCH_SCENARIOS (60), BENCH_SEED (7), BENCH_SANDBOX for the scenario mix (local by default:
 * one container per scenario repository would spend most of the run creating containers),
 * BENCH_SANDBOX_10K for the latency run (docker when an engine and the sandbox image answer, else local),
 * BENCH_LATENCY_ANOMALIES (20), BENCH_SKIP_10K=1 to skip the large-repository run. Each part runs on a
 * fresh database of its own, dropped at the end.
 */
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { OpenAPIHono } from "@hono/zod-openapi";
import pino from "pino";
import postgres from "postgres";
import { createDatabase } from "../../db/client.ts";
import { runMigrations } from "../../db/migrate.ts";
import { createOrgWithOwner } from "../../src/accounts/orgs.ts";
import { blameArgs } from "../../src/attribution/blame-parser.ts";
import type { AttributionDeps } from "../../src/attribution/pipeline.ts";
import type { AttributionInput, FrameBlame } from "../../src/attribution/types.ts";
import { loadConfig } from "../../src/config.ts";
import { buildContainer, createSandboxDriver, TOKENS } from "../../src/container.ts";
import type { AppEnv } from "../../src/http/types.ts";
import type { IngestDeps } from "../../src/ingest/deps.ts";
import type { JobRunner } from "../../src/jobs/runner.ts";
import { generateKeys } from "../../src/keys.ts";
import { createLogger } from "../../src/telemetry/logger.ts";
import { withDatabase } from "../../test/harness/database-url.ts";
import { type BlamedLine, type FrameLine, mappedFrameLines } from "./comparisons.ts";
import { git, History } from "./history.ts";
import { build10k, type LatencyAnomaly } from "./large-repo.ts";
import { compareOffline, type OfflineCase, printComparisons } from "./offline.ts";
import { generate, type Scenario, type Stratum, type TicketSpec } from "./scenarios.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const OUT = path.join(REPO_ROOT, "bench/out");
const SCENARIOS = Number(process.env.BENCH_SCENARIOS ?? 60);
const SEED = Number(process.env.BENCH_SEED ?? 7);
const LATENCY_ANOMALIES = Number(process.env.BENCH_LATENCY_ANOMALIES ?? 20);

// biome-ignore lint/suspicious/noExplicitAny: the benchmark reads the API's JSON loosely
type Json = any;

/** Realistic mix: most errors have the culprit on the stack; about a third of the rest are hard. */
const MIX: Array<[Stratum, number]> = [
  ["S1", 0.36],
  ["S2", 0.13],
  ["S3", 0.13],
  ["S8", 0.08],
  ["S4", 0.15],
  ["S9", 0.15],
];

function strataFor(n: number): Stratum[] {
  const out: Stratum[] = [];
  for (const [s, share] of MIX) for (let i = 0; i < Math.round(n * share); i++) out.push(s);
  while (out.length < n) out.push("S1");
  return out.slice(0, n);
}

async function dockerAnswers(): Promise<boolean> {
  try {
    await git(REPO_ROOT, ["--version"]);
    const { execFile } = await import("node:child_process");
    return await new Promise((resolve) =>
      execFile("docker", ["image", "inspect", "causeway-sandbox:latest"], { timeout: 10_000 }, (err) =>
        resolve(!err),
      ),
    );
  } catch {
    return false;
  }
}

const sign = (secret: string, body: string) => createHmac("sha256", secret).update(body).digest("hex");
const jiraTime = (d: Date) => d.toISOString().replace("Z", "+0000");

interface Service {
  app: OpenAPIHono<AppEnv>;
  jobs: JobRunner;
  drain(): Promise<number>;
  request(p: string, init?: RequestInit & { apiKey?: string; json?: unknown }): Promise<Response>;
  removeSandboxes(orgId: string): Promise<void>;
  db: ReturnType<typeof createDatabase>;
  /** The AttributionInput each anomaly's attribution scored, by anomaly id (deep copies, Dates kept). */
  inputs: Map<string, AttributionInput>;
  close(): Promise<void>;
}

async function startService(driver: "docker" | "local", dataDir: string): Promise<Service> {
  const admin =
    process.env.BENCH_DATABASE_URL ??
    process.env.TEST_DATABASE_URL ??
    "postgres://postgres@127.0.0.1:5432/postgres";
  const name = `causeway_bench_attr_${Date.now().toString(36)}`;
  const adminSql = postgres(withDatabase(admin, "postgres"), { max: 1, onnotice: () => {} });
  await adminSql.unsafe(`create database ${name}`);
  const url = withDatabase(admin, name);
  await runMigrations(url, "causeway_app");
  const db = createDatabase({ url, appRole: "causeway_app", poolMax: 8 });
  const config = loadConfig({
    NODE_ENV: "test",
    DATABASE_URL: url,
    LOG_LEVEL: "warn",
    CAUSEWAY_DATA_DIR: dataDir,
    CAUSEWAY_SANDBOX_DRIVER: driver,
    // 0 measures every attribution cold (no patches kept from the previous anomaly).
    ...(process.env.CAUSEWAY_ATTRIBUTION_PATCH_CACHE_MB !== undefined
      ? { CAUSEWAY_ATTRIBUTION_PATCH_CACHE_MB: process.env.CAUSEWAY_ATTRIBUTION_PATCH_CACHE_MB }
      : {}),
  });
  await mkdir(OUT, { recursive: true });
  const logFile = path.join(OUT, "attribution-server.log");
  const logger = createLogger(config.logLevel, pino.destination({ dest: logFile, sync: true }));
  const container = buildContainer({
    config,
    logger,
    db,
    databaseUrl: url,
    sentryEnabled: false,
    keys: generateKeys(),
  });
  const inputs = new Map<string, AttributionInput>();
  // The job runner holds this same (instance-cached) deps object, so the hook reaches the real job.
  container.resolve<AttributionDeps>(TOKENS.Attribution).captureInput = (anomalyId, input) => {
    inputs.set(anomalyId, structuredClone(input));
  };
  const app = container.resolve<OpenAPIHono<AppEnv>>(TOKENS.App);
  const jobs = container.resolve<JobRunner>(TOKENS.JobRunner);
  await jobs.start();
  await jobs.work();
  const sandboxes = createSandboxDriver(config, pino({ level: "silent" }));
  return {
    app,
    jobs,
    db,
    inputs,
    drain: () => container.resolve<IngestDeps>(TOKENS.Ingest).processor.drain(),
    // A polite client: a 429 is waited out (Retry-After) and retried. The per-org limit (100/min) is hit
    // by the 10k run's polling; it adds wait to webhook → result, never to the engine's own timings.
    async request(p, init = {}) {
      const headers = new Headers(init.headers);
      if (init.apiKey) headers.set("authorization", `Bearer ${init.apiKey}`);
      let body = init.body;
      if (init.json !== undefined) {
        headers.set("content-type", "application/json");
        body = JSON.stringify(init.json);
      }
      for (;;) {
        const res = await app.request(p, { ...init, headers, body });
        if (res.status !== 429) return res;
        const wait = Number(res.headers.get("retry-after") ?? "1");
        await new Promise((r) => setTimeout(r, Math.max(1, wait) * 1000));
      }
    },
    async removeSandboxes(orgId: string) {
      for (const b of await sandboxes.list()) {
        if (b.orgId !== orgId || !b.repositoryId) continue;
        const now = new Date();
        await sandboxes.remove({
          kind: b.kind,
          id: b.id,
          orgId: b.orgId,
          repositoryId: b.repositoryId,
          createdAt: b.createdAt ?? now,
          expiresAt: b.expiresAt ?? now,
        });
      }
    },
    async close() {
      await jobs.stop(5_000);
      await db.close();
      await adminSql.unsafe(`drop database if exists ${name} with (force)`);
      await adminSql.end();
    },
  };
}

async function expectStatus(res: Response, status: number, what: string): Promise<Json> {
  const body = await res.json().catch(() => null);
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

function issueEvent(
  t: TicketSpec,
  at: Date,
  status: string,
  category: string,
  transition?: [string, string],
) {
  const n = Number(t.key.split("-")[1]);
  return {
    timestamp: at.getTime(),
    webhookEvent: transition ? "jira:issue_updated" : "jira:issue_created",
    issue_event_type_name: transition ? "issue_generic" : "issue_created",
    user: { accountId: "712020:actor", displayName: "Actor" },
    issue: {
      id: String(10_000 + n),
      self: `https://acme-pay.atlassian.net/rest/api/2/issue/${10_000 + n}`,
      key: t.key,
      fields: {
        summary: t.summary,
        description: t.description,
        project: { key: "PAY" },
        issuetype: { name: "Story" },
        priority: { name: "Medium" },
        status: { name: status, statusCategory: { key: category } },
        assignee: {
          accountId: `712020:${t.assignee.email.split("@")[0]}`,
          displayName: t.assignee.name,
          emailAddress: t.assignee.email,
        },
        reporter: { accountId: "712020:reporter", displayName: "Rita Reporter" },
        created: jiraTime(t.created),
        updated: jiraTime(at),
      },
    },
    ...(transition
      ? {
          changelog: {
            id: String(n),
            items: [
              {
                field: "status",
                fieldtype: "jira",
                fieldId: "status",
                from: "1",
                fromString: transition[0],
                to: "3",
                toString: transition[1],
              },
            ],
          },
        }
      : {}),
  };
}

const sentryFixture = JSON.parse(
  readFileSync(path.join(REPO_ROOT, "integrations/sentry/fixtures/event-alert-triggered.json"), "utf8"),
);
const datadogFixture = JSON.parse(
  readFileSync(path.join(REPO_ROOT, "integrations/datadog/fixtures/monitor-triggered.json"), "utf8"),
);

function sentryEvent(err: NonNullable<Scenario["error"]>, t0: Date, release: string | null): string {
  const payload = structuredClone(sentryFixture);
  const event = payload.data.event;
  if (release) event.release = release;
  else delete event.release;
  event.tags = event.tags.filter((tag: string[]) => tag[0] !== "release");
  event.datetime = t0.toISOString();
  event.timestamp = t0.getTime() / 1000;
  event.issue_id = String(Math.floor(Math.random() * 1e9));
  event.event_id = randomUUID().replaceAll("-", "");
  event.title = `${err.type}: ${err.message}`;
  event.metadata = {
    type: err.type,
    value: err.message,
    filename: err.frames[0]!.filename,
    function: err.frames[0]!.function,
  };
  event.culprit = `${err.frames[0]!.function}(${err.frames[0]!.filename})`;
  const exception = event.exception.values[0];
  exception.type = err.type;
  exception.value = err.message;
  exception.stacktrace.frames = [
    {
      filename: "node_modules/express/lib/router/layer.js",
      abs_path: "/srv/app/node_modules/express/lib/router/layer.js",
      lineno: 95,
      function: "handle",
      in_app: false,
    },
    // Sentry lists frames oldest first: the crash site is last.
    ...[...err.frames].reverse().map((f) => ({
      filename: f.filename,
      abs_path: f.absPath,
      lineno: f.lineno,
      function: f.function,
      in_app: true,
    })),
  ];
  return JSON.stringify(payload);
}

interface Outcome {
  id: string;
  stratum: Stratum | "10k";
  onStack: boolean;
  traps: string[];
  status: string;
  rank: number | null;
  reason?: string;
  confidence: string | null;
  topPr: number | null;
  culprit: number;
  engineMs: number;
  e2eMs: number;
  ticketPredicted: string | null;
  ticketTruth: string | null;
  /** The attribution's phase timings (ms) as the API reports them. */
  timings?: Record<string, number>;
}

async function settle(svc: Service, apiKey: string, anomalyId: string): Promise<Json> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const body = await expectStatus(
      await svc.request(`/api/v1/anomalies/${anomalyId}`, { apiKey }),
      200,
      "anomaly",
    );
    const a = body.attribution;
    if (a && !["pending", "running"].includes(a.status)) return a;
    if (Date.now() > deadline) throw new Error(`attribution did not finish: ${JSON.stringify(a)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Rank of the culprit with ties at their expected position; null when not ranked. */
function rankOf(suspects: Json[], culprit: number): number | null {
  const me = suspects.find((s) => s.prNumber === culprit);
  if (!me) return null;
  const above = suspects.filter((s) => s.score > me.score + 1e-9).length;
  const tied = suspects.filter((s) => Math.abs(s.score - me.score) <= 1e-9).length;
  return above + (tied + 1) / 2;
}

async function waitForAnomaly(svc: Service, apiKey: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const list = await expectStatus(await svc.request("/api/v1/anomalies", { apiKey }), 200, "anomalies");
    if (list.items.length > 0) return list.items[0].id;
    if (Date.now() > deadline) throw new Error("no anomaly was created");
    await svc.drain();
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface LinkEval {
  pr: number;
  truth: string | null;
  mode: string;
  decoy: boolean;
  predicted: string | null;
  linkType: string | null;
}

/**
 * Blames each frame line at `ref` in the scenario's repository, one git call per line; a line the file
 * does not have at `ref` (or a file it does not have) is left out. Plain blame is what Sentry's GitHub
 * blame returns; `engine` adds the engine's `-w -M -C` and ignore-revs.
 */
async function blameAt(
  dir: string,
  ref: string,
  lines: readonly FrameLine[],
  engine?: { ignoreRevs: readonly string[] },
): Promise<BlamedLine[]> {
  const out: BlamedLine[] = [];
  for (const l of lines) {
    const args = engine
      ? blameArgs({ sha: ref, path: l.path, line: l.line, ignoreRevs: engine.ignoreRevs })
      : ["blame", "--porcelain", "-L", `${l.line},${l.line}`, ref, "--", l.path];
    let text: string;
    try {
      text = await git(dir, args);
    } catch {
      continue;
    }
    const sha = /^([0-9a-f]{40}) /.exec(text)?.[1];
    const time = /^committer-time (\d+)$/m.exec(text)?.[1];
    if (sha && time) out.push({ ...l, sha, committedAt: new Date(Number(time) * 1000) });
  }
  return out;
}

async function offlineCase(dir: string, s: Scenario, input: AttributionInput): Promise<OfflineCase> {
  const lines = mappedFrameLines(input);
  const engineLines = input.blame.map((b) => ({ path: b.path, line: b.line }));
  const headForEngine = await blameAt(dir, "HEAD", engineLines, { ignoreRevs: input.ignoreRevs ?? [] });
  return {
    id: s.id,
    stratum: s.stratum,
    truthId: `pr-${s.culprit.number}`,
    input,
    blameHead: await blameAt(dir, "HEAD", lines),
    blameDeployed: await blameAt(dir, input.deployedSha, lines),
    engineBlameHead: headForEngine.map((b): FrameBlame => ({ path: b.path, line: b.line, blameSha: b.sha })),
  };
}

async function runScenario(
  svc: Service,
  s: Scenario,
  dir: string,
): Promise<{ outcome: Outcome; links: LinkEval[]; offline?: OfflineCase }> {
  const marks = await s.history.write(dir);
  const sha = (mark: number) => marks.get(mark)!;
  const org = await createOrgWithOwner(svc.db, {
    name: `Bench ${s.id} ${randomBytes(3).toString("hex")}`,
    ownerEmail: `bench-${randomBytes(4).toString("hex")}@example.test`,
  });
  const apiKey = org.apiKey;
  try {
    // Jira: integration, then every ticket's life as signed webhooks.
    const jiraSecret = randomBytes(24).toString("hex");
    const jira = await expectStatus(
      await svc.request("/api/v1/integrations", {
        method: "POST",
        apiKey,
        json: {
          provider: "jira",
          name: "Jira",
          config: {
            baseUrl: "https://acme-pay.atlassian.net",
            projectKeys: ["PAY"],
            email: "bot@acme.example",
          },
          secrets: { webhookSecret: jiraSecret, apiToken: "jira-api-token-0123456789" },
        },
      }),
      201,
      "jira integration",
    );
    const now = Date.now();
    for (const t of s.tickets) {
      const events = [
        issueEvent(t, t.created, "To Do", "new"),
        issueEvent(t, t.inProgressAt, "In Progress", "indeterminate", ["To Do", "In Progress"]),
      ];
      if (t.doneAt.getTime() < now)
        events.push(issueEvent(t, t.doneAt, "Done", "done", ["In Progress", "Done"]));
      for (const e of events) {
        const raw = JSON.stringify(e);
        await expectStatus(
          await svc.request(`/webhooks/jira/${jira.id}`, {
            method: "POST",
            body: raw,
            headers: {
              "content-type": "application/json",
              "x-hub-signature": `sha256=${sign(jiraSecret, raw)}`,
              "x-atlassian-webhook-identifier": randomUUID(),
            },
          }),
          202,
          "jira webhook",
        );
      }
    }
    await svc.drain();

    const repo = await expectStatus(
      await svc.request("/api/v1/repositories", {
        method: "POST",
        apiKey,
        json: { name: "shop", url: dir, services: ["checkout-api"], jiraProjectKeys: ["PAY"] },
      }),
      201,
      "repository",
    );
    await expectStatus(
      await svc.request(`/api/v1/repositories/${repo.id}/sync`, { method: "POST", apiKey }),
      200,
      "sync",
    );
    for (const d of s.deploys) {
      await expectStatus(
        await svc.request("/api/v1/deploys", {
          method: "POST",
          apiKey,
          json: {
            repository: repo.id,
            service: "checkout-api",
            environment: "production",
            version: d.version,
            sha: sha(d.mark),
            deployedAt: d.at.toISOString(),
            externalId: `deploy-${d.version}`,
          },
        }),
        201,
        "deploy",
      );
    }
    const current = s.deploys[s.deploys.length - 1]!;

    let started: number;
    if (s.error) {
      const secret = randomBytes(24).toString("hex");
      const integ = await expectStatus(
        await svc.request("/api/v1/integrations", {
          method: "POST",
          apiKey,
          json: { provider: "sentry", name: "Sentry", secrets: { webhookSecret: secret } },
        }),
        201,
        "sentry integration",
      );
      const release =
        s.release === "sha"
          ? `checkout-api@${sha(current.mark)}`
          : s.release === "version"
            ? `checkout-api@${current.version}`
            : null;
      const body = sentryEvent(s.error, s.t0, release);
      started = performance.now();
      await expectStatus(
        await svc.request(`/webhooks/sentry/${integ.id}`, {
          method: "POST",
          body,
          headers: {
            "content-type": "application/json",
            "sentry-hook-resource": "event_alert",
            "sentry-hook-signature": sign(secret, body),
            "sentry-hook-timestamp": String(Math.floor(Date.now() / 1000)),
            "request-id": `req-${randomBytes(4).toString("hex")}`,
          },
        }),
        202,
        "sentry webhook",
      );
    } else {
      const secret = randomBytes(24).toString("hex");
      const integ = await expectStatus(
        await svc.request("/api/v1/integrations", {
          method: "POST",
          apiKey,
          json: {
            provider: "datadog",
            name: "Datadog",
            config: { webhookAuth: "hmac" },
            secrets: { webhookSecret: secret },
          },
        }),
        201,
        "datadog integration",
      );
      const payload = structuredClone(datadogFixture);
      const ms = String(s.t0.getTime());
      Object.assign(payload, {
        id: String(Math.floor(Math.random() * 1e15)),
        date: ms,
        last_updated: ms,
        alert_cycle_key: String(Math.floor(Math.random() * 1e15)),
        title: `[P2] [Triggered on {env:production,service:checkout-api}] ${s.metric!.title}`,
        alert_title: s.metric!.title,
        alert_metric: s.metric!.metric,
        version: s.release === "none" ? "" : current.version,
        tags: `env:production,monitor,service:checkout-api,team:payments${s.release === "none" ? "" : `,version:${current.version}`}`,
      });
      const body = JSON.stringify(payload);
      started = performance.now();
      await expectStatus(
        await svc.request(`/webhooks/datadog/${integ.id}`, {
          method: "POST",
          body,
          headers: { "content-type": "application/json", "dd-webhook-signature": sign(secret, body) },
        }),
        202,
        "datadog webhook",
      );
    }
    await svc.drain();
    const anomalyId = await waitForAnomaly(svc, apiKey);
    const a = await settle(svc, apiKey, anomalyId);
    const e2eMs = performance.now() - started;
    const captured = svc.inputs.get(anomalyId);
    const offline = captured ? await offlineCase(dir, s, captured) : undefined;
    const rank = a.status === "failed" ? null : rankOf(a.suspects ?? [], s.culprit.number);
    const filtered = (a.filtered ?? []).find((f: Json) => f.candidateId === `pr-${s.culprit.number}`);
    const truthTicket = s.prs.find((p) => p.number === s.culprit.number)?.ticket ?? null;
    const outcome: Outcome = {
      id: s.id,
      stratum: s.stratum,
      onStack: s.onStack,
      traps: s.traps,
      status: a.status,
      rank,
      ...(a.status === "failed" ? { reason: a.error } : filtered ? { reason: filtered.reason } : {}),
      confidence: a.confidence?.level ?? null,
      topPr: a.suspects?.[0]?.prNumber ?? null,
      culprit: s.culprit.number,
      engineMs: a.timings?.total ?? 0,
      e2eMs,
      ticketPredicted: a.status === "done" ? (a.ticket?.key ?? null) : null,
      ticketTruth: truthTicket,
    };

    // The linker, over every PR of the scenario.
    const changes = await expectStatus(
      await svc.request(`/api/v1/changes?repository=${repo.id}&limit=200`, { apiKey }),
      200,
      "changes",
    );
    const byPr = new Map<number, Json>(changes.items.map((c: Json) => [c.prNumber, c]));
    const links: LinkEval[] = s.prs
      .filter((p) => byPr.has(p.number))
      .map((p) => {
        const c = byPr.get(p.number);
        const primary = c.tickets.find((l: Json) => l.primary) ?? c.tickets[0] ?? null;
        return {
          pr: p.number,
          truth: p.ticket,
          mode: p.ticketMode,
          decoy: p.decoy,
          predicted: primary?.key ?? null,
          linkType: primary?.linkType ?? null,
        };
      });
    return offline ? { outcome, links, offline } : { outcome, links };
  } finally {
    await svc.removeSandboxes(org.org.id);
  }
}

// ---------------------------------------------------------------------------------------------------
// metrics

function pct(n: number, d: number): string {
  return d === 0 ? "n/a" : `${((100 * n) / d).toFixed(1)}%`;
}

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

function ranking(outs: Outcome[]) {
  const n = outs.length;
  const answered = (o: Outcome) => o.status === "done";
  const top1 = outs.filter((o) => answered(o) && o.rank !== null && o.rank <= 1).length;
  const top3 = outs.filter((o) => answered(o) && o.rank !== null && o.rank <= 3).length;
  const mrr = n === 0 ? 0 : outs.reduce((s, o) => s + (answered(o) && o.rank ? 1 / o.rank : 0), 0) / n;
  return { n, top1: n ? top1 / n : 0, top3: n ? top3 / n : 0, mrr };
}

function summarize(outs: Outcome[], links: LinkEval[]) {
  const all = ranking(outs);
  const onStack = ranking(outs.filter((o) => o.onStack));
  const byStratum = Object.fromEntries(
    [...new Set(outs.map((o) => o.stratum))]
      .sort()
      .map((s) => [s, ranking(outs.filter((o) => o.stratum === s))]),
  );
  const byTrap = Object.fromEntries(
    [...new Set(outs.flatMap((o) => o.traps))]
      .sort()
      .map((t) => [t, ranking(outs.filter((o) => o.traps.includes(t)))]),
  );
  const levels = Object.fromEntries(
    ["high", "medium", "low"].map((l) => {
      const at = outs.filter((o) => o.status === "done" && o.confidence === l);
      return [l, { n: at.length, correct: at.filter((o) => o.rank === 1).length }];
    }),
  );
  const abstained = outs.filter((o) => o.status === "no_suspect").length;
  const failed = outs.filter((o) => o.status === "failed").length;
  const filteredCulprits = outs.filter((o) => o.rank === null && o.reason).map((o) => `${o.id}:${o.reason}`);

  const predicted = links.filter((l) => l.predicted !== null);
  const truePos = predicted.filter((l) => l.predicted === l.truth).length;
  const withTruth = links.filter((l) => l.truth !== null);
  const recalled = withTruth.filter((l) => l.predicted === l.truth).length;
  const split = (type: string) => {
    const p = predicted.filter((l) => l.linkType === type);
    return { predicted: p.length, correct: p.filter((l) => l.predicted === l.truth).length };
  };
  const explicitTruth = withTruth.filter((l) => l.mode !== "inferred");
  const inferredTruth = withTruth.filter((l) => l.mode === "inferred");
  const decoyFalse = links.filter((l) => l.decoy && l.predicted !== null && l.predicted !== l.truth).length;

  const engine = outs.map((o) => o.engineMs);
  const e2e = outs.map((o) => o.e2eMs);
  return {
    all,
    onStack,
    byStratum,
    byTrap,
    levels,
    abstained,
    failed,
    filteredCulprits,
    tickets: {
      prs: links.length,
      precision: predicted.length ? truePos / predicted.length : 0,
      recall: withTruth.length ? recalled / withTruth.length : 0,
      explicit: {
        ...split("explicit"),
        recall:
          explicitTruth.filter((l) => l.predicted === l.truth).length / Math.max(1, explicitTruth.length),
        truth: explicitTruth.length,
      },
      inferred: {
        ...split("inferred"),
        recall:
          inferredTruth.filter((l) => l.predicted === l.truth).length / Math.max(1, inferredTruth.length),
        truth: inferredTruth.length,
      },
      decoyFalseLinks: decoyFalse,
      attributionTicketCorrect: outs.filter(
        (o) => o.rank === 1 && o.status === "done" && o.ticketPredicted === o.ticketTruth,
      ).length,
      attributionTopCorrect: outs.filter((o) => o.rank === 1 && o.status === "done").length,
    },
    latency: {
      engineP50: quantile(engine, 0.5),
      engineP95: quantile(engine, 0.95),
      engineMax: Math.max(0, ...engine),
      e2eP50: quantile(e2e, 0.5),
      e2eP95: quantile(e2e, 0.95),
    },
  };
}

function printRanking(label: string, r: ReturnType<typeof ranking>) {
  console.log(
    `${label.padEnd(24)} n=${String(r.n).padStart(3)}  top-1 ${r.top1.toFixed(3)}  top-3 ${r.top3.toFixed(3)}  MRR ${r.mrr.toFixed(3)}`,
  );
}

// ---------------------------------------------------------------------------------------------------

async function latencyRun(svc: Service): Promise<Json> {
  const dir = path.join(OUT, "attribution-repo-10k.git");
  const t = performance.now();
  const built = await build10k(dir);
  const buildMs = performance.now() - t;
  const org = await createOrgWithOwner(svc.db, {
    name: `Bench 10k ${randomBytes(3).toString("hex")}`,
    ownerEmail: `bench-${randomBytes(4).toString("hex")}@example.test`,
  });
  const apiKey = org.apiKey;
  const outs: Outcome[] = [];
  let syncMs = 0;
  try {
    const repo = await expectStatus(
      await svc.request("/api/v1/repositories", {
        method: "POST",
        apiKey,
        json: { name: "monolith", url: dir, services: ["checkout-api"] },
      }),
      201,
      "repository",
    );
    const s0 = performance.now();
    const sync = await expectStatus(
      await svc.request(`/api/v1/repositories/${repo.id}/sync`, { method: "POST", apiKey }),
      200,
      "sync",
    );
    syncMs = performance.now() - s0;
    const secret = randomBytes(24).toString("hex");
    const integ = await expectStatus(
      await svc.request("/api/v1/integrations", {
        method: "POST",
        apiKey,
        json: { provider: "sentry", name: "Sentry", secrets: { webhookSecret: secret } },
      }),
      201,
      "sentry integration",
    );
    const seen = new Set<string>();
    for (const [i, an] of built.anomalies.slice(0, LATENCY_ANOMALIES).entries()) {
      const body = sentryEvent(
        { type: "TypeError", message: an.message, frames: an.frames },
        an.t0,
        `checkout-api@${an.deployedSha}`,
      );
      const started = performance.now();
      await expectStatus(
        await svc.request(`/webhooks/sentry/${integ.id}`, {
          method: "POST",
          body,
          headers: {
            "content-type": "application/json",
            "sentry-hook-resource": "event_alert",
            "sentry-hook-signature": sign(secret, body),
            "sentry-hook-timestamp": String(Math.floor(Date.now() / 1000)),
            "request-id": `req-${randomBytes(4).toString("hex")}`,
          },
        }),
        202,
        "sentry webhook",
      );
      await svc.drain();
      let anomalyId: string | undefined;
      for (let k = 0; k < 600 && !anomalyId; k++) {
        const list = await expectStatus(
          await svc.request("/api/v1/anomalies?limit=100", { apiKey }),
          200,
          "list",
        );
        anomalyId = list.items.map((x: Json) => x.id).find((id: string) => !seen.has(id));
        if (!anomalyId) await new Promise((r) => setTimeout(r, 200));
      }
      if (!anomalyId) throw new Error("10k anomaly not created");
      seen.add(anomalyId);
      const a = await settle(svc, apiKey, anomalyId);
      outs.push({
        id: `10k-${i}`,
        stratum: "10k",
        onStack: true,
        traps: [],
        status: a.status,
        rank: rankOf(a.suspects ?? [], an.culpritPr),
        confidence: a.confidence?.level ?? null,
        topPr: a.suspects?.[0]?.prNumber ?? null,
        culprit: an.culpritPr,
        engineMs: a.timings?.total ?? 0,
        e2eMs: performance.now() - started,
        ticketPredicted: null,
        ticketTruth: null,
        timings: a.timings ?? {},
      });
      process.stdout.write(".");
    }
    process.stdout.write("\n");
    const phases = new Map<string, number[]>();
    for (const o of outs.slice(1))
      for (const [k, v] of Object.entries(o.timings ?? {})) phases.set(k, [...(phases.get(k) ?? []), v]);
    const phaseMedians = Object.fromEntries([...phases].map(([k, v]) => [k, quantile(v, 0.5)]));
    return {
      phaseMedians,
      commits: built.commits,
      buildMs: Math.round(buildMs),
      cached: built.cached,
      syncMs: Math.round(syncMs),
      imported: sync.imported,
      ranking: ranking(outs),
      engine: outs.map((o) => o.engineMs),
      e2e: outs.map((o) => Math.round(o.e2eMs)),
      p50: quantile(
        outs.map((o) => o.engineMs),
        0.5,
      ),
      p95: quantile(
        outs.map((o) => o.engineMs),
        0.95,
      ),
      max: Math.max(...outs.map((o) => o.engineMs)),
      e2eP50: quantile(
        outs.map((o) => o.e2eMs),
        0.5,
      ),
      e2eP95: quantile(
        outs.map((o) => o.e2eMs),
        0.95,
      ),
      outcomes: outs,
    };
  } finally {
    await svc.removeSandboxes(org.org.id);
  }
}

async function main() {
  const pick = (v: string | undefined, fallback: "docker" | "local") =>
    v === "local" || v === "docker" ? v : fallback;
  const docker = await dockerAnswers();
  const driver = pick(process.env.BENCH_SANDBOX, "local");
  const driver10k = pick(process.env.BENCH_SANDBOX_10K, docker ? "docker" : "local");
  const work = await mkdtemp(path.join(tmpdir(), "causeway-bench-attr-"));
  const outs: Outcome[] = [];
  const links: LinkEval[] = [];
  const offline: OfflineCase[] = [];
  const started = performance.now();
  let summary: ReturnType<typeof summarize> | null = null;
  let large: Json = null;
  let comparisons: ReturnType<typeof compareOffline> | null = null;
  try {
    if (SCENARIOS > 0) {
      const svc = await startService(driver, path.join(work, "data"));
      try {
        const strata = strataFor(SCENARIOS);
        console.log(
          `attribution benchmark: ${SCENARIOS} scenarios, seed ${SEED}, sandbox ${driver}, node ${process.version}`,
        );
        for (const [i, stratum] of strata.entries()) {
          const seed = SEED * 1_000_003 + i * 7919;
          const s = generate(new History(), i, stratum, seed) as Scenario;
          const r = await runScenario(svc, s, path.join(work, `repo-${i}.git`));
          const { outcome, links: l } = r;
          outs.push(outcome);
          links.push(...l);
          if (r.offline) offline.push(r.offline);
          const mark = outcome.status === "done" && outcome.rank === 1 ? "ok " : "MISS";
          console.log(
            `${mark} ${outcome.id.padEnd(7)} rank ${String(outcome.rank ?? "-").padStart(4)} ${outcome.status.padEnd(10)} ${String(outcome.confidence).padEnd(6)} top #${outcome.topPr} culprit #${outcome.culprit} ${outcome.engineMs.toFixed(0)} ms  [${outcome.traps.join(", ")}]${outcome.reason ? ` (${outcome.reason})` : ""}`,
          );
        }
      } finally {
        await svc.close();
      }
      summary = summarize(outs, links);
      console.log("");
      printRanking("full mix", summary.all);
      printRanking("on-stack (S1 S2 S3 S8)", summary.onStack);
      for (const [s, r] of Object.entries(summary.byStratum)) printRanking(`  ${s}`, r);
      for (const [t, r] of Object.entries(summary.byTrap)) printRanking(`  trap: ${t}`, r);
      const hi = summary.levels.high!;
      console.log(
        `confidence: high ${hi.correct}/${hi.n} correct (precision ${pct(hi.correct, hi.n)}), medium ${summary.levels.medium!.correct}/${summary.levels.medium!.n}, low ${summary.levels.low!.correct}/${summary.levels.low!.n}; no_suspect ${summary.abstained}, failed ${summary.failed}`,
      );
      const tk = summary.tickets;
      console.log(
        `ticket links over ${tk.prs} PRs: precision ${tk.precision.toFixed(3)}, recall ${tk.recall.toFixed(3)}; linked explicitly ${tk.explicit.correct}/${tk.explicit.predicted} correct; linked by inference ${tk.inferred.correct}/${tk.inferred.predicted} correct; recall where the key is in the PR ${tk.explicit.recall.toFixed(3)} (${tk.explicit.truth}), where only inference can link ${tk.inferred.recall.toFixed(3)} (${tk.inferred.truth}); wrong links on decoy PRs ${tk.decoyFalseLinks}; attribution ticket right on ${tk.attributionTicketCorrect}/${tk.attributionTopCorrect} correct top-1s`,
      );
      console.log(
        `latency per anomaly (engine, timings.total): p50 ${summary.latency.engineP50.toFixed(0)} ms, p95 ${summary.latency.engineP95.toFixed(0)} ms, max ${summary.latency.engineMax.toFixed(0)} ms; webhook → result: p50 ${summary.latency.e2eP50.toFixed(0)} ms, p95 ${summary.latency.e2eP95.toFixed(0)} ms`,
      );
      if (summary.filteredCulprits.length)
        console.log(`culprit not ranked: ${summary.filteredCulprits.join(", ")}`);
      comparisons = compareOffline(offline, outs);
      printComparisons(comparisons);
    }

    if (process.env.BENCH_SKIP_10K !== "1") {
      console.log(`\n10,000-commit repository (no LLM, sandbox ${driver10k}):`);
      const svc = await startService(driver10k, path.join(work, "data-10k"));
      try {
        large = await latencyRun(svc);
      } finally {
        await svc.close();
      }
      console.log(
        `  ${large.commits} commits (${large.cached ? "cached" : `built in ${large.buildMs} ms`}), first sync ${large.syncMs} ms (${large.imported} imported)`,
      );
      console.log(
        `  median phase times (warm): ${Object.entries(large.phaseMedians)
          .map(([k, v]) => `${k} ${Number(v).toFixed(0)}`)
          .join(", ")}`,
      );
      console.log(
        `  ${large.outcomes.length} anomalies: engine p50 ${large.p50.toFixed(0)} ms, p95 ${large.p95.toFixed(0)} ms, max ${large.max.toFixed(0)} ms (first, cold sandbox: ${large.engine[0]?.toFixed(0)} ms); webhook → result p50 ${large.e2eP50.toFixed(0)} ms, p95 ${large.e2eP95.toFixed(0)} ms; top-1 ${large.ranking.top1.toFixed(3)}, MRR ${large.ranking.mrr.toFixed(3)}`,
      );
    }
    const wall = (performance.now() - started) / 1000;
    console.log(`\nwall time ${wall.toFixed(0)} s`);
    await writeFile(
      path.join(OUT, "attribution.json"),
      JSON.stringify(
        {
          seed: SEED,
          scenarios: SCENARIOS,
          driver,
          driver10k,
          summary,
          comparisons,
          large,
          outcomes: outs,
          links,
        },
        null,
        2,
      ),
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export type { LatencyAnomaly };

if (existsSync(REPO_ROOT)) {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
