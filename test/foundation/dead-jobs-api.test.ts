import { describe, expect, it } from "vitest";
import { jsonOf, useTestApp } from "../harness/app.ts";
import { makeApiKey, makeOrg } from "../harness/factories.ts";

describe("GET /api/v1/jobs/dead", async () => {
  const t = await useTestApp();

  it("shows an admin the org's dead jobs, refuses members, and validates the limit", async () => {
    const owner = await makeOrg(t.database.db);
    const ok = await t.request("/api/v1/jobs/dead", { apiKey: owner.apiKey });
    expect(ok.status).toBe(200);
    expect(await jsonOf(ok)).toEqual({ items: [] });

    const member = await makeApiKey(t.database.db, owner.org.id, "member");
    const refused = await t.request("/api/v1/jobs/dead", { apiKey: member.key });
    expect(refused.status).toBe(403);
    expect(refused.headers.get("content-type")).toMatch(/application\/problem\+json/);

    const bad = await t.request("/api/v1/jobs/dead?limit=0", { apiKey: owner.apiKey });
    expect(bad.status).toBe(400);
    expect((await jsonOf(bad)).code).toBe("validation_failed");
  });
});
