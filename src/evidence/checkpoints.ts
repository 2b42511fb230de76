import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { and, desc, eq, sql } from "drizzle-orm";
import type { Logger } from "pino";
import { type Database, type OrgTx, withOrg } from "../../db/client.ts";
import { type AuditCheckpointRow, auditCheckpoints } from "../../db/schema/evidence.ts";
import { DbTreeStore } from "./audit-tree.ts";
import { signCheckpoint } from "./checkpoint.ts";
import type { GitCheckpointPublisher } from "./checkpoint-git.ts";
import type { ProxyRunner } from "./detection-context.ts";
import { rootHash } from "./merkle.ts";
import { type CheckpointKey, originOf } from "./signer.ts";

export interface EvidenceDeps {
  db: Database;
  logger: Logger;
  key: CheckpointKey;
  /** When set, every new checkpoint is also written to `<dir>/<org id>/checkpoint` and `…/checkpoints/<size>`. */
  publishDir?: string;
  /** When set, every new checkpoint is also committed to this bare git repository (and pushed, if so set up). */
  publishGit?: GitCheckpointPublisher;
  /** The query proxy, for detection context (workers only; absent, no context is fetched). */
  proxy?: ProxyRunner;
}

export interface StoredCheckpoint {
  origin: string;
  size: bigint;
  root: Uint8Array;
  note: string;
  keyName: string;
  keyId: string;
  signedAt: Date;
}

function toStored(orgId: string, row: AuditCheckpointRow): StoredCheckpoint {
  return {
    origin: originOf(orgId),
    size: row.size,
    root: new Uint8Array(row.root),
    note: row.note,
    keyName: row.keyName,
    keyId: row.keyId,
    signedAt: row.signedAt,
  };
}

/** The org's tree size: the head row is updated in the same transaction that writes an entry's nodes. */
export async function currentTreeSize(tx: OrgTx, orgId: string): Promise<bigint> {
  const rows = await tx.execute<{ size: string }>(
    sql`select size::text as size from audit_heads where org_id = ${orgId}`,
  );
  return rows[0] ? BigInt(rows[0].size) : 0n;
}

export async function latestStoredCheckpoint(tx: OrgTx, orgId: string): Promise<StoredCheckpoint | null> {
  const [row] = await tx
    .select()
    .from(auditCheckpoints)
    .where(eq(auditCheckpoints.orgId, orgId))
    .orderBy(desc(auditCheckpoints.size))
    .limit(1);
  return row ? toStored(orgId, row) : null;
}

export async function storedCheckpointAt(
  tx: OrgTx,
  orgId: string,
  size: bigint,
): Promise<StoredCheckpoint | null> {
  const [row] = await tx
    .select()
    .from(auditCheckpoints)
    .where(and(eq(auditCheckpoints.orgId, orgId), eq(auditCheckpoints.size, size)))
    .limit(1);
  return row ? toStored(orgId, row) : null;
}

/**
 * Signs a checkpoint of the org's tree as it is now, unless the latest stored one already has this size.
 * Sizes only grow and a stored checkpoint is never replaced, so the log never signs two different roots for
 * one size (the conflict clause keeps the first if two signers race).
 */
export async function checkpointInTx(
  deps: Pick<EvidenceDeps, "key">,
  tx: OrgTx,
  orgId: string,
): Promise<{ checkpoint: StoredCheckpoint; fresh: boolean }> {
  const size = await currentTreeSize(tx, orgId);
  const latest = await latestStoredCheckpoint(tx, orgId);
  if (latest && latest.size >= size) return { checkpoint: latest, fresh: false };
  const root = await rootHash(new DbTreeStore(tx, orgId), size);
  const note = signCheckpoint({ origin: originOf(orgId), size, rootHash: root }, deps.key.signer);
  const signedAt = new Date();
  const inserted = await tx
    .insert(auditCheckpoints)
    .values({
      orgId,
      size,
      root: Buffer.from(root),
      note,
      keyName: deps.key.signer.name,
      keyId: deps.key.keyId,
      signedAt,
    })
    .onConflictDoNothing()
    .returning();
  if (inserted[0]) return { checkpoint: toStored(orgId, inserted[0]), fresh: true };
  const existing = await storedCheckpointAt(tx, orgId, size);
  if (!existing) throw new Error("checkpoint vanished after a conflicting insert (internal)");
  return { checkpoint: existing, fresh: false };
}

/** Signs (if the tree grew) and publishes the org's latest checkpoint. Jobs, routes and the CLI use this. */
export async function refreshCheckpoint(deps: EvidenceDeps, orgId: string): Promise<StoredCheckpoint> {
  const { checkpoint, fresh } = await withOrg(deps.db, orgId, (tx) => checkpointInTx(deps, tx, orgId));
  if (fresh) await publishCheckpoint(deps, orgId, checkpoint);
  return checkpoint;
}

/**
 * Writes the note where a witness, a git hook or a static site can pick it up: a directory, a git
 * repository, or both. Publishing is best effort: the checkpoint is already stored, so a full disk or an
 * unreachable git remote must not fail the request that signed it. Failures are logged (never with git's
 * own output, which may carry a remote URL's credential).
 */
export async function publishCheckpoint(
  deps: EvidenceDeps,
  orgId: string,
  checkpoint: StoredCheckpoint,
): Promise<void> {
  await Promise.all([publishToDir(deps, orgId, checkpoint), publishToGit(deps, orgId, checkpoint)]);
}

async function publishToDir(deps: EvidenceDeps, orgId: string, checkpoint: StoredCheckpoint): Promise<void> {
  if (!deps.publishDir) return;
  try {
    const dir = path.join(deps.publishDir, orgId);
    await mkdir(path.join(dir, "checkpoints"), { recursive: true });
    await writeFile(path.join(dir, "checkpoints", checkpoint.size.toString()), checkpoint.note, {
      flag: "wx",
    }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
    // Atomic replace, so a reader never sees half a note.
    const tmp = path.join(dir, `.checkpoint.${process.pid}.tmp`);
    await writeFile(tmp, checkpoint.note);
    await rename(tmp, path.join(dir, "checkpoint"));
  } catch (error) {
    deps.logger.warn({ err: error, orgId, size: checkpoint.size.toString() }, "checkpoint publish failed");
  }
}

async function publishToGit(deps: EvidenceDeps, orgId: string, checkpoint: StoredCheckpoint): Promise<void> {
  if (!deps.publishGit) return;
  try {
    await deps.publishGit.publish({ orgId, ...checkpoint });
  } catch (error) {
    deps.logger.warn(
      {
        err: error,
        orgId,
        size: checkpoint.size.toString(),
        repo: deps.publishGit.repo,
        remote: deps.publishGit.remote,
      },
      "checkpoint publish to git failed",
    );
  }
}

/** Every org whose tree grew since its last checkpoint (cross-org by nature: owner connection). */
export async function orgsNeedingCheckpoint(db: Database): Promise<string[]> {
  const rows = await db.owner.execute<{ org_id: string }>(sql`
    select h.org_id from audit_heads h
    where h.size > coalesce((select max(c.size) from audit_checkpoints c where c.org_id = h.org_id), -1)`);
  return rows.map((r) => r.org_id);
}
