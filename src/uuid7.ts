import { randomFillSync } from "node:crypto";

/**
 * A version 7 UUID (RFC 9562 §5.7): 48 bits of Unix milliseconds, then 74 random bits. Rows keyed by
 * these are inserted in time order, so a primary-key index grows at its right edge instead of at a
 * random leaf page: after each Postgres checkpoint only that edge needs a full-page image in the
 * write-ahead log, where random (v4) keys need one for almost every insert until each leaf has been
 * touched once. Used for deliveries, the table written on every webhook.
 */
export function uuidv7(now: number = Date.now()): string {
  const bytes = randomFillSync(pool);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70; // version 7
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // variant 10
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const pool = Buffer.alloc(16);
