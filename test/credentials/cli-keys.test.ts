import { randomBytes } from "node:crypto";
import { eq, inArray } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { credentials, orgDataKeys } from "../../db/schema/index.ts";
import { systemContext } from "../../src/context.ts";
import { generateFernetKey } from "../../src/credentials/fernet.ts";
import { parseMasterKeys } from "../../src/credentials/keyring.ts";
import { CredentialStore } from "../../src/credentials/store.ts";
import { generateKeys } from "../../src/keys.ts";
import { useTestDatabase } from "../harness/db.ts";
import { makeOrg } from "../harness/factories.ts";
import { runCli } from "../harness/process.ts";

// Each CLI run starts tsx on the whole source tree: seconds apiece on a busy machine.
describe("causeway keys", { timeout: 180_000 }, async () => {
  const { url, db } = await useTestDatabase();
  const base = generateKeys();
  const env = (masterKeys: string) => ({
    DATABASE_URL: url,
    CAUSEWAY_MASTER_KEYS: masterKeys,
    CAUSEWAY_SESSION_KEYS: base.sessionKeys,
    CAUSEWAY_CHECKPOINT_KEY: base.checkpointKey,
  });

  it("generates a master key entry the keyring accepts, and nothing else on stdout", async () => {
    const result = await runCli(["keys", "generate"], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^m-\d{8}-[0-9a-f]{4}:[A-Za-z0-9_-]{43}=\n$/);
    expect(parseMasterKeys(result.stdout.trim()).ids).toHaveLength(1);
    expect(result.stderr).toMatch(/first in CAUSEWAY_MASTER_KEYS/);
    const bad = await runCli(["keys", "generate", "--id", "Not OK"], {});
    expect(bad.code).toBe(65);
    expect(bad.stdout).toBe("");
  });

  it("rotates: re-wraps under the new master key and re-encrypts in batches", async () => {
    const oldKeys = base.masterKeys;
    const store = new CredentialStore(parseMasterKeys(oldKeys));
    const { org } = await makeOrg(db);
    const stored: Array<{ id: string; secret: string }> = [];
    for (let i = 0; i < 5; i++) {
      const secret = `cli-${i}-${randomBytes(12).toString("hex")}`;
      const meta = await withOrg(db, org.id, (tx) =>
        store.storeCredential(tx, systemContext(org.id), {
          ownerType: "org",
          ownerId: null,
          kind: "api_token",
          secret,
        }),
      );
      stored.push({ id: meta.id, secret });
    }
    const next = `next:${generateFernetKey()}`;
    const newKeys = `${next},${oldKeys}`;

    const result = await runCli(["keys", "rotate", "--reencrypt", "--batch", "2"], env(newKeys));
    expect(result.stderr).toMatch(/re-encrypted 2 credential\(s\)/);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /^Master key next: \d+ data key\(s\) re-wrapped; \d+ credential\(s\) in \d+ org\(s\) re-encrypted under fresh data keys, \d+ old data key\(s\) retired\.\n$/,
    );

    const keys = await db.owner
      .select()
      .from(orgDataKeys)
      .where(eq(orgDataKeys.orgId, org.id))
      .orderBy(orgDataKeys.version);
    expect(keys.map((k) => [k.version, k.state, k.masterKeyId])).toEqual([
      [1, "retired", "next"],
      [2, "active", "next"],
    ]);
    const rows = await db.owner
      .select()
      .from(credentials)
      .where(
        inArray(
          credentials.id,
          stored.map((s) => s.id),
        ),
      );
    for (const row of rows) expect(row.dataKeyId).toBe(keys[1]?.id);
    // Only the new master key is needed from now on.
    const reader = new CredentialStore(parseMasterKeys(next));
    for (const s of stored) {
      const read = await withOrg(db, org.id, (tx) => reader.readCredential(tx, systemContext(org.id), s.id));
      expect(read?.secret).toBe(s.secret);
    }
    for (const output of [result.stdout, result.stderr]) {
      for (const s of stored) expect(output).not.toContain(s.secret);
    }
  });

  it("refuses to run without the master key the data keys are wrapped by, naming it", async () => {
    const result = await runCli(["keys", "rotate"], env(`lonely:${generateFernetKey()}`));
    expect(result.code).toBe(65);
    expect(result.stderr).toMatch(/master key "next" is not configured in CAUSEWAY_MASTER_KEYS/);
  });

  it("validates its options", async () => {
    const result = await runCli(["keys", "rotate", "--batch", "0"], env(base.masterKeys));
    expect(result.code).toBe(64);
    expect(result.stderr).toMatch(/--batch must be 1..10000/);
  });
});
