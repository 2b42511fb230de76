/**
 * Operating the sandboxes: the scheduled `sandbox.reap` job (registered with its cron schedule by the real
 * job runner, and removing expired sandboxes while keeping live ones), and the readiness endpoint saying
 * which sandbox driver runs attribution's git work.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { LocalSandboxDriver } from "../../sandbox/local-driver.ts";
import { SANDBOX_REAP_CRON, SANDBOX_REAP_JOB, sandboxReapJob } from "../../src/attribution/job.ts";
import { jsonOf, useTestApp } from "../harness/app.ts";

describe("sandbox operations", async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "causeway-sandbox-ops-"));
  const t = await useTestApp({ CAUSEWAY_DATA_DIR: dataDir, CAUSEWAY_SANDBOX_DRIVER: "local" });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("readiness reports the local driver loudly, without failing readiness", async () => {
    const res = await t.request("/health/ready");
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expect(body.status).toBe("ready");
    expect(body.checks.sandbox).toEqual({
      ok: true,
      detail: "local driver: git runs unisolated on the server (no Docker)",
    });
  });

  it("the job runner schedules sandbox.reap on its cron", async () => {
    const rows = await t.database.db.ownerSql<{ name: string; cron: string }[]>`
      select name, cron from pgboss.schedule where name = ${SANDBOX_REAP_JOB}`;
    expect(rows).toEqual([{ name: SANDBOX_REAP_JOB, cron: SANDBOX_REAP_CRON }]);
  });

  it("the reap job removes expired and orphaned sandboxes and keeps live ones", async () => {
    let now = new Date("2026-06-01T10:00:00Z");
    const logs: string[] = [];
    const logger = pino({ level: "info" }, {
      write: (s: string) => void logs.push(s),
    } as unknown as pino.DestinationStream);
    const driver = new LocalSandboxDriver({ logger, now: () => now });
    const mirror = await mkdtemp(path.join(tmpdir(), "causeway-reap-mirror-"));
    const gone = await mkdtemp(path.join(tmpdir(), "causeway-reap-gone-"));
    try {
      const orgId = randomUUID();
      const short = await driver.ensure({
        orgId,
        repositoryId: randomUUID(),
        mirrorPath: mirror,
        ttlMs: 60_000,
      });
      const long = await driver.ensure({
        orgId,
        repositoryId: randomUUID(),
        mirrorPath: mirror,
        ttlMs: 2 * 3_600_000,
      });
      const orphan = await driver.ensure({
        orgId,
        repositoryId: randomUUID(),
        mirrorPath: gone,
        ttlMs: 2 * 3_600_000,
      });
      await rm(gone, { recursive: true, force: true });
      now = new Date(now.getTime() + 10 * 60_000);

      const job = sandboxReapJob({ sandbox: driver, logger }, () => now);
      expect(job.cron).toBe(SANDBOX_REAP_CRON);
      await job.handler({}, { jobId: "j1", attempt: 0, signal: new AbortController().signal });

      const left = (await driver.list()).map((s) => s.id);
      expect(left).toEqual([long.id]);
      expect(left).not.toContain(short.id);
      expect(left).not.toContain(orphan.id);
      expect(logs.join("")).toContain('"removed":2');
    } finally {
      await rm(mirror, { recursive: true, force: true });
    }
  });
});
