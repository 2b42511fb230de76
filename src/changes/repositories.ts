/**
 * Repositories an org connects: where the code is (URL), which services it serves, which Jira projects its
 * PRs name, and how to read it. The credential (a token, an ssh deploy key, or a GitHub App through a
 * `github` integration) goes to the credential store; the row only points at it, and the URL may not
 * carry one. Mutations are admin-only and audited in the same transaction.
 */
import { and, asc, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import { isUniqueViolation, type OrgTx, withOrg } from "../../db/client.ts";
import { integrations, type Repository, repositories } from "../../db/schema/index.ts";
import { baseUrl } from "../../integrations/core/config-schemas.ts";
import { type OrgContext, requireRole } from "../context.ts";
import type { CredentialMeta } from "../credentials/store.ts";
import { AppError, fieldErrorsFromZod, NotFoundError, ValidationError } from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import type { Cursor } from "../http/pagination.ts";
import type { ChangesDeps } from "./deps.ts";
import type { GitAuth } from "./git.ts";
import { parseRepositoryUrl } from "./repository-url.ts";

/** `credentials.owner_type` of a repository's own secrets (`owner_id` is the repository id). */
export const REPOSITORY_OWNER = "repository";
export const REPO_TOKEN_KIND = "repo_token";
export const DEPLOY_KEY_KIND = "deploy_key";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// git check-ref-format's rules, enough of them: no leading '-', no '..', no control or special characters.
const BRANCH =
  /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)(?!.*\.lock$)(?!.*\/$)[^\s~^:?*[\\\u0000-\u001f\u007f]{1,250}$/;
const projectKey = z
  .string()
  .trim()
  .transform((s) => s.toUpperCase())
  .pipe(z.string().regex(/^[A-Z][A-Z0-9_]{1,254}$/, "must be a Jira project key such as PAY"));
const secret = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((s) => s.trim() !== "", "must not be blank");

export const RepositoryCredentialInput = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("token"),
    token: secret(4096),
    /** The Basic-auth user sent with the token (GitHub ignores it; GitLab wants `oauth2`). */
    username: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .regex(/^[^:]+$/, "must not contain ':'")
      .optional(),
  }),
  z.strictObject({
    kind: z.literal("ssh_key"),
    privateKey: secret(16_384),
    /** known_hosts lines for the server; without them the first host key seen is pinned. */
    knownHosts: z.string().max(16_384).optional(),
  }),
  z.strictObject({
    kind: z.literal("github_app"),
    integrationId: z.uuid(),
    installationId: z.int().positive().optional(),
  }),
]);
export type RepositoryCredentialInput = z.input<typeof RepositoryCredentialInput>;

/** A short single-line text: no control characters (Postgres text cannot even hold NUL). */
const line = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters");

const fields = {
  name: line(200),
  url: z.string().trim().min(1).max(2048),
  provider: z.enum(["github", "git"]),
  defaultBranch: z.string().trim().regex(BRANCH, "must be a branch name"),
  services: z
    .array(line(200))
    .max(100)
    .refine((s) => new Set(s.map((x) => x.toLowerCase())).size === s.length, "must not repeat a service"),
  jiraProjectKeys: z
    .array(projectKey)
    .max(200)
    .refine((keys) => new Set(keys).size === keys.length, "must not repeat a key"),
  /** `owner/name` on GitHub, when the URL does not show it (a local mirror of a GitHub repository). */
  githubRepository: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, "must be owner/name")
    .optional(),
  /** GitHub API base URL for a token credential (GitHub Enterprise Server: https://host/api/v3). */
  githubApiBaseUrl: baseUrl().optional(),
};

export const CreateRepositoryInput = z.object({
  name: fields.name,
  url: fields.url,
  provider: fields.provider.default("git"),
  defaultBranch: fields.defaultBranch.default("main"),
  services: fields.services.default([]),
  jiraProjectKeys: fields.jiraProjectKeys.default([]),
  githubRepository: fields.githubRepository,
  githubApiBaseUrl: fields.githubApiBaseUrl,
  credential: RepositoryCredentialInput.optional(),
});
export type CreateRepositoryInput = z.input<typeof CreateRepositoryInput>;

