import type { AuditEntry } from "../../db/schema/audit-log.ts";
import { canonicalEntryBytes } from "./audit-tree.ts";
import { canonicalizeToBytes } from "./canonical-json.ts";
import { leafHash } from "./merkle.ts";

/**
 * The object whose RFC 8785 bytes are an audit entry's Merkle leaf (audit-tree.ts `canonicalEntryBytes`).
 * Bundles and proof responses carry it as is, so an offline verifier hashes exactly what it reads.
 */
export interface CanonicalEntry {
  v: 1;
  org: string;
  seq: string;
  at: string;
  actor: { kind: string; id: string };
  action: string;
  subject: { type: string; id: string | null };
  data: Record<string, unknown>;
  requestId: string | null;
}

type EntryFields = Pick<
  AuditEntry,
  | "orgId"
  | "seq"
  | "at"
  | "actorKind"
  | "actorId"
  | "action"
  | "subjectType"
  | "subjectId"
  | "data"
  | "requestId"
>;

export function canonicalEntryOf(entry: EntryFields): CanonicalEntry {
  return {
    v: 1,
    org: entry.orgId,
    seq: entry.seq.toString(),
    at: entry.at.toISOString(),
    actor: { kind: entry.actorKind, id: entry.actorId },
    action: entry.action,
    subject: { type: entry.subjectType, id: entry.subjectId ?? null },
    data: entry.data,
    requestId: entry.requestId ?? null,
  };
}

/** The leaf hash of a carried entry, for verifiers that never touch the database. */
export function leafHashOfCanonical(entry: CanonicalEntry): Uint8Array {
  return leafHash(canonicalizeToBytes(entry));
}

/** Kept next to the object form so a drift between the two encodings fails a test, not an audit. */
export function leafBytesOf(entry: EntryFields): Uint8Array {
  return canonicalEntryBytes(entry);
}
