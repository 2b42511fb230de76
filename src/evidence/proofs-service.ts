import { and, eq } from "drizzle-orm";
import { withOrg } from "../../db/client.ts";
import { auditLog } from "../../db/schema/audit-log.ts";
import { type OrgContext, requireRole } from "../context.ts";
import { AppError, NotFoundError } from "../errors.ts";
import { DbTreeStore } from "./audit-tree.ts";
import {
  type EvidenceDeps,
  refreshCheckpoint,
  type StoredCheckpoint,
  storedCheckpointAt,
} from "./checkpoints.ts";
import { type CanonicalEntry, canonicalEntryOf, leafHashOfCanonical } from "./entry.ts";
import { consistencyProof, inclusionProof } from "./merkle.ts";

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

export interface CheckpointView {
  origin: string;
  size: string;
  rootHash: string;
  note: string;
  keyName: string;
  keyId: string;
  signedAt: Date;
}

export function checkpointView(c: StoredCheckpoint): CheckpointView {
  return {
    origin: c.origin,
    size: c.size.toString(),
    rootHash: b64(c.root),
    note: c.note,
    keyName: c.keyName,
    keyId: c.keyId,
    signedAt: c.signedAt,
  };
}

/** The latest signed checkpoint, signing a fresh one first when the tree grew since. */
export async function getLatestCheckpoint(deps: EvidenceDeps, ctx: OrgContext): Promise<CheckpointView> {
  requireRole(ctx, "member");
  return checkpointView(await refreshCheckpoint(deps, ctx.orgId));
}

export function getVerifierKeys(deps: EvidenceDeps, ctx: OrgContext) {
  requireRole(ctx, "member");
  return {
    keys: [
      {
        name: deps.key.signer.name,
        keyId: deps.key.keyId,
        vkey: deps.key.verifierKey,
        algorithm: "ed25519" as const,
      },
    ],
  };
}

function noCheckpoint(size: bigint): AppError {
  return new AppError("not_found", {
    detail: `no signed checkpoint of size ${size}; use the size of one from GET /api/v1/audit/checkpoint`,
  });
}

export interface InclusionView {
  index: string;
  size: string;
  leafHash: string;
  entry: CanonicalEntry;
  proof: string[];
  checkpoint: CheckpointView;
}

/** The entry at `index` and its path to the root of a stored signed checkpoint of `size`. */
export async function getInclusionProof(
  deps: EvidenceDeps,
  ctx: OrgContext,
  input: { index: bigint; size: bigint },
): Promise<InclusionView> {
  requireRole(ctx, "member");
  if (input.index >= input.size) {
    throw new AppError("validation_failed", {
      detail: "index must be below size",
      errors: [{ path: "index", message: "must be less than size" }],
    });
  }
  return withOrg(deps.db, ctx.orgId, async (tx) => {
    const checkpoint = await storedCheckpointAt(tx, ctx.orgId, input.size);
    if (!checkpoint) throw noCheckpoint(input.size);
    const [row] = await tx
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.orgId, ctx.orgId), eq(auditLog.seq, input.index)));
    if (!row) throw new NotFoundError("audit entry");
    const entry = canonicalEntryOf(row);
    const proof = await inclusionProof(new DbTreeStore(tx, ctx.orgId), input.index, input.size);
    return {
      index: input.index.toString(),
      size: input.size.toString(),
      leafHash: b64(leafHashOfCanonical(entry)),
      entry,
      proof: proof.map(b64),
      checkpoint: checkpointView(checkpoint),
    };
  });
}

export interface ConsistencyView {
  from: string;
  to: string;
  proof: string[];
  fromCheckpoint: CheckpointView | null;
  toCheckpoint: CheckpointView;
}

/** RFC 9162 consistency between two stored signed checkpoints (from = 0 is the empty tree). */
export async function getConsistencyProof(
  deps: EvidenceDeps,
  ctx: OrgContext,
  input: { from: bigint; to: bigint },
): Promise<ConsistencyView> {
  requireRole(ctx, "member");
  if (input.from > input.to) {
    throw new AppError("validation_failed", {
      detail: "from must not exceed to",
      errors: [{ path: "from", message: "must be at most to" }],
    });
  }
  return withOrg(deps.db, ctx.orgId, async (tx) => {
    const to = await storedCheckpointAt(tx, ctx.orgId, input.to);
    if (!to) throw noCheckpoint(input.to);
    const from = input.from === 0n ? null : await storedCheckpointAt(tx, ctx.orgId, input.from);
    if (input.from !== 0n && !from) throw noCheckpoint(input.from);
    const proof = await consistencyProof(new DbTreeStore(tx, ctx.orgId), input.from, input.to);
    return {
      from: input.from.toString(),
      to: input.to.toString(),
      proof: proof.map(b64),
      fromCheckpoint: from ? checkpointView(from) : null,
      toCheckpoint: checkpointView(to),
    };
  });
}