export const UpdateRepositoryInput = z
  .object({
    name: fields.name.optional(),
    url: fields.url.optional(),
    provider: fields.provider.optional(),
    defaultBranch: fields.defaultBranch.optional(),
    services: fields.services.optional(),
    jiraProjectKeys: fields.jiraProjectKeys.optional(),
    githubRepository: fields.githubRepository.nullable(),
    githubApiBaseUrl: fields.githubApiBaseUrl.nullable(),
    /** A new credential replaces the old one (which is retired); null removes it. */
    credential: RepositoryCredentialInput.nullable().optional(),
  })
  .refine((p) => Object.values(p).some((v) => v !== undefined), "nothing to change");
export type UpdateRepositoryInput = z.input<typeof UpdateRepositoryInput>;

/** Non-secret settings kept in `repositories.config`. */
export interface RepositoryConfig {
  /** `owner/name`, lower-cased: how GitHub webhooks and the API name the repository. */
  fullName?: string;
  githubApp?: { integrationId: string; installationId?: number };
  githubApiBaseUrl?: string;
}

export interface RepositoryCredentialView {
  kind: "token" | "ssh_key" | "github_app";
  last4: string | null;
  createdAt: Date | null;
  integrationId: string | null;
}

export interface RepositoryView {
  repository: Repository;
  credential: RepositoryCredentialView | null;
}

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new ValidationError(fieldErrorsFromZod(parsed.error.issues));
  return parsed.data;
}

export function configOf(repo: Pick<Repository, "config">): RepositoryConfig {
  return repo.config as RepositoryConfig;
}

function checkedUrl(deps: Pick<ChangesDeps, "dataDir">, url: string) {
  const parsed = parseRepositoryUrl(url, { dataDir: deps.dataDir });
  if (!parsed.ok) throw new ValidationError([{ path: "url", message: parsed.message }]);
  return parsed.value;
}

async function checkGitHubApp(tx: OrgTx, ctx: OrgContext, integrationId: string): Promise<void> {
  const [row] = await tx
    .select({ id: integrations.id })
    .from(integrations)
    .where(
      and(
        eq(integrations.id, integrationId),
        eq(integrations.orgId, ctx.orgId),
        eq(integrations.provider, "github"),
        isNull(integrations.deletedAt),
      ),
    );
  if (!row) {
    throw new ValidationError([
      { path: "credential.integrationId", message: "no GitHub integration with this id" },
    ]);
  }
}

/** Stores the repository's own secret (token or deploy key); a GitHub App lives in the integration. */
async function storeRepositoryCredential(
  deps: Pick<ChangesDeps, "credentials">,
  tx: OrgTx,
  ctx: OrgContext,
  repositoryId: string,
  credential: z.output<typeof RepositoryCredentialInput>,
): Promise<CredentialMeta | null> {
  switch (credential.kind) {
    case "token":
      return deps.credentials.storeCredential(tx, ctx, {
        ownerType: REPOSITORY_OWNER,
        ownerId: repositoryId,
        kind: REPO_TOKEN_KIND,
        secret: credential.token,
        metadata: credential.username ? { username: credential.username } : {},
      });
    case "ssh_key":
      return deps.credentials.storeCredential(tx, ctx, {
        ownerType: REPOSITORY_OWNER,
        ownerId: repositoryId,
        kind: DEPLOY_KEY_KIND,
        secret: credential.privateKey,
        metadata: credential.knownHosts ? { knownHosts: credential.knownHosts } : {},
      });
    case "github_app":
      await checkGitHubApp(tx, ctx, credential.integrationId);
      return null;
  }
}

async function retireRepositoryCredentials(
  deps: Pick<ChangesDeps, "credentials">,
  tx: OrgTx,
  ctx: OrgContext,
  repositoryId: string,
): Promise<void> {
  const owned = await deps.credentials.listCredentials(tx, ctx, {
    ownerType: REPOSITORY_OWNER,
    ownerId: repositoryId,
  });
  for (const c of owned) await deps.credentials.retireCredential(tx, ctx, c.id);
}

async function viewOf(deps: Pick<ChangesDeps, "credentials">, tx: OrgTx, ctx: OrgContext, repo: Repository) {
  const views = await credentialViews(deps, tx, ctx, [repo]);
  return { repository: repo, credential: views.get(repo.id) ?? null };
}

