/**
 * Deploys: which SHA of which service runs in which environment since when. They come from CI
 * (`POST /api/v1/deploys`), GitHub deployment_status webhooks, and alert releases that are themselves full
 * SHAs. Version strings such as `checkout-api@2.14.1` map to SHAs through these records.
 */
import { and, asc, desc, eq, gte, inArray, lt, lte, or, type SQL } from "drizzle-orm";
import { z } from "zod";
import { type OrgTx, withOrg } from "../../db/client.ts";
import { type Change, type Deploy, deploys } from "../../db/schema/index.ts";
import { type OrgContext, requireRole } from "../context.ts";
import { fieldErrorsFromZod, ValidationError } from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import { type Cursor, instant } from "../http/pagination.ts";
import type { ChangesDeps } from "./deps.ts";
import type { MirrorStore } from "./mirrors.ts";
import { findRepositoryByRef, selectRepositoryForService } from "./repositories.ts";

const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** A release that ends in a full SHA (`checkout@<sha>`, `1.4.0+<sha>`) names its commit. */
const TRAILING_SHA = /(?:^|[@+_.:/-])([0-9a-f]{40}|[0-9a-f]{64})$/;

/** A short single-line text: no control characters (Postgres text cannot even hold NUL). */
const line = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters");

export const RecordDeployInput = z.object({
  /** Repository id or name; when absent, the repository serving `service`. */
  repository: line(200).optional(),
  service: line(200),
  environment: line(100),
  version: line(200).optional(),
  sha: z
    .string()
    .trim()
    .transform((s) => s.toLowerCase())
    .pipe(z.string().regex(FULL_SHA, "must be a full commit SHA (40 or 64 hex characters)")),
  deployedAt: instant({ offset: true }).transform((s) => new Date(s)),
  /** The CI system's id for this deploy: a retried request with the same id records it once. */
  externalId: line(200).optional(),
});
export type RecordDeployInput = z.input<typeof RecordDeployInput>;

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new ValidationError(fieldErrorsFromZod(parsed.error.issues));
  return parsed.data;
}

export async function recordDeploy(
  deps: Pick<ChangesDeps, "db">,
  ctx: OrgContext,
  raw: RecordDeployInput,
): Promise<{ deploy: Deploy; created: boolean }> {
  requireRole(ctx, "admin");
  const input = parse(RecordDeployInput, raw);
  return withOrg(deps.db, ctx.orgId, async (tx) => {
    let repositoryId: string | null = null;
    if (input.repository !== undefined) {
      const repo = await findRepositoryByRef(tx, ctx.orgId, input.repository);
      if (!repo)
        throw new ValidationError([{ path: "repository", message: "no such repository in this org" }]);
      repositoryId = repo.id;
    } else {
      repositoryId = (await selectRepositoryForService(tx, ctx.orgId, input.service))?.id ?? null;
    }
    const values = {
      orgId: ctx.orgId,
      repositoryId,
      service: input.service,
      environment: input.environment,
      version: input.version ?? null,
      sha: input.sha,
      deployedAt: input.deployedAt,
      source: "api" as const,
      externalId: input.externalId ?? null,
    };
    const [inserted] = await tx.insert(deploys).values(values).onConflictDoNothing().returning();
    if (!inserted) {
      const [existing] = await tx
        .select()
        .from(deploys)
        .where(
          and(
            eq(deploys.orgId, ctx.orgId),
            eq(deploys.source, "api"),
            eq(deploys.externalId, input.externalId ?? ""),
          ),
        );
      return { deploy: existing!, created: false };
    }
    await appendAudit(tx, ctx, {
      action: "deploy.recorded",
      subjectType: "deploy",
      subjectId: inserted.id,
      data: {
        service: inserted.service,
        environment: inserted.environment,
        version: inserted.version,
        sha: inserted.sha,
        deployedAt: inserted.deployedAt.toISOString(),
        repositoryId,
      },
    });
    return { deploy: inserted, created: true };
  });
}

export interface ListDeploysInput {
  service?: string;
  environment?: string;
  repositoryId?: string;
  version?: string;
  from?: Date;
  to?: Date;
  limit: number;
  after?: Cursor;
}

export async function listDeploys(
  deps: Pick<ChangesDeps, "db">,
  ctx: OrgContext,
  input: ListDeploysInput,
): Promise<{ rows: Deploy[] }> {
  const filters: (SQL | undefined)[] = [eq(deploys.orgId, ctx.orgId)];
  if (input.service) filters.push(eq(deploys.service, input.service));
  if (input.environment) filters.push(eq(deploys.environment, input.environment));
  if (input.repositoryId) filters.push(eq(deploys.repositoryId, input.repositoryId));
  if (input.version) filters.push(eq(deploys.version, input.version));
  if (input.from) filters.push(gte(deploys.deployedAt, input.from));
  if (input.to) filters.push(lte(deploys.deployedAt, input.to));
  if (input.after) {
    const { at, id } = input.after;
    filters.push(or(lt(deploys.deployedAt, at), and(eq(deploys.deployedAt, at), lt(deploys.id, id))));
  }
  const rows = await withOrg(deps.db, ctx.orgId, (tx) =>
    tx
      .select()
      .from(deploys)
      .where(and(...filters))
      .orderBy(desc(deploys.deployedAt), desc(deploys.id))
      .limit(input.limit + 1),
  );
  return { rows };
}

