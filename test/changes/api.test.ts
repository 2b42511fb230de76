import { randomBytes, randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog, credentials, deploys, repositories } from "../../db/schema/index.ts";
import type { Signal } from "../../integrations/core/types.ts";
import { resolveVersionToSha } from "../../src/changes/deploys.ts";
import { listCandidateChanges } from "../../src/changes/queries.ts";
import { selectRepositoryForService } from "../../src/changes/repositories.ts";
import { applyDeliverySignals } from "../../src/changes/signals.ts";
import { applyAlertSignal } from "../../src/incidents/correlate.ts";
import { jsonOf } from "../harness/app.ts";
import { GitFixture, GRACE } from "./git-fixture.ts";
import { createRepo, makeTestOrg, syncRepo, useChangesApp } from "./harness.ts";

const sha = () => randomBytes(20).toString("hex");

describe("changes API: repositories, deploys, changes", async () => {
  const { t, deps, dataDir } = await useChangesApp();
  const db = t.database.db;
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it("creates, lists, changes and deletes repositories (admin only, audited, credential kept out of the row)", async () => {
    const org = await makeTestOrg(t);
    const token = `ghp_${randomBytes(16).toString("hex")}`;
    const created = await createRepo(t, org.admin, {
      name: "checkout",
      url: "https://github.com/acme-pay/checkout-api.git",
      provider: "github",
      services: ["checkout-api"],
      jiraProjectKeys: ["pay"],
      credential: { kind: "token", token },
    });
    expect(created).toMatchObject({
      name: "checkout",
      provider: "github",
      defaultBranch: "main",
      services: ["checkout-api"],
      jiraProjectKeys: ["PAY"],
      githubRepository: "acme-pay/checkout-api",
      credential: { kind: "token", last4: token.slice(-4), integrationId: null },
      headSha: null,
      lastFetchedAt: null,
    });
    expect(JSON.stringify(created)).not.toContain(token);
    const [row] = await withOrg(db, org.orgId, (tx) =>
      tx.select().from(repositories).where(eq(repositories.id, created.id)),
    );
    expect(JSON.stringify(row)).not.toContain(token);
    const [secret] = await withOrg(db, org.orgId, (tx) =>
      tx.select().from(credentials).where(eq(credentials.id, row!.credentialId!)),
    );
    expect(secret).toMatchObject({ ownerType: "repository", ownerId: created.id, kind: "repo_token" });
    expect(secret?.token).not.toContain(token);

    // Names are unique per org.
    const duplicate = await t.request("/api/v1/repositories", {
      method: "POST",
      apiKey: org.admin,
      json: { name: "checkout", url: "https://github.com/acme-pay/other.git" },
    });
    expect(duplicate.status).toBe(409);
    expect(await jsonOf(duplicate)).toMatchObject({ code: "conflict" });

    const second = await createRepo(t, org.owner, {
      name: "worker",
      url: "git@github.com:acme-pay/worker.git",
    });
    const page1 = await jsonOf(await t.request("/api/v1/repositories?limit=1", { apiKey: org.member }));
    expect(page1.items.map((r: { name: string }) => r.name)).toEqual(["checkout"]);
    expect(page1.nextCursor).toEqual(expect.any(String));
    const page2 = await jsonOf(
      await t.request(`/api/v1/repositories?limit=1&cursor=${page1.nextCursor}`, { apiKey: org.member }),
    );
    expect(page2).toMatchObject({
      items: [{ name: "worker", githubRepository: "acme-pay/worker" }],
      nextCursor: null,
    });
    const byService = await jsonOf(
      await t.request("/api/v1/repositories?service=CHECKOUT-API", { apiKey: org.member }),
    );
    expect(byService.items.map((r: { id: string }) => r.id)).toEqual([created.id]);

    const patched = await t.request(`/api/v1/repositories/${created.id}`, {
      method: "PATCH",
      apiKey: org.admin,
      json: { services: ["checkout-api", "checkout-worker"], defaultBranch: "trunk", credential: null },
    });
    expect(patched.status).toBe(200);
    expect(await jsonOf(patched)).toMatchObject({
      services: ["checkout-api", "checkout-worker"],
      defaultBranch: "trunk",
      credential: null,
    });
    const [retired] = await withOrg(db, org.orgId, (tx) =>
      tx.select().from(credentials).where(eq(credentials.id, row!.credentialId!)),
    );
    expect(retired?.retiredAt).toBeInstanceOf(Date);

    expect(
      (await t.request(`/api/v1/repositories/${second.id}`, { method: "DELETE", apiKey: org.admin })).status,
    ).toBe(204);
    expect((await t.request(`/api/v1/repositories/${second.id}`, { apiKey: org.member })).status).toBe(404);
    // The name is free again.
    await createRepo(t, org.admin, { name: "worker", url: "ssh://git@github.com/acme-pay/worker.git" });

    const actions = await withOrg(db, org.orgId, (tx) =>
      tx.select({ action: auditLog.action, data: auditLog.data }).from(auditLog).orderBy(auditLog.seq),
    );
    const repoActions = actions.map((a) => a.action).filter((a) => a.startsWith("repository."));
    expect(repoActions).toEqual([
      "repository.created",
      "repository.created",
      "repository.updated",
      "repository.deleted",
      "repository.created",
    ]);
    expect(JSON.stringify(actions)).not.toContain(token);
  });

  it("refuses URLs that could leak a credential or reach what they should not", async () => {
    const org = await makeTestOrg(t);
    const bad: Array<[string, RegExp]> = [
      ["https://user:pass@github.com/acme/x.git", /credentials/],
      ["http://github.com/acme/x.git", /plain http/],
      ["ext::sh -c touch% /tmp/pwned", /spaces|https or ssh/],
      ["--upload-pack=touch /tmp/x", /must not start with '-'|spaces/],
      ["relative/path", /https or ssh URL/],
      ["https://github.com/acme/x.git?token=abc", /query/],
      [`${dataDir}/mirrors/${randomUUID()}/${randomUUID()}.git`, /data folder/],
      ["gopher://example.com/x", /not allowed/],
    ];
    for (const [url, message] of bad) {
      const res = await t.request("/api/v1/repositories", {
        method: "POST",
        apiKey: org.admin,
        json: { name: `bad-${randomBytes(3).toString("hex")}`, url },
      });
      const body = await jsonOf(res);
      expect(res.status, url).toBe(400);
      expect(body.code).toBe("validation_failed");
      expect(body.errors[0]).toMatchObject({ path: "url" });
      expect(body.errors[0].message, url).toMatch(message);
    }
    const missingName = await t.request("/api/v1/repositories", {
      method: "POST",
      apiKey: org.admin,
      json: { name: "gh", url: "/plain.git", provider: "github" },
    });
    expect(missingName.status).toBe(400);
    expect((await jsonOf(missingName)).errors).toMatchObject([{ path: "githubRepository" }]);
    const badKey = await t.request("/api/v1/repositories", {
      method: "POST",
      apiKey: org.admin,
      json: { name: "k", url: "/srv/git/plain", jiraProjectKeys: ["UTF-8"] },
    });
    expect(badKey.status).toBe(400);
  });

  it("guards every changes route: no credential 401, members cannot mutate 403, another org's ids 404", async () => {
    const a = await makeTestOrg(t);
    const b = await makeTestOrg(t);
    const repo = await createRepo(t, a.admin, {
      name: "secret-repo",
      url: "https://github.com/a/secret.git",
    });
    const git = await GitFixture.create();
    cleanups.push(() => git.remove());
    await git.commit("Initial\n", { "a.ts": "1\n" });
    const local = await createRepo(t, a.admin, { name: "local", url: git.dir });
    await syncRepo(t, a.admin, local.id);
    const [change] = (await jsonOf(await t.request("/api/v1/changes", { apiKey: a.member }))).items;
    expect(change).toBeDefined();

    const writes: Array<[string, string, unknown?]> = [
      ["POST", "/api/v1/repositories", { name: "x", url: "https://github.com/a/x.git" }],
      ["PATCH", `/api/v1/repositories/${repo.id}`, { services: ["x"] }],
      ["DELETE", `/api/v1/repositories/${repo.id}`],
      ["POST", `/api/v1/repositories/${repo.id}/sync`],
      ["POST", `/api/v1/repositories/${repo.id}/backfill`],
      [
        "POST",
        "/api/v1/deploys",
        { service: "x", environment: "production", sha: sha(), deployedAt: new Date().toISOString() },
      ],
    ];
    const reads = [
      "/api/v1/repositories",
      `/api/v1/repositories/${repo.id}`,
      "/api/v1/deploys",
      "/api/v1/changes",
      `/api/v1/changes/${change.id}`,
      "/api/v1/tickets/PAY-1",
    ];
    for (const [method, path, json] of writes) {
      const init = json === undefined ? { method } : { method, json };
      expect((await t.request(path, init)).status, `${method} ${path}`).toBe(401);
      const member = await t.request(path, { ...init, apiKey: a.member });
      expect(member.status, `${method} ${path}`).toBe(403);
      expect((await jsonOf(member)).code).toBe("forbidden");
    }
    for (const path of reads) expect((await t.request(path)).status, path).toBe(401);

    // Org B sees nothing of org A.
    for (const [method, path] of [
      ["GET", `/api/v1/repositories/${repo.id}`],
      ["PATCH", `/api/v1/repositories/${repo.id}`],
      ["DELETE", `/api/v1/repositories/${repo.id}`],
      ["POST", `/api/v1/repositories/${repo.id}/sync`],
      ["GET", `/api/v1/changes/${change.id}`],
    ] as const) {
      const res = await t.request(path, {
        method,
        apiKey: b.admin,
        ...(method === "PATCH" ? { json: { services: ["stolen"] } } : {}),
      });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    expect((await jsonOf(await t.request("/api/v1/repositories", { apiKey: b.member }))).items).toEqual([]);
    expect((await jsonOf(await t.request("/api/v1/changes", { apiKey: b.member }))).items).toEqual([]);
    expect(
      (await jsonOf(await t.request(`/api/v1/changes?repository=${local.id}`, { apiKey: b.member }))).items,
    ).toEqual([]);
    // A deploy naming another org's repository is refused as unknown.
    const foreign = await t.request("/api/v1/deploys", {
      method: "POST",
      apiKey: b.admin,
      json: {
        repository: repo.id,
        service: "x",
        environment: "production",
        sha: sha(),
        deployedAt: new Date().toISOString(),
      },
    });
    expect(foreign.status).toBe(400);
    expect((await jsonOf(foreign)).errors).toMatchObject([{ path: "repository" }]);
  });

  it("records deploys from CI idempotently, lists them by cursor, and maps versions to SHAs", async () => {
    const org = await makeTestOrg(t);
    const repo = await createRepo(t, org.admin, {
      name: "checkout",
      url: "https://github.com/acme-pay/checkout.git",
      services: ["checkout-api"],
    });
    await createRepo(t, org.admin, {
      name: "ledger",
      url: "https://github.com/acme-pay/ledger.git",
      services: ["ledger"],
    });
    const v1 = sha();
    const v2 = sha();
    const post = (json: Record<string, unknown>) =>
      t.request("/api/v1/deploys", { method: "POST", apiKey: org.admin, json });
    const first = await post({
      service: "checkout-api",
      environment: "production",
      version: "checkout-api@2.14.0",
      sha: v1.toUpperCase(),
      deployedAt: "2026-03-10T10:00:00+01:00",
      externalId: "ci-run-1",
    });
    expect(first.status).toBe(201);
    const firstBody = await jsonOf(first);
    expect(firstBody).toMatchObject({
      repositoryId: repo.id,
      service: "checkout-api",
      sha: v1,
      deployedAt: "2026-03-10T09:00:00.000Z",
      source: "api",
      externalId: "ci-run-1",
    });
    const retried = await post({
      service: "checkout-api",
      environment: "production",
      version: "checkout-api@2.14.0",
      sha: v1,
      deployedAt: "2026-03-10T09:00:00Z",
      externalId: "ci-run-1",
    });
    expect(retried.status).toBe(200);
    expect((await jsonOf(retried)).id).toBe(firstBody.id);
    expect(
      (
        await post({
          repository: "checkout",
          service: "checkout-api",
          environment: "production",
          version: "2.14.1",
          sha: v2,
          deployedAt: "2026-03-11T09:00:00Z",
        })
      ).status,
    ).toBe(201);
    const invalid = await post({
      service: "checkout-api",
      environment: "production",
      sha: "abc123",
      deployedAt: "yesterday",
    });
    expect(invalid.status).toBe(400);
    expect((await jsonOf(invalid)).errors.map((e: { path: string }) => e.path).sort()).toEqual([
      "deployedAt",
      "sha",
    ]);
    const nul = await post({
      service: "checkout\u0000api",
      environment: "prod\nuction",
      sha: v1,
      deployedAt: "2026-03-10T09:00:00Z",
    });
    expect(nul.status).toBe(400);
    expect((await jsonOf(nul)).errors.map((e: { path: string }) => e.path).sort()).toEqual([
      "environment",
      "service",
    ]);

    const page = await jsonOf(
      await t.request("/api/v1/deploys?service=checkout-api&limit=1", { apiKey: org.member }),
    );
    expect(page.items.map((d: { sha: string }) => d.sha)).toEqual([v2]);
    const rest = await jsonOf(
      await t.request(`/api/v1/deploys?service=checkout-api&limit=1&cursor=${page.nextCursor}`, {
        apiKey: org.member,
      }),
    );
    expect(rest).toMatchObject({ items: [{ sha: v1 }], nextCursor: null });
    const audited = await withOrg(db, org.orgId, (tx) =>
      tx.select().from(auditLog).where(eq(auditLog.action, "deploy.recorded")),
    );
    expect(audited).toHaveLength(2);

    await withOrg(db, org.orgId, async (tx) => {
      expect(await resolveVersionToSha(tx, org.orgId, "checkout-api", "checkout-api@2.14.0")).toBe(v1);
      expect(await resolveVersionToSha(tx, org.orgId, "checkout-api", "2.14.0")).toBe(v1);
      expect(await resolveVersionToSha(tx, org.orgId, "checkout-api", "checkout-api@2.14.1")).toBe(v2);
      const full = sha();
      expect(await resolveVersionToSha(tx, org.orgId, "checkout-api", full)).toBe(full);
      expect(
        await resolveVersionToSha(tx, org.orgId, "checkout-api", `checkout-api@${full.toUpperCase()}`),
      ).toBe(full);
      expect(await resolveVersionToSha(tx, org.orgId, "checkout-api", "9.9.9")).toBeNull();
      expect(await resolveVersionToSha(tx, org.orgId, "checkout-api", null)).toBeNull();

      expect((await selectRepositoryForService(tx, org.orgId, "Checkout-API"))?.id).toBe(repo.id);
      expect((await selectRepositoryForService(tx, org.orgId, "ledger"))?.name).toBe("ledger");
      expect(await selectRepositoryForService(tx, org.orgId, "search")).toBeNull();
      expect(await selectRepositoryForService(tx, org.orgId, undefined)).toBeNull();
    });
    // With one repository, it serves every anomaly.
    const solo = await makeTestOrg(t);
    const only = await createRepo(t, solo.admin, { name: "mono", url: "https://github.com/acme/mono.git" });
    await withOrg(db, solo.orgId, async (tx) => {
      expect((await selectRepositoryForService(tx, solo.orgId, "anything"))?.id).toBe(only.id);
      expect((await selectRepositoryForService(tx, solo.orgId, null))?.id).toBe(only.id);
    });
  });

  it("learns a deploy from an alert whose release is a full SHA", async () => {
    const org = await makeTestOrg(t);
    const repo = await createRepo(t, org.admin, { name: "api", url: "https://github.com/acme/api.git" });
    const release = sha();
    const signal: Signal = {
      kind: "error",
      source: "sentry",
      fingerprint: `fp-${randomBytes(4).toString("hex")}`,
      title: "TypeError: cart is undefined",
      severity: "high",
      status: "firing",
      service: "checkout-api",
      environment: "staging",
      release,
      occurredAt: new Date("2026-03-12T10:00:00Z"),
      frames: [],
      labels: {},
      links: [],
    };
    const applied = await withOrg(db, org.orgId, (tx) =>
      applyAlertSignal(tx, org.orgId, signal, new Date("2026-03-12T10:00:05Z")),
    );
    const outcome = {
      deliveryId: randomUUID(),
      status: "processed" as const,
      applied: applied ? [applied] : [],
      signalKinds: [signal.kind],
    };
    const results = await applyDeliverySignals(deps, org.orgId, [outcome]);
    expect(results).toMatchObject([{ kind: "release_deploy" }]);
    await applyDeliverySignals(deps, org.orgId, [outcome]);
    const rows = await withOrg(db, org.orgId, (tx) => tx.select().from(deploys));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      repositoryId: repo.id,
      service: "checkout-api",
      environment: "staging",
      sha: release,
      source: "release",
    });
    expect(rows[0]?.deployedAt.toISOString()).toBe("2026-03-12T10:00:00.000Z");
  });

  it("lists changes with filters and a cursor, shows one with the deploys that shipped it, and serves attribution's candidate query", async () => {
    const org = await makeTestOrg(t);
    const git = await GitFixture.create({ start: new Date("2026-04-01T00:00:00Z") });
    cleanups.push(() => git.remove());
    const c0 = await git.commit("Initial\n", { "a.ts": "1\n" });
    const pr1 = await git.mergePr(1, "feature/one", "One", [
      { message: "one\n", files: { "b.ts": "1\n" }, author: GRACE },
    ]);
    const s2 = await git.squashPr(2, "Two", { "c.ts": "1\n" });
    const s3 = await git.squashPr(3, "Three", { "docs/d.md": "1\n" });
    const revert = await git.revert(s2);
    const repo = await createRepo(t, org.admin, { name: "app", url: git.dir, services: ["app"] });
    await syncRepo(t, org.admin, repo.id);

    const all = await jsonOf(await t.request("/api/v1/changes?limit=2", { apiKey: org.member }));
    expect(all.items.map((c: { mergeSha: string }) => c.mergeSha)).toEqual([revert, s3]);
    const next = await jsonOf(
      await t.request(`/api/v1/changes?limit=10&cursor=${all.nextCursor}`, { apiKey: org.member }),
    );
    expect(next.items.map((c: { mergeSha: string }) => c.mergeSha)).toEqual([s2, pr1.merge, c0]);
    expect(next.nextCursor).toBeNull();

    const byAuthor = await jsonOf(
      await t.request(`/api/v1/changes?author=${GRACE.email.toUpperCase()}`, { apiKey: org.member }),
    );
    expect(byAuthor.items.map((c: { prNumber: number }) => c.prNumber)).toEqual([1]);
    const window = await jsonOf(
      await t.request(
        `/api/v1/changes?repository=app&from=${encodeURIComponent("2026-04-01T02:30:00Z")}&to=${encodeURIComponent("2026-04-01T05:00:00Z")}`,
        { apiKey: org.member },
      ),
    );
    // Commits are an hour apart from 01:00: the merge of #1 at 03:00, #2 at 04:00, #3 at 05:00.
    expect(window.items.map((c: { mergeSha: string }) => c.mergeSha)).toEqual([s3, s2, pr1.merge]);
    const badCursor = await t.request("/api/v1/changes?cursor=not-a-cursor", { apiKey: org.member });
    expect(badCursor.status).toBe(400);

    // Deployed: s3 to staging at 10:00 (contains PR 1 and 2 and 3), s2 to production earlier.
    const deploy = (env: string, at: string, what: string) =>
      t.request("/api/v1/deploys", {
        method: "POST",
        apiKey: org.admin,
        json: { service: "app", environment: env, sha: what, deployedAt: at },
      });
    expect((await deploy("production", "2026-04-01T09:00:00Z", s2)).status).toBe(201);
    expect((await deploy("staging", "2026-04-01T10:00:00Z", s3)).status).toBe(201);
    expect((await deploy("production", "2026-04-01T11:00:00Z", s3)).status).toBe(201);
    const one = next.items.find((c: { prNumber: number }) => c.prNumber === 1);
    const detail = await jsonOf(await t.request(`/api/v1/changes/${one.id}`, { apiKey: org.member }));
    expect(detail).toMatchObject({ repositoryName: "app", prNumber: 1, author: { email: GRACE.email } });
    expect(
      detail.deploys.map((d: { environment: string; sha: string }) => [d.environment, d.sha]).sort(),
    ).toEqual([
      ["production", s2],
      ["staging", s3],
    ]);
    const three = all.items.find((c: { prNumber: number }) => c.prNumber === 3);
    const threeDetail = await jsonOf(await t.request(`/api/v1/changes/${three.id}`, { apiKey: org.member }));
    expect(threeDetail.docsOrTestsOnly).toBe(true);
    expect(threeDetail.deploys.map((d: { environment: string }) => d.environment).sort()).toEqual([
      "production",
      "staging",
    ]);

    const candidates = await withOrg(db, org.orgId, (tx) =>
      listCandidateChanges(tx, org.orgId, {
        repositoryId: repo.id,
        mergedBefore: new Date("2026-04-01T04:30:00Z"),
      }),
    );
    // Nothing merged after t0 (#3 at 05:00, the revert at 06:00) is a candidate.
    expect(candidates.map((c) => c.id)).toEqual(["pr-2", "pr-1", c0]);
    const two = candidates.find((c) => c.id === "pr-2")!;
    expect(two).toMatchObject({
      mergeSha: s2,
      revertedBySha: revert,
      docsOrTestsOnly: false,
      files: ["c.ts"],
    });
    expect(two.revertedAt).toBeInstanceOf(Date);
    expect(candidates.find((c) => c.id === "pr-1")?.commits).toEqual([pr1.merge, ...pr1.inner]);
    const [stored] = await withOrg(db, org.orgId, (tx) =>
      tx
        .select()
        .from(repositories)
        .where(and(eq(repositories.id, repo.id), eq(repositories.orgId, org.orgId))),
    );
    expect(stored?.headSha).toBe(revert);
  });
});
