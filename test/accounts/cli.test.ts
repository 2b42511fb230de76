import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { auditLog, users } from "../../db/schema/index.ts";
import { loginAs, makeOrg, makeUser } from "../harness/factories.ts";
import { runCli } from "../harness/process.ts";
import { useAccountsApp } from "./app.ts";

// Each case starts the CLI (tsx) up to three times: slow on a loaded machine, as in cli-keys.test.ts.
describe("causeway users set-password", { timeout: 180_000 }, async () => {
  const t = await useAccountsApp();
  const db = t.database.db;
  const env = { DATABASE_URL: t.database.url };

  it("sets the password from stdin, clears a lockout and signs the user out everywhere", async () => {
    const org = await makeOrg(db);
    const user = await makeUser(db, org.org.id);
    const before = await loginAs(t, user);
    await db.owner
      .update(users)
      .set({ lockedUntil: new Date(Date.now() + 600_000) })
      .where(eq(users.id, user.id));

    const result = await runCli(
      ["users", "set-password", "--email", user.email.toUpperCase(), "--password-stdin"],
      env,
      "brand new passphrase\n",
    );
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(user.email);
    expect(result.stdout).not.toContain("brand new passphrase");

    expect((await t.request("/api/v1/me", { bearer: before.accessToken })).status).toBe(401);
    const old = await t.request("/api/v1/auth/login", {
      method: "POST",
      json: { email: user.email, password: user.password },
    });
    expect(old.status).toBe(401);
    // The trailing newline from `echo` is not part of the password.
    const signedIn = await loginAs(t, { email: user.email, password: "brand new passphrase" });
    expect((await t.request("/api/v1/me", { bearer: signedIn.accessToken })).status).toBe(200);

    const audit = await withOrg(db, org.org.id, (tx) =>
      tx.select().from(auditLog).where(eq(auditLog.action, "user.password_set")),
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actorKind: "system",
      actorId: "cli",
      subjectId: user.id,
      data: { signedOut: 1 },
    });
  });

  it("refuses an unknown email, a short password and a password on the command line", async () => {
    const unknown = await runCli(
      ["users", "set-password", "--email", "nobody@example.test", "--password-stdin"],
      env,
      "long enough password\n",
    );
    expect(unknown.code).toBe(65);
    expect(unknown.stderr).toMatch(/not found/);
    const org = await makeOrg(db);
    const user = await makeUser(db, org.org.id);
    const short = await runCli(
      ["users", "set-password", "--email", user.email, "--password-stdin"],
      env,
      "short\n",
    );
    expect(short.code).toBe(65);
    expect(short.stderr).toMatch(/password/);
    const inline = await runCli(["users", "set-password", "--email", user.email, "--password", "x"], env);
    expect(inline.code).toBe(64);
    // Nothing changed for the user.
    expect((await loginAs(t, user)).accessToken).toBeTruthy();
  });
});
