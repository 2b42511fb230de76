/**
 * Attribution end to end: a real git repository made here (merge and squash PRs, a formatting commit over
 * the crash line, a docs-only PR, a fix merged after first-seen), registered through the repositories API,
 * a signed Sentry event alert whose stack points into it, the delivery processor, the queued
 * `attribution.run` job on the real job runner, and the result read back from GET /api/v1/anomalies/{id}.
 * The sandbox is Docker when an engine and the image answer (or CAUSEWAY_REQUIRE_DOCKER=1), else the local
 * driver; the suite title says which.
 */
import { createHmac, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { and, eq } from "drizzle-orm";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { attributions, auditLog } from "../../db/schema/index.ts";
import { createSandboxDriver } from "../../src/container.ts";
import { GitFixture, GRACE } from "../changes/git-fixture.ts";
import { jsonOf, useTestApp } from "../harness/app.ts";
import { makeApiKey, makeOrg } from "../harness/factories.ts";
import { probeDocker } from "../sandbox/docker-available.ts";

const docker = await probeDocker();
const driver =
  process.env.CAUSEWAY_TEST_SANDBOX_DRIVER === "local" && !docker.required
    ? "local"
    : docker.available || docker.required
      ? "docker"
      : "local";

const fixture = (name: string) =>
  readFileSync(new URL(`../../integrations/sentry/fixtures/${name}`, import.meta.url), "utf8");
const sign = (secret: string, body: string) => createHmac("sha256", secret).update(body).digest("hex");

function lines(n: number, f: (i: number) => string): string {
  return `${Array.from({ length: n }, (_, i) => f(i + 1)).join("\n")}\n`;
}

/** discount.ts with line 31 as given (the crash line) inside applyDiscount (lines 28..34). */
function discountTs(line31: string, indent = "  "): string {
  return lines(40, (i) => {
    if (i === 28) return "export function applyDiscount(subtotal: number, code: string): number {";
    if (i === 29) return `${indent}const rates = loadRates();`;
    if (i === 30) return `${indent}// rates are keyed by upper-case code`;
    if (i === 31) return `${indent}${line31}`;
    if (i === 32) return "}";
    return `// pricing ${i}`;
  });
}

const CHECKOUT_TS = lines(130, (i) =>
  i === 118 ? "  const discounted = applyDiscount(subtotal, code);" : `// checkout ${i}`,
);
const ORDERS_TS = lines(60, (i) =>
  i === 42 ? "  const priced = await priceCart(cart, req.body.discountCode);" : `// orders ${i}`,
);

describe(`attribution pipeline end to end (${driver} sandbox)`, async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "causeway-attr-"));
  const t = await useTestApp({ CAUSEWAY_DATA_DIR: dataDir, CAUSEWAY_SANDBOX_DRIVER: driver });
  const db = t.database.db;
  const repos: GitFixture[] = [];

  beforeAll(async () => {
    if (docker.required) docker.assertAvailable();
    await t.jobs.work();
  });
  const orgIds = new Set<string>();
  afterAll(async () => {
    // Remove this file's sandboxes (only those of its own orgs), then the repositories they mounted.
    const sandboxes = createSandboxDriver(t.config, pino({ level: "silent" }));
    for (const b of await sandboxes.list()) {
      if (!b.orgId || !orgIds.has(b.orgId) || !b.repositoryId) continue;
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
    for (const r of repos) await r.remove();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** The scenario repository; returns the SHAs and first-seen time the assertions need. */
  async function buildRepo() {
    const repo = await GitFixture.create({ start: new Date("2026-03-01T09:00:00Z") });
    repos.push(repo);
    // The initial import is a month older than the lookback window: history, not a candidate.
    await repo.write("src/pricing/discount.ts", discountTs("return subtotal;"));
    await repo.write("src/services/checkout.ts", CHECKOUT_TS);
    await repo.write("src/routes/orders.ts", ORDERS_TS);
    await repo.write("README.md", "# shop\n");
    await repo.git(["add", "-A"]);
    const imported = "2026-02-01T09:00:00Z";
    await repo.git(["commit", "-q", "-m", "Initial import"], {
      GIT_AUTHOR_DATE: imported,
      GIT_COMMITTER_DATE: imported,
    });
    await repo.squashPr(10, "Add loyalty points to checkout", {
      "src/services/checkout.ts": CHECKOUT_TS.replace("// checkout 12\n", "const loyalty = 1;\n"),
    });
    // The culprit, merge workflow: the inner commit owns the crash line.
    const culprit = await repo.mergePr(
      11,
      "PAY-7-discount-rates",
      "Look up discount rates by code",
      [
        {
          message: "Look up the rate of the discount code",
          files: { "src/pricing/discount.ts": discountTs("return subtotal * (1 - rates[code].rate);") },
          author: GRACE,
        },
      ],
      "Rates now come from the rates table instead of a flat discount.",
    );
    // A later formatting-only PR re-indents the whole file, crash line included.
    await repo.squashPr(12, "Reformat pricing module", {
      "src/pricing/discount.ts": discountTs("return subtotal * (1 - rates[code].rate);", "    "),
    });
    await repo.squashPr(13, "Document discount codes", { "README.md": "# shop\n\nDiscount codes.\n" });
    const deployed = await repo.head();
    const firstSeen = new Date(repo.nextDate().getTime() - 30 * 60_000);
    // Fixed after the anomaly appeared: touches the crash line but was merged after first-seen.
    const fix = await repo.squashPr(14, "Guard unknown discount codes", {
      "src/pricing/discount.ts": discountTs("return subtotal * (1 - (rates[code]?.rate ?? 0));", "    "),
    });
    return { repo, culprit, deployed, firstSeen, fix };
  }

  async function setup(build: () => Promise<Awaited<ReturnType<typeof buildRepo>>> = buildRepo) {
    const scenario = await build();
    const owner = await makeOrg(db);
    const orgId = owner.org.id;
    orgIds.add(orgId);
    const member = await makeApiKey(db, orgId, "member");
    const res = await t.request("/api/v1/repositories", {
      method: "POST",
      apiKey: owner.apiKey,
      json: { name: "shop", url: scenario.repo.dir, services: ["checkout-api"], jiraProjectKeys: ["PAY"] },
    });
    expect(res.status, JSON.stringify(await res.clone().json())).toBe(201);
    const repository = await jsonOf(res);
    const secret = randomBytes(24).toString("hex");
    const integration = await t.request("/api/v1/integrations", {
      method: "POST",
      apiKey: owner.apiKey,
      json: { provider: "sentry", name: "Sentry", secrets: { webhookSecret: secret } },
    });
    expect(integration.status).toBe(201);
    const integrationId = (await jsonOf(integration)).id as string;
    return { ...scenario, orgId, owner, member: member.key, repository, secret, integrationId };
  }

  type Setup = Awaited<ReturnType<typeof setup>>;

  async function post(s: Setup, resource: string, body: string) {
    const res = await t.request(`/webhooks/sentry/${s.integrationId}`, {
      method: "POST",
      body,
      headers: {
        "content-type": "application/json",
        "sentry-hook-resource": resource,
        "sentry-hook-signature": sign(s.secret, body),
        "sentry-hook-timestamp": String(Math.floor(Date.now() / 1000)),
        "request-id": `req-${randomBytes(4).toString("hex")}`,
      },
    });
    expect(res.status).toBe(202);
    await t.processDeliveries();
  }

  function eventAlert(
    s: Setup,
    message = "Cannot read properties of undefined (reading 'rate')",
    crashLine = 31,
  ): string {
    const payload = JSON.parse(fixture("event-alert-triggered.json"));
    const event = payload.data.event;
    event.release = `checkout-api@${s.deployed}`;
    event.tags = event.tags.filter((tag: string[]) => tag[0] !== "release");
    event.datetime = s.firstSeen.toISOString();
    event.timestamp = s.firstSeen.getTime() / 1000;
    event.issue_id = String(Math.floor(Math.random() * 1e9));
    event.title = `TypeError: ${message}`;
    event.metadata = { ...event.metadata, value: message };
    const exception = event.exception.values[0];
    exception.value = message;
    const frame = (file: string, lineno: number, fn: string) => ({
      filename: file,
      abs_path: `/srv/app/${file}`,
      lineno,
      function: fn,
      in_app: true,
    });
    exception.stacktrace.frames = [
      { filename: "node_modules/express/lib/router/layer.js", lineno: 95, function: "handle", in_app: false },
      frame("src/routes/orders.ts", 42, "createOrder"),
      frame("src/services/checkout.ts", 118, "priceCart"),
      frame("src/pricing/discount.ts", crashLine, "applyDiscount"),
    ];
    return JSON.stringify(payload);
  }

  async function anomalyIds(s: Setup): Promise<string[]> {
    const res = await t.request("/api/v1/anomalies", { apiKey: s.member });
    expect(res.status).toBe(200);
    return (await jsonOf(res)).items.map((a: { id: string }) => a.id);
  }

  // biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary JSON
  async function settled(s: Setup, anomalyId: string, minAttempts = 1): Promise<any> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const res = await t.request(`/api/v1/anomalies/${anomalyId}`, { apiKey: s.member });
      expect(res.status).toBe(200);
      const body = await jsonOf(res);
      const a = body.attribution;
      if (a && !["pending", "running"].includes(a.status) && a.attempts >= minAttempts) return a;
      if (Date.now() > deadline) throw new Error(`attribution did not finish: ${JSON.stringify(a)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it("names the merge-workflow PR that last changed the crash line, through a formatting commit, with high confidence", async () => {
    const s = await setup();
    await post(s, "event_alert", eventAlert(s));
    const [anomalyId] = await anomalyIds(s);
    expect(anomalyId).toBeDefined();
    const a = await settled(s, anomalyId!);

    expect(a.status, a.error ?? a.reasoning).toBe("done");
    expect(a.deployedSha).toBe(s.deployed);
    expect(a.deployedShaSource).toBe("commit_sha");
    expect(a.repositoryId).toBe(s.repository.id);
    const top = a.suspects[0];
    expect(top.prNumber).toBe(11);
    expect(top.title).toBe("Look up discount rates by code");
    expect(top.mergeSha).toBe(s.culprit.merge);
    expect(top.changeId).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.confidence.level).toBe("high");
    expect(a.confidence.score).toBeGreaterThan(0.6);
    // The blame fact points at the crash line of the file at the deployed SHA.
    const blame = top.facts.find((f: { feature: string }) => f.feature === "blame");
    expect(blame.pointers).toContainEqual({ file: "src/pricing/discount.ts", line: 31 });
    // The explicit ticket link from the branch name.
    expect(a.ticket).toMatchObject({ key: "PAY-7", linkSource: "explicit" });
    // Not suspects: the reformat (formatting-only), the docs PR, and the fix merged after first-seen.
    const prs = a.suspects.map((x: { prNumber: number }) => x.prNumber);
    expect(prs).not.toContain(12);
    expect(prs).not.toContain(13);
    expect(prs).not.toContain(14);
    const reasons = Object.fromEntries(
      a.filtered.map((f: { candidateId: string; reason: string }) => [f.candidateId, f.reason]),
    );
    expect(reasons["pr-12"]).toBe("formatting_only");
    expect(reasons["pr-13"]).toBe("docs_or_tests_only");
    expect(["not_in_deployed_sha", "merged_after_first_seen"]).toContain(reasons["pr-14"]);
    expect(a.reasoningSource).toBe("deterministic");
    expect(a.reasoning).toContain("#11");
    expect(a.timings.total).toBeGreaterThan(0);
    expect(a.timings.blame).toBeGreaterThanOrEqual(0);
    // Reads issued together share a sandbox round trip: resolution with the reads at the deployed commit,
    // then diffs, sources and blame (whitespace-blind blame already sees through this reformat).
    expect(a.timings.sandboxExecs).toBe(2);
    expect(a.timings.gitCommands).toBeGreaterThan(a.timings.sandboxExecs);

    const audit = await withOrg(db, s.orgId, (tx) =>
      tx
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.orgId, s.orgId), eq(auditLog.action, "attribution.completed"))),
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]!.subjectId).toBe(anomalyId);
    expect(audit[0]!.data).toMatchObject({ status: "done", topPrNumber: 11, confidence: "high" });
  });

  it("falls back to the deploy record when the release names a commit the mirror lacks", async () => {
    const s = await setup();
    const deploy = await t.request("/api/v1/deploys", {
      method: "POST",
      apiKey: s.owner.apiKey,
      json: {
        service: "checkout-api",
        environment: "production",
        sha: s.deployed,
        deployedAt: new Date(s.firstSeen.getTime() - 60_000).toISOString(),
      },
    });
    expect(deploy.status, JSON.stringify(await deploy.clone().json())).toBe(201);
    const payload = JSON.parse(eventAlert(s));
    // A commit that was never pushed: the guess read at it comes back empty and is dropped.
    payload.data.event.release = `checkout-api@${randomBytes(20).toString("hex")}`;
    await post(s, "event_alert", JSON.stringify(payload));
    const [anomalyId] = await anomalyIds(s);
    const a = await settled(s, anomalyId!);
    expect(a.status, a.error ?? a.reasoning).toBe("done");
    expect(a.deployedShaSource).toBe("deploy");
    expect(a.deployedSha).toBe(s.deployed);
    expect(a.suspects[0].prNumber).toBe(11);
    // Resolution + the dropped guess, the reads at the real commit, then diffs, sources and blame.
    expect(a.timings.sandboxExecs).toBe(3);
  });

  it("retry is admin-only, audited, answers 202 and replaces the result", async () => {
    const s = await setup();
    await post(s, "event_alert", eventAlert(s));
    const [anomalyId] = await anomalyIds(s);
    const first = await settled(s, anomalyId!);
    expect(first.suspects[0].prNumber).toBe(11);

    const denied = await t.request(`/api/v1/anomalies/${anomalyId}/attribution/retry`, {
      method: "POST",
      apiKey: s.member,
    });
    expect(denied.status).toBe(403);
    const other = await makeOrg(db);
    const foreign = await t.request(`/api/v1/anomalies/${anomalyId}/attribution/retry`, {
      method: "POST",
      apiKey: other.apiKey,
    });
    expect(foreign.status).toBe(404);

    const res = await t.request(`/api/v1/anomalies/${anomalyId}/attribution/retry`, {
      method: "POST",
      apiKey: s.owner.apiKey,
    });
    expect(res.status).toBe(202);
    expect(await jsonOf(res)).toEqual({ status: "pending", anomalyId });
    const second = await settled(s, anomalyId!, 2);
    expect(second.attempts).toBe(2);
    expect(second.suspects[0].prNumber).toBe(11);
    expect(second.suspects[0].score).toBe(first.suspects[0].score);

    const rows = await withOrg(db, s.orgId, (tx) =>
      tx.select().from(attributions).where(eq(attributions.anomalyId, anomalyId!)),
    );
    expect(rows).toHaveLength(1);
    const actions = (
      await withOrg(db, s.orgId, (tx) => tx.select().from(auditLog).where(eq(auditLog.orgId, s.orgId)))
    ).map((e) => e.action);
    expect(actions.filter((x) => x === "attribution.completed")).toHaveLength(2);
    expect(actions).toContain("attribution.retry_requested");
  });

  it("a metric alert without a stack gets a timing-based result or no suspect, never a post-first-seen PR", async () => {
    const s = await setup();
    const payload = JSON.parse(fixture("metric-alert-critical.json"));
    const started = s.firstSeen.toISOString();
    Object.assign(payload.data.metric_alert, {
      id: String(Math.floor(Math.random() * 1e9)),
      date_started: started,
      date_detected: started,
      date_created: started,
    });
    await post(s, "metric_alert", JSON.stringify(payload));
    const [anomalyId] = await anomalyIds(s);
    const a = await settled(s, anomalyId!);
    expect(["done", "no_suspect"]).toContain(a.status);
    expect(a.mode).toBe("no_stack");
    expect(a.deployedShaSource).toBe("branch_at_first_seen");
    expect(a.deployedSha).toBe(s.deployed);
    const prs = a.suspects.map((x: { prNumber: number }) => x.prNumber);
    expect(prs).not.toContain(14);
    expect(prs).not.toContain(13);
    if (a.status === "done") expect(a.confidence.level).not.toBe("high");
  });

  /** The culprit deletes the guard above the crash line: blame cannot see a deletion. */
  async function buildGuardRepo() {
    const repo = await GitFixture.create({ start: new Date("2026-03-01T09:00:00Z") });
    repos.push(repo);
    const discount = (guard: boolean) =>
      lines(40, (i) => {
        if (i === 28) return "export function applyDiscount(subtotal: number, code: string): number {";
        if (i === 29) return "  const entry = loadRates()[code];";
        if (i === 30)
          return guard ? "  if (!entry) return subtotal;" : "  // the rates table covers every code";
        if (i === 31) return "  return subtotal * (1 - entry.rate);";
        if (i === 32) return "}";
        return `// pricing ${i}`;
      });
    await repo.write("src/pricing/discount.ts", discount(false));
    await repo.write("src/services/checkout.ts", CHECKOUT_TS);
    await repo.write("src/routes/orders.ts", ORDERS_TS);
    await repo.git(["add", "-A"]);
    const imported = "2026-02-01T09:00:00Z";
    await repo.git(["commit", "-q", "-m", "Initial import"], {
      GIT_AUTHOR_DATE: imported,
      GIT_COMMITTER_DATE: imported,
    });
    // The guard was asked for by a ticket; the culprit takes it out again.
    await repo.squashPr(20, "PAY-5: Ignore unknown discount codes", {
      "src/pricing/discount.ts": discount(true),
    });
    const culprit = await repo.squashPr(21, "Simplify discount lookup", {
      "src/pricing/discount.ts": discount(false),
    });
    // Later and on the stack at file level: the naive "most recent change to a stack file" pick.
    await repo.squashPr(22, "Add loyalty points to checkout", {
      "src/services/checkout.ts": CHECKOUT_TS.replace("// checkout 12\n", "const loyalty = 1;\n"),
    });
    const deployed = await repo.head();
    const firstSeen = new Date(repo.nextDate().getTime() - 30 * 60_000);
    return { repo, culprit: { merge: culprit, inner: [] as string[] }, deployed, firstSeen, fix: deployed };
  }

  it("names the PR that removed the null check above the crash line, with dependency evidence, not high", async () => {
    const s = await setup(buildGuardRepo);
    await post(s, "event_alert", eventAlert(s, "Cannot read properties of undefined (reading 'rate')", 31));
    const [anomalyId] = await anomalyIds(s);
    const a = await settled(s, anomalyId!);
    expect(a.status, a.error ?? a.reasoning).toBe("done");
    const top = a.suspects[0];
    expect(top.prNumber).toBe(21);
    const dependency = top.facts.find((f: { feature: string }) => f.feature === "dependency");
    expect(dependency.sentence).toContain('removed a check on entry ("if (!entry) return subtotal;")');
    expect(dependency.pointers).toEqual([{ file: "src/pricing/discount.ts", line: 31 }]);
    expect(top.facts.some((f: { feature: string }) => f.feature === "blame")).toBe(false);
    expect(a.suspects.map((x: { prNumber: number }) => x.prNumber)).toContain(22);
    expect(a.confidence.level).toBe("medium");
    expect(a.timings.sources).toBeGreaterThanOrEqual(0);
    // It undid what PAY-5 asked for: the ticket it contradicted, with the change that had added the line.
    expect(a.contradictedTicket).toMatchObject({
      key: "PAY-5",
      prNumber: 20,
      path: "src/pricing/discount.ts",
      lines: 1,
    });
    expect(a.contradictedTicket.sentence).toBe(
      // No Jira webhook told us PAY-5's summary, so the sentence has only the key.
      "PR #21 removed a line of src/pricing/discount.ts that PR #20 had added for PAY-5.",
    );
  });
});
