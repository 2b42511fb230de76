import { randomBytes } from "node:crypto";
import type { Database } from "../../db/client.ts";
import { createApiKey } from "../../src/accounts/api-keys.ts";
import { acceptInvitation, createInvitation } from "../../src/accounts/invitations.ts";
import { type CreatedOrg, createOrgWithOwner } from "../../src/accounts/orgs.ts";
import { PasswordHasher, type ScryptParams } from "../../src/accounts/password.ts";
import { type Role, systemContext } from "../../src/context.ts";

/** A fresh org with its owner and owner API key; names are unique so tests never collide. */
export async function makeOrg(db: Database, name = "Test org"): Promise<CreatedOrg> {
  const suffix = randomBytes(5).toString("hex");
  return createOrgWithOwner(db, { name: `${name} ${suffix}`, ownerEmail: `owner-${suffix}@example.test` });
}

/**
 * Real scrypt with a small cost, so tests that make users stay quick. Apps under test that sign users in
 * should use the same parameters (test/accounts/app.ts does), so no rehash happens on first sign-in.
 */
export const TEST_PASSWORD_PARAMS: ScryptParams = { N: 2 ** 13, r: 8, p: 1 };

export interface TestUser {
  id: string;
  email: string;
  password: string;
}

/** A user in `orgId` with `role`, made the way production makes one: invited, then accepted. */
export async function makeUser(
  db: Database,
  orgId: string,
  role: Role = "member",
  options: { email?: string; password?: string } = {},
): Promise<TestUser> {
  const suffix = randomBytes(5).toString("hex");
  const email = options.email ?? `${role}-${suffix}@example.test`;
  const password = options.password ?? `pw-${randomBytes(12).toString("base64url")}`;
  const { token } = await createInvitation({ db }, systemContext(orgId, "test"), { email, role });
  const accepted = await acceptInvitation(
    { db, hasher: new PasswordHasher(TEST_PASSWORD_PARAMS) },
    { token, password },
    { ip: "127.0.0.1" },
  );
  return { id: accepted.userId, email: email.toLowerCase(), password };
}

/** An API key of `role` in `orgId`, created through the service (so it is audited like any other). */
export async function makeApiKey(
  db: Database,
  orgId: string,
  role: Role = "member",
  options: { scopes?: string[]; expiresAt?: Date; name?: string } = {},
): Promise<{ id: string; key: string }> {
  const created = await createApiKey({ db }, systemContext(orgId, "test"), {
    name: options.name ?? `${role} key`,
    role,
    ...(options.scopes ? { scopes: options.scopes } : {}),
    ...(options.expiresAt ? { expiresAt: options.expiresAt } : {}),
  });
  return { id: created.apiKey.id, key: created.key };
}

export interface SignedIn {
  accessToken: string;
  refreshToken: string;
  sessionId: string;
  response: Response;
}

/** Signs `user` in over HTTP and returns the access token and the refresh token from its cookie. */
export async function loginAs(
  t: { request(path: string, init?: RequestInit & { json?: unknown }): Promise<Response> },
  user: { email: string; password: string },
  options: { orgId?: string; ip?: string } = {},
): Promise<SignedIn> {
  const response = await t.request("/api/v1/auth/login", {
    method: "POST",
    json: { email: user.email, password: user.password, ...(options.orgId ? { orgId: options.orgId } : {}) },
    headers: options.ip ? { "x-forwarded-for": options.ip } : {},
  });
  if (response.status !== 200)
    throw new Error(`login failed with ${response.status}: ${await response.text()}`);
  const body = (await response.clone().json()) as { accessToken: string; session: { id: string } };
  return {
    accessToken: body.accessToken,
    refreshToken: refreshTokenOf(response) ?? "",
    sessionId: body.session.id,
    response,
  };
}

/** The refresh token a response set in its cookie, if any. */
export function refreshTokenOf(response: Response): string | undefined {
  const cookie = response.headers.get("set-cookie") ?? "";
  const match = /__Secure-causeway_refresh=([^;]*)/.exec(cookie);
  return match?.[1] || undefined;
}