async function credentialViews(
  deps: Pick<ChangesDeps, "credentials">,
  tx: OrgTx,
  ctx: OrgContext,
  repos: Repository[],
): Promise<Map<string, RepositoryCredentialView>> {
  const out = new Map<string, RepositoryCredentialView>();
  const metas = await deps.credentials.listCredentialsOfOwners(
    tx,
    ctx,
    REPOSITORY_OWNER,
    repos.map((r) => r.id),
  );
  for (const repo of repos) {
    const app = configOf(repo).githubApp;
    if (app) {
      out.set(repo.id, {
        kind: "github_app",
        last4: null,
        createdAt: null,
        integrationId: app.integrationId,
      });
      continue;
    }
    const meta = (metas.get(repo.id) ?? []).find((m) => m.id === repo.credentialId);
    if (meta) {
      out.set(repo.id, {
        kind: meta.kind === DEPLOY_KEY_KIND ? "ssh_key" : "token",
        last4: meta.kind === DEPLOY_KEY_KIND ? null : meta.last4,
        createdAt: meta.createdAt,
        integrationId: null,
      });
    }
  }
  return out;
}

function auditView(repo: Repository, credentialKind: string | null) {
  return {
    name: repo.name,
    url: repo.url,
    provider: repo.provider,
    defaultBranch: repo.defaultBranch,
    services: repo.services,
    jiraProjectKeys: repo.jiraProjectKeys,
    credential: credentialKind,
  };
}

/** Loads a live repository of the org by id; another org's id, a deleted one or a malformed id is 404. */
export async function getRepositoryInOrg(
  tx: OrgTx,
  ctx: Pick<OrgContext, "orgId">,
  id: string,
): Promise<Repository> {
  if (!UUID.test(id)) throw new NotFoundError("repository");
  const [row] = await tx
    .select()
    .from(repositories)
    .where(and(eq(repositories.id, id), eq(repositories.orgId, ctx.orgId), isNull(repositories.deletedAt)));
  if (!row) throw new NotFoundError("repository");
  return row;
}

/** By id or by name: what the deploys API accepts as `repository`. */
export async function findRepositoryByRef(
  tx: OrgTx,
  orgId: string,
  ref: string,
): Promise<Repository | undefined> {
  const [row] = await tx
    .select()
    .from(repositories)
    .where(
      and(
        eq(repositories.orgId, orgId),
        isNull(repositories.deletedAt),
        UUID.test(ref) ? eq(repositories.id, ref) : eq(repositories.name, ref),
      ),
    );
  return row;
}

export async function createRepository(
  deps: Pick<ChangesDeps, "db" | "credentials" | "dataDir">,
  ctx: OrgContext,
  raw: CreateRepositoryInput,
): Promise<RepositoryView> {
  requireRole(ctx, "admin");
  const input = parse(CreateRepositoryInput, raw);
  const url = checkedUrl(deps, input.url);
  const fullName = input.githubRepository?.toLowerCase() ?? url.fullName;
  if (input.provider === "github" && !fullName) {
    throw new ValidationError([
      { path: "githubRepository", message: "needed when the URL does not show owner/name" },
    ]);
  }
  const config: RepositoryConfig = {};
  if (fullName) config.fullName = fullName;
  if (input.githubApiBaseUrl) config.githubApiBaseUrl = input.githubApiBaseUrl;
  if (input.credential?.kind === "github_app") {
    config.githubApp = { integrationId: input.credential.integrationId };
    if (input.credential.installationId !== undefined)
      config.githubApp.installationId = input.credential.installationId;
  }
  try {
    return await withOrg(deps.db, ctx.orgId, async (tx) => {
      const [inserted] = await tx
        .insert(repositories)
        .values({
          orgId: ctx.orgId,
          name: input.name,
          url: url.url,
          provider: input.provider,
          defaultBranch: input.defaultBranch,
          services: input.services,
          jiraProjectKeys: input.jiraProjectKeys,
          config: config as Record<string, unknown>,
        })
        .returning();
      if (!inserted) throw new Error("insert returned no row");
      let row = inserted;
      if (input.credential) {
        const meta = await storeRepositoryCredential(deps, tx, ctx, row.id, input.credential);
        if (meta) {
          const [updated] = await tx
            .update(repositories)
            .set({ credentialId: meta.id })
            .where(eq(repositories.id, row.id))
            .returning();
          row = updated ?? row;
        }
      }
      await appendAudit(tx, ctx, {
        action: "repository.created",
        subjectType: "repository",
        subjectId: row.id,
        data: auditView(row, input.credential?.kind ?? null),
      });
      return viewOf(deps, tx, ctx, row);
    });
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new AppError("conflict", { detail: "a repository with this name already exists" });
    }
    throw error;
  }
}

