/**
 * The Docker sandbox against a real engine and a real git mirror: every hardening promise of
 * DESIGN.md §5 is checked from inside the container (and from `docker inspect`), then the git analysis
 * commands, then the lifecycle (reuse, timeout kill, TTL, reaping of expired and orphaned sandboxes).
 */
import { randomUUID } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DockerSandboxDriver, SANDBOX_LABELS } from "../../sandbox/docker-driver.ts";
import { type ExecResult, SandboxError, type SandboxHandle } from "../../sandbox/driver.ts";
import {
  blameArgs,
  diffArgs,
  GIT_DIR_ARG,
  isAncestorArgs,
  LOG_FORMAT,
  logArgs,
  lsTreeArgs,
  readIsAncestor,
} from "../../sandbox/git-commands.ts";
import { blameAt, parseBlamePorcelain } from "../../src/attribution/blame-parser.ts";
import { probeDocker } from "./docker-available.ts";
import { APP_V1, type GitFixture, makeGitFixture } from "./git-fixture.ts";

const probe = await probeDocker();

const LIMITS = {
  memoryBytes: 256 * 1024 * 1024,
  pidsLimit: 64,
  nanoCpus: 500_000_000,
  tmpfsBytes: 32 * 1024 * 1024,
};
const HOUR = 60 * 60 * 1000;
const SECRET_ENV = "CAUSEWAY_SANDBOX_TEST_GITHUB_TOKEN";
const SECRET_VALUE = `ghs_${randomUUID().replaceAll("-", "")}`;

interface LogEntry {
  level: "warn" | "info";
  obj: object;
  msg: string;
}

function recordingLogger(entries: LogEntry[]) {
  return {
    warn: (obj: object, msg: string) => entries.push({ level: "warn", obj, msg }),
    info: (obj: object, msg: string) => entries.push({ level: "info", obj, msg }),
  };
}

const text = (b: Buffer) => b.toString("utf8");

