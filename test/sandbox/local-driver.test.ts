/**
 * The local (no Docker) sandbox driver against a real git mirror: same contract as the Docker driver,
 * git run directly with the mirror path substituted for /repo, and a loud warning that nothing is
 * isolated. Needs no Docker engine.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SandboxError, type SandboxHandle } from "../../sandbox/driver.ts";
import {
  blameArgs,
  diffArgs,
  GIT_DIR_ARG,
  isAncestorArgs,
  logArgs,
  lsTreeArgs,
  readIsAncestor,
} from "../../sandbox/git-commands.ts";
import { LocalSandboxDriver } from "../../sandbox/local-driver.ts";
import { parseBlamePorcelain } from "../../src/attribution/blame-parser.ts";
import { ValidationError } from "../../src/errors.ts";
import { type GitFixture, makeGitFixture } from "./git-fixture.ts";

const HOUR = 60 * 60 * 1000;
const LIMITS = { timeoutMs: 10_000, maxOutputBytes: 1 << 20 };
const text = (b: Buffer) => b.toString("utf8");

describe("local sandbox driver", () => {
  let fixture: GitFixture;
  let tempRoot: string;
  const warnings: { obj: object; msg: string }[] = [];
  let driver: LocalSandboxDriver;

  beforeAll(() => {
    fixture = makeGitFixture("causeway-local-sandbox-test-");
    tempRoot = mkdtempSync(path.join(os.tmpdir(), "causeway-local-sandbox-homes-"));
    driver = new LocalSandboxDriver({
      logger: { warn: (obj, msg) => warnings.push({ obj, msg }) },
      tempRoot,
    });
  });
  afterAll(() => {
    fixture?.cleanup();
    if (tempRoot) rmSync(tempRoot, { recursive: true, force: true });
  });

  const spec = (ttlMs = HOUR, mirrorPath = fixture.mirrorPath) => ({
    orgId: randomUUID(),
    repositoryId: randomUUID(),
    mirrorPath,
    ttlMs,
  });

  it("warns loudly at construction that there is no isolation", () => {
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toMatch(/NO ISOLATION/);
    expect(warnings[0]?.obj).toMatchObject({ sandboxDriver: "local", isolation: "none" });
  });

  it("runs the sandbox argv with the real mirror path and prints what host git prints", async () => {
    const { c1, c2, c3, f1 } = fixture.commits;
    const handle = await driver.ensure(spec());
    expect(handle.kind).toBe("local");

    const argv = blameArgs(c3, "src/app.js", { lineStart: 1, lineEnd: 5 });
    const blame = await driver.exec(handle, argv, LIMITS);
    expect(text(blame.stderr)).toBe("");
    expect(blame).toMatchObject({ exitCode: 0, timedOut: false, truncated: false });
    expect(text(blame.stdout)).toBe(fixture.hostGit(argv.slice(2)).toString());
    expect(parseBlamePorcelain(text(blame.stdout)).map((l) => l.sha)).toEqual([c1, c2, c1, c3, c1]);

    const log = await driver.exec(handle, logArgs(c3, { maxCount: 2 }), LIMITS);
    expect(
      text(log.stdout)
        .split("\0")
        .filter(Boolean)
        .map((r) => r.replace(/^\n/, "").split("\x1f")[0]),
    ).toEqual([c3, c2]);
    const diff = await driver.exec(handle, diffArgs(c2, c3, ["src/app.js"]), LIMITS);
    expect(text(diff.stdout)).toContain("\n-const label = \"sum\";\n+const label = 'sum';\n");
    const tree = await driver.exec(handle, lsTreeArgs(c3), LIMITS);
    expect(text(tree.stdout).split("\0").filter(Boolean)).toEqual(["README.md", "src/app.js"]);
    expect(readIsAncestor(await driver.exec(handle, isAncestorArgs(c1, c3), LIMITS))).toBe(true);
    expect(readIsAncestor(await driver.exec(handle, isAncestorArgs(f1, c3), LIMITS))).toBe(false);
  });

  it("gives git an empty temporary HOME and none of the server's environment", async () => {
    const secret = `ghs_${randomUUID()}`;
    process.env.CAUSEWAY_LOCAL_SANDBOX_TEST_TOKEN = secret;
    try {
      const handle = await driver.ensure(spec());
      // A shell alias is the one way to see the environment git's children get.
      const env = await driver.exec(handle, ["git", GIT_DIR_ARG, "-c", "alias.e=!env", "e"], LIMITS);
      expect(env.exitCode).toBe(0);
      const out = text(env.stdout);
      expect(out).not.toContain(secret);
      expect(out).toMatch(/^GIT_CONFIG_NOSYSTEM=1$/m);
      const home = out.match(/^HOME=(.*)$/m)?.[1];
      expect(home?.startsWith(tempRoot)).toBe(true);
      expect(out).not.toMatch(/^CAUSEWAY_/m);
    } finally {
      delete process.env.CAUSEWAY_LOCAL_SANDBOX_TEST_TOKEN;
    }
  });

  it("runs only git, as argv", async () => {
    const handle = await driver.ensure(spec());
    await expect(driver.exec(handle, ["sh", "-c", "id"], LIMITS)).rejects.toBeInstanceOf(ValidationError);
    // A path with shell syntax is just a path: nothing is interpreted.
    const odd = await driver.exec(
      handle,
      ["git", GIT_DIR_ARG, "log", "--oneline", fixture.commits.c3, "--", "$(touch pwned); `id`"],
      LIMITS,
    );
    expect(odd.exitCode).toBe(0);
    expect(text(odd.stdout)).toBe("");
    for (const dir of [process.cwd(), ...readdirSync(tempRoot).map((d) => path.join(tempRoot, d))]) {
      expect(existsSync(path.join(dir, "pwned"))).toBe(false);
    }
  });

  it("kills git (and what it started) on timeout, and caps output", async () => {
    const handle = await driver.ensure(spec());
    const started = Date.now();
    const slow = await driver.exec(handle, ["git", GIT_DIR_ARG, "-c", "alias.s=!sleep 20", "s"], {
      timeoutMs: 500,
      maxOutputBytes: 1024,
    });
    expect(slow).toMatchObject({ timedOut: true, exitCode: null });
    expect(Date.now() - started).toBeLessThan(5_000);

    const capped = await driver.exec(handle, ["git", GIT_DIR_ARG, "cat-file", "-p", fixture.commits.c1], {
      timeoutMs: 10_000,
      maxOutputBytes: 20,
    });
    expect(capped.truncated).toBe(true);
    expect(capped.stdout.length).toBe(20);
    expect(text(capped.stdout).startsWith("tree ")).toBe(true);
  });

  it("reuses a sandbox while alive, recreates after expiry, lists, reaps and removes", async () => {
    const s = spec();
    const [a, b] = await Promise.all([driver.ensure(s), driver.ensure(s)]);
    expect(b.id).toBe(a.id);

    const short = spec(1);
    const first = await driver.ensure(short);
    await new Promise((r) => setTimeout(r, 10));
    const second = await driver.ensure(short);
    expect(second.id).not.toBe(first.id);
    await expect(driver.exec(first, ["git", "--version"], LIMITS)).rejects.toBeInstanceOf(SandboxError);

    const doomed = makeGitFixture("causeway-local-orphan-");
    const orphan = await driver.ensure(spec(HOUR, doomed.mirrorPath));
    doomed.cleanup();

    const byId = new Map((await driver.list()).map((i) => [i.id, i]));
    expect(byId.get(a.id)).toMatchObject({ state: "running", orgId: s.orgId, repositoryId: s.repositoryId });
    expect(byId.get(second.id)?.state).toBe("expired");
    expect(byId.get(orphan.id)?.state).toBe("orphaned");

    const { removed } = await driver.reap(new Date());
    expect(removed).toEqual(expect.arrayContaining([second.id, orphan.id]));
    expect(removed).not.toContain(a.id);
    const after = (await driver.list()).map((i) => i.id);
    expect(after).toContain(a.id);
    expect(after).not.toContain(second.id);

    await driver.remove(a);
    expect((await driver.list()).map((i) => i.id)).not.toContain(a.id);
    await expect(driver.exec(a, ["git", "--version"], LIMITS)).rejects.toBeInstanceOf(SandboxError);
  });

  it("refuses a missing mirror and a handle from another driver", async () => {
    await expect(driver.ensure(spec(HOUR, path.join(fixture.root, "missing.git")))).rejects.toBeInstanceOf(
      SandboxError,
    );
    const foreign: SandboxHandle = {
      kind: "docker",
      id: "abc",
      orgId: "o",
      repositoryId: "r",
      createdAt: new Date(),
      expiresAt: new Date(),
    };
    await expect(driver.exec(foreign, ["git", "--version"], LIMITS)).rejects.toBeInstanceOf(SandboxError);
  });
});