export const ListRepositoriesInput = z.object({
  service: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.custom<Cursor>().optional(),
});

export async function listRepositories(
  deps: Pick<ChangesDeps, "db" | "credentials">,
  ctx: OrgContext,
  input: { service?: string; limit: number; after?: Cursor },
): Promise<{ items: RepositoryView[]; more: boolean }> {
  return withOrg(deps.db, ctx.orgId, async (tx) => {
    const rows = await tx
      .select()
      .from(repositories)
      .where(and(eq(repositories.orgId, ctx.orgId), isNull(repositories.deletedAt)))
      .orderBy(asc(repositories.createdAt), asc(repositories.id));
    let filtered = rows;
    if (input.service) {
      const wanted = input.service.toLowerCase();
      filtered = rows.filter((r) => r.services.some((s) => s.toLowerCase() === wanted));
    }
    if (input.after) {
      const { at, id } = input.after;
      filtered = filtered.filter(
        (r) => r.createdAt.getTime() > at.getTime() || (r.createdAt.getTime() === at.getTime() && r.id > id),
      );
    }
    const page = filtered.slice(0, input.limit + 1);
    const views = await credentialViews(deps, tx, ctx, page);
    return {
      items: page.slice(0, input.limit).map((repository) => ({
        repository,
        credential: views.get(repository.id) ?? null,
      })),
      more: page.length > input.limit,
    };
  });
}

export async function getRepository(
  deps: Pick<ChangesDeps, "db" | "credentials">,
  ctx: OrgContext,
  id: string,
): Promise<RepositoryView> {
  return withOrg(deps.db, ctx.orgId, async (tx) =>
    viewOf(deps, tx, ctx, await getRepositoryInOrg(tx, ctx, id)),
  );
}

export async function updateRepository(
  deps: Pick<ChangesDeps, "db" | "credentials" | "dataDir">,
  ctx: OrgContext,
  id: string,
  raw: UpdateRepositoryInput,
): Promise<RepositoryView> {
  requireRole(ctx, "admin");
  const input = parse(UpdateRepositoryInput, raw);
  const url = input.url === undefined ? undefined : checkedUrl(deps, input.url);
  try {
    return await withOrg(deps.db, ctx.orgId, async (tx) => {
      const current = await getRepositoryInOrg(tx, ctx, id);
      const config: RepositoryConfig = { ...configOf(current) };
      const changed: string[] = [];
      const set: Partial<typeof repositories.$inferInsert> = { updatedAt: new Date() };
      if (input.name !== undefined && input.name !== current.name) {
        set.name = input.name;
        changed.push("name");
      }
      if (url && url.url !== current.url) {
        set.url = url.url;
        // A new URL is a new remote: the mirror is re-cloned on the next fetch.
        set.headSha = null;
        set.lastFetchedAt = null;
        set.lastFetchError = null;
        if (!input.githubRepository && url.fullName) config.fullName = url.fullName;
        changed.push("url");
      }
      for (const key of ["provider", "defaultBranch", "services", "jiraProjectKeys"] as const) {
        if (input[key] !== undefined && JSON.stringify(input[key]) !== JSON.stringify(current[key])) {
          Object.assign(set, { [key]: input[key] });
          changed.push(key);
        }
      }
      if (input.githubRepository !== undefined) {
        if (input.githubRepository === null) delete config.fullName;
        else config.fullName = input.githubRepository.toLowerCase();
        changed.push("githubRepository");
      }
      if (input.githubApiBaseUrl !== undefined) {
        if (input.githubApiBaseUrl === null) delete config.githubApiBaseUrl;
        else config.githubApiBaseUrl = input.githubApiBaseUrl;
        changed.push("githubApiBaseUrl");
      }
      if (input.credential !== undefined) {
        await retireRepositoryCredentials(deps, tx, ctx, current.id);
        delete config.githubApp;
        set.credentialId = null;
        if (input.credential !== null) {
          const meta = await storeRepositoryCredential(deps, tx, ctx, current.id, input.credential);
          if (meta) set.credentialId = meta.id;
          if (input.credential.kind === "github_app") {
            config.githubApp = { integrationId: input.credential.integrationId };
            if (input.credential.installationId !== undefined) {
              config.githubApp.installationId = input.credential.installationId;
            }
          }
        }
        changed.push("credential");
      }
      if ((set.provider ?? current.provider) === "github" && !config.fullName) {
        throw new ValidationError([
          { path: "githubRepository", message: "needed when the URL does not show owner/name" },
        ]);
      }
      set.config = config as Record<string, unknown>;
      const [row] = await tx.update(repositories).set(set).where(eq(repositories.id, current.id)).returning();
      if (!row) throw new NotFoundError("repository");
      await appendAudit(tx, ctx, {
        action: "repository.updated",
        subjectType: "repository",
        subjectId: row.id,
        data: {
          changed,
          ...auditView(row, input.credential === undefined ? null : (input.credential?.kind ?? "removed")),
        },
      });
      return viewOf(deps, tx, ctx, row);
    });
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new AppError("conflict", { detail: "a repository with this name already exists" });
    }
    throw error;
  }
}

