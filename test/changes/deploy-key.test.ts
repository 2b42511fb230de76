import { createHash, generateKeyPairSync } from "node:crypto";
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog, repositories } from "../../db/schema/index.ts";
import { bareCopyOf, GitFixture, pushTo } from "./git-fixture.ts";
import { createRepo, makeTestOrg, syncRepo, useChangesApp } from "./harness.ts";

/** Every file of a folder, recursively, as text. */
async function allText(dir: string): Promise<string> {
  let out = "";
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    out += await readFile(path.join(entry.parentPath, entry.name), "latin1");
  }
  return out;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * An `ssh` for the mirror store to find first on PATH: it plays the git server's sshd. It accepts one
 * deploy key (compared by hash of the file named by `-i`), records its argv and what it found at the key
 * path, and then runs the remote command (`git-upload-pack '<path>'`) locally, as sshd would on the server.
 */
async function installFakeSsh(acceptedKey: string): Promise<{ dir: string; log: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), "causeway-fakessh-"));
  const log = path.join(dir, "calls.log");
  const script = `#!/bin/sh
key=''
prev=''
for a in "$@"; do
  if [ "$prev" = "-i" ]; then key="$a"; fi
  prev="$a"
  last="$a"
done
printf 'ARGV %s\\n' "$*" >> '${log}'
if [ -z "$key" ] || [ ! -f "$key" ]; then echo "git@git.example.test: Permission denied (publickey)." >&2; exit 255; fi
printf 'KEY %s %s %s\\n' "$key" "$(stat -c %a "$key")" "$(stat -c %a "$(dirname "$key")")" >> '${log}'
if [ "$(sha256sum "$key" | cut -d' ' -f1)" != '${sha256(acceptedKey)}' ]; then
  echo "git@git.example.test: Permission denied (publickey)." >&2
  exit 255
fi
exec sh -c "$last"
`;
  await writeFile(path.join(dir, "ssh"), script);
  await chmod(path.join(dir, "ssh"), 0o755);
  return { dir, log };
}

const newKey = () =>
  generateKeyPairSync("ed25519", {
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  }).privateKey;

