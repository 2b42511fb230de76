/**
 * SandboxGit against a real mirror on the local driver: reads issued together share one round trip,
 * and patches read once are served from the cache afterwards (per repository).
 */
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { LocalSandboxDriver } from "../../sandbox/local-driver.ts";
import { PatchCache } from "../../src/attribution/patch-cache.ts";
import { SandboxGit } from "../../src/attribution/sandbox-git.ts";
import { makeGitFixture } from "../sandbox/git-fixture.ts";

describe("SandboxGit", () => {
  const fixture = makeGitFixture("causeway-sandbox-git-");
  const driver = new LocalSandboxDriver({ logger: { warn: () => {} } });
  afterAll(() => fixture.cleanup());

  const open = (repositoryId = randomUUID()) =>
    driver.ensure({ orgId: randomUUID(), repositoryId, mirrorPath: fixture.mirrorPath, ttlMs: 60_000 });

  it("batches reads issued together into one sandbox round trip", async () => {
    const git = new SandboxGit(driver, await open(), null);
    const { c1, c3 } = fixture.commits;
    const [files, exists, missing] = await Promise.all([
      git.listFiles(c3),
      git.commitExists(c1),
      git.commitExists("0".repeat(40)),
    ]);
    expect(files).toContain("src/app.js");
    expect(exists).toBe(c1);
    expect(missing).toBeNull();
    expect(git.commands).toBe(3);
    expect(git.execs).toBe(1);
  });

  it("reads each commit's patch once per repository, then serves it from the cache", async () => {
    const cache = new PatchCache(1 << 20);
    const { c1, c2, c3 } = fixture.commits;
    const repositoryId = randomUUID();
    const first = new SandboxGit(driver, await open(repositoryId), cache);
    const read = await first.patches([c2, c3]);
    expect([...read.keys()]).toEqual([c2, c3]);
    expect(first.commands).toBe(1);

    const again = new SandboxGit(driver, await open(repositoryId), cache);
    const served = await again.patches([c3, c1, c2]);
    // Only c1 was read; the order asked is the order returned; the content is the same.
    expect(again.commands).toBe(1);
    expect([...served.keys()]).toEqual([c3, c1, c2]);
    expect(served.get(c2)).toEqual(read.get(c2));
    expect(served.get(c2)?.files.map((f) => f.newPath)).toEqual(["src/app.js"]);

    // Another repository never sees these entries, even for the same SHAs.
    const other = new SandboxGit(driver, await open(), cache);
    await other.patches([c2]);
    expect(other.commands).toBe(1);
  });
});
