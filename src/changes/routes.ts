import { createRoute, z } from "@hono/zod-openapi";
import { decodeCursor, encodeCursor, instant, listSchema, PageQuery } from "../http/pagination.ts";
import { problemResponses } from "../http/problem.ts";
import { secured } from "../http/route-security.ts";
import { createRouter } from "../http/router.ts";
import { backfillPullRequests } from "./backfill.ts";
import { listDeploys, recordDeploy } from "./deploys.ts";
import type { ChangesDeps } from "./deps.ts";
import { getChangeDetail, listChanges, readTicket, sortAtOf } from "./queries.ts";
import {
  createRepository,
  deleteRepository,
  getRepository,
  listRepositories,
  updateRepository,
} from "./repositories.ts";
import { syncRepository } from "./sync.ts";
import {
  BackfillResultSchema,
  backfillToWire,
  ChangeDetailSchema,
  ChangeSchema,
  changeDetailToWire,
  changeToWire,
  DeploySchema,
  deployToWire,
  RepositorySchema,
  repositoryToWire,
  SyncResultSchema,
  syncToWire,
  TicketSchema,
  ticketToWire,
} from "./wire.ts";

const IdParam = z.object({ id: z.uuid().openapi({ param: { name: "id", in: "path" } }) });
const KeyParam = z.object({
  key: z
    .string()
    .min(3)
    .max(300)
    .openapi({ param: { name: "key", in: "path" }, example: "PAY-123" }),
});
const member = secured("member");
const admin = secured("admin");
const readErrors = problemResponses("unauthenticated", "validation_failed");
const oneErrors = problemResponses("unauthenticated", "not_found", "validation_failed");
const writeErrors = problemResponses("unauthenticated", "forbidden", "validation_failed", "conflict");
const syncErrors = problemResponses(
  "unauthenticated",
  "forbidden",
  "not_found",
  "bad_request",
  "conflict",
  "upstream_error",
  "upstream_timeout",
);
const json = <S extends z.ZodType>(schema: S) => ({ content: { "application/json": { schema } } });
const dateQuery = instant({ offset: true }).optional();
const toDate = (s: string | undefined) => (s ? new Date(s) : undefined);

const CredentialBody = z
  .union([
    z.object({ kind: z.literal("token"), token: z.string(), username: z.string().optional() }),
    z.object({ kind: z.literal("ssh_key"), privateKey: z.string(), knownHosts: z.string().optional() }),
    z.object({
      kind: z.literal("github_app"),
      integrationId: z.string(),
      installationId: z.number().int().optional(),
    }),
  ])
  .openapi("RepositoryCredentialInput");

// Request bodies are described loosely here and validated by the service (one place, same messages for
// HTTP, jobs and tests).
const CreateRepositoryBody = z
  .object({
    name: z.string(),
    url: z.string().openapi({ example: "https://github.com/acme/checkout.git" }),
    provider: z.enum(["github", "git"]).optional(),
    defaultBranch: z.string().optional(),
    services: z.array(z.string()).optional(),
    jiraProjectKeys: z.array(z.string()).optional(),
    githubRepository: z.string().optional(),
    githubApiBaseUrl: z.string().optional(),
    credential: CredentialBody.optional(),
  })
  .openapi("CreateRepository");

const UpdateRepositoryBody = z
  .object({
    name: z.string().optional(),
    url: z.string().optional(),
    provider: z.enum(["github", "git"]).optional(),
    defaultBranch: z.string().optional(),
    services: z.array(z.string()).optional(),
    jiraProjectKeys: z.array(z.string()).optional(),
    githubRepository: z.string().nullable().optional(),
    githubApiBaseUrl: z.string().nullable().optional(),
    credential: CredentialBody.nullable().optional(),
  })
  .openapi("UpdateRepository");

const RecordDeployBody = z
  .object({
    repository: z.string().optional(),
    service: z.string(),
    environment: z.string(),
    version: z.string().optional(),
    sha: z.string(),
    deployedAt: z.string().openapi({ example: "2026-03-10T14:12:05Z" }),
    externalId: z.string().optional(),
  })
  .openapi("RecordDeploy");