describe("mirrors fetched over ssh with a deploy key", async () => {
  const { t, deps } = await useChangesApp();
  const db = t.database.db;
  const deployKey = newKey();
  const keyBody = deployKey.split("\n")[1]!;
  let fakeSsh: { dir: string; log: string };
  const originalPath = process.env.PATH;
  const cleanups: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    fakeSsh = await installFakeSsh(deployKey);
    cleanups.push(() => rm(fakeSsh.dir, { recursive: true, force: true }));
    // GitRunner hands git the server's PATH; ours finds the fake sshd first.
    process.env.PATH = `${fakeSsh.dir}:${originalPath ?? "/usr/bin:/bin"}`;
  });
  afterAll(async () => {
    process.env.PATH = originalPath;
    for (const c of cleanups) await c();
  });

  interface Call {
    argv: string;
    key?: { path: string; mode: string; dirMode: string };
  }
  async function calls(): Promise<Call[]> {
    const text = await readFile(fakeSsh.log, "utf8").catch(() => "");
    const out: Call[] = [];
    for (const line of text.split("\n")) {
      if (line.startsWith("ARGV ")) out.push({ argv: line.slice(5) });
      else if (line.startsWith("KEY ")) {
        const [p, mode, dirMode] = line.slice(4).split(" ") as [string, string, string];
        out[out.length - 1]!.key = { path: p, mode, dirMode };
      }
    }
    return out;
  }

  it("fetches with the key in a 0600 file that exists only during the command, never in argv or on disk", async () => {
    const org = await makeTestOrg(t);
    const git = await GitFixture.create();
    cleanups.push(() => git.remove());
    await git.commit("Initial\n", { "a.ts": "1\n" });
    await git.squashPr(40, "Over ssh", { "a.ts": "2\n" });
    const bare = await bareCopyOf(git);
    cleanups.push(() => bare.remove());
    const url = `ssh://git@git.example.test${bare.dir}`;

    // The wrong key first: sshd refuses it, and that is a clear, non-retryable 502.
    const repo = await createRepo(t, org.admin, {
      name: "over-ssh",
      url,
      credential: { kind: "ssh_key", privateKey: newKey() },
    });
    expect(repo.credential).toMatchObject({ kind: "ssh_key" });
    const refused = await syncRepo(t, org.admin, repo.id);
    expect(refused.status).toBe(502);
    expect(refused.body).toMatchObject({ code: "upstream_error", retryable: false });
    expect(refused.body.detail).toMatch(/refused the credential/);
    expect(await deps.mirrors.exists({ id: repo.id, orgId: org.orgId })).toBe(false);

    const patched = await t.request(`/api/v1/repositories/${repo.id}`, {
      method: "PATCH",
      apiKey: org.admin,
      json: { credential: { kind: "ssh_key", privateKey: deployKey } },
    });
    expect(patched.status).toBe(200);
    const view = await patched.text();
    const before = (await calls()).length;
    const ok = await syncRepo(t, org.admin, repo.id);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body).toMatchObject({ imported: 2, pullRequests: 1 });

    // And a later fetch picks up new commits with the same key.
    await git.squashPr(41, "Second over ssh", { "a.ts": "3\n" });
    await pushTo(git, bare.dir);
    const again = await syncRepo(t, org.admin, repo.id);
    expect(again.body).toMatchObject({ imported: 1, pullRequests: 1 });

    const used = (await calls()).slice(before);
    expect(used.length).toBeGreaterThanOrEqual(2);
    for (const call of used) {
      // A path to the key, private to this process: the file 0600 in a 0700 folder of its own.
      expect(call.key).toMatchObject({ mode: "600", dirMode: "700" });
      expect(path.basename(path.dirname(call.key!.path))).toMatch(/^causeway-ssh-/);
      expect(call.argv).toContain(`-i ${call.key!.path}`);
      expect(call.argv).toMatch(/BatchMode=yes/);
      expect(call.argv).toMatch(/IdentitiesOnly=yes/);
      // No known_hosts given: the first host key seen is pinned beside the mirror.
      expect(call.argv).toMatch(/StrictHostKeyChecking=accept-new/);
      expect(call.argv).toContain(`${repo.id.toLowerCase()}.known_hosts`);
      expect(call.argv).not.toContain(keyBody);
      // The key file is gone once the command ended.
      await expect(stat(path.dirname(call.key!.path))).rejects.toMatchObject({ code: "ENOENT" });
    }
    // A fresh key folder per command.
    expect(new Set(used.map((c) => c.key!.path)).size).toBe(used.length);

    // The key is nowhere we keep things: the mirror, the row, the API, the audit log, the logs.
    const mirror = deps.mirrors.mirrorPath({ id: repo.id, orgId: org.orgId });
    expect(await allText(mirror)).not.toContain(keyBody);
    const [row] = await withOrg(db, org.orgId, (tx) =>
      tx.select().from(repositories).where(eq(repositories.id, repo.id)),
    );
    expect(JSON.stringify(row)).not.toContain(keyBody);
    expect(view).not.toContain(keyBody);
    const shown = await t.request(`/api/v1/repositories/${repo.id}`, { apiKey: org.admin });
    expect(await shown.text()).not.toContain(keyBody);
    const audit = await withOrg(db, org.orgId, (tx) => tx.select({ data: auditLog.data }).from(auditLog));
    expect(JSON.stringify(audit)).not.toContain(keyBody);
    expect(t.logs.text()).not.toContain(keyBody);
  });

  it("checks the host strictly against the known_hosts given with the key", async () => {
    const org = await makeTestOrg(t);
    const git = await GitFixture.create();
    cleanups.push(() => git.remove());
    await git.commit("Initial\n", { "b.ts": "1\n" });
    const bare = await bareCopyOf(git);
    cleanups.push(() => bare.remove());
    const knownHosts =
      "git.example.test ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq0000000000000000000000000000000000000000000\n";
    const repo = await createRepo(t, org.admin, {
      name: "pinned",
      url: `ssh://git@git.example.test${bare.dir}`,
      credential: { kind: "ssh_key", privateKey: deployKey, knownHosts },
    });
    const before = (await calls()).length;
    const ok = await syncRepo(t, org.admin, repo.id);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    const used = (await calls()).slice(before);
    expect(used.length).toBeGreaterThanOrEqual(1);
    for (const call of used) {
      expect(call.argv).toMatch(/StrictHostKeyChecking=yes/);
      expect(call.argv).not.toMatch(/accept-new/);
      // The given known_hosts sits beside the key, for this command only.
      expect(call.argv).toContain(
        `UserKnownHostsFile=${path.join(path.dirname(call.key!.path), "known_hosts")}`,
      );
    }
  });
});