/**
 * Soft-deletes: the row stays (its changes and links are evidence), the credential is retired and the
 * mirror removed. The name is free again.
 */
export async function deleteRepository(
  deps: Pick<ChangesDeps, "db" | "credentials" | "mirrors">,
  ctx: OrgContext,
  id: string,
): Promise<void> {
  requireRole(ctx, "admin");
  const row = await withOrg(deps.db, ctx.orgId, async (tx) => {
    const current = await getRepositoryInOrg(tx, ctx, id);
    await retireRepositoryCredentials(deps, tx, ctx, current.id);
    const [deleted] = await tx
      .update(repositories)
      .set({ deletedAt: new Date(), credentialId: null, updatedAt: new Date() })
      .where(eq(repositories.id, current.id))
      .returning();
    await appendAudit(tx, ctx, {
      action: "repository.deleted",
      subjectType: "repository",
      subjectId: current.id,
      data: { name: current.name },
    });
    return deleted ?? current;
  });
  await deps.mirrors.remove(row);
}

/**
 * The repository an anomaly of `service` is attributed against: the org's only repository when it has one,
 * else the one whose `services` names the service (case-insensitive; the oldest when several do), else
 * none. Runs in the caller's org transaction.
 */
export async function selectRepositoryForService(
  tx: OrgTx,
  orgId: string,
  service: string | null | undefined,
): Promise<Repository | null> {
  const rows = await tx
    .select()
    .from(repositories)
    .where(and(eq(repositories.orgId, orgId), isNull(repositories.deletedAt)))
    .orderBy(asc(repositories.createdAt), asc(repositories.id));
  if (rows.length === 1) return rows[0]!;
  if (!service) return null;
  const wanted = service.trim().toLowerCase();
  return rows.find((r) => r.services.some((s) => s.toLowerCase() === wanted)) ?? null;
}

/**
 * The credential git uses for this repository, decrypted for one command: a repository token or deploy key
 * from the store, or a GitHub App installation token (bought or cached outside any transaction).
 */
export async function gitAuthFor(
  deps: Pick<ChangesDeps, "db" | "credentials" | "githubApps">,
  ctx: OrgContext,
  repo: Repository,
): Promise<GitAuth> {
  const app = configOf(repo).githubApp;
  if (app) {
    const access = await deps.githubApps.installationToken(deps.db, ctx, app);
    return { kind: "http_basic", username: "x-access-token", password: access.token };
  }
  if (!repo.credentialId) return { kind: "none" };
  const credentialId = repo.credentialId;
  const revealed = await withOrg(deps.db, ctx.orgId, (tx) =>
    deps.credentials.readCredential(tx, ctx, credentialId),
  );
  if (!revealed || revealed.credential.retiredAt) return { kind: "none" };
  if (revealed.credential.kind === DEPLOY_KEY_KIND) {
    const knownHosts = revealed.credential.metadata["knownHosts"];
    return typeof knownHosts === "string"
      ? { kind: "ssh_key", privateKey: revealed.secret, knownHosts }
      : { kind: "ssh_key", privateKey: revealed.secret };
  }
  const username = revealed.credential.metadata["username"];
  return {
    kind: "http_basic",
    username: typeof username === "string" ? username : "x-access-token",
    password: revealed.secret,
  };
}
