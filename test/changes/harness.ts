import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, expect } from "vitest";
import type { ChangesDeps } from "../../src/changes/deps.ts";
import { GitRunner } from "../../src/changes/git.ts";
import { GitHubAppTokens } from "../../src/changes/github-app.ts";
import { MirrorStore } from "../../src/changes/mirrors.ts";
import { type OrgContext, systemContext } from "../../src/context.ts";
import { parseMasterKeys } from "../../src/credentials/keyring.ts";
import { CredentialStore } from "../../src/credentials/store.ts";
import { jsonOf, type TestApp, useTestApp } from "../harness/app.ts";
import { makeApiKey, makeOrg } from "../harness/factories.ts";

export interface ChangesTestApp {
  t: TestApp;
  /** The same services the app runs, built on the same database, keys and data folder. */
  deps: ChangesDeps;
  dataDir: string;
}

/** The real app with a data folder of this file's own (mirrors live there). */
export async function useChangesApp(): Promise<ChangesTestApp> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "causeway-data-"));
  afterAll(() => rm(dataDir, { recursive: true, force: true }));
  const t = await useTestApp({ CAUSEWAY_DATA_DIR: dataDir });
  const credentials = new CredentialStore(parseMasterKeys(t.keys.masterKeys));
  const logger = pino({ level: "silent" });
  const deps: ChangesDeps = {
    db: t.database.db,
    logger,
    credentials,
    mirrors: new MirrorStore({ dataDir, git: new GitRunner(), logger }),
    githubApps: new GitHubAppTokens(credentials),
    dataDir,
    httpLimits: { timeoutMs: 10_000, maxBytes: 8 * 1024 * 1024 },
  };
  return { t, deps, dataDir };
}

export interface TestOrg {
  orgId: string;
  owner: string;
  admin: string;
  member: string;
  ctx: OrgContext;
}

export async function makeTestOrg(t: TestApp): Promise<TestOrg> {
  const created = await makeOrg(t.database.db);
  const orgId = created.org.id;
  const admin = await makeApiKey(t.database.db, orgId, "admin");
  const member = await makeApiKey(t.database.db, orgId, "member");
  return {
    orgId,
    owner: created.apiKey,
    admin: admin.key,
    member: member.key,
    ctx: systemContext(orgId, "test"),
  };
}

/** Creates a repository through the API and returns its wire body. */
// biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary JSON
export async function createRepo(t: TestApp, apiKey: string, body: Record<string, unknown>): Promise<any> {
  const res = await t.request("/api/v1/repositories", { method: "POST", apiKey, json: body });
  const json = await jsonOf(res);
  expect(res.status, JSON.stringify(json)).toBe(201);
  return json;
}

// biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary JSON
type Json = any;

export async function syncRepo(
  t: TestApp,
  apiKey: string,
  id: string,
): Promise<{ status: number; body: Json }> {
  const res = await t.request(`/api/v1/repositories/${id}/sync`, { method: "POST", apiKey });
  return { status: res.status, body: await jsonOf(res) };
}