describe.skipIf(probe.skip)(probe.title("docker sandbox"), () => {
  const orgs = new Set<string>();
  const foreignContainers: string[] = [];
  const logs: LogEntry[] = [];
  let fixture: GitFixture;
  let driver: DockerSandboxDriver;

  const newOrg = () => {
    const id = randomUUID();
    orgs.add(id);
    return id;
  };

  // Per test, so that with CAUSEWAY_REQUIRE_DOCKER=1 every test is counted as failed, not skipped.
  beforeEach(() => probe.assertAvailable());

  beforeAll(() => {
    fixture = makeGitFixture();
    driver = new DockerSandboxDriver({
      docker: probe.docker,
      image: probe.image,
      limits: LIMITS,
      logger: recordingLogger(logs),
    });
  });

  afterAll(async () => {
    if (probe.available) {
      const ours = await probe.docker.listContainers({
        all: true,
        filters: { label: [`${SANDBOX_LABELS.managed}=true`] },
      });
      const ids = ours
        .filter((c) => orgs.has(c.Labels[SANDBOX_LABELS.org] ?? ""))
        .map((c) => c.Id)
        .concat(foreignContainers);
      await Promise.all(
        ids.map((id) =>
          probe.docker
            .getContainer(id)
            .remove({ force: true })
            .catch(() => undefined),
        ),
      );
    }
    fixture?.cleanup();
  });

  describe("inside the sandbox", () => {
    let handle: SandboxHandle;
    const run = (argv: string[], opts: { cwd?: string; maxOutputBytes?: number } = {}): Promise<ExecResult> =>
      driver.exec(handle, argv, { timeoutMs: 20_000, maxOutputBytes: 1 << 20, ...opts });

    beforeAll(async () => {
      // The server's own environment holds credentials; none of it may reach a sandbox.
      process.env[SECRET_ENV] = SECRET_VALUE;
      if (!probe.available) return; // beforeEach fails each test with the reason instead
      handle = await driver.ensure({
        orgId: newOrg(),
        repositoryId: randomUUID(),
        mirrorPath: fixture.mirrorPath,
        ttlMs: HOUR,
      });
    });
    afterAll(() => {
      delete process.env[SECRET_ENV];
    });

    it("has no network but loopback", async () => {
      const dev = await run(["cat", "/proc/net/dev"]);
      expect(dev.exitCode).toBe(0);
      const interfaces = text(dev.stdout)
        .split("\n")
        .slice(2)
        .map((line) => line.split(":")[0]?.trim())
        .filter((name) => name);
      expect(interfaces).toEqual(["lo"]);
      const sys = await run(["ls", "/sys/class/net"]);
      expect(text(sys.stdout).split(/\s+/).filter(Boolean)).toEqual(["lo"]);
      const info = await probe.docker.getContainer(handle.id).inspect();
      expect(info.HostConfig.NetworkMode).toBe("none");
    });

    it("cannot write to the root filesystem; /tmp is a writable, noexec tmpfs", async () => {
      const root = await run(["touch", "/probe"]);
      expect(root.exitCode).not.toBe(0);
      expect(text(root.stderr)).toMatch(/Read-only file system/);
      const etc = await run(["touch", "/etc/probe"]);
      expect(etc.exitCode).not.toBe(0);

      const tmp = await run(["touch", "/tmp/probe"]);
      expect(tmp.exitCode).toBe(0);
      expect((await run(["ls", "/tmp/probe"])).exitCode).toBe(0);
      const mounts = text((await run(["cat", "/proc/self/mounts"])).stdout);
      const tmpMount = mounts.split("\n").find((line) => line.split(" ")[1] === "/tmp");
      expect(tmpMount).toMatch(/^tmpfs \/tmp tmpfs /);
      expect(tmpMount).toMatch(/\bnoexec\b/);
      expect(tmpMount).toMatch(/\bnosuid\b/);

      expect((await run(["cp", "/bin/true", "/tmp/true"])).exitCode).toBe(0);
      const executed = await run(["/tmp/true"]);
      expect(executed.exitCode).not.toBe(0);
    });

    it("runs as uid 10001 with no capabilities and no_new_privs", async () => {
      expect(text((await run(["id", "-u"])).stdout).trim()).toBe("10001");
      expect(text((await run(["id", "-g"])).stdout).trim()).toBe("10001");
      const status = text((await run(["cat", "/proc/self/status"])).stdout);
      const field = (name: string) => status.match(new RegExp(`^${name}:\\s*(\\S+)`, "m"))?.[1];
      expect(field("CapEff")).toBe("0000000000000000");
      expect(field("CapPrm")).toBe("0000000000000000");
      expect(field("CapBnd")).toBe("0000000000000000");
      expect(field("NoNewPrivs")).toBe("1");
      // 2 = seccomp filter mode (the engine's default profile).
      expect(field("Seccomp")).toBe("2");
      const setuid = await run(["find", "/", "-xdev", "-type", "f", "-perm", "/6000"]);
      expect(text(setuid.stdout).trim()).toBe("");
      const pid1 = text((await run(["cat", "/proc/1/cmdline"])).stdout).split("\0");
      expect(pid1).toContain("sleep");
    });

    it("sees the mirror read-only at /repo", async () => {
      const touch = await run(["touch", "/repo/probe"]);
      expect(touch.exitCode).not.toBe(0);
      expect(text(touch.stderr)).toMatch(/Read-only file system/);
      const mkdir = await run(["mkdir", "/repo/refs/heads/evil"]);
      expect(mkdir.exitCode).not.toBe(0);
      const updateRef = await run([
        "git",
        GIT_DIR_ARG,
        "-c",
        "safe.directory=*",
        "update-ref",
        "refs/heads/evil",
        fixture.commits.c1,
      ]);
      expect(updateRef.exitCode).not.toBe(0);
      expect(fixture.hostGit(["branch", "--list"]).toString()).not.toMatch(/evil/);
      const info = await probe.docker.getContainer(handle.id).inspect();
      const mount = info.Mounts.find((m) => m.Destination === "/repo");
      expect(mount?.Source).toBe(fixture.mirrorPath);
      expect(mount?.RW).toBe(false);
    });

    it("has memory, pids and CPU limits set (inspect and cgroup)", async () => {
      const info = await probe.docker.getContainer(handle.id).inspect();
      const host = info.HostConfig;
      expect(host.Memory).toBe(LIMITS.memoryBytes);
      expect(host.PidsLimit).toBe(LIMITS.pidsLimit);
      expect(host.NanoCpus).toBe(LIMITS.nanoCpus);
      expect(host.ReadonlyRootfs).toBe(true);
      expect(host.CapDrop).toEqual(["ALL"]);
      expect(host.CapAdd ?? []).toEqual([]);
      expect(host.SecurityOpt).toEqual(["no-new-privileges"]);
      expect(host.Privileged).toBe(false);
      expect(host.Tmpfs).toEqual({ "/tmp": `rw,noexec,nosuid,nodev,size=${LIMITS.tmpfsBytes}` });
      expect(info.Config.User).toBe("10001:10001");
      expect(info.Config.Labels[SANDBOX_LABELS.org]).toBe(handle.orgId);
      expect(info.Config.Labels[SANDBOX_LABELS.repository]).toBe(handle.repositoryId);
      expect(info.Config.Labels[SANDBOX_LABELS.expiresAt]).toBe(handle.expiresAt.toISOString());

      // The kernel enforces what docker recorded: cgroup v2 or v1 files, whichever this host has.
      const readFirst = async (paths: string[]) => {
        for (const p of paths) {
          const r = await run(["cat", p]);
          if (r.exitCode === 0) return text(r.stdout).trim();
        }
        return undefined;
      };
      const memory = await readFirst([
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
      ]);
      expect(memory).toBe(String(LIMITS.memoryBytes));
      const pids = await readFirst(["/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max"]);
      expect(pids).toBe(String(LIMITS.pidsLimit));
    });

    it("carries no credentials in its environment", async () => {
      expect(process.env[SECRET_ENV]).toBe(SECRET_VALUE);
      const env = await run(["env"]);
      expect(env.exitCode).toBe(0);
      const out = text(env.stdout);
      expect(out).not.toContain(SECRET_VALUE);
      const names = out
        .split("\n")
        .filter(Boolean)
        .map((line) => line.slice(0, line.indexOf("=")));
      expect(
        names.filter((n) => /token|secret|key|pass|credential|auth|database_url|aws_|github/i.test(n)),
      ).toEqual([]);
      expect(new Set(names)).toEqual(
        new Set([
          "PATH",
          "HOSTNAME",
          "HOME",
          "GIT_CONFIG_NOSYSTEM",
          "GIT_TERMINAL_PROMPT",
          "GIT_OPTIONAL_LOCKS",
          "LANG",
        ]),
      );
      expect(out).toMatch(/^HOME=\/tmp$/m);
    });

    it("separates stdout from stderr and caps output", async () => {
      const missing = await run(["ls", "/nonexistent"]);
      expect(missing.exitCode).toBe(2);
      expect(missing.stdout.length).toBe(0);
      expect(text(missing.stderr)).toMatch(/No such file or directory/);

      const big = await run(["head", "-c", "300000", "/dev/zero"], { maxOutputBytes: 1000 });
      expect(big.exitCode).toBe(0);
      expect(big.truncated).toBe(true);
      expect(big.stdout.length).toBe(1000);

      const exact = await run(["head", "-c", "70000", "/dev/urandom"]);
      expect(exact.truncated).toBe(false);
      expect(exact.stdout.length).toBe(70000);
    });

    it("blames at a SHA on the bare mirror with the exact porcelain host git prints", async () => {
      const { c1, c2, c3 } = fixture.commits;
      const argv = blameArgs(c3, "src/app.js", { lineStart: 1, lineEnd: 5 });
      const result = await run(argv);
      expect(text(result.stderr)).toBe("");
      expect(result.exitCode).toBe(0);
      expect(argv.slice(0, 2)).toEqual(["git", GIT_DIR_ARG]);
      expect(text(result.stdout)).toBe(fixture.hostGit(argv.slice(2)).toString());

      const lines = parseBlamePorcelain(text(result.stdout));
      expect(lines.map((l) => l.sha)).toEqual([c1, c2, c1, c3, c1]);
      expect(blameAt(lines, 2)?.authorName).toBe("Bob");
      expect(blameAt(lines, 2)?.summary).toBe("Fix add for strings (#12)");
      expect(blameAt(lines, 4)?.authorMail).toBe("carol@example.com");
      expect(blameAt(lines, 1)?.content).toBe(APP_V1[0]);

      // The formatting commit is seen through: line 4 goes back to Alice.
      const ignoring = await run(blameArgs(c3, "src/app.js", { lineStart: 4, lineEnd: 4, ignoreRevs: [c3] }));
      expect(ignoring.exitCode).toBe(0);
      expect(parseBlamePorcelain(text(ignoring.stdout))[0]?.sha).toBe(c1);
    });

    it("runs log, diff, ls-tree and merge-base --is-ancestor against the mirror", async () => {
      const { c1, c2, c3, f1 } = fixture.commits;
      const log = await run(logArgs(c3));
      expect(log.exitCode).toBe(0);
      const records = text(log.stdout)
        .split("\0")
        .filter(Boolean)
        .map((r) => r.replace(/^\n/, "").split("\x1f"));
      expect(LOG_FORMAT.split("%x1f")).toHaveLength(7);
      expect(records.map((r) => r[0])).toEqual([c3, c2, c1]);
      expect(records[1]).toEqual([
        c2,
        c1,
        "Bob",
        "bob@example.com",
        "2024-02-01T10:00:00+00:00",
        "2024-02-01T10:00:00+00:00",
        "Fix add for strings (#12)",
      ]);
      const readmeLog = await run(logArgs(c3, { paths: ["README.md"] }));
      expect(
        text(readmeLog.stdout)
          .split("\0")
          .filter(Boolean)
          .map((r) => r.replace(/^\n/, "").split("\x1f")[0]),
      ).toEqual([c1]);

      const diff = await run(diffArgs(c1, c2));
      expect(diff.exitCode).toBe(0);
      const patch = text(diff.stdout);
      expect(patch).toContain("diff --git a/src/app.js b/src/app.js");
      expect(patch).toMatch(/^@@ -2 \+2 @@/m);
      expect(patch).toContain("\n-  return a + b;\n+  return Number(a) + Number(b);\n");

      const tree = await run(lsTreeArgs(f1));
      expect(text(tree.stdout).split("\0").filter(Boolean)).toEqual([
        "README.md",
        "src/app.js",
        "src/feature.js",
      ]);

      expect(readIsAncestor(await run(isAncestorArgs(c1, c3)))).toBe(true);
      expect(readIsAncestor(await run(isAncestorArgs(c3, c1)))).toBe(false);
      expect(readIsAncestor(await run(isAncestorArgs(f1, c3)))).toBe(false);
      const unknown = await run(isAncestorArgs("deadbeefdeadbeef", c3));
      expect(unknown.exitCode).toBe(128);
      expect(() => readIsAncestor(unknown)).toThrow(SandboxError);
    });
    it("runs a batch in one exec: per-command results, no argument read as shell syntax", async () => {
      const { c1, c3 } = fixture.commits;
      const opts = { timeoutMs: 20_000, maxOutputBytes: 1 << 20 };
      const hostile = ["$(id)", "`id`", "a;id", "'quoted'", 'x"y', "line\nbreak", "$1", "*", ""];
      const results = await driver.execBatch(
        handle,
        [
          ["printf", "%s|", ...hostile],
          blameArgs(c3, "src/app.js", { lineStart: 2, lineEnd: 2 }),
          ["ls", "/nonexistent"],
          // A shell builtin by name: started through env, it is looked up as a program and not found.
          ["eval", "echo pwned"],
          isAncestorArgs(c1, c3),
          ["printf", "no newline at the end"],
        ],
        opts,
      );
      expect(results).toHaveLength(6);
      expect(text(results[0]!.stdout)).toBe(`${hostile.join("|")}|`);
      expect(results[0]!.exitCode).toBe(0);
      const single = await run(blameArgs(c3, "src/app.js", { lineStart: 2, lineEnd: 2 }));
      expect(results[1]!.stdout.equals(single.stdout)).toBe(true);
      expect(results[1]!.exitCode).toBe(0);
      expect(results[2]!.exitCode).toBe(2);
      expect(text(results[2]!.stderr)).toMatch(/No such file or directory/);
      expect(results[2]!.stdout.length).toBe(0);
      expect(results[3]!.exitCode).toBe(127);
      expect(text(results[3]!.stdout)).not.toContain("pwned");
      expect(readIsAncestor(results[4]!)).toBe(true);
      expect(text(results[5]!.stdout)).toBe("no newline at the end");
      expect(results.every((r) => !r.timedOut && !r.truncated)).toBe(true);

      // The output cap covers the whole batch: what finished before it is whole, the rest is flagged.
      const capped = await driver.execBatch(
        handle,
        [
          ["printf", "small"],
          ["head", "-c", "300000", "/dev/zero"],
          ["printf", "never seen"],
        ],
        { ...opts, maxOutputBytes: 4096 },
      );
      expect(text(capped[0]!.stdout)).toBe("small");
      expect(capped[0]!.truncated).toBe(false);
      expect(capped[1]!.truncated).toBe(true);
      expect(capped[1]!.exitCode).toBeNull();
      expect(capped[2]!.truncated).toBe(true);
    });
  });

  describe("lifecycle", () => {
    const spec = (orgId: string, repositoryId: string, ttlMs = HOUR, mirrorPath = fixture.mirrorPath) => ({
      orgId,
      repositoryId,
      mirrorPath,
      ttlMs,
    });

    it("reuses the container while alive, also from a second driver (a restarted server)", async () => {
      const s = spec(newOrg(), randomUUID());
      const [a, b] = await Promise.all([driver.ensure(s), driver.ensure(s)]);
      expect(b.id).toBe(a.id);
      expect((await driver.ensure(s)).id).toBe(a.id);

      const restarted = new DockerSandboxDriver({ docker: probe.docker, image: probe.image, limits: LIMITS });
      const again = await restarted.ensure(s);
      expect(again.id).toBe(a.id);
      expect(again.expiresAt.toISOString()).toBe(a.expiresAt.toISOString());
      const listed = (await restarted.list()).find((i) => i.id === a.id);
      expect(listed).toMatchObject({
        kind: "docker",
        orgId: s.orgId,
        repositoryId: s.repositoryId,
        state: "running",
        createdAt: a.createdAt,
        expiresAt: a.expiresAt,
      });

      const other = await driver.ensure(spec(s.orgId, randomUUID()));
      expect(other.id).not.toBe(a.id);
    });

    it("kills the sandbox when a command overruns its timeout; the next ensure recreates it", async () => {
      const s = spec(newOrg(), randomUUID());
      const handle = await driver.ensure(s);
      const started = Date.now();
      const result = await driver.exec(handle, ["sleep", "30"], { timeoutMs: 1500, maxOutputBytes: 1024 });
      const elapsed = Date.now() - started;
      expect(result.timedOut).toBe(true);
      expect(result.exitCode).toBeNull();
      expect(elapsed).toBeGreaterThanOrEqual(1400);
      expect(elapsed).toBeLessThan(10_000);
      const info = await probe.docker.getContainer(handle.id).inspect();
      expect(info.State.Running).toBe(false);
      expect(logs.some((l) => l.level === "warn" && /timed out/.test(l.msg))).toBe(true);

      await expect(driver.exec(handle, ["true"], { timeoutMs: 5000, maxOutputBytes: 1024 })).rejects.toThrow(
        SandboxError,
      );
      const fresh = await driver.ensure(s);
      expect(fresh.id).not.toBe(handle.id);
      const ok = await driver.exec(fresh, ["id", "-u"], { timeoutMs: 10_000, maxOutputBytes: 1024 });
      expect(ok).toMatchObject({ exitCode: 0, timedOut: false });
      expect(text(ok.stdout).trim()).toBe("10001");
    });

    it("expires after its TTL: ensure recreates it and the reaper removes it", async () => {
      const s = spec(newOrg(), randomUUID(), 1);
      const first = await driver.ensure(s);
      expect(first.expiresAt.getTime() - first.createdAt.getTime()).toBe(1);
      await new Promise((r) => setTimeout(r, 20));
      const second = await driver.ensure(s);
      expect(second.id).not.toBe(first.id);
      await expect(probe.docker.getContainer(first.id).inspect()).rejects.toMatchObject({ statusCode: 404 });

      await new Promise((r) => setTimeout(r, 20));
      expect((await driver.list()).find((i) => i.id === second.id)?.state).toBe("expired");
      const { removed } = await driver.reap(new Date());
      expect(removed).toContain(second.id);
      await expect(probe.docker.getContainer(second.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
    });

    it("reaps orphans (mirror gone, incomplete labels) and leaves live and unmanaged containers alone", async () => {
      const live = await driver.ensure(spec(newOrg(), randomUUID()));

      const doomed = makeGitFixture("causeway-sandbox-orphan-mirror-");
      const orphan = await driver.ensure(spec(newOrg(), randomUUID(), HOUR, doomed.mirrorPath));
      doomed.cleanup();

      const unlabeled = await probe.docker.createContainer({
        Image: probe.image,
        Cmd: ["sleep", "infinity"],
        Labels: { [SANDBOX_LABELS.managed]: "true", [SANDBOX_LABELS.org]: newOrg() },
        HostConfig: { NetworkMode: "none" },
      });
      foreignContainers.push(unlabeled.id);
      await unlabeled.start();
      const unmanaged = await probe.docker.createContainer({
        Image: probe.image,
        Cmd: ["sleep", "infinity"],
        HostConfig: { NetworkMode: "none" },
      });
      foreignContainers.push(unmanaged.id);
      await unmanaged.start();

      const states = new Map((await driver.list()).map((i) => [i.id, i]));
      expect(states.get(orphan.id)).toMatchObject({
        state: "orphaned",
        reason: "the mirror no longer exists",
      });
      expect(states.get(unlabeled.id)?.state).toBe("orphaned");
      expect(states.get(unlabeled.id)?.reason).toMatch(/causeway\.repository/);
      expect(states.get(live.id)?.state).toBe("running");
      expect(states.has(unmanaged.id)).toBe(false);

      const { removed } = await driver.reap(new Date());
      expect(removed).toEqual(expect.arrayContaining([orphan.id, unlabeled.id]));
      expect(removed).not.toContain(live.id);
      expect(removed).not.toContain(unmanaged.id);
      expect((await probe.docker.getContainer(live.id).inspect()).State.Running).toBe(true);
      expect((await probe.docker.getContainer(unmanaged.id).inspect()).State.Running).toBe(true);

      await driver.remove(live);
      await expect(probe.docker.getContainer(live.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
    });

    it("refuses a missing mirror and names the missing image", async () => {
      await expect(
        driver.ensure(spec(newOrg(), randomUUID(), HOUR, path.join(fixture.root, "no-such-mirror.git"))),
      ).rejects.toMatchObject({ name: "SandboxError", retryable: false });
      const noImage = new DockerSandboxDriver({
        docker: probe.docker,
        image: "causeway-sandbox-absent:never",
      });
      const error = await noImage.ensure(spec(newOrg(), randomUUID())).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SandboxError);
      expect((error as SandboxError).detail).toMatch(/causeway-sandbox-absent:never.*build-offline\.sh/);
    });
  });
});
