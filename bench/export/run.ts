/**
 * Evidence export benchmark: an org with 100,000 anomalies (over 365 days, 30 % attributed, half
 * resolved) and 1,000,000 audit entries; a 365-day CC7.1 JSON export through the real CLI
 * (`causeway export`, the code path of GET /api/v1/compliance/cc7.1), then `causeway verify` offline.
 * Wall time and peak RSS come from /usr/bin/time -v around each CLI process.
 *
 *   npx tsx bench/export/run.ts     (BENCH_DATABASE_URL or TEST_DATABASE_URL; BENCH_ANOMALIES,
 *                                    BENCH_AUDIT_ENTRIES to scale down)
 *
 * BENCH_TEMPLATE=NAME seeds once into a database NAME that is kept (its org id and bench keys in the
 * database's comment) and, when NAME already exists, skips seeding and copies it instead (CREATE DATABASE
 * … TEMPLATE, then CHECKPOINT): the timed runs always start from a freshly seeded log. Drop NAME by hand
 * (`drop database NAME`) after a migration or a change to the seed.
 *
 * Seeding: anomalies and attributions with one generate_series INSERT each; audit entries through
 * appendAuditBatch in 10,000-entry transactions (the leaf hashes and tree nodes must be real for the
 * proofs to verify, so they are computed, not faked).
 */
import { spawn } from "node:child_process";
import { mkdtemp, stat } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { createDatabase, withOrg } from "../../db/client.ts";
import { runMigrations } from "../../db/migrate.ts";
import { createOrgWithOwner } from "../../src/accounts/orgs.ts";
import { systemContext } from "../../src/context.ts";
import { appendAuditBatch } from "../../src/evidence/audit.ts";
import { parseCheckpointKey } from "../../src/evidence/signer.ts";
import { generateKeys } from "../../src/keys.ts";
import { withDatabase } from "../../test/harness/database-url.ts";
import { CLI, REPO_ROOT } from "../../test/harness/process.ts";

const ANOMALIES = Number(process.env.BENCH_ANOMALIES ?? 100_000);
const AUDIT_ENTRIES = Number(process.env.BENCH_AUDIT_ENTRIES ?? 1_000_000);
const BATCH = 10_000;

interface Timed {
  code: number | null;
  wallSeconds: number;
  maxRssMb: number;
  stdout: string;
  stderr: string;
}

function timed(args: string[], env: Record<string, string>): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn("/usr/bin/time", ["-v", process.execPath, CLI, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", LOG_LEVEL: "warn", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
      resolve({
        code,
        wallSeconds: (performance.now() - started) / 1000,
        maxRssMb: rss ? Math.round(Number(rss[1]) / 1024) : Number.NaN,
        stdout,
        stderr: stderr.replace(/\n\tCommand being timed[\s\S]*$/, ""),
      });
    });
  });
}

/** What a kept template database remembers of its seeding (stored as the database's comment). */
interface Seeded {
  orgId: string;
  keys: ReturnType<typeof generateKeys>;
  anomalies: number;
  auditEntries: number;
}

