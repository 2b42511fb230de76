import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { and, eq } from "drizzle-orm";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog, changes, changeTickets, repositories } from "../../db/schema/index.ts";
import { GitRunner } from "../../src/changes/git.ts";
import { MirrorStore } from "../../src/changes/mirrors.ts";
import { ensureMirrorFresh } from "../../src/changes/sync.ts";
import { freePort } from "../harness/process.ts";
import { bareCopyOf, GitFixture, GRACE, pushTo } from "./git-fixture.ts";
import { startGitHttpServer } from "./git-http-server.ts";
import { createRepo, makeTestOrg, syncRepo, useChangesApp } from "./harness.ts";

const run = promisify(execFile);

async function gitIn(mirror: string, ...args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run("git", ["--git-dir", mirror, ...args], {
      env: { PATH: process.env.PATH ?? "", GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" },
    });
    return { code: 0, stdout };
  } catch (error) {
    return { code: (error as { code?: number }).code ?? 1, stdout: "" };
  }
}

/** Every file of a folder, recursively, as text (pack files included: a token must not be anywhere). */
async function allText(dir: string): Promise<string> {
  let out = "";
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    out += await readFile(path.join(entry.parentPath, entry.name), "latin1");
  }
  return out;
}

describe("repository mirrors and history from plain git", async () => {
  const { t, deps, dataDir } = await useChangesApp();
  const db = t.database.db;
  const fixtures: Array<{ remove(): Promise<void> }> = [];
  afterAll(async () => {
    for (const f of fixtures) await f.remove();
  });
  const fixture = async () => {
    const repo = await GitFixture.create();
    fixtures.push(repo);
    return repo;
  };
  const rowsOf = (orgId: string, repositoryId: string) =>
    withOrg(db, orgId, (tx) => tx.select().from(changes).where(eq(changes.repositoryId, repositoryId)));

  it("imports merge and squash PRs, direct pushes, reverts and renames into one row each", async () => {
    const org = await makeTestOrg(t);
    const git = await fixture();
    const initial = await git.commit("Initial commit\n", {
      "README.md": "# Checkout\n",
      "src/pay.ts": "export function pay() {\n  return 1;\n}\n",
      "src/retry.ts": "export const attempts = 1;\n",
    });
    const pr1 = await git.mergePr(
      1,
      "feature/PAY-1-invoices",
      "Parse invoices",
      [
        {
          message: "Parse invoices\n",
          files: { "src/invoice.ts": "export const parse = 1;\n" },
          author: GRACE,
        },
        {
          message: "Test invoices\n",
          files: { "src/invoice.test.ts": "test('x', () => {});\n" },
          author: GRACE,
        },
      ],
      "Closes the invoices gap.",
    );
    const squash2 = await git.squashPr(2, "Add retry", { "src/retry.ts": "export const attempts = 3;\n" });
    const typo = await git.commit("Fix typo in README (UTF-8 and SHA-256 notes)\n", {
      "README.md": "# Checkout\n\nUTF-8\n",
    });
    await mkdir(path.join(git.dir, "src/payments"), { recursive: true });
    await git.git(["mv", "src/pay.ts", "src/payments/client.ts"]);
    const rename3 = await git.squashPr(3, "Move payment client", {});
    const revert = await git.revert(squash2);

    const repo = await createRepo(t, org.admin, {
      name: "checkout",
      url: git.dir,
      services: ["checkout-api"],
      jiraProjectKeys: ["PAY"],
    });
    expect(repo).toMatchObject({ name: "checkout", provider: "git", defaultBranch: "main", headSha: null });

    const sync = await syncRepo(t, org.admin, repo.id);
    expect(sync.status, JSON.stringify(sync.body)).toBe(200);
    expect(sync.body).toMatchObject({
      headSha: revert,
      previousHeadSha: null,
      cloned: true,
      forcePushed: false,
      imported: 6,
      pullRequests: 3,
      commits: 3,
      links: { explicit: 1, inferred: 0 },
    });

    const rows = await rowsOf(org.orgId, repo.id);
    expect(rows).toHaveLength(6);
    const pr1Row = rows.find((r) => r.prNumber === 1)!;
    expect(pr1Row).toMatchObject({
      kind: "pull_request",
      title: "Parse invoices",
      body: "Closes the invoices gap.",
      branch: "feature/PAY-1-invoices",
      base: "main",
      state: "merged",
      mergeSha: pr1.merge,
      // The PR's author is who wrote its commits, not who pressed merge.
      authorEmail: GRACE.email,
      authorName: GRACE.name,
      docsOrTestsOnly: false,
      sources: ["git"],
    });
    expect(pr1Row.commits).toEqual([pr1.merge, ...pr1.inner]);
    expect(pr1Row.files.map((f) => f.path).sort()).toEqual(["src/invoice.test.ts", "src/invoice.ts"]);

    const squashRow = rows.find((r) => r.prNumber === 2)!;
    expect(squashRow).toMatchObject({
      kind: "pull_request",
      title: "Add retry",
      mergeSha: squash2,
      revertedBySha: revert,
    });
    const revertRow = rows.find((r) => r.mergeSha === revert)!;
    expect(revertRow).toMatchObject({ kind: "commit", revertsSha: squash2, prNumber: null });
    expect(rows.find((r) => r.mergeSha === typo)).toMatchObject({ kind: "commit", docsOrTestsOnly: true });
    expect(rows.find((r) => r.mergeSha === initial)).toMatchObject({
      kind: "commit",
      title: "Initial commit",
    });
    expect(rows.find((r) => r.prNumber === 3)?.files).toEqual([
      { path: "src/payments/client.ts", oldPath: "src/pay.ts", status: "renamed" },
    ]);
    expect(rename3).toBe(rows.find((r) => r.prNumber === 3)?.mergeSha);

    // PAY-1 from the branch; the README's UTF-8 and SHA-256 are not project keys.
    const links = await withOrg(db, org.orgId, (tx) => tx.select().from(changeTickets));
    expect(links.map((l) => [l.ticketKey, l.linkType, l.source, l.primary])).toEqual([
      ["PAY-1", "explicit", "branch", true],
    ]);

    const mirror = deps.mirrors.mirrorPath({ id: repo.id, orgId: org.orgId });
    expect(mirror).toBe(path.join(dataDir, "mirrors", org.orgId, `${repo.id}.git`));
    expect((await gitIn(mirror, "rev-parse", "--is-bare-repository")).stdout.trim()).toBe("true");
    expect((await gitIn(mirror, "rev-parse", "refs/heads/main")).stdout.trim()).toBe(revert);

    const [stored] = await withOrg(db, org.orgId, (tx) =>
      tx.select().from(repositories).where(eq(repositories.id, repo.id)),
    );
    expect(stored).toMatchObject({ headSha: revert, lastFetchError: null });
    expect(stored?.lastFetchedAt).toBeInstanceOf(Date);
    const audit = await withOrg(db, org.orgId, (tx) =>
      tx
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.action, "repository.synced"), eq(auditLog.subjectId, repo.id))),
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]?.data).toMatchObject({ imported: 6, pullRequests: 3, cloned: true });
  });

  it("re-syncs idempotently, imports only what is new, and never duplicates a change", async () => {
    const org = await makeTestOrg(t);
    const git = await fixture();
    await git.commit("Initial\n", { "a.ts": "1\n" });
    await git.squashPr(10, "First", { "a.ts": "2\n" });
    const repo = await createRepo(t, org.admin, { name: "svc", url: git.dir });
    expect((await syncRepo(t, org.admin, repo.id)).body).toMatchObject({ imported: 2, pullRequests: 1 });
    const again = await syncRepo(t, org.admin, repo.id);
    expect(again.body).toMatchObject({ imported: 0, cloned: false, forcePushed: false });
    const head = await git.squashPr(11, "Second", { "a.ts": "3\n" });
    const next = await syncRepo(t, org.admin, repo.id);
    expect(next.body).toMatchObject({ imported: 1, pullRequests: 1, headSha: head, cloned: false });
    // Each sync leaves a commit-graph (split layers) that git accepts, for the sandbox's reads.
    const mirror = deps.mirrors.mirrorPath({ id: repo.id, orgId: org.orgId });
    const chain = await readFile(path.join(mirror, "objects/info/commit-graphs/commit-graph-chain"), "utf8");
    expect(chain.trim().split("\n").length).toBeGreaterThanOrEqual(1);
    expect((await gitIn(mirror, "commit-graph", "verify")).code).toBe(0);
    const rows = await rowsOf(org.orgId, repo.id);
    expect(rows.map((r) => r.prNumber ?? r.title).sort()).toEqual([10, 11, "Initial"].sort());
  });

  it("follows a force-pushed default branch without corrupting the mirror, keeping the old commits readable", async () => {
    const org = await makeTestOrg(t);
    const git = await fixture();
    const base = await git.commit("Initial\n", { "a.ts": "1\n" });
    const doomed = await git.squashPr(20, "Doomed change", { "a.ts": "doomed\n" });
    const repo = await createRepo(t, org.admin, { name: "forced", url: git.dir });
    expect((await syncRepo(t, org.admin, repo.id)).status).toBe(200);

    await git.git(["reset", "-q", "--hard", base]);
    const replacement = await git.squashPr(21, "Replacement change", { "a.ts": "better\n" });
    const sync = await syncRepo(t, org.admin, repo.id);
    expect(sync.status).toBe(200);
    expect(sync.body).toMatchObject({ headSha: replacement, previousHeadSha: doomed, forcePushed: true });

    const mirror = deps.mirrors.mirrorPath({ id: repo.id, orgId: org.orgId });
    expect((await gitIn(mirror, "fsck", "--no-dangling")).code).toBe(0);
    expect((await gitIn(mirror, "rev-parse", "refs/heads/main")).stdout.trim()).toBe(replacement);
    // A deploy may still run the commit that was pushed away: it stays in the object store.
    expect((await gitIn(mirror, "cat-file", "-e", `${doomed}^{commit}`)).code).toBe(0);
    expect((await gitIn(mirror, "config", "gc.pruneExpire")).stdout.trim()).toBe("never");
    const rows = await rowsOf(org.orgId, repo.id);
    expect(
      rows
        .map((r) => r.prNumber)
        .filter((n) => n !== null)
        .sort(),
    ).toEqual([20, 21]);
  });

  it("imports a repository with no merges as direct commits, and an empty one as a recorded state", async () => {
    const org = await makeTestOrg(t);
    const plain = await fixture();
    await plain.commit("one\n", { "x.txt": "1\n" });
    await plain.commit("two\n", { "x.txt": "2\n" });
    const repo = await createRepo(t, org.admin, { name: "plain", url: `file://${plain.dir}` });
    const sync = await syncRepo(t, org.admin, repo.id);
    expect(sync.body).toMatchObject({ imported: 2, pullRequests: 0, commits: 2 });
    expect((await rowsOf(org.orgId, repo.id)).every((r) => r.kind === "commit" && r.prNumber === null)).toBe(
      true,
    );

    const empty = await fixture();
    const emptyRepo = await createRepo(t, org.admin, { name: "empty", url: empty.dir });
    const emptySync = await syncRepo(t, org.admin, emptyRepo.id);
    expect(emptySync.status).toBe(200);
    expect(emptySync.body).toMatchObject({ headSha: null, imported: 0 });
    const got = await t.request(`/api/v1/repositories/${emptyRepo.id}`, { apiKey: org.member });
    expect((await got.json()) as Record<string, unknown>).toMatchObject({
      headSha: null,
      lastFetchError: 'the default branch "main" does not exist yet',
    });
  });

  it("answers a missing, non-git or unreachable URL with a clear 502 and records it, creating no mirror", async () => {
    const org = await makeTestOrg(t);
    const notGit = await mkdtemp(path.join(tmpdir(), "causeway-notgit-"));
    fixtures.push({ remove: () => rm(notGit, { recursive: true, force: true }) });
    await writeFile(path.join(notGit, "hello.txt"), "not a repository\n");
    const closedPort = await freePort();
    const cases = [
      {
        url: path.join(notGit, "missing"),
        detail: /not a git repository, or it does not exist/,
        retryable: false,
      },
      { url: notGit, detail: /not a git repository, or it does not exist/, retryable: false },
      { url: `http://127.0.0.1:${closedPort}/acme/x.git`, detail: /could not be reached/, retryable: true },
    ];
    for (const [i, c] of cases.entries()) {
      const repo = await createRepo(t, org.admin, { name: `bad-${i}`, url: c.url });
      const sync = await syncRepo(t, org.admin, repo.id);
      expect(sync.status, c.url).toBe(502);
      expect(sync.body).toMatchObject({ code: "upstream_error", retryable: c.retryable });
      expect(sync.body.detail).toMatch(c.detail);
      const [row] = await withOrg(db, org.orgId, (tx) =>
        tx.select().from(repositories).where(eq(repositories.id, repo.id)),
      );
      expect(row?.lastFetchError).toMatch(c.detail);
      expect(row?.headSha).toBeNull();
      expect(await deps.mirrors.exists({ id: repo.id, orgId: org.orgId })).toBe(false);
      const failures = await withOrg(db, org.orgId, (tx) =>
        tx
          .select()
          .from(auditLog)
          .where(and(eq(auditLog.action, "repository.fetch_failed"), eq(auditLog.subjectId, repo.id))),
      );
      expect(failures).toHaveLength(1);
    }
    // No temporary clone was left behind either.
    const orgMirrors = path.join(dataDir, "mirrors", org.orgId);
    const left = await readdir(orgMirrors).catch(() => []);
    expect(left.filter((f) => f.startsWith(".clone-"))).toEqual([]);
  });

  it("fetches over https-style auth with the token only in git's environment, refusing a wrong token", async () => {
    const org = await makeTestOrg(t);
    const git = await fixture();
    await git.commit("Initial\n", { "a.ts": "1\n" });
    await git.squashPr(30, "Over HTTP", { "a.ts": "2\n" });
    const bare = await bareCopyOf(git);
    fixtures.push(bare);
    const token = `ghp_${"s3cr3tT0ken".repeat(3)}`;
    const server = await startGitHttpServer({ bareDir: bare.dir, username: "x-access-token", token });
    fixtures.push({ remove: () => server.close() });

    const repo = await createRepo(t, org.admin, {
      name: "over-http",
      url: server.url,
      credential: { kind: "token", token: "ghp_wrong_wrong_wrong" },
    });
    const refused = await syncRepo(t, org.admin, repo.id);
    expect(refused.status).toBe(502);
    expect(refused.body).toMatchObject({ code: "upstream_error", retryable: false });
    expect(refused.body.detail).toMatch(/refused the credential/);
    expect(await deps.mirrors.exists({ id: repo.id, orgId: org.orgId })).toBe(false);

    const patched = await t.request(`/api/v1/repositories/${repo.id}`, {
      method: "PATCH",
      apiKey: org.admin,
      json: { credential: { kind: "token", token } },
    });
    expect(patched.status).toBe(200);
    const view = await patched.json();
    expect(view).toMatchObject({ credential: { kind: "token", last4: token.slice(-4) } });
    const ok = await syncRepo(t, org.admin, repo.id);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body).toMatchObject({ imported: 2, pullRequests: 1 });
    const basic = `Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`;
    expect(server.authorizations).toContain(basic);

    // The token is nowhere we keep things: not the mirror, not the row, not the API, not the audit log.
    const mirror = deps.mirrors.mirrorPath({ id: repo.id, orgId: org.orgId });
    const onDisk = await allText(mirror);
    expect(onDisk).not.toContain(token);
    expect(onDisk).not.toContain(basic.slice(6));
    expect((await gitIn(mirror, "config", "remote.origin.url")).stdout.trim()).toBe(server.url);
    const [row] = await withOrg(db, org.orgId, (tx) =>
      tx.select().from(repositories).where(eq(repositories.id, repo.id)),
    );
    expect(JSON.stringify(row)).not.toContain(token);
    expect(JSON.stringify(view)).not.toContain(token);
    const audit = await withOrg(db, org.orgId, (tx) => tx.select({ data: auditLog.data }).from(auditLog));
    expect(audit.length).toBeGreaterThan(3);
    expect(JSON.stringify(audit)).not.toContain(token);
    expect(t.logs.text()).not.toContain(token);

    // Nor any git process's argv: a wrapper records every argv the mirror store runs git with.
    const wrapperDir = await mkdtemp(path.join(tmpdir(), "causeway-gitwrap-"));
    fixtures.push({ remove: () => rm(wrapperDir, { recursive: true, force: true }) });
    const argvLog = path.join(wrapperDir, "argv.log");
    const wrapper = path.join(wrapperDir, "git");
    await writeFile(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${argvLog}'\nexec git "$@"\n`);
    await chmod(wrapper, 0o755);
    const recording = new MirrorStore({
      dataDir: await mkdtemp(path.join(tmpdir(), "causeway-data2-")),
      git: new GitRunner({ binary: wrapper }),
      logger: pino({ level: "silent" }),
    });
    const target = { id: repo.id, orgId: org.orgId, url: server.url, defaultBranch: "main" };
    await recording.fetch(target, { kind: "http_basic", username: "x-access-token", password: token });
    await pushTo(git, bare.dir);
    await git.squashPr(31, "Second over HTTP", { "a.ts": "3\n" });
    await pushTo(git, bare.dir);
    await recording.fetch(target, { kind: "http_basic", username: "x-access-token", password: token });
    const argv = await readFile(argvLog, "utf8");
    expect(argv).toMatch(/clone --mirror/);
    expect(argv).toMatch(/fetch --prune --atomic/);
    expect(argv).not.toContain(token);
    expect(argv).not.toContain(basic.slice(6));
    await rm(recording.root, { recursive: true, force: true });
  });

  it("keeps the mirror intact when a fetch is cut mid-pack, and catches up on the next one", async () => {
    const org = await makeTestOrg(t);
    const git = await fixture();
    await git.commit("Initial\n", { "a.ts": "1\n" });
    const bare = await bareCopyOf(git);
    fixtures.push(bare);
    const token = "tok-0123456789abcdef";
    const server = await startGitHttpServer({ bareDir: bare.dir, username: "ci", token });
    fixtures.push({ remove: () => server.close() });
    const repo = await createRepo(t, org.admin, {
      name: "flaky",
      url: server.url,
      credential: { kind: "token", token, username: "ci" },
    });
    const first = await syncRepo(t, org.admin, repo.id);
    expect(first.status).toBe(200);
    const before = first.body.headSha as string;

    // Enough new content that the pack is larger than the cut.
    const big = Array.from({ length: 4000 }, (_, i) => `line ${i} ${Math.random()}`).join("\n");
    await git.squashPr(40, "Big change", { "big.txt": big });
    await pushTo(git, bare.dir);
    server.dropNextPackAfter(300);
    const cut = await syncRepo(t, org.admin, repo.id);
    expect(cut.status).toBe(502);
    expect(cut.body).toMatchObject({ code: "upstream_error", retryable: true });

    const mirror = deps.mirrors.mirrorPath({ id: repo.id, orgId: org.orgId });
    expect((await gitIn(mirror, "rev-parse", "refs/heads/main")).stdout.trim()).toBe(before);
    expect((await gitIn(mirror, "fsck", "--no-dangling")).code).toBe(0);

    const again = await syncRepo(t, org.admin, repo.id);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ imported: 1, previousHeadSha: before });
    expect((await gitIn(mirror, "fsck", "--no-dangling")).code).toBe(0);
  });

  it("ensureMirrorFresh fetches only when the mirror is older than asked, and takes over a dead process's lock", async () => {
    const org = await makeTestOrg(t);
    const git = await fixture();
    await git.commit("Initial\n", { "a.ts": "1\n" });
    const repo = await createRepo(t, org.admin, { name: "fresh", url: git.dir });
    const first = await ensureMirrorFresh(deps, org.ctx, repo.id, 60_000);
    expect(first.fetched).toBe(true);
    expect(first.path).toBe(deps.mirrors.mirrorPath({ id: repo.id, orgId: org.orgId }));
    const cached = await ensureMirrorFresh(deps, org.ctx, repo.id, 60_000);
    expect(cached).toMatchObject({ fetched: false, headSha: first.headSha });

    // A worker died mid-fetch: its lock file and a git lock inside the mirror are left behind.
    const head = await git.squashPr(50, "After the crash", { "a.ts": "2\n" });
    await writeFile(`${first.path}.causeway-lock`, `${hostname()} 2147483646`);
    await writeFile(path.join(first.path, "packed-refs.lock"), "");
    const refreshed = await ensureMirrorFresh(deps, org.ctx, repo.id, 0);
    expect(refreshed).toMatchObject({ fetched: true, headSha: head });
    await expect(stat(`${first.path}.causeway-lock`)).rejects.toThrow();
    await expect(stat(path.join(first.path, "packed-refs.lock"))).rejects.toThrow();
  });
});
