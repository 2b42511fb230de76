import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog, changes, repositories } from "../../db/schema/index.ts";
import { CHANGES_JOB_NAMES, changesJobs, MIRROR_REFRESH_MS, SYNC_DUE_CRON } from "../../src/changes/jobs.ts";
import { GitFixture } from "./git-fixture.ts";
import { createRepo, makeTestOrg, syncRepo, useChangesApp } from "./harness.ts";

describe("mirrors refreshed on a schedule", async () => {
  const { t, deps } = await useChangesApp();
  const db = t.database.db;
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });
  const fixture = async () => {
    const git = await GitFixture.create();
    cleanups.push(() => git.remove());
    return git;
  };
  const repoRow = async (orgId: string, id: string) =>
    (await withOrg(db, orgId, (tx) => tx.select().from(repositories).where(eq(repositories.id, id))))[0]!;
  const rowCount = async (orgId: string, id: string) =>
    (await withOrg(db, orgId, (tx) => tx.select().from(changes).where(eq(changes.repositoryId, id)))).length;

  it("registers changes.sync-due with pg-boss's cron (UTC) when the job runner starts", async () => {
    // useTestApp started the app's JobRunner, as `serve` and `worker` do.
    const rows = await db.owner.execute<{ name: string; cron: string; timezone: string }>(
      sql`select name, cron, timezone from pgboss.schedule order by name`,
    );
    expect(rows.map((r) => ({ ...r }))).toContainEqual({
      name: CHANGES_JOB_NAMES.syncDue,
      cron: SYNC_DUE_CRON,
      timezone: "UTC",
    });
    // Only jobs that declare a cron are scheduled.
    expect(rows.map((r) => r.name)).not.toContain(CHANGES_JOB_NAMES.sync);
    expect(SYNC_DUE_CRON).toBe("*/5 * * * *");
  });

  it("syncs what is due (never fetched, older than the interval, marked stale by a push), skips fresh mirrors, and survives a broken one", async () => {
    const org = await makeTestOrg(t);
    const fresh = await fixture();
    await fresh.commit("Initial\n", { "a.ts": "1\n" });
    const never = await fixture();
    await never.commit("Initial\n", { "b.ts": "1\n" });
    await never.squashPr(7, "Never synced yet", { "b.ts": "2\n" });
    const old = await fixture();
    await old.commit("Initial\n", { "c.ts": "1\n" });
    const pushed = await fixture();
    await pushed.commit("Initial\n", { "d.ts": "1\n" });
    const missing = await mkdtemp(path.join(tmpdir(), "causeway-gone-"));
    await rm(missing, { recursive: true, force: true });

    const freshRepo = await createRepo(t, org.admin, { name: "fresh", url: fresh.dir });
    const neverRepo = await createRepo(t, org.admin, { name: "never", url: never.dir });
    const oldRepo = await createRepo(t, org.admin, { name: "old", url: old.dir });
    const pushedRepo = await createRepo(t, org.admin, { name: "pushed", url: pushed.dir });
    const brokenRepo = await createRepo(t, org.admin, { name: "broken", url: missing });
    for (const r of [freshRepo, oldRepo, pushedRepo]) {
      expect((await syncRepo(t, org.admin, r.id)).status).toBe(200);
    }
    // New commits upstream of every synced repository: only a sync imports them.
    await fresh.squashPr(1, "Fresh change", { "a.ts": "2\n" });
    await old.squashPr(2, "Old change", { "c.ts": "2\n" });
    await pushed.squashPr(3, "Pushed change", { "d.ts": "2\n" });
    await db.owner
      .update(repositories)
      .set({ lastFetchedAt: new Date(Date.now() - MIRROR_REFRESH_MS - 60_000) })
      .where(eq(repositories.id, oldRepo.id));
    // What a push webhook does (sync.ts markMirrorStale): the next scheduled run must fetch.
    await db.owner
      .update(repositories)
      .set({ lastFetchedAt: null })
      .where(eq(repositories.id, pushedRepo.id));
    const freshFetchedAt = (await repoRow(org.orgId, freshRepo.id)).lastFetchedAt;

    const job = changesJobs(deps).find((d) => d.name === CHANGES_JOB_NAMES.syncDue)!;
    expect(job.cron).toBe(SYNC_DUE_CRON);
    // The scheduled job carries an empty payload; the schema supplies the refresh interval.
    const payload = job.payload.parse({});
    expect(payload).toEqual({ olderThanMs: MIRROR_REFRESH_MS });
    await job.handler(payload, { jobId: "scheduled", attempt: 0, signal: new AbortController().signal });

    expect((await repoRow(org.orgId, freshRepo.id)).lastFetchedAt).toEqual(freshFetchedAt);
    expect(await rowCount(org.orgId, freshRepo.id)).toBe(1);
    expect(await rowCount(org.orgId, neverRepo.id)).toBe(2);
    expect(await rowCount(org.orgId, oldRepo.id)).toBe(2);
    expect(await rowCount(org.orgId, pushedRepo.id)).toBe(2);
    for (const id of [neverRepo.id, oldRepo.id, pushedRepo.id]) {
      const row = await repoRow(org.orgId, id);
      expect(row.lastFetchError).toBeNull();
      expect(row.lastFetchedAt!.getTime()).toBeGreaterThan(Date.now() - 60_000);
    }
    const broken = await repoRow(org.orgId, brokenRepo.id);
    expect(broken.lastFetchedAt).toBeNull();
    expect(broken.lastFetchError).toMatch(/not a git repository, or it does not exist/);

    const synced = await withOrg(db, org.orgId, (tx) =>
      tx
        .select({ subjectId: auditLog.subjectId, data: auditLog.data })
        .from(auditLog)
        .where(and(eq(auditLog.orgId, org.orgId), eq(auditLog.action, "repository.synced"))),
    );
    const bySchedule = synced.filter((a) => (a.data as { reason?: string }).reason === "schedule");
    expect(bySchedule.map((a) => a.subjectId).sort()).toEqual(
      [neverRepo.id, oldRepo.id, pushedRepo.id].sort(),
    );

    // Run again at once: nothing is due any more except the broken one, which fails again quietly.
    await job.handler(job.payload.parse({}), {
      jobId: "again",
      attempt: 0,
      signal: new AbortController().signal,
    });
    const again = await withOrg(db, org.orgId, (tx) =>
      tx
        .select({ data: auditLog.data })
        .from(auditLog)
        .where(and(eq(auditLog.orgId, org.orgId), eq(auditLog.action, "repository.synced"))),
    );
    expect(again).toHaveLength(synced.length);
  });
});
