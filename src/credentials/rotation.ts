import { and, asc, eq, inArray, ne, sql } from "drizzle-orm";
import type { Database, OrgTx } from "../../db/client.ts";
import { credentials, orgDataKeys } from "../../db/schema/index.ts";
import { systemContext } from "../context.ts";
import { appendAudit } from "../evidence/audit.ts";
import { DataKeyCache } from "./data-key-cache.ts";
import { Fernet } from "./fernet.ts";
import { generateDataKey, type MasterKeyring } from "./keyring.ts";

export interface RotationOptions {
  /** Also give every org a fresh data key and re-encrypt every credential under it. */
  reencrypt: boolean;
  /** Rows per transaction. */
  batchSize: number;
  /** Called after each committed batch; a throw stops the run (what is committed stays committed). */
  onProgress?: (event: RotationProgress) => void | Promise<void>;
}

export type RotationProgress =
  | { phase: "rewrap"; rewrapped: number }
  | { phase: "reencrypt"; orgId: string; reencrypted: number };

export interface RotationReport {
  /** The master key everything is wrapped under now. */
  masterKeyId: string;
  rewrapped: number;
  /** Orgs whose credentials moved to a fresh data key. */
  orgs: number;
  reencrypted: number;
  retiredKeys: number;
}

const ACTOR = "keys-rotate";

/**
 * `causeway keys rotate`, online and resumable. Every step commits on its own and every step's work is
 * visible in the rows themselves, so a run that stops anywhere is finished by running it again:
 *
 * 1. Re-wrap: each data key still wrapped by an older master key is re-wrapped by the current one (the
 *    data key itself does not change, so no credential is touched and every cached key stays valid).
 * 2. With `reencrypt`, per org: the active data key becomes "retiring" and a fresh one becomes active
 *    (one transaction; an org that already has a retiring key is resuming and keeps its active one);
 *    credentials still on a retiring key are re-encrypted in batches; when none is left, the key is
 *    "retired". Progress is nothing more than which key each credential names.
 *
 * Readers never wait and never fail: each credential row names the data key its token is under, and the
 * row and the key are read together.
 */
export async function rotateKeys(
  db: Database,
  keyring: MasterKeyring,
  options: RotationOptions,
): Promise<RotationReport> {
  const batchSize = Math.max(1, Math.floor(options.batchSize));
  const keys = new DataKeyCache(keyring, 10_000);
  const report: RotationReport = {
    masterKeyId: keyring.current,
    rewrapped: 0,
    orgs: 0,
    reencrypted: 0,
    retiredKeys: 0,
  };

  for (;;) {
    const done = await rewrapBatch(db, keyring, batchSize);
    if (done === 0) break;
    report.rewrapped += done;
    await options.onProgress?.({ phase: "rewrap", rewrapped: report.rewrapped });
  }

  if (!options.reencrypt) return report;
  const orgs = await db.owner
    .selectDistinct({ orgId: orgDataKeys.orgId })
    .from(orgDataKeys)
    .where(inArray(orgDataKeys.state, ["active", "retiring"]))
    .orderBy(asc(orgDataKeys.orgId));
  for (const { orgId } of orgs) {
    const target = await startOrgRotation(db, keyring, keys, orgId);
    let reencrypted = 0;
    for (let idleRounds = 0; ; idleRounds++) {
      if (idleRounds > 3) throw new Error(`org ${orgId}: credentials keep appearing under a retiring key`);
      const done = await reencryptBatch(db, keys, orgId, target, batchSize);
      if (done > 0) {
        reencrypted += done;
        report.reencrypted += done;
        await options.onProgress?.({ phase: "reencrypt", orgId, reencrypted });
        idleRounds = -1;
        continue;
      }
      const retired = await retireDrainedKeys(db, orgId);
      report.retiredKeys += retired;
      // A credential that landed on the old key after our last batch (impossible while stores lock the
      // active key, but cheap to guard) sends us round again.
      if (!(await hasRetiringKey(db, orgId))) break;
    }
    report.orgs += 1;
  }
  return report;
}

async function rewrapBatch(db: Database, keyring: MasterKeyring, batchSize: number): Promise<number> {
  return db.owner.transaction(async (tx) => {
    const rows = await tx
      .select()
      .from(orgDataKeys)
      .where(and(ne(orgDataKeys.masterKeyId, keyring.current), ne(orgDataKeys.state, "retired")))
      .orderBy(asc(orgDataKeys.id))
      .limit(batchSize)
      .for("update");
    for (const row of rows) {
      const rewrapped = keyring.rewrapDataKey(row.masterKeyId, row.wrappedKey);
      await tx
        .update(orgDataKeys)
        .set({ masterKeyId: rewrapped.keyId, wrappedKey: rewrapped.wrapped, rewrappedAt: sql`now()` })
        .where(eq(orgDataKeys.id, row.id));
      await appendAudit(tx as OrgTx, systemContext(row.orgId, ACTOR), {
        action: "data_key.rewrapped",
        subjectType: "data_key",
        subjectId: row.id,
        data: { version: row.version, fromMasterKeyId: row.masterKeyId, toMasterKeyId: rewrapped.keyId },
      });
    }
    return rows.length;
  });
}