/**
 * The SHA a release or version of `service` runs: the version itself when it is (or ends in) a full SHA,
 * else the most recent deploy that recorded this version (as given, or without a `service@` prefix, or
 * with one), preferring deploys of that service. Null when nothing says.
 */
export async function resolveVersionToSha(
  tx: OrgTx,
  orgId: string,
  service: string | null | undefined,
  version: string | null | undefined,
): Promise<string | null> {
  const v = version?.trim();
  if (!v) return null;
  const lower = v.toLowerCase();
  if (FULL_SHA.test(lower)) return lower;
  const trailing = TRAILING_SHA.exec(lower);
  if (trailing) return trailing[1]!;
  const candidates = new Set([v]);
  const at = v.indexOf("@");
  if (at > 0) candidates.add(v.slice(at + 1));
  if (service) candidates.add(`${service}@${v}`);
  const rows = await tx
    .select({ sha: deploys.sha, service: deploys.service, deployedAt: deploys.deployedAt })
    .from(deploys)
    .where(and(eq(deploys.orgId, orgId), inArray(deploys.version, [...candidates])))
    .orderBy(desc(deploys.deployedAt), desc(deploys.id))
    .limit(50);
  const preferred = service ? rows.find((r) => r.service === service) : undefined;
  return (preferred ?? rows[0])?.sha ?? null;
}

/**
 * Records that `sha` ran in (service, environment) by `at`, learned from an alert whose release is a full
 * SHA. Once per (service, environment, SHA); the earliest sighting stands.
 */
export async function recordReleaseDeploy(
  tx: OrgTx,
  ctx: OrgContext,
  input: { service: string; environment: string; sha: string; at: Date },
): Promise<Deploy | null> {
  const sha = input.sha.toLowerCase();
  if (!FULL_SHA.test(sha)) return null;
  const repo = await selectRepositoryForService(tx, ctx.orgId, input.service);
  const [row] = await tx
    .insert(deploys)
    .values({
      orgId: ctx.orgId,
      repositoryId: repo?.id ?? null,
      service: input.service,
      environment: input.environment,
      version: sha,
      sha,
      deployedAt: input.at,
      source: "release",
      // Postgres text cannot hold NUL; a newline cannot appear in a service or environment name we accept.
      externalId: `${input.service}\n${input.environment}\n${sha}`,
    })
    .onConflictDoNothing()
    .returning();
  if (row) {
    await appendAudit(tx, ctx, {
      action: "deploy.recorded",
      subjectType: "deploy",
      subjectId: row.id,
      data: { service: row.service, environment: row.environment, sha, source: "release" },
    });
  }
  return row ?? null;
}

/** How many ancestry checks one change's deploy lookup may run. */
const MAX_ANCESTRY_CHECKS = 50;

/**
 * The first deploy in each environment that shipped the change: the earliest deploy at or after its merge
 * whose SHA contains the merge commit (checked in the mirror; an exact SHA match without one).
 */
export async function deploysContainingChange(
  tx: OrgTx,
  mirrors: MirrorStore,
  change: Pick<Change, "orgId" | "repositoryId" | "mergeSha" | "mergedAt" | "commits">,
): Promise<Deploy[]> {
  if (!change.mergeSha || !change.mergedAt) return [];
  const rows = await tx
    .select()
    .from(deploys)
    .where(
      and(
        eq(deploys.orgId, change.orgId),
        eq(deploys.repositoryId, change.repositoryId),
        gte(deploys.deployedAt, change.mergedAt),
      ),
    )
    .orderBy(asc(deploys.deployedAt), asc(deploys.id))
    .limit(500);
  const mirror = { id: change.repositoryId, orgId: change.orgId };
  const hasMirror = await mirrors.exists(mirror);
  const own = new Set([change.mergeSha, ...change.commits]);
  const found = new Map<string, Deploy>();
  let checks = 0;
  for (const deploy of rows) {
    const key = `${deploy.service}\u0000${deploy.environment}`;
    if (found.has(key)) continue;
    let contains = own.has(deploy.sha);
    if (!contains && hasMirror && checks < MAX_ANCESTRY_CHECKS) {
      checks++;
      contains = await mirrors.isAncestor(mirror, change.mergeSha, deploy.sha);
    }
    if (contains) found.set(key, deploy);
  }
  return [...found.values()];
}
