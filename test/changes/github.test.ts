import { createHmac, generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog, changes, deploys, repositories, signals } from "../../db/schema/index.ts";
import { GitHubAppTokens } from "../../src/changes/github-app.ts";
import { IntegrationError } from "../../src/errors.ts";
import { type FakeGitHub, type FakePull, startFakeGitHub } from "../fakes/github.ts";
import { jsonOf } from "../harness/app.ts";
import { bareCopyOf, GitFixture, GRACE, pushTo } from "./git-fixture.ts";
import { startGitHttpServer } from "./git-http-server.ts";
import { createRepo, makeTestOrg, syncRepo, type TestOrg, useChangesApp } from "./harness.ts";

const APP_ID = 4242;
const INSTALLATION_ID = 99;
const OWNER = "acme-pay";
const REPO = "checkout-api";

const fixture = (name: string) =>
  JSON.parse(
    readFileSync(new URL(`../../integrations/github/fixtures/${name}.json`, import.meta.url), "utf8"),
  );

describe("GitHub: App tokens, API backfill and webhooks into the same rows", async () => {
  const { t, deps } = await useChangesApp();
  const db = t.database.db;
  const keys = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    // What GitHub hands out: PKCS#1 "BEGIN RSA PRIVATE KEY".
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
  });
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  async function fakeGitHub(pageSize = 2): Promise<FakeGitHub> {
    const fake = await startFakeGitHub({
      appId: APP_ID,
      installationId: INSTALLATION_ID,
      publicKeyPem: keys.publicKey,
      owner: OWNER,
      repo: REPO,
      pageSize,
    });
    cleanups.push(() => fake.close());
    return fake;
  }

  async function gitHubIntegration(org: TestOrg, apiBaseUrl: string, installationId = INSTALLATION_ID) {
    const webhookSecret = randomBytes(24).toString("hex");
    const res = await t.request("/api/v1/integrations", {
      method: "POST",
      apiKey: org.owner,
      json: {
        provider: "github",
        name: `GitHub App ${randomBytes(3).toString("hex")}`,
        config: { apiBaseUrl, appId: APP_ID, installationId },
        secrets: { webhookSecret, privateKey: keys.privateKey },
      },
    });
    const body = await jsonOf(res);
    expect(res.status, JSON.stringify(body)).toBe(201);
    return { id: body.id as string, webhookSecret };
  }

  async function gitRepo() {
    const git = await GitFixture.create();
    cleanups.push(() => git.remove());
    await git.commit("Initial commit\n", { "src/pay.ts": "export const pay = 1;\n" });
    const pr1 = await git.mergePr(1, "feature/retry", "Parse invoices", [
      { message: "Parse invoices\n", files: { "src/invoice.ts": "export const a = 1;\n" }, author: GRACE },
    ]);
    const squash2 = await git.squashPr(2, "Add retry", { "src/retry.ts": "export const attempts = 3;\n" });
    return { git, pr1, squash2 };
  }

  function pull(overrides: Partial<FakePull> & Pick<FakePull, "number" | "title">): FakePull {
    return {
      body: null,
      branch: `branch-${overrides.number}`,
      base: "main",
      author: "grace-h",
      createdAt: "2026-03-01T08:00:00Z",
      updatedAt: "2026-03-02T08:00:00Z",
      mergedAt: "2026-03-01T12:00:00Z",
      mergeCommitSha: null,
      headSha: randomBytes(20).toString("hex"),
      files: [{ filename: "src/x.ts", status: "modified" }],
      commits: [],
      ...overrides,
    };
  }

  it("signs an RS256 app JWT, buys an installation token and caches it until shortly before expiry", async () => {
    const org = await makeTestOrg(t);
    const fake = await fakeGitHub();
    const integration = await gitHubIntegration(org, fake.url);

    const first = await deps.githubApps.installationToken(db, org.ctx, { integrationId: integration.id });
    const second = await deps.githubApps.installationToken(db, org.ctx, { integrationId: integration.id });
    expect(second.token).toBe(first.token);
    expect(fake.tokens).toEqual([first.token]);
    expect(first.apiBaseUrl).toBe(fake.url);
    expect(first.expiresAt.getTime()).toBeGreaterThan(Date.now() + 50 * 60_000);
    const claims = fake.jwtClaims[0]!;
    expect(claims.iss).toBe(String(APP_ID));
    // iat 60 s in the past against clock drift, and no longer than GitHub's 10 minutes.
    expect(claims.iat!).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) - 59);
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(600);
    expect(fake.requests[0]).toMatchObject({
      method: "POST",
      path: `/app/installations/${INSTALLATION_ID}/access_tokens`,
    });
    expect(fake.requests[0]?.authorization).toMatch(/^bearer ey/i);

    // Inside the refresh margin a token is bought again.
    const eager = new GitHubAppTokens(deps.credentials, { refreshBeforeMs: 2 * 3_600_000 });
    await eager.installationToken(db, org.ctx, { integrationId: integration.id });
    await eager.installationToken(db, org.ctx, { integrationId: integration.id });
    expect(fake.tokens).toHaveLength(3);

    // An installation the app does not have is a clear, non-retryable integration error.
    const error = await deps.githubApps
      .installationToken(db, org.ctx, { integrationId: integration.id, installationId: 7 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrationError);
    expect(error).toMatchObject({ code: "upstream_error", retryable: false });
  });

  it("backfills merged PRs page by page, waits out a rate limit, and enriches git's rows without duplicates", async () => {
    const org = await makeTestOrg(t);
    const fake = await fakeGitHub(2);
    const integration = await gitHubIntegration(org, fake.url);
    const { git, pr1, squash2 } = await gitRepo();
    const repo = await createRepo(t, org.admin, {
      name: "checkout-api",
      url: git.dir,
      provider: "github",
      githubRepository: `${OWNER}/${REPO}`,
      jiraProjectKeys: ["PAY"],
      credential: { kind: "github_app", integrationId: integration.id },
    });
    expect(repo).toMatchObject({
      githubRepository: `${OWNER}/${REPO}`,
      credential: { kind: "github_app", integrationId: integration.id, last4: null },
    });
    expect((await syncRepo(t, org.admin, repo.id)).body).toMatchObject({ imported: 3, pullRequests: 2 });

    const megabyte = `PAY-77 ${"x".repeat(1024 * 1024)}`;
    fake.pulls.push(
      pull({
        number: 1,
        title: "Parse invoices from the acquirer",
        branch: "feature/retry",
        body: "Handles the acquirer's invoice format.",
        mergeCommitSha: pr1.merge,
        updatedAt: "2026-03-02T01:00:00Z",
        files: [{ filename: "src/invoice.ts", status: "added" }],
        commits: pr1.inner.map((sha) => ({ sha, message: "Parse invoices", ...GRACE, login: "grace-h" })),
      }),
      pull({ number: 2, title: "Add retry", mergeCommitSha: squash2, updatedAt: "2026-03-02T02:00:00Z" }),
      pull({ number: 3, title: "Abandoned", mergedAt: null, updatedAt: "2026-03-02T03:00:00Z" }),
      pull({
        number: 4,
        title: "Huge description",
        body: megabyte,
        mergeCommitSha: randomBytes(20).toString("hex"),
        updatedAt: "2026-03-02T04:00:00Z",
        files: [
          { filename: "src/new.ts", status: "renamed", previous_filename: "src/old.ts" },
          { filename: "docs/a.md", status: "removed" },
        ],
        commits: [
          {
            sha: randomBytes(20).toString("hex"),
            message: "huge",
            name: "Bo",
            email: "bo@x.test",
            login: "bo",
          },
        ],
      }),
    );
    fake.rateLimitOnce((path, query) => path.endsWith("/pulls") && query.page === "2", 1);

    const started = Date.now();
    const res = await t.request(`/api/v1/repositories/${repo.id}/backfill`, {
      method: "POST",
      apiKey: org.admin,
    });
    const body = await jsonOf(res);
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ pages: 2, stored: 3, links: { explicit: 1 } });

    const listed = fake.requests.filter((r) => r.path.endsWith("/pulls"));
    expect(listed.map((r) => [r.query.page ?? "1", r.status])).toEqual([
      ["1", 200],
      ["2", 403],
      ["2", 200],
    ]);
    // Waited until x-ratelimit-reset before asking again.
    expect(listed[2]!.at - listed[1]!.at).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(listed[0]?.query).toMatchObject({
      state: "closed",
      base: "main",
      sort: "updated",
      direction: "desc",
    });
    // Every repository call carried the installation token the app bought.
    const repoCalls = fake.requests.filter((r) => r.path.startsWith("/repos/"));
    expect(new Set(repoCalls.map((r) => r.authorization))).toEqual(new Set([`token ${fake.tokens[0]}`]));

    const rows = await withOrg(db, org.orgId, (tx) =>
      tx.select().from(changes).where(eq(changes.repositoryId, repo.id)),
    );
    expect(rows).toHaveLength(4);
    const one = rows.find((r) => r.prNumber === 1)!;
    expect(one).toMatchObject({
      title: "Parse invoices from the acquirer",
      body: "Handles the acquirer's invoice format.",
      mergeSha: pr1.merge,
      authorLogin: "grace-h",
      authorEmail: GRACE.email,
      htmlUrl: `https://github.example/${OWNER}/${REPO}/pull/1`,
    });
    expect(one.openedAt?.toISOString()).toBe("2026-03-01T08:00:00.000Z");
    expect([...one.sources].sort()).toEqual(["api", "git"]);
    expect(one.commits).toEqual([pr1.merge, ...pr1.inner]);
    expect(rows.find((r) => r.prNumber === 3)).toBeUndefined();
    const four = rows.find((r) => r.prNumber === 4)!;
    expect(four.body).toHaveLength(65_536);
    expect(four.files).toEqual([
      { path: "src/new.ts", oldPath: "src/old.ts", status: "renamed" },
      { path: "docs/a.md", status: "deleted" },
    ]);
    expect(four.sources).toEqual(["api"]);

    // Backfilling again changes nothing.
    const again = await t.request(`/api/v1/repositories/${repo.id}/backfill`, {
      method: "POST",
      apiKey: org.admin,
    });
    expect(again.status).toBe(200);
    const count = await withOrg(db, org.orgId, (tx) =>
      tx.select({ n: sql<number>`count(*)::int` }).from(changes).where(eq(changes.repositoryId, repo.id)),
    );
    expect(count[0]?.n).toBe(4);
  });

  it("honours Retry-After of GitHub's secondary rate limits (403 and 429) and carries on", async () => {
    const org = await makeTestOrg(t);
    const fake = await fakeGitHub(2);
    const integration = await gitHubIntegration(org, fake.url);
    const repo = await createRepo(t, org.admin, {
      name: "secondary",
      url: `https://github.com/${OWNER}/${REPO}.git`,
      provider: "github",
      credential: { kind: "github_app", integrationId: integration.id },
    });
    fake.pulls.push(
      pull({ number: 11, title: "First", mergeCommitSha: randomBytes(20).toString("hex") }),
      pull({ number: 12, title: "Second", mergeCommitSha: randomBytes(20).toString("hex") }),
      pull({ number: 13, title: "Third", mergeCommitSha: randomBytes(20).toString("hex") }),
    );
    // The primary quota has thousands left: only Retry-After says how long to wait.
    fake.secondaryRateLimitOnce((p, query) => p.endsWith("/pulls") && (query.page ?? "1") === "1", 1, 403);
    fake.secondaryRateLimitOnce((p) => p.endsWith("/pulls/13/files"), 1, 429);

    const res = await t.request(`/api/v1/repositories/${repo.id}/backfill`, {
      method: "POST",
      apiKey: org.admin,
    });
    const body = await jsonOf(res);
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ pages: 2, stored: 3 });

    const listed = fake.requests.filter((r) => r.path.endsWith("/pulls"));
    expect(listed.map((r) => [r.query.page ?? "1", r.status])).toEqual([
      ["1", 403],
      ["1", 200],
      ["2", 200],
    ]);
    expect(listed[1]!.at - listed[0]!.at).toBeGreaterThanOrEqual(900);
    const files = fake.requests.filter((r) => r.path.endsWith("/pulls/13/files"));
    expect(files.map((r) => r.status)).toEqual([429, 200]);
    expect(files[1]!.at - files[0]!.at).toBeGreaterThanOrEqual(900);
    const stored = await withOrg(db, org.orgId, (tx) =>
      tx.select({ pr: changes.prNumber }).from(changes).where(eq(changes.repositoryId, repo.id)),
    );
    expect(stored.map((r) => r.pr).sort()).toEqual([11, 12, 13]);
  });

  it("fetches the mirror with the App's installation token, bought once and cached, stored nowhere", async () => {
    const org = await makeTestOrg(t);
    const fake = await fakeGitHub();
    const integration = await gitHubIntegration(org, fake.url);
    const { git } = await gitRepo();
    const bare = await bareCopyOf(git);
    cleanups.push(() => bare.remove());
    // The git host accepts exactly the installation tokens GitHub (the fake) has issued.
    const server = await startGitHttpServer({
      bareDir: bare.dir,
      username: "x-access-token",
      token: () => fake.tokens,
    });
    cleanups.push(() => server.close());
    const repo = await createRepo(t, org.admin, {
      name: "app-mirror",
      url: server.url,
      provider: "github",
      githubRepository: `${OWNER}/${REPO}`,
      credential: { kind: "github_app", integrationId: integration.id },
    });
    const first = await syncRepo(t, org.admin, repo.id);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ imported: 3, pullRequests: 2 });
    expect(fake.tokens).toHaveLength(1);
    const token = fake.tokens[0]!;
    const basic = `Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`;
    expect(server.authorizations).toContain(basic);

    await git.squashPr(3, "Third over the App", { "src/third.ts": "export const third = 3;\n" });
    await pushTo(git, bare.dir);
    const second = await syncRepo(t, org.admin, repo.id);
    expect(second.body).toMatchObject({ imported: 1, pullRequests: 1 });
    // The cached token served the second fetch: GitHub sold no other.
    expect(fake.tokens).toEqual([token]);
    expect(fake.requests.filter((r) => r.path.endsWith("/access_tokens"))).toHaveLength(1);

    // The token is in no file of the mirror, not in its remote URL, the row, the audit log or the logs.
    const mirror = deps.mirrors.mirrorPath({ id: repo.id, orgId: org.orgId });
    let onDisk = "";
    for (const entry of await readdir(mirror, { withFileTypes: true, recursive: true })) {
      if (entry.isFile()) onDisk += await readFile(path.join(entry.parentPath, entry.name), "latin1");
    }
    expect(onDisk).toContain(server.url);
    expect(onDisk).not.toContain(token);
    expect(onDisk).not.toContain(basic.slice(6));
    const [row] = await withOrg(db, org.orgId, (tx) =>
      tx.select().from(repositories).where(eq(repositories.id, repo.id)),
    );
    expect(JSON.stringify(row)).not.toContain(token);
    const audit = await withOrg(db, org.orgId, (tx) => tx.select({ data: auditLog.data }).from(auditLog));
    expect(JSON.stringify(audit)).not.toContain(token);
    expect(t.logs.text()).not.toContain(token);
  });

  it("gives up on a long rate limit with a retryable 502, and refuses a backfill without GitHub credentials", async () => {
    const org = await makeTestOrg(t);
    const fake = await fakeGitHub();
    const integration = await gitHubIntegration(org, fake.url);
    const repo = await createRepo(t, org.admin, {
      name: "limited",
      url: `https://github.com/${OWNER}/${REPO}.git`,
      provider: "github",
      credential: { kind: "github_app", integrationId: integration.id },
    });
    fake.rateLimitOnce((path) => path.endsWith("/pulls"), 3_600);
    const res = await t.request(`/api/v1/repositories/${repo.id}/backfill`, {
      method: "POST",
      apiKey: org.admin,
    });
    expect(res.status).toBe(502);
    expect(await jsonOf(res)).toMatchObject({ code: "upstream_error", retryable: true });

    const plain = await createRepo(t, org.admin, {
      name: "plain",
      url: `https://github.com/${OWNER}/other.git`,
    });
    const refused = await t.request(`/api/v1/repositories/${plain.id}/backfill`, {
      method: "POST",
      apiKey: org.admin,
    });
    expect(refused.status).toBe(400);
    expect((await jsonOf(refused)).detail).toMatch(/needs a GitHub App or a token credential/);
    const member = await t.request(`/api/v1/repositories/${plain.id}/backfill`, {
      method: "POST",
      apiKey: org.member,
    });
    expect(member.status).toBe(403);
  });

  it("keeps one row per PR whichever source speaks first: a merged webhook before git, and a rebase merge git saw as a commit", async () => {
    const org = await makeTestOrg(t);
    const fake = await fakeGitHub();
    const integration = await gitHubIntegration(org, fake.url);
    const git = await GitFixture.create();
    cleanups.push(() => git.remove());
    await git.commit("Initial commit\n", { "src/pay.ts": "export const pay = 1;\n" });
    const repo = await createRepo(t, org.admin, {
      name: "checkout-api",
      url: git.dir,
      provider: "github",
      githubRepository: `${OWNER}/${REPO}`,
      jiraProjectKeys: ["PAY"],
    });
    expect((await syncRepo(t, org.admin, repo.id)).status).toBe(200);
    const post = async (event: string, payload: unknown) => {
      const body = JSON.stringify(payload);
      const res = await t.request(`/webhooks/github/${integration.id}`, {
        method: "POST",
        body,
        headers: {
          "content-type": "application/json",
          "x-github-event": event,
          "x-github-delivery": randomUUID(),
          "x-hub-signature-256": `sha256=${createHmac("sha256", integration.webhookSecret).update(body).digest("hex")}`,
        },
      });
      expect(res.status).toBe(202);
      await t.processDeliveries();
    };
    const rowsOf = () =>
      withOrg(db, org.orgId, (tx) => tx.select().from(changes).where(eq(changes.repositoryId, repo.id)));

    // 1. GitHub reports the squash merge of #21 before the mirror has the commit; git then imports it.
    const squash21 = await git.squashPr(21, "Retry card authorization", {
      "src/retry.ts": "export const r = 1;\n",
    });
    const merged21 = fixture("pull-request-closed-merged");
    merged21.number = 21;
    merged21.pull_request.number = 21;
    merged21.pull_request.merge_commit_sha = squash21;
    await post("pull_request", merged21);
    const early = (await rowsOf()).filter((r) => r.prNumber === 21);
    expect(early).toHaveLength(1);
    expect(early[0]).toMatchObject({ mergeSha: squash21, sources: ["webhook"] });
    expect((await syncRepo(t, org.admin, repo.id)).status).toBe(200);
    const after21 = (await rowsOf()).filter((r) => r.prNumber === 21 || r.mergeSha === squash21);
    expect(after21).toHaveLength(1);
    expect(after21[0]!.id).toBe(early[0]!.id);
    expect([...after21[0]!.sources].sort()).toEqual(["git", "webhook"]);

    // 2. A rebase merge: GitHub knew #22 while open, git sees a plain commit (no PR marker in its message),
    //    then the merged webhook names that commit. The two rows become one, keeping the PR's ticket link.
    const opened22 = fixture("pull-request-closed-merged");
    opened22.action = "opened";
    opened22.number = 22;
    opened22.pull_request.number = 22;
    opened22.pull_request.state = "open";
    opened22.pull_request.merged = false;
    opened22.pull_request.merged_at = null;
    opened22.pull_request.closed_at = null;
    opened22.pull_request.merge_commit_sha = null;
    await post("pull_request", opened22);
    const rebased = await git.commit("Retry card authorization on 502\n", {
      "src/auth.ts": "export const a = 2;\n",
    });
    expect((await syncRepo(t, org.admin, repo.id)).body).toMatchObject({ imported: 1, commits: 1 });
    const before = await rowsOf();
    expect(before.filter((r) => r.prNumber === 22 || r.mergeSha === rebased)).toHaveLength(2);
    const merged22 = fixture("pull-request-closed-merged");
    merged22.number = 22;
    merged22.pull_request.number = 22;
    merged22.pull_request.merge_commit_sha = rebased;
    await post("pull_request", merged22);
    const after = await rowsOf();
    const one = after.filter((r) => r.prNumber === 22 || r.mergeSha === rebased);
    expect(one).toHaveLength(1);
    expect(one[0]).toMatchObject({ prNumber: 22, mergeSha: rebased, state: "merged" });
    expect([...one[0]!.sources].sort()).toEqual(["git", "webhook"]);
    expect(after).toHaveLength(before.length - 1);
    const detail = await jsonOf(await t.request(`/api/v1/changes/${one[0]!.id}`, { apiKey: org.member }));
    expect(detail.tickets).toMatchObject([{ key: "PAY-1192", linkType: "explicit", source: "branch" }]);
  });

  it("applies pull_request, push and deployment_status webhooks to the same rows, idempotently", async () => {
    const org = await makeTestOrg(t);
    const fake = await fakeGitHub();
    const integration = await gitHubIntegration(org, fake.url);
    const { git, pr1 } = await gitRepo();
    const repo = await createRepo(t, org.admin, {
      name: "checkout-api",
      url: git.dir,
      provider: "github",
      githubRepository: `${OWNER}/${REPO}`,
      services: ["checkout-api", "checkout-worker"],
      jiraProjectKeys: ["PAY"],
    });
    expect((await syncRepo(t, org.admin, repo.id)).status).toBe(200);

    let redelivery: string | undefined;
    const post = async (event: string, payload: unknown, delivery = randomUUID()) => {
      const body = JSON.stringify(payload);
      const res = await t.request(`/webhooks/github/${integration.id}`, {
        method: "POST",
        body,
        headers: {
          "content-type": "application/json",
          "x-github-event": event,
          "x-github-delivery": delivery,
          "x-hub-signature-256": `sha256=${createHmac("sha256", integration.webhookSecret).update(body).digest("hex")}`,
        },
      });
      // 202 for a new delivery; a redelivery (same X-GitHub-Delivery) is acknowledged as a duplicate.
      expect(res.status).toBe(delivery === redelivery ? 200 : 202);
      await t.processDeliveries();
      return delivery;
    };

    // The merged PR #1, as GitHub reports it: enriches the row git made.
    const merged = fixture("pull-request-closed-merged");
    merged.number = 1;
    merged.pull_request.number = 1;
    merged.pull_request.merge_commit_sha = pr1.merge;
    const delivery = await post("pull_request", merged);
    redelivery = delivery;
    await post("pull_request", merged, delivery);
    const rows = await withOrg(db, org.orgId, (tx) =>
      tx.select().from(changes).where(eq(changes.repositoryId, repo.id)),
    );
    expect(rows).toHaveLength(3);
    const one = rows.find((r) => r.prNumber === 1)!;
    expect(one).toMatchObject({
      title: merged.pull_request.title,
      branch: "feature/PAY-1192-retry-auth",
      authorLogin: "mara-lindqvist",
      mergeSha: pr1.merge,
      authorEmail: GRACE.email,
    });
    expect([...one.sources].sort()).toEqual(["git", "webhook"]);
    const linked = await t.request(`/api/v1/changes/${one.id}`, { apiKey: org.member });
    expect((await jsonOf(linked)).tickets).toMatchObject([
      { key: "PAY-1192", linkType: "explicit", source: "branch" },
    ]);

    // A PR opened before git sees it, then squash-merged: one row from both sources.
    const opened = fixture("pull-request-opened");
    opened.number = 5;
    opened.pull_request.number = 5;
    opened.pull_request.title = "Cache the tax table";
    await post("pull_request", opened);
    const [open] = await withOrg(db, org.orgId, (tx) =>
      tx
        .select()
        .from(changes)
        .where(and(eq(changes.repositoryId, repo.id), eq(changes.prNumber, 5))),
    );
    expect(open).toMatchObject({ state: "open", mergeSha: null, sources: ["webhook"] });
    expect(open?.openedAt).toBeInstanceOf(Date);
    const squash5 = await git.squashPr(5, "Cache the tax table", { "src/tax.ts": "export const t = 1;\n" });
    expect((await syncRepo(t, org.admin, repo.id)).body).toMatchObject({ imported: 1 });
    const [landed] = await withOrg(db, org.orgId, (tx) =>
      tx
        .select()
        .from(changes)
        .where(and(eq(changes.repositoryId, repo.id), eq(changes.prNumber, 5))),
    );
    expect(landed).toMatchObject({ id: open?.id, state: "merged", mergeSha: squash5 });
    expect(landed?.openedAt?.toISOString()).toBe(open?.openedAt?.toISOString());

    // A PR into another branch is not a change of the default branch.
    const other = fixture("pull-request-closed-merged");
    other.number = 6;
    other.pull_request.number = 6;
    other.pull_request.base.ref = "release-1.x";
    await post("pull_request", other);
    const six = await withOrg(db, org.orgId, (tx) =>
      tx
        .select()
        .from(changes)
        .where(and(eq(changes.repositoryId, repo.id), eq(changes.prNumber, 6))),
    );
    expect(six).toEqual([]);

    // A push to main makes the mirror stale and queues a sync.
    const push = fixture("push-two-commits");
    await post("push", push);
    const [afterPush] = await withOrg(db, org.orgId, (tx) =>
      tx.select().from(repositories).where(eq(repositories.id, repo.id)),
    );
    expect(afterPush?.lastFetchedAt).toBeNull();
    const queued = await db.owner.execute<{ data: { repositoryId: string; reason: string } }>(
      sql`select data from pgboss.job where name = 'changes.sync-repository'`,
    );
    expect(queued.map((q) => q.data)).toContainEqual(
      expect.objectContaining({ repositoryId: repo.id, reason: "push" }),
    );

    // A successful deployment: one deploy per service the repository serves; a redelivery adds none.
    const deployment = fixture("deployment-status-success");
    const deployDelivery = await post("deployment_status", deployment);
    redelivery = deployDelivery;
    await post("deployment_status", deployment, deployDelivery);
    await post("deployment_status", deployment);
    const recorded = await withOrg(db, org.orgId, (tx) =>
      tx.select().from(deploys).where(eq(deploys.repositoryId, repo.id)),
    );
    expect(recorded.map((d) => [d.service, d.environment, d.sha, d.source]).sort()).toEqual([
      ["checkout-api", "production", deployment.deployment.sha, "github"],
      ["checkout-worker", "production", deployment.deployment.sha, "github"],
    ]);
    expect(recorded[0]?.deployedAt.toISOString()).toBe(
      new Date(deployment.deployment_status.created_at).toISOString(),
    );

    // The signals themselves stay recorded by ingest.
    const stored = await withOrg(db, org.orgId, (tx) => tx.select({ kind: signals.kind }).from(signals));
    expect(stored.filter((s) => s.kind === "deploy").length).toBeGreaterThanOrEqual(2);
  });
});