/** The data key credentials should end up under: a fresh one, or the active one of an unfinished run. */
async function startOrgRotation(
  db: Database,
  keyring: MasterKeyring,
  keys: DataKeyCache,
  orgId: string,
): Promise<{ id: string; fernet: Fernet }> {
  return db.owner.transaction(async (tx) => {
    const current = await tx
      .select()
      .from(orgDataKeys)
      .where(and(eq(orgDataKeys.orgId, orgId), inArray(orgDataKeys.state, ["active", "retiring"])))
      .for("update");
    const active = current.find((k) => k.state === "active");
    if (active && current.some((k) => k.state === "retiring")) {
      return { id: active.id, fernet: keys.fernetFor(active) };
    }
    // Retire-then-insert keeps the one-active-key index satisfied inside the transaction. Taking the
    // active row's lock above waits for any store that holds it FOR SHARE, so no credential can be
    // written under the old key after this commits.
    if (active) {
      await tx.update(orgDataKeys).set({ state: "retiring" }).where(eq(orgDataKeys.id, active.id));
    }
    const dataKey = generateDataKey();
    const wrapped = keyring.wrapDataKey(dataKey);
    const [created] = await tx
      .insert(orgDataKeys)
      .values({
        orgId,
        version: sql`(select coalesce(max(version), 0) + 1 from org_data_keys where org_id = ${orgId})`,
        masterKeyId: wrapped.keyId,
        wrappedKey: wrapped.wrapped,
        state: "active",
      })
      .returning();
    if (!created) throw new Error("insert returned no row");
    await appendAudit(tx as OrgTx, systemContext(orgId, ACTOR), {
      action: "data_key.created",
      subjectType: "data_key",
      subjectId: created.id,
      data: { version: created.version, masterKeyId: wrapped.keyId, replaces: active?.version ?? null },
    });
    const fernet = new Fernet(dataKey);
    keys.remember(created.id, fernet);
    return { id: created.id, fernet };
  });
}

async function reencryptBatch(
  db: Database,
  keys: DataKeyCache,
  orgId: string,
  target: { id: string; fernet: Fernet },
  batchSize: number,
): Promise<number> {
  return db.owner.transaction(async (tx) => {
    const rows = await tx
      .select({
        id: credentials.id,
        token: credentials.token,
        keyId: orgDataKeys.id,
        masterKeyId: orgDataKeys.masterKeyId,
        wrappedKey: orgDataKeys.wrappedKey,
      })
      .from(credentials)
      .innerJoin(orgDataKeys, eq(orgDataKeys.id, credentials.dataKeyId))
      .where(and(eq(credentials.orgId, orgId), eq(orgDataKeys.state, "retiring")))
      .orderBy(asc(credentials.id))
      .limit(batchSize)
      .for("update", { of: credentials });
    for (const row of rows) {
      const plaintext = keys
        .fernetFor({ id: row.keyId, masterKeyId: row.masterKeyId, wrappedKey: row.wrappedKey })
        .decrypt(row.token);
      // Token and key id change in one UPDATE: a reader sees the old pair or the new pair, never a mix.
      await tx
        .update(credentials)
        .set({ token: target.fernet.encrypt(plaintext), dataKeyId: target.id, rotatedAt: sql`now()` })
        .where(eq(credentials.id, row.id));
    }
    return rows.length;
  });
}

async function retireDrainedKeys(db: Database, orgId: string): Promise<number> {
  return db.owner.transaction(async (tx) => {
    const retired = await tx
      .update(orgDataKeys)
      .set({ state: "retired" })
      .where(
        and(
          eq(orgDataKeys.orgId, orgId),
          eq(orgDataKeys.state, "retiring"),
          sql`not exists (select 1 from ${credentials} where ${credentials.dataKeyId} = ${orgDataKeys.id})`,
        ),
      )
      .returning({ id: orgDataKeys.id, version: orgDataKeys.version });
    for (const key of retired) {
      await appendAudit(tx as OrgTx, systemContext(orgId, ACTOR), {
        action: "data_key.retired",
        subjectType: "data_key",
        subjectId: key.id,
        data: { version: key.version },
      });
    }
    return retired.length;
  });
}

async function hasRetiringKey(db: Database, orgId: string): Promise<boolean> {
  const [row] = await db.owner
    .select({ id: orgDataKeys.id })
    .from(orgDataKeys)
    .where(and(eq(orgDataKeys.orgId, orgId), eq(orgDataKeys.state, "retiring")))
    .limit(1);
  return row !== undefined;
}
