import { execFileSync } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog } from "../../db/schema/index.ts";
import { systemContext } from "../../src/context.ts";
import { appendAudit } from "../../src/evidence/audit.ts";
import { entryLeafHash } from "../../src/evidence/audit-tree.ts";
import { openCheckpoint } from "../../src/evidence/checkpoint.ts";
import { GitCheckpointPublisher } from "../../src/evidence/checkpoint-git.ts";
import { orgsNeedingCheckpoint, refreshCheckpoint } from "../../src/evidence/checkpoints.ts";
import { leafHashOfCanonical } from "../../src/evidence/entry.ts";
import { rootFromLeaves, verifyConsistency, verifyInclusion } from "../../src/evidence/merkle.ts";
import { checkpointDue } from "../../src/evidence/scheduler.ts";
import { originOf, parseCheckpointKey } from "../../src/evidence/signer.ts";
import { createLogger } from "../../src/telemetry/logger.ts";
import { jsonOf, useTestApp } from "../harness/app.ts";
import { makeApiKey, makeOrg } from "../harness/factories.ts";

const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, "base64"));

describe("audit checkpoints and proofs", async () => {
  const t = await useTestApp();
  const db = t.database.db;

  async function addEntries(orgId: string, n: number) {
    for (let i = 0; i < n; i++) {
      await withOrg(db, orgId, (tx) =>
        appendAudit(tx, systemContext(orgId, "test"), {
          action: "test.entry",
          subjectType: "thing",
          data: { i },
        }),
      );
    }
  }

  it("signs a checkpoint over the org's whole log that verifies with the served key", async () => {
    const { org } = await makeOrg(db);
    const member = await makeApiKey(db, org.id, "member");
    const keys = await jsonOf(await t.request("/api/v1/audit/keys", { apiKey: member.key }));
    expect(keys.keys).toHaveLength(1);
    expect(keys.keys[0].vkey).toBe(parseCheckpointKey(t.keys.checkpointKey).verifierKey);

    const res = await t.request("/api/v1/audit/checkpoint", { apiKey: member.key });
    expect(res.status).toBe(200);
    const cp = await jsonOf(res);
    const opened = openCheckpoint(cp.note, [keys.keys[0].vkey], { origin: originOf(org.id) });
    const rows = await withOrg(db, org.id, (tx) => tx.select().from(auditLog).orderBy(auditLog.seq));
    expect(opened.size).toBe(BigInt(rows.length));
    expect(cp.size).toBe(String(rows.length));
    expect(Buffer.from(opened.rootHash).toString("base64")).toBe(cp.rootHash);
    expect(opened.rootHash).toEqual(rootFromLeaves(rows.map(entryLeafHash)));

    // Unchanged log: the same checkpoint, not a new signature.
    const again = await jsonOf(await t.request("/api/v1/audit/checkpoint", { apiKey: member.key }));
    expect(again.note).toBe(cp.note);
    // The log grew: a fresh, larger one.
    await addEntries(org.id, 3);
    const grown = await jsonOf(await t.request("/api/v1/audit/checkpoint", { apiKey: member.key }));
    expect(BigInt(grown.size)).toBe(BigInt(cp.size) + 3n);
  });

  it("serves inclusion and consistency proofs only for sizes of stored signed checkpoints", async () => {
    const { org, apiKey } = await makeOrg(db);
    await addEntries(org.id, 4);
    const first = await jsonOf(await t.request("/api/v1/audit/checkpoint", { apiKey }));
    await addEntries(org.id, 5);
    const second = await jsonOf(await t.request("/api/v1/audit/checkpoint", { apiKey }));
    const size = BigInt(second.size);

    for (let index = 0n; index < size; index++) {
      const res = await t.request(`/api/v1/audit/proof/inclusion?index=${index}&size=${size}`, { apiKey });
      expect(res.status).toBe(200);
      const body = await jsonOf(res);
      expect(body.entry.seq).toBe(String(index));
      const leaf = leafHashOfCanonical(body.entry);
      expect(Buffer.from(leaf).toString("base64")).toBe(body.leafHash);
      expect(verifyInclusion(leaf, index, size, body.proof.map(bytes), bytes(second.rootHash))).toBe(true);
    }

    // A size nobody signed is refused, even though a proof for it could be computed.
    const unsigned = await t.request(`/api/v1/audit/proof/inclusion?index=0&size=${size - 1n}`, { apiKey });
    expect(unsigned.status).toBe(404);
    expect((await jsonOf(unsigned)).code).toBe("not_found");
    const beyond = await t.request(`/api/v1/audit/proof/inclusion?index=${size}&size=${size}`, { apiKey });
    expect(beyond.status).toBe(400);
    const bad = await t.request("/api/v1/audit/proof/inclusion?index=01&size=x", { apiKey });
    expect(bad.status).toBe(400);
    expect((await jsonOf(bad)).code).toBe("validation_failed");

    const cons = await t.request(`/api/v1/audit/proof/consistency?from=${first.size}&to=${second.size}`, {
      apiKey,
    });
    expect(cons.status).toBe(200);
    const proof = await jsonOf(cons);
    expect(
      verifyConsistency(
        BigInt(first.size),
        size,
        proof.proof.map(bytes),
        bytes(first.rootHash),
        bytes(second.rootHash),
      ),
    ).toBe(true);
    expect(proof.fromCheckpoint.note).toBe(first.note);
    const unsignedFrom = await t.request(`/api/v1/audit/proof/consistency?from=2&to=${second.size}`, {
      apiKey,
    });
    expect(unsignedFrom.status).toBe(404);
    const backwards = await t.request(
      `/api/v1/audit/proof/consistency?from=${second.size}&to=${first.size}`,
      {
        apiKey,
      },
    );
    expect(backwards.status).toBe(400);
  });

  it("never serves another org's entries or checkpoints", async () => {
    const a = await makeOrg(db);
    const b = await makeOrg(db);
    await addEntries(b.org.id, 20);
    const cpB = await jsonOf(await t.request("/api/v1/audit/checkpoint", { apiKey: b.apiKey }));
    // Org A has no checkpoint of B's size, and its proofs come from its own tree.
    const res = await t.request(`/api/v1/audit/proof/inclusion?index=10&size=${cpB.size}`, {
      apiKey: a.apiKey,
    });
    expect(res.status).toBe(404);
    const cpA = await jsonOf(await t.request("/api/v1/audit/checkpoint", { apiKey: a.apiKey }));
    expect(cpA.origin).toBe(originOf(a.org.id));
    expect(cpA.rootHash).not.toBe(cpB.rootHash);
  });

  it("finds orgs whose log grew and publishes their checkpoints to a directory", async () => {
    const { org } = await makeOrg(db);
    expect(await orgsNeedingCheckpoint(db)).toContain(org.id);
    const dir = await mkdtemp(path.join(tmpdir(), "causeway-publish-"));
    const deps = {
      db,
      logger: pino({ level: "silent" }),
      key: parseCheckpointKey(t.keys.checkpointKey),
      publishDir: dir,
    };
    const cp = await refreshCheckpoint(deps, org.id);
    expect(await orgsNeedingCheckpoint(db)).not.toContain(org.id);
    expect(await readFile(path.join(dir, org.id, "checkpoint"), "utf8")).toBe(cp.note);
    expect(await readFile(path.join(dir, org.id, "checkpoints", cp.size.toString()), "utf8")).toBe(cp.note);
  });

  const git = (cwd: string, ...args: string[]) =>
    execFileSync("git", args, {
      cwd,
      env: {
        PATH: process.env.PATH ?? "",
        LC_ALL: "C",
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
      },
      encoding: "utf8",
    }).trim();

  it("commits every new checkpoint to a bare git repository and pushes it to the repository's remote", async () => {
    const { org } = await makeOrg(db);
    const base = await mkdtemp(path.join(tmpdir(), "causeway-publish-git-"));
    const [repo, remote] = [path.join(base, "checkpoints.git"), path.join(base, "remote.git")];
    git(base, "init", "--bare", "-q", "--initial-branch=main", repo);
    git(base, "init", "--bare", "-q", "--initial-branch=main", remote);
    git(repo, "remote", "add", "origin", remote);
    const deps = {
      db,
      logger: pino({ level: "silent" }),
      key: parseCheckpointKey(t.keys.checkpointKey),
      publishGit: new GitCheckpointPublisher({ repo, remote: "origin" }),
    };
    const first = await refreshCheckpoint(deps, org.id);
    await addEntries(org.id, 2);
    const second = await refreshCheckpoint(deps, org.id);
    // Unchanged log: no new checkpoint, no new commit.
    await refreshCheckpoint(deps, org.id);

    expect(git(repo, "rev-list", "--count", "main")).toBe("2");
    expect(git(repo, "ls-tree", "-r", "--name-only", "main").split("\n").sort()).toEqual(
      [
        `${org.id}/checkpoint`,
        `${org.id}/checkpoints/${first.size}`,
        `${org.id}/checkpoints/${second.size}`,
      ].sort(),
    );
    const show = (rev: string, file: string) => `${git(repo, "show", `${rev}:${org.id}/${file}`)}\n`;
    expect(show("main", "checkpoint")).toBe(second.note);
    expect(show("main", `checkpoints/${first.size}`)).toBe(first.note);
    expect(show("main", `checkpoints/${second.size}`)).toBe(second.note);
    expect(show("main~1", "checkpoint")).toBe(first.note);
    expect(git(repo, "log", "--format=%s", "main").split("\n")).toEqual([
      `Checkpoint ${originOf(org.id)} at size ${second.size}`,
      `Checkpoint ${originOf(org.id)} at size ${first.size}`,
    ]);
    // The published notes verify with the served key.
    const vkey = parseCheckpointKey(t.keys.checkpointKey).verifierKey;
    expect(openCheckpoint(show("main", "checkpoint"), [vkey], { origin: originOf(org.id) }).size).toBe(
      second.size,
    );
    expect(git(remote, "rev-parse", "main")).toBe(git(repo, "rev-parse", "main"));
  });

  it("logs a failed git publish without secrets and still serves the checkpoint", async () => {
    const { org, apiKey } = await makeOrg(db);
    const lines: string[] = [];
    const logger = createLogger("info", { write: (line: string) => void lines.push(line) });
    const base = await mkdtemp(path.join(tmpdir(), "causeway-publish-git-"));
    const deps = {
      db,
      logger,
      key: parseCheckpointKey(t.keys.checkpointKey),
      publishGit: new GitCheckpointPublisher({ repo: path.join(base, "missing.git") }),
    };
    const cp = await refreshCheckpoint(deps, org.id);
    expect(cp.size).toBeGreaterThan(0n);
    const logged = lines.map((l) => JSON.parse(l));
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 40,
        msg: "checkpoint publish to git failed",
        orgId: org.id,
        size: cp.size.toString(),
        err: expect.objectContaining({ message: "git rev-parse failed (exit 128, not_found)" }),
      }),
    );

    // A remote URL carrying a credential: the push fails and nothing of the URL reaches the log.
    const repo = path.join(base, "checkpoints.git");
    git(base, "init", "--bare", "-q", "--initial-branch=main", repo);
    git(repo, "remote", "add", "origin", "https://causeway:ghp_s3cretS3cretS3cretS3cret00@127.0.0.1:9/x.git");
    await addEntries(org.id, 1);
    lines.length = 0;
    const next = await refreshCheckpoint(
      { ...deps, publishGit: new GitCheckpointPublisher({ repo, remote: "origin" }) },
      org.id,
    );
    expect(next.size).toBe(cp.size + 1n);
    expect(lines.join("")).toContain("checkpoint publish to git failed");
    expect(lines.join("")).toContain("git push failed");
    expect(lines.join("")).not.toContain("s3cret");
    expect(git(repo, "rev-list", "--count", "main")).toBe("1");
    // The request path is unaffected too.
    const res = await t.request("/api/v1/audit/checkpoint", { apiKey });
    expect(res.status).toBe(200);
  });

  it("signs on schedule every org whose log grew, once per size", async () => {
    const { org } = await makeOrg(db);
    const deps = { db, logger: pino({ level: "silent" }), key: parseCheckpointKey(t.keys.checkpointKey) };
    expect(await checkpointDue(deps)).toContain(org.id);
    expect(await checkpointDue(deps)).not.toContain(org.id);
    await addEntries(org.id, 2);
    expect(await checkpointDue(deps)).toContain(org.id);
    const cp = await jsonOf(
      await t.request("/api/v1/audit/checkpoint", { apiKey: (await makeApiKey(db, org.id)).key }),
    );
    const rows = await withOrg(db, org.id, (tx) => tx.select().from(auditLog));
    // The API key creation above is one more entry: the on-demand read signed it.
    expect(BigInt(cp.size)).toBe(BigInt(rows.length));
  });
});