export function changeRoutes(deps: ChangesDeps) {
  const router = createRouter();

  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/repositories",
      tags: ["repositories"],
      summary: "Connect a repository (its credential goes to the credential store)",
      ...admin,
      request: { body: { required: true, ...json(CreateRepositoryBody) } },
      responses: { 201: { description: "the repository", ...json(RepositorySchema) }, ...writeErrors },
    }),
    async (c) => {
      const view = await createRepository(deps, c.get("auth"), c.req.valid("json"));
      return c.json(repositoryToWire(view), 201);
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/repositories",
      tags: ["repositories"],
      summary: "List repositories, oldest first",
      ...member,
      request: { query: z.object({ service: z.string().max(200).optional(), ...PageQuery }) },
      responses: {
        200: {
          description: "a page of repositories",
          ...json(listSchema(RepositorySchema, "RepositoryList")),
        },
        ...readErrors,
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const after = decodeCursor(q.cursor);
      const page = await listRepositories(deps, c.get("auth"), {
        limit: q.limit,
        ...(q.service ? { service: q.service } : {}),
        ...(after ? { after } : {}),
      });
      const last = page.items[page.items.length - 1];
      return c.json(
        {
          items: page.items.map(repositoryToWire),
          nextCursor:
            page.more && last
              ? encodeCursor({ at: last.repository.createdAt, id: last.repository.id })
              : null,
        },
        200,
      );
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/repositories/{id}",
      tags: ["repositories"],
      summary: "One repository",
      ...member,
      request: { params: IdParam },
      responses: { 200: { description: "the repository", ...json(RepositorySchema) }, ...oneErrors },
    }),
    async (c) =>
      c.json(repositoryToWire(await getRepository(deps, c.get("auth"), c.req.valid("param").id)), 200),
  );

  router.openapi(
    createRoute({
      method: "patch",
      path: "/api/v1/repositories/{id}",
      tags: ["repositories"],
      summary: "Change a repository (a new credential retires the old one; null removes it)",
      ...admin,
      request: { params: IdParam, body: { required: true, ...json(UpdateRepositoryBody) } },
      responses: {
        200: { description: "the repository", ...json(RepositorySchema) },
        ...writeErrors,
        ...problemResponses("not_found"),
      },
    }),
    async (c) => {
      const view = await updateRepository(deps, c.get("auth"), c.req.valid("param").id, c.req.valid("json"));
      return c.json(repositoryToWire(view), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "delete",
      path: "/api/v1/repositories/{id}",
      tags: ["repositories"],
      summary: "Disconnect a repository (its changes stay as evidence; the mirror and credential go)",
      ...admin,
      request: { params: IdParam },
      responses: {
        204: { description: "deleted" },
        ...problemResponses("unauthenticated", "forbidden", "not_found", "validation_failed"),
      },
    }),
    async (c) => {
      await deleteRepository(deps, c.get("auth"), c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/repositories/{id}/sync",
      tags: ["repositories"],
      summary: "Fetch the repository's mirror now and import its new history",
      ...admin,
      request: { params: IdParam },
      responses: { 200: { description: "what the sync did", ...json(SyncResultSchema) }, ...syncErrors },
    }),
    async (c) => {
      const result = await syncRepository(deps, c.get("auth"), c.req.valid("param").id, { reason: "api" });
      return c.json(syncToWire(result), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/repositories/{id}/backfill",
      tags: ["repositories"],
      summary: "Backfill merged pull requests through the GitHub API",
      ...admin,
      request: {
        params: IdParam,
        query: z.object({
          since: dateQuery,
          maxPullRequests: z.coerce.number().int().min(1).max(10_000).optional(),
        }),
      },
      responses: {
        200: { description: "what the backfill stored", ...json(BackfillResultSchema) },
        ...syncErrors,
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const result = await backfillPullRequests(deps, c.get("auth"), c.req.valid("param").id, {
        ...(q.since ? { since: new Date(q.since) } : {}),
        ...(q.maxPullRequests ? { maxPullRequests: q.maxPullRequests } : {}),
      });
      return c.json(backfillToWire(result), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/deploys",
      tags: ["deploys"],
      summary: "Record a deploy from CI (idempotent per externalId)",
      ...admin,
      request: { body: { required: true, ...json(RecordDeployBody) } },
      responses: {
        200: { description: "already recorded (same externalId)", ...json(DeploySchema) },
        201: { description: "the deploy", ...json(DeploySchema) },
        ...writeErrors,
      },
    }),
    async (c) => {
      const { deploy, created } = await recordDeploy(deps, c.get("auth"), c.req.valid("json"));
      return created ? c.json(deployToWire(deploy), 201) : c.json(deployToWire(deploy), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/deploys",
      tags: ["deploys"],
      summary: "List deploys, newest first",
      ...member,
      request: {
        query: z.object({
          service: z.string().max(200).optional(),
          environment: z.string().max(100).optional(),
          repositoryId: z.uuid().optional(),
          version: z.string().max(200).optional(),
          from: dateQuery,
          to: dateQuery,
          ...PageQuery,
        }),
      },
      responses: {
        200: { description: "a page of deploys", ...json(listSchema(DeploySchema, "DeployList")) },
        ...readErrors,
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const after = decodeCursor(q.cursor);
      const { rows } = await listDeploys(deps, c.get("auth"), {
        limit: q.limit,
        ...(q.service ? { service: q.service } : {}),
        ...(q.environment ? { environment: q.environment } : {}),
        ...(q.repositoryId ? { repositoryId: q.repositoryId } : {}),
        ...(q.version ? { version: q.version } : {}),
        ...(q.from ? { from: new Date(q.from) } : {}),
        ...(q.to ? { to: new Date(q.to) } : {}),
        ...(after ? { after } : {}),
      });
      const items = rows.slice(0, q.limit);
      const last = items[items.length - 1];
      return c.json(
        {
          items: items.map(deployToWire),
          nextCursor:
            rows.length > q.limit && last ? encodeCursor({ at: last.deployedAt, id: last.id }) : null,
        },
        200,
      );
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/changes",
      tags: ["changes"],
      summary: "List changes (pull requests and direct commits), newest first",
      ...member,
      request: {
        query: z.object({
          repository: z.string().max(200).optional().openapi({ description: "repository id or name" }),
          from: dateQuery,
          to: dateQuery,
          author: z.string().max(320).optional().openapi({ description: "GitHub login or commit e-mail" }),
          ticket: z.string().max(300).optional().openapi({ description: "a linked Jira key" }),
          state: z.enum(["open", "merged", "closed"]).optional(),
          ...PageQuery,
        }),
      },
      responses: {
        200: { description: "a page of changes", ...json(listSchema(ChangeSchema, "ChangeList")) },
        ...readErrors,
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const after = decodeCursor(q.cursor);
      const { rows, links } = await listChanges(deps, c.get("auth"), {
        limit: q.limit,
        ...(q.repository ? { repository: q.repository } : {}),
        ...(q.from ? { from: toDate(q.from)! } : {}),
        ...(q.to ? { to: toDate(q.to)! } : {}),
        ...(q.author ? { author: q.author } : {}),
        ...(q.ticket ? { ticket: q.ticket } : {}),
        ...(q.state ? { state: q.state } : {}),
        ...(after ? { after } : {}),
      });
      const items = rows.slice(0, q.limit);
      const last = items[items.length - 1];
      return c.json(
        {
          items: items.map((row) => changeToWire(row, links.get(row.id) ?? [])),
          nextCursor:
            rows.length > q.limit && last ? encodeCursor({ at: sortAtOf(last), id: last.id }) : null,
        },
        200,
      );
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/changes/{id}",
      tags: ["changes"],
      summary: "One change with its ticket links and the deploys that shipped it",
      ...member,
      request: { params: IdParam },
      responses: { 200: { description: "the change", ...json(ChangeDetailSchema) }, ...oneErrors },
    }),
    async (c) =>
      c.json(changeDetailToWire(await getChangeDetail(deps, c.get("auth"), c.req.valid("param").id)), 200),
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/tickets/{key}",
      tags: ["tickets"],
      summary: "One Jira ticket with its status history and linked changes",
      ...member,
      request: { params: KeyParam },
      responses: {
        200: { description: "the ticket", ...json(TicketSchema) },
        ...oneErrors,
        ...problemResponses("upstream_error", "upstream_timeout"),
      },
    }),
    async (c) => c.json(ticketToWire(await readTicket(deps, c.get("auth"), c.req.valid("param").key)), 200),
  );

  return router;
}
