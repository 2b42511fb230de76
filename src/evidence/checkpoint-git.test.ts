import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type CheckpointToPublish, GitCheckpointPublisher } from "./checkpoint-git.ts";

const ENV = {
  PATH: process.env.PATH ?? "",
  LC_ALL: "C",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, env: ENV, encoding: "utf8" }).trim();
}

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "causeway-git-publish-"));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function bareRepo(): Promise<string> {
  const dir = await tempDir();
  git(dir, "init", "--bare", "--initial-branch=main", "-q", ".");
  return dir;
}

/** A note shaped like a C2SP checkpoint (these tests check placement, not signatures). */
function checkpoint(orgId: string, size: number): CheckpointToPublish {
  const root = randomBytes(32);
  const origin = `causeway/${orgId}`;
  return {
    orgId,
    origin,
    size: BigInt(size),
    root,
    note: `${origin}\n${size}\n${root.toString("base64")}\n\n— test ${randomBytes(8).toString("base64")}\n`,
  };
}

const show = (repo: string, rev: string, file: string) => git(repo, "show", `${rev}:${file}`);
const files = (repo: string, rev = "main") => git(repo, "ls-tree", "-r", "--name-only", rev).split("\n");
const commits = (repo: string, rev = "main") => Number(git(repo, "rev-list", "--count", rev));