async function main() {
  const admin = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (!admin)
    throw new Error("set BENCH_DATABASE_URL or TEST_DATABASE_URL (a server where we may create a database)");
  const template = process.env.BENCH_TEMPLATE;
  if (template && !/^[a-z_][a-z0-9_]*$/.test(template))
    throw new Error("BENCH_TEMPLATE: lower-case identifier");
  const adminSql = postgres(withDatabase(admin, "postgres"), { max: 1, onnotice: () => {} });
  const [kept] = template
    ? await adminSql<[{ comment: string | null }?]>`
        select shobj_description(oid, 'pg_database') as comment from pg_database where datname = ${template}`
    : [];
  const reused = kept?.comment ? (JSON.parse(kept.comment) as Seeded) : null;
  if (kept && !reused) throw new Error(`database ${template} exists but holds no bench seed (drop it)`);
  if (reused && (reused.anomalies !== ANOMALIES || reused.auditEntries !== AUDIT_ENTRIES))
    throw new Error(`template ${template} was seeded with other sizes (drop it)`);
  const name = `bench_export_${Date.now()}`;
  await adminSql.unsafe(reused ? `create database ${name} template ${template}` : `create database ${name}`);
  const url = withDatabase(admin, name);
  if (!reused) await runMigrations(url, "causeway_app");
  const db = createDatabase({ url, appRole: "causeway_app", poolMax: 4 });
  const keys = reused?.keys ?? generateKeys();
  const env = {
    DATABASE_URL: url,
    CAUSEWAY_MASTER_KEYS: keys.masterKeys,
    CAUSEWAY_SESSION_KEYS: keys.sessionKeys,
    CAUSEWAY_CHECKPOINT_KEY: keys.checkpointKey,
  };
  try {
    const { orgId, seededAnomalies, seededAudit } = reused
      ? { orgId: reused.orgId, seededAnomalies: null, seededAudit: null }
      : await seed(db);
    // A copied database's pages are written back by the next checkpoint: pay for it before timing.
    await db.ownerSql`checkpoint`.catch(() => undefined);
    if (template && !reused) {
      await db.close(2);
      const seeded: Seeded = { orgId, keys, anomalies: ANOMALIES, auditEntries: AUDIT_ENTRIES };
      await adminSql.unsafe(`alter database ${name} rename to ${template}`);
      await adminSql.unsafe(
        `comment on database ${template} is '${JSON.stringify(seeded).replaceAll("'", "''")}'`,
      );
      await adminSql.unsafe(`create database ${name} template ${template}`);
      await adminSql`checkpoint`.catch(() => undefined);
      return await timedRuns(createDatabase({ url, appRole: "causeway_app", poolMax: 4 }), orgId, keys, env, {
        seededAnomalies,
        seededAudit,
      });
    }
    return await timedRuns(db, orgId, keys, env, { seededAnomalies, seededAudit });
  } finally {
    if (!process.env.BENCH_KEEP_DATABASE)
      await adminSql.unsafe(`drop database if exists ${name} with (force)`);
    await adminSql.end();
  }
}

async function seed(
  db: ReturnType<typeof createDatabase>,
): Promise<{ orgId: string; seededAnomalies: number; seededAudit: number }> {
  {
    const { org } = await createOrgWithOwner(db, { name: "Bench", ownerEmail: "bench@example.test" });
    const t0 = performance.now();
    const sql = db.ownerSql;
    // 100k anomalies spread over the last 365 days; 30 % attributed to a suspect PR; half resolved.
    await sql`
      insert into anomalies (org_id, fingerprint, kind, source, title, severity, status, service, environment,
        error_type, labels, first_seen_at, detected_at, last_seen_at, resolved_at)
      select ${org.id}, 'bench-' || g, 'error', 'sentry', 'TypeError in handler ' || (g % 500), 'high',
        (case when g % 2 = 0 then 'resolved' else 'open' end)::anomaly_status, 'svc-' || (g % 20), 'production',
        'TypeError', jsonb_build_object('team', 'team-' || (g % 7)),
        now() - interval '364 days' + (g * interval '1 second' * 314) - interval '90 seconds',
        now() - interval '364 days' + (g * interval '1 second' * 314),
        now() - interval '364 days' + (g * interval '1 second' * 314),
        case when g % 2 = 0 then now() - interval '364 days' + (g * interval '1 second' * 314) + interval '40 minutes' end
      from generate_series(1, ${ANOMALIES}::int) g`;
    await sql`
      insert into attributions (org_id, anomaly_id, status, suspects, ticket, confidence, reasoning, reasoning_source)
      select a.org_id, a.id, 'done',
        jsonb_build_array(jsonb_build_object('rank', 1, 'changeId', null, 'candidateId', 'c', 'prNumber', 1000 + (n % 900),
          'title', 'Refactor handler', 'author', jsonb_build_object('login', 'dev' || (n % 30)),
          'mergedAt', (a.detected_at - interval '2 hours'), 'mergeSha', md5(a.id::text) || 'abcdabcd', 'htmlUrl',
          'https://github.example/acme/app/pull/' || (1000 + n % 900), 'score', 0.8,
          'facts', jsonb_build_array(jsonb_build_object('feature', 'stack_overlap', 'weight', 0.4, 'value', 1,
            'sentence', 'The change edits src/handler.ts, which is in the stack trace.',
            'pointers', jsonb_build_array(jsonb_build_object('file', 'src/handler.ts', 'line', 42)))),
          'ticket', jsonb_build_object('key', 'APP-' || (n % 400), 'summary', 'Handler work', 'status', 'Done',
            'linkSource', 'explicit'))),
        jsonb_build_object('key', 'APP-' || (n % 400), 'summary', 'Handler work', 'status', 'Done', 'linkSource', 'explicit'),
        '{"level": "high", "score": 0.8}'::jsonb, 'PR changed src/handler.ts two hours before the error started.',
        'deterministic'
      from (select id, org_id, detected_at, row_number() over (order by detected_at) as n from anomalies
            where org_id = ${org.id}) a
      where a.n % 10 < 3`;
    const seededAnomalies = (performance.now() - t0) / 1000;

    const t1 = performance.now();
    const ctx = systemContext(org.id, "bench");
    for (let done = 0; done < AUDIT_ENTRIES; done += BATCH) {
      const n = Math.min(BATCH, AUDIT_ENTRIES - done);
      await withOrg(db, org.id, (tx) =>
        appendAuditBatch(
          tx,
          ctx,
          Array.from({ length: n }, (_, i) => ({
            action: i % 50 === 0 ? "incident.acknowledge" : "bench.event",
            subjectType: "thing",
            subjectId: String(done + i),
            data: { i: done + i, note: "seeded audit entry" },
          })),
        ),
      );
      if ((done / BATCH) % 10 === 0) process.stderr.write(`audit entries: ${done + n}\n`);
    }
    const seededAudit = (performance.now() - t1) / 1000;
    await sql`vacuum analyze`;
    // Flush the seeding's ~1.5 GB of writes now, so the timed runs do not pay for the seed's write-back
    // (needs a superuser; skipped otherwise).
    await sql`checkpoint`.catch(() => undefined);
    return { orgId: org.id, seededAnomalies, seededAudit };
  }
}

