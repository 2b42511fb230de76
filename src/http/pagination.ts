import { z } from "@hono/zod-openapi";
import { type AnyColumn, and, eq, gt, lt, or, type SQL } from "drizzle-orm";
import { AppError } from "../errors.ts";

/** Keyset cursor: the sort time and id of the last item of the previous page, opaque to clients. */
export interface Cursor {
  at: Date;
  id: string;
}

/**
 * The rows after the cursor in a keyset order of (time, id), both descending or both ascending: the
 * condition for the next page (none on the first).
 */
export function afterCursor(
  cursor: Cursor | undefined,
  at: AnyColumn,
  id: AnyColumn,
  order: "desc" | "asc",
): SQL | undefined {
  if (!cursor) return undefined;
  const past = order === "desc" ? lt : gt;
  return or(past(at, cursor.at), and(eq(at, cursor.at), past(id, cursor.id)));
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.at.toISOString(), cursor.id])).toString("base64url");
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Whether Postgres can hold this instant: JS dates reach ±275760 years, but Postgres has no year 0 and
 * reads years as four digits, so anything outside 0001..9999 would fail in the query instead of here.
 */
export function isStorableInstant(date: Date): boolean {
  const year = date.getUTCFullYear();
  return !Number.isNaN(date.getTime()) && year >= 1 && year <= 9999;
}

/** An ISO 8601 instant in a query or body, limited to the years Postgres stores (0001..9999). */
export function instant(options: { offset?: boolean } = {}) {
  // abort: a string that is not an ISO instant gets that one error, not a second one about its year.
  return z.iso
    .datetime({ ...options, abort: true })
    .refine((s) => isStorableInstant(new Date(s)), "must fall between the years 0001 and 9999");
}

export function decodeCursor(value: string | undefined): Cursor | undefined {
  if (!value) return undefined;
  try {
    const [at, id] = JSON.parse(Buffer.from(value, "base64url").toString("utf8")) as [string, string];
    const date = new Date(at);
    if (!isStorableInstant(date) || typeof id !== "string" || !UUID.test(id)) throw new Error();
    return { at: date, id };
  } catch {
    throw new AppError("validation_failed", {
      detail: "invalid cursor",
      errors: [{ path: "cursor", message: "not a cursor returned by this API" }],
    });
  }
}

export const PageQuery = {
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
};

export function pageOf<T>(
  rows: T[],
  limit: number,
  cursorOf: (row: T) => Cursor,
): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(cursorOf(last)) : null };
}

export function listSchema<T extends z.ZodType>(item: T, name: string) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() }).openapi(name);
}
