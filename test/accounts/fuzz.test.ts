import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { useAccountsApp } from "./app.ts";

// Header values Headers() accepts: visible ASCII and spaces.
const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,300}$/);

describe("auth surfaces under arbitrary input", async () => {
  const t = await useAccountsApp();

  it("answers any Authorization header with 401, never a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(headerValue, fc.boolean(), async (value, prefixed) => {
        const res = await t.request("/api/v1/me", {
          headers: { authorization: prefixed ? `Bearer ${value}` : value },
        });
        expect(res.status).toBe(401);
      }),
      { numRuns: 150 },
    );
  });

  it("answers any refresh cookie with 401, never a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(fc.stringMatching(/^[\x21-\x3a\x3c-\x7e]{0,100}$/), async (value) => {
        const res = await t.request("/api/v1/auth/refresh", {
          method: "POST",
          headers: { cookie: `__Secure-causeway_refresh=${value}` },
        });
        expect(res.status).toBe(401);
      }),
      { numRuns: 100 },
    );
  });

  it("answers any sign-in body with 400 or 401, never a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue(),
          fc.record({ email: fc.oneof(fc.emailAddress(), fc.string()), password: fc.string() }),
        ),
        async (body) => {
          const res = await t.request("/api/v1/auth/login", { method: "POST", json: body });
          expect([400, 401]).toContain(res.status);
        },
      ),
      { numRuns: 60 },
    );
  });
});