async function timedRuns(
  db: ReturnType<typeof createDatabase>,
  orgId: string,
  keys: ReturnType<typeof generateKeys>,
  env: Record<string, string>,
  seeded: { seededAnomalies: number | null; seededAudit: number | null },
): Promise<void> {
  try {
    const sql = db.ownerSql;
    const dir = await mkdtemp(path.join(tmpdir(), "causeway-bench-export-"));
    const vkey = parseCheckpointKey(keys.checkpointKey).verifierKey;
    const runs: Array<Record<string, unknown>> = [];
    for (const label of [
      "first export (records every row as an audit entry)",
      "second export (rows unchanged: entries reused)",
    ]) {
      const out = path.join(dir, `${runs.length}.json`);
      const exp = await timed(["export", "cc7.1", "--org", orgId, "--period", "365", "--out", out], env);
      if (exp.code !== 0) throw new Error(`export failed: ${exp.stderr}`);
      const size = (await stat(out)).size;
      const ver = await timed(["verify", out, "--key", vkey], {});
      if (ver.code !== 0) throw new Error(`verify failed: ${ver.stderr}`);
      runs.push({
        label,
        rows: /Wrote (\d+)/.exec(exp.stdout)?.[1],
        bundleMb: Math.round(size / 1024 / 1024),
        exportSeconds: Number(exp.wallSeconds.toFixed(1)),
        exportMaxRssMb: exp.maxRssMb,
        verifySeconds: Number(ver.wallSeconds.toFixed(1)),
        verifyMaxRssMb: ver.maxRssMb,
      });
    }
    const [{ size }] = await sql<
      [{ size: string }]
    >`select size::text from audit_heads where org_id = ${orgId}`;
    process.stdout.write(
      `${JSON.stringify(
        {
          anomalies: ANOMALIES,
          auditEntriesSeeded: AUDIT_ENTRIES,
          auditLogSizeAfter: Number(size),
          seedSeconds:
            seeded.seededAnomalies === null || seeded.seededAudit === null
              ? `copied from template ${process.env.BENCH_TEMPLATE}`
              : {
                  anomalies: Number(seeded.seededAnomalies.toFixed(1)),
                  audit: Number(seeded.seededAudit.toFixed(1)),
                },
          loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
          runs,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await db.close(2);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
