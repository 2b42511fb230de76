import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog } from "../../db/schema/index.ts";
import { parseCheckpointKey } from "../../src/evidence/signer.ts";
import { useAccountsApp } from "../accounts/app.ts";
import { makeOrg } from "../harness/factories.ts";
import { runCli } from "../harness/process.ts";
import { EvidenceSeed } from "./seed.ts";

describe("causeway export / verify / audit keys", async () => {
  const t = await useAccountsApp();
  const db = t.database.db;
  const env = {
    DATABASE_URL: t.database.url,
    CAUSEWAY_MASTER_KEYS: t.keys.masterKeys,
    CAUSEWAY_SESSION_KEYS: t.keys.sessionKeys,
    CAUSEWAY_CHECKPOINT_KEY: t.keys.checkpointKey,
  };
  const vkey = parseCheckpointKey(t.keys.checkpointKey).verifierKey;

  it("exports a bundle to a file, audited, that verifies offline; tampering fails naming the row", async () => {
    const { org } = await makeOrg(db);
    const seed = new EvidenceSeed(db, org.id);
    for (let i = 1; i <= 3; i++) {
      await seed.anomaly({ title: `anomaly ${i}`, detectedAt: new Date(`2026-05-0${i}T08:00:00.000Z`) });
    }
    const dir = await mkdtemp(path.join(tmpdir(), "causeway-bundle-"));
    const out = path.join(dir, "cc71.json");
    const exported = await runCli(
      ["export", "cc7.1", "--org", org.id, "--from", "2026-05-01", "--to", "2026-05-31", "--out", out],
      env,
    );
    expect(exported.stderr).toBe("");
    expect(exported.code).toBe(0);
    expect(exported.stdout).toContain("Wrote 3 CC7.1 row(s)");
    const audited = await withOrg(db, org.id, (tx) => tx.select().from(auditLog));
    expect(audited.filter((e) => e.action === "evidence.exported").map((e) => e.actorId)).toEqual([
      "cli:export",
    ]);

    // Offline: no DATABASE_URL, no keys in the environment.
    const ok = await runCli(["verify", out, "--key", vkey], {});
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("OK: CC7.1 bundle");
    expect(ok.stdout).toContain("3 row(s)");
    expect(ok.stdout).toContain("(pinned)");

    const bundle = JSON.parse(await readFile(out, "utf8"));
    bundle.rows[2].entry.data.facts.status = "resolved";
    const tampered = path.join(dir, "tampered.json");
    await writeFile(tampered, JSON.stringify(bundle));
    const bad = await runCli(["verify", tampered, "--key", vkey], {});
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`row 3 (audit index ${bundle.rows[2].auditIndex})`);

    // Verification streams the file but does not depend on its layout; a cut-off file is unreadable.
    const pretty = path.join(dir, "pretty.json");
    await writeFile(pretty, JSON.stringify(JSON.parse(await readFile(out, "utf8")), null, 2));
    expect((await runCli(["verify", pretty, "--key", vkey], {})).code).toBe(0);
    const cut = path.join(dir, "cut.json");
    const whole = await readFile(out, "utf8");
    await writeFile(cut, whole.slice(0, Math.floor(whole.length / 2)));
    const unreadable = await runCli(["verify", cut, "--key", vkey], {});
    expect(unreadable.code).toBe(66);
    expect(unreadable.stderr).toContain("cannot read");

    // A key file works as --key; a key the bundle was not signed with is refused.
    const keyFile = path.join(dir, "pinned.vkey");
    await writeFile(keyFile, `${vkey}\n`);
    expect((await runCli(["verify", out, "--key", keyFile], {})).code).toBe(0);
    const otherKey = "causeway-audit+00000000+AQ==";
    const wrong = await runCli(["verify", out, "--key", otherKey], {});
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("checkpoint");

    const md = path.join(dir, "cc71.md");
    const mdRun = await runCli(
      ["export", "cc7.1", "--org", org.id, "--period", "365", "--format", "markdown", "--out", md],
      env,
    );
    expect(mdRun.code).toBe(0);
    expect(await readFile(md, "utf8")).toContain("# SOC 2 CC7.1 evidence");
  }, 240_000);

  it("prints the verifier key an auditor pins", async () => {
    const res = await runCli(["audit", "keys"], env);
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toBe(vkey);
  }, 120_000);

  it("refuses bad usage with exit 64", async () => {
    expect((await runCli(["export", "cc9.9", "--org", "x"], env)).code).toBe(64);
    expect((await runCli(["verify"], {})).code).toBe(64);
  }, 120_000);
});