describe("GitCheckpointPublisher", () => {
  it("commits each checkpoint with both files and a message naming origin and size", async () => {
    const repo = await bareRepo();
    const publisher = new GitCheckpointPublisher({ repo });
    const org = randomUUID();
    const first = checkpoint(org, 3);
    const second = checkpoint(org, 7);
    const r1 = await publisher.publish(first);
    const r2 = await publisher.publish(second);
    expect(r1.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(r2).toEqual({ commit: git(repo, "rev-parse", "main"), pushed: false });
    expect(commits(repo)).toBe(2);
    expect(files(repo).sort()).toEqual([`${org}/checkpoint`, `${org}/checkpoints/3`, `${org}/checkpoints/7`]);
    expect(show(repo, "main", `${org}/checkpoint`)).toBe(second.note.trim());
    expect(show(repo, "main", `${org}/checkpoints/3`)).toBe(first.note.trim());
    expect(show(repo, "main~1", `${org}/checkpoint`)).toBe(first.note.trim());
    expect(git(repo, "log", "-1", "--format=%s", "main")).toBe(`Checkpoint causeway/${org} at size 7`);
    expect(git(repo, "log", "-1", "--format=%an <%ae>", "main")).toBe("Causeway <causeway@localhost>");
  });

  it("adds nothing for a checkpoint already published and never moves `checkpoint` back", async () => {
    const repo = await bareRepo();
    const publisher = new GitCheckpointPublisher({ repo });
    const org = randomUUID();
    const big = checkpoint(org, 10);
    await publisher.publish(big);
    expect(await publisher.publish(big)).toEqual({ commit: null, pushed: false });
    // A slower writer publishing an older size adds its file but keeps the newest as the head.
    await publisher.publish(checkpoint(org, 4));
    expect(commits(repo)).toBe(2);
    expect(show(repo, "main", `${org}/checkpoint`)).toBe(big.note.trim());
    expect(files(repo)).toContain(`${org}/checkpoints/4`);
  });

  it("loses no commit when several writers publish to one repository at once", async () => {
    const repo = await bareRepo();
    // Separate publishers stand for separate processes: only update-ref's compare-and-swap orders them.
    const writers = [0, 1, 2].map(() => new GitCheckpointPublisher({ repo }));
    const orgs = [randomUUID(), randomUUID(), randomUUID()];
    await Promise.all(
      writers.flatMap((w, i) => [1, 2, 3].map((size) => w.publish(checkpoint(orgs[i]!, size)))),
    );
    expect(commits(repo)).toBe(9);
    // Linear history: every commit has at most one parent.
    expect(git(repo, "rev-list", "--min-parents=2", "main")).toBe("");
    for (const org of orgs) {
      expect(files(repo)).toEqual(expect.arrayContaining([1, 2, 3].map((s) => `${org}/checkpoints/${s}`)));
      expect(show(repo, "main", `${org}/checkpoint`).split("\n")[1]).toBe("3");
    }
  });

  it("pushes to the configured remote and merges when another writer pushed first", async () => {
    const remote = await bareRepo();
    const [a, b] = [await bareRepo(), await bareRepo()];
    for (const repo of [a, b]) git(repo, "remote", "add", "origin", remote);
    const pa = new GitCheckpointPublisher({ repo: a, remote: "origin" });
    const pb = new GitCheckpointPublisher({ repo: b, remote: "origin" });
    const [orgA, orgB, shared] = [randomUUID(), randomUUID(), randomUUID()];
    expect((await pa.publish(checkpoint(orgA, 1))).pushed).toBe(true);
    expect(git(remote, "rev-parse", "main")).toBe(git(a, "rev-parse", "main"));
    // b's history is unrelated to the remote's: its push is rejected, it merges and pushes again.
    await pa.publish(checkpoint(shared, 5));
    expect((await pb.publish(checkpoint(shared, 9))).pushed).toBe(true);
    expect((await pb.publish(checkpoint(orgB, 2))).pushed).toBe(true);
    expect(git(remote, "rev-parse", "main")).toBe(git(b, "rev-parse", "main"));
    expect(files(remote).sort()).toEqual(
      [
        `${orgA}/checkpoint`,
        `${orgA}/checkpoints/1`,
        `${orgB}/checkpoint`,
        `${orgB}/checkpoints/2`,
        `${shared}/checkpoint`,
        `${shared}/checkpoints/5`,
        `${shared}/checkpoints/9`,
      ].sort(),
    );
    expect(show(remote, "main", `${shared}/checkpoint`).split("\n")[1]).toBe("9");
    // a catches up with the remote (fast-forward) on its next publish, and pushes on top of it.
    await pa.publish(checkpoint(orgA, 4));
    expect(git(remote, "rev-parse", "main")).toBe(git(a, "rev-parse", "main"));
    expect(show(remote, "main", `${shared}/checkpoint`).split("\n")[1]).toBe("9");
    expect(git(remote, "merge-base", "--is-ancestor", git(b, "rev-parse", "main"), "main")).toBe("");
  });

  it("fails with git's step and a reason, never git's output, and refuses a working tree", async () => {
    const missing = new GitCheckpointPublisher({ repo: path.join(await tempDir(), "nope") });
    await expect(missing.publish(checkpoint(randomUUID(), 1))).rejects.toThrow(
      /^git rev-parse failed \(exit 128, not_found\)$/,
    );
    const work = await tempDir();
    git(work, "init", "-q", ".");
    await expect(
      new GitCheckpointPublisher({ repo: work }).publish(checkpoint(randomUUID(), 1)),
    ).rejects.toThrow(/must be a bare repository|not_found/);
    await expect(
      new GitCheckpointPublisher({ repo: path.join(work, ".git") }).publish(checkpoint(randomUUID(), 1)),
    ).rejects.toThrow(/must be a bare repository/);

    const repo = await bareRepo();
    git(repo, "remote", "add", "origin", "http://publisher:hunter2-secret@127.0.0.1:9/checkpoints.git");
    const error = await new GitCheckpointPublisher({ repo, remote: "origin" })
      .publish(checkpoint(randomUUID(), 1))
      .catch((e: Error) => e);
    expect(String(error)).toMatch(/git push failed \(exit \d+, unreachable\)/);
    expect(JSON.stringify({ ...(error as object), message: String(error) })).not.toContain("hunter2");
    // The commit landed locally; the push can catch up next time.
    expect(commits(repo)).toBe(1);
  });

  it("refuses a remote that is not a remote name", () => {
    expect(
      () => new GitCheckpointPublisher({ repo: "/tmp/x", remote: "--upload-pack=touch /tmp/p" }),
    ).toThrow(/remote name/);
  });
});
