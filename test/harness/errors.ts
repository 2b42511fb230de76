import { expect } from "vitest";

/** The Postgres error under drizzle's "Failed query" wrapper. */
export function pgErrorOf(error: unknown): { code?: string; message: string } {
  let e: unknown = error;
  while (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return { code, message: e.message };
    e = e.cause;
  }
  return { message: String(error) };
}

/** Asserts the promise is refused by a row-level security policy (SQLSTATE 42501). */
export async function expectRlsRefusal(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "expected the database to refuse the statement").toBeDefined();
  const pg = pgErrorOf(error);
  expect(pg.code).toBe("42501");
  expect(pg.message).toMatch(/row-level security/);
}
