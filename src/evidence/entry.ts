import type { AuditEntry } from "../../db/schema/audit-log.ts";
import { canonicalizeToBytes } from "./canonical-json.ts";
import { leafHash } from "./merkle.ts";

/**
 * The object whose RFC 8785 bytes are an audit entry's Merkle leaf (audit-tree.ts `canonicalEntryBytes`):
 * version, org, seq as a decimal string, time as RFC 3339 with milliseconds, actor, action, subject,
 * data, request id.
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

export type EntryFields = Pick<
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
