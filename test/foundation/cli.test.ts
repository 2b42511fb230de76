import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { authenticateApiKey } from "../../src/accounts/authenticate.ts";
import { generateKeys } from "../../src/keys.ts";
import { useTestDatabase } from "../harness/db.ts";
import { freePort, runCli, startCli, waitForHttp } from "../harness/process.ts";

describe("causeway CLI", async () => {
  const { url, db } = await useTestDatabase();
  const keys = generateKeys();
  const keyEnv = {
    CAUSEWAY_MASTER_KEYS: keys.masterKeys,
    CAUSEWAY_SESSION_KEYS: keys.sessionKeys,
    CAUSEWAY_CHECKPOINT_KEY: keys.checkpointKey,
  };

  it("refuses to serve on DATABASE_URL without keys, naming each variable", async () => {
    const result = await runCli(["serve"], { DATABASE_URL: url, CAUSEWAY_MASTER_KEYS: keys.masterKeys });
    expect(result.code).toBe(78);
    expect(result.stderr).toMatch(/CAUSEWAY_SESSION_KEYS/);
    expect(result.stderr).toMatch(/CAUSEWAY_CHECKPOINT_KEY/);
    expect(result.stderr).not.toMatch(/CAUSEWAY_MASTER_KEYS/);
  });

  it("exits non-zero naming the variable when config is wrong", async () => {
    const result = await runCli(["migrate"], { PORT: "eighty", DATABASE_URL: "mysql://u:topsecret@h/db" });
    expect(result.code).toBe(78);
    expect(result.stderr).toMatch(/PORT/);
    expect(result.stderr).toMatch(/DATABASE_URL/);
    expect(result.stderr).not.toContain("topsecret");
  });

  it("rejects unknown commands with usage", async () => {
    const result = await runCli(["frobnicate"], {});
    expect(result.code).toBe(64);
    expect(result.stderr).toMatch(/unknown command/);
    expect(result.stderr).toMatch(/Usage: causeway/);
  });

  it("creates an org with an owner and a working API key", async () => {
    const result = await runCli(["orgs", "create", "--name", "Acme", "--owner", "Ops@Acme.test", "--json"], {
      DATABASE_URL: url,
    });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const created = JSON.parse(result.stdout);
    expect(created).toEqual({
      org: { id: expect.any(String), name: "Acme" },
      owner: { id: expect.any(String), email: "ops@acme.test" },
      apiKey: expect.stringMatching(/^cw_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}$/),
    });
    const ctx = await authenticateApiKey(db, created.apiKey);
    expect(ctx).toMatchObject({ orgId: created.org.id, role: "owner" });
    // Stored hashed: the key itself is nowhere in the table.
    const rows = await db.ownerSql`select * from api_keys where org_id = ${created.org.id}`;
    expect(JSON.stringify(rows)).not.toContain(created.apiKey);
  });

  it("validates orgs create input", async () => {
    const result = await runCli(["orgs", "create", "--name", "X", "--owner", "not-an-email"], {
      DATABASE_URL: url,
    });
    expect(result.code).toBe(65);
    expect(result.stderr).toMatch(/ownerEmail/);
  });

  it("serves, reports ready and stops gracefully on SIGTERM within 10 s", async () => {
    const port = await freePort();
    const server = startCli(["serve", "--port", String(port)], { DATABASE_URL: url, ...keyEnv });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/health/ready`, 30_000);
      const stopped = await server.stop("SIGTERM");
      expect(stopped.code).toBe(0);
      expect(stopped.ms).toBeLessThan(10_000);
      expect(server.output()).toMatch(/"msg":"stopped"/);
    } finally {
      await server.stop("SIGKILL");
    }
  });

  it("runs a worker-only process that stops on SIGINT", async () => {
    const worker = startCli(["worker"], { DATABASE_URL: url, ...keyEnv });
    try {
      const deadline = Date.now() + 30_000;
      while (!/causeway worker running/.test(worker.output()) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(worker.output()).toMatch(/causeway worker running/);
      const stopped = await worker.stop("SIGINT");
      expect(stopped.code).toBe(0);
      expect(stopped.ms).toBeLessThan(10_000);
    } finally {
      await worker.stop("SIGKILL");
    }
  });
});

describe("embedded default", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("starts a real Postgres in the data dir, is ready within 60 s, keeps data across restarts and shares it with the CLI", {
    timeout: 240_000,
  }, async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "causeway-embedded-"));
    dirs.push(dataDir);
    const env = { CAUSEWAY_DATA_DIR: dataDir, CAUSEWAY_EMBEDDED_PG_PORT: String(await freePort()) };
    const port = await freePort();
    const first = startCli(["serve", "--port", String(port)], env);
    let created: { org: { id: string }; apiKey: string };
    try {
      const started = Date.now();
      await waitForHttp(`http://127.0.0.1:${port}/health/ready`, 60_000);
      expect(Date.now() - started).toBeLessThan(60_000);
      expect((await stat(path.join(dataDir, "postgres", "PG_VERSION"))).isFile()).toBe(true);
      // Keys the operator did not configure were generated once, readable by the owner only.
      const keyFile = await stat(path.join(dataDir, "keys.json"));
      expect(keyFile.mode & 0o777).toBe(0o600);
      expect(first.output()).toMatch(/generated a key for the embedded default/);
      const stopped = await first.stop();
      expect(stopped.code).toBe(0);
    } finally {
      await first.stop("SIGKILL");
    }
    const org = await runCli(
      ["orgs", "create", "--name", "Persisted", "--owner", "p@example.test", "--json"],
      env,
    );
    expect(org.code).toBe(0);
    created = JSON.parse(org.stdout);
    const second = startCli(["serve", "--port", String(port)], env);
    try {
      await waitForHttp(`http://127.0.0.1:${port}/health/ready`, 60_000);
      const me = await fetch(`http://127.0.0.1:${port}/api/v1/me`, {
        headers: { authorization: `Bearer ${created.apiKey}` },
      });
      expect(me.status).toBe(200);
      expect(((await me.json()) as { orgId: string }).orgId).toBe(created.org.id);
      // An operator's CLI beside the running server shares its Postgres and leaves it running.
      const beside = await runCli(
        ["orgs", "create", "--name", "Beside", "--owner", "b@example.test", "--json"],
        env,
      );
      expect(beside.code).toBe(0);
      const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
      expect(ready.status).toBe(200);
      const besideMe = await fetch(`http://127.0.0.1:${port}/api/v1/me`, {
        headers: { authorization: `Bearer ${JSON.parse(beside.stdout).apiKey}` },
      });
      expect(besideMe.status).toBe(200);
    } finally {
      expect((await second.stop()).code).toBe(0);
    }
  });
});
