import { randomBytes } from "node:crypto";
import { and, desc, eq, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import { type Database, type OrgTx, withOrg } from "../../db/client.ts";
import { type Integration, integrations } from "../../db/schema/index.ts";
import {
  PROVIDER_CREDENTIALS,
  parseProviderConfig,
  SECRET_FIELDS,
  type SecretField,
} from "../../integrations/core/config-schemas.ts";
import { PROVIDER_IDS, type ProviderId } from "../../integrations/core/types.ts";
import { type OrgContext, requireRole } from "../context.ts";
import { AppError, type FieldError, fieldErrorsFromZod, NotFoundError, ValidationError } from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import { fieldOfKind, INTEGRATION_OWNER, KIND_BY_FIELD, WEBHOOK_SECRET_KIND } from "./kinds.ts";
import type { CredentialMeta, CredentialStore } from "./store.ts";

/** Two valid secrets of a kind at once is what a rollover needs; a third would only linger. */
const MAX_ACTIVE_PER_KIND = 2;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const secretValue = z
  .string()
  .min(1)
  .max(16_384)
  .refine((s) => s.trim() !== "", "must not be blank")
  // Postgres text cannot hold U+0000 (it failed in the insert as a 500); no real token or key contains it.
  .refine((s) => !s.includes("\0"), "must not contain the NUL character (U+0000)");
// A webhook secret guards an endpoint on the internet: short shared tokens are guessable.
const webhookSecretValue = secretValue.refine((s) => s.length >= 16, "must be at least 16 characters");

export const SecretsInput = z.strictObject({
  webhookSecret: webhookSecretValue.optional(),
  apiKey: secretValue.optional(),
  applicationKey: secretValue.optional(),
  apiToken: secretValue.optional(),
  botToken: secretValue.optional(),
  privateKey: secretValue.optional(),
} satisfies Record<SecretField, z.ZodType>);

/** A display name: one line, no control characters (Postgres text cannot hold NUL). */
const IntegrationName = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters");

export const CreateIntegrationInput = z.object({
  provider: z.enum(PROVIDER_IDS),
  name: IntegrationName,
  /** Validated against the provider's schema (integrations/core/config-schemas.ts). */
  config: z.record(z.string(), z.unknown()).default({}),
  secrets: SecretsInput.default({}),
});
export type CreateIntegrationInput = z.input<typeof CreateIntegrationInput>;

export const UpdateIntegrationInput = z
  .object({
    name: IntegrationName.optional(),
    /** The whole new config (it replaces the old one), validated against the provider's schema. */
    config: z.record(z.string(), z.unknown()).optional(),
    /** Adds a secret next to the current ones (a rollover). A webhook secret is generated when omitted. */
    addSecret: z.strictObject({ kind: z.enum(SECRET_FIELDS), value: secretValue.optional() }).optional(),
    /** Retires one secret by id (see `secrets[].id`). */
    retireSecret: z.uuid().optional(),
  })
  .refine((p) => Object.values(p).some((v) => v !== undefined), "nothing to change");
export type UpdateIntegrationInput = z.input<typeof UpdateIntegrationInput>;

export const ListIntegrationsInput = z.object({
  provider: z.enum(PROVIDER_IDS).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});
export type ListIntegrationsInput = z.input<typeof ListIntegrationsInput>;

export interface SecretView {
  id: string;
  kind: string;
  last4: string | null;
  createdAt: string;
  rotatedAt: string | null;
}

export interface IntegrationView {
  id: string;
  provider: ProviderId;
  name: string;
  webhookUrl: string;
  config: Record<string, unknown>;
  /** Metadata of the active secrets, newest first. Never the secrets. */
  secrets: SecretView[];
  createdAt: string;
  updatedAt: string;
}

/** A view plus, when Causeway generated one in this request, the webhook secret: shown this once. */
export type IntegrationWithSecret = IntegrationView & { webhookSecret?: string };

export interface IntegrationServiceDeps {
  db: Database;
  store: CredentialStore;
  /** `PUBLIC_URL`, else `http://localhost:<port>`; webhook URLs hang off it. */
  publicBaseUrl: string;
  /**
   * Called after a change to an integration's config or secrets commits, so in-process caches of the
   * webhook lookup can drop it at once rather than at their expiry.
   */
  onChanged?: (integrationId: string) => void;
}

/** 256 random bits as hex: accepted by every sender's secret field and safe in a header. */
export function generateWebhookSecret(): string {
  return randomBytes(32).toString("hex");
}

function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new ValidationError(fieldErrorsFromZod(parsed.error.issues));
  return parsed.data;
}

function validConfig(provider: ProviderId, config: unknown): Record<string, unknown> {
  const result = parseProviderConfig(provider, config);
  if (result.ok) return result.config;
  throw new ValidationError(
    fieldErrorsFromZod(result.issues.map((issue) => ({ ...issue, path: ["config", ...issue.path] }))),
    `the config is not valid for a ${provider} integration`,
  );
}

function unusedSecretFields(provider: ProviderId, fields: readonly string[], path: string): FieldError[] {
  const allowed: readonly string[] = PROVIDER_CREDENTIALS[provider].fields;
  return fields
    .filter((f) => !allowed.includes(f))
    .map((f) => ({
      path: path === "secrets" ? `secrets.${f}` : path,
      message: `${provider} integrations do not use ${f} (they take ${allowed.join(", ")})`,
    }));
}

function encodeCursor(id: string): string {
  return Buffer.from(JSON.stringify({ after: id })).toString("base64url");
}

function decodeCursor(cursor: string): string {
  try {
    const value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as { after?: unknown };
    if (typeof value.after === "string" && UUID.test(value.after)) return value.after;
  } catch {
    // fall through
  }
  throw new ValidationError([{ path: "cursor", message: "not a cursor returned by this list" }]);
}

/**
 * Connected external systems of an org: config (validated per provider, not secret) and their secrets
 * (in the credential store, shown as metadata only). Mutations are admin-only and audited in the same
 * transaction; the audit entries name secret kinds and ids, never values.
 */
export class IntegrationService {
  readonly #db: Database;
  readonly #store: CredentialStore;
  readonly #publicBaseUrl: string;
  readonly #onChanged: (integrationId: string) => void;

  constructor(deps: IntegrationServiceDeps) {
    this.#db = deps.db;
    this.#store = deps.store;
    this.#publicBaseUrl = deps.publicBaseUrl.replace(/\/+$/, "");
    this.#onChanged = deps.onChanged ?? (() => {});
  }

  webhookUrlOf(provider: string, id: string): string {
    // Slack calls back on its interactivity path (DESIGN.md §9).
    const suffix = provider === "slack" ? "/interactions" : "";
    return `${this.#publicBaseUrl}/webhooks/${provider}/${id}${suffix}`;
  }

  async createIntegration(ctx: OrgContext, raw: CreateIntegrationInput): Promise<IntegrationWithSecret> {
    requireRole(ctx, "admin");
    const input = parseOrThrow(CreateIntegrationInput, raw);
    const config = validConfig(input.provider, input.config);
    const given = Object.entries(input.secrets).filter((e): e is [SecretField, string] => e[1] !== undefined);
    const unused = unusedSecretFields(
      input.provider,
      given.map(([f]) => f),
      "secrets",
    );
    if (unused.length > 0) throw new ValidationError(unused);
    const generated =
      input.secrets.webhookSecret === undefined &&
      PROVIDER_CREDENTIALS[input.provider].webhookSecretChosenBy === "receiver"
        ? generateWebhookSecret()
        : undefined;
    if (generated !== undefined) given.push(["webhookSecret", generated]);

    return withOrg(this.#db, ctx.orgId, async (tx) => {
      const [row] = await tx
        .insert(integrations)
        .values({ orgId: ctx.orgId, provider: input.provider, name: input.name, config })
        .returning();
      if (!row) throw new Error("insert returned no row");
      for (const [field, secret] of given) {
        await this.#store.storeCredential(tx, ctx, {
          ownerType: INTEGRATION_OWNER,
          ownerId: row.id,
          kind: KIND_BY_FIELD[field],
          secret,
          metadata: { source: secret === generated ? "generated" : "provided" },
        });
      }
      await appendAudit(tx, ctx, {
        action: "integration.created",
        subjectType: "integration",
        subjectId: row.id,
        data: {
          provider: row.provider,
          name: row.name,
          config,
          kinds: given.map(([f]) => f),
          generated: generated !== undefined,
        },
      });
      const view = await this.#view(tx, ctx, row);
      return generated === undefined ? view : { ...view, webhookSecret: generated };
    });
  }

  async listIntegrations(
    ctx: OrgContext,
    raw: ListIntegrationsInput = {},
  ): Promise<{ items: IntegrationView[]; nextCursor: string | null }> {
    const input = parseOrThrow(ListIntegrationsInput, raw);
    const after = input.cursor === undefined ? undefined : decodeCursor(input.cursor);
    return withOrg(this.#db, ctx.orgId, async (tx) => {
      const rows = await tx
        .select()
        .from(integrations)
        .where(
          and(
            eq(integrations.orgId, ctx.orgId),
            isNull(integrations.deletedAt),
            input.provider === undefined ? undefined : eq(integrations.provider, input.provider),
            // Keyset on (created_at, id), compared in SQL so microseconds are not lost on the way.
            after === undefined
              ? undefined
              : sql`(${integrations.createdAt}, ${integrations.id}) < (select i.created_at, i.id from integrations i where i.id = ${after})`,
          ),
        )
        .orderBy(desc(integrations.createdAt), desc(integrations.id))
        .limit(input.limit + 1);
      const page = rows.slice(0, input.limit);
      const secrets = await this.#store.listCredentialsOfOwners(
        tx,
        ctx,
        INTEGRATION_OWNER,
        page.map((r) => r.id),
      );
      return {
        items: page.map((row) => this.#toView(row, secrets.get(row.id) ?? [])),
        nextCursor:
          rows.length > input.limit && page.length > 0 ? encodeCursor(page[page.length - 1]!.id) : null,
      };
    });
  }

  async getIntegration(ctx: OrgContext, id: string): Promise<IntegrationView> {
    return withOrg(this.#db, ctx.orgId, async (tx) => this.#view(tx, ctx, await this.#load(tx, ctx, id)));
  }

  async updateIntegration(
    ctx: OrgContext,
    id: string,
    raw: UpdateIntegrationInput,
  ): Promise<IntegrationWithSecret> {
    requireRole(ctx, "admin");
    const patch = parseOrThrow(UpdateIntegrationInput, raw);
    const updated = await withOrg(this.#db, ctx.orgId, async (tx) => {
      const current = await this.#load(tx, ctx, id, { lock: true });
      const provider = current.provider as ProviderId;
      const changed: string[] = [];
      const audit: Record<string, unknown> = {};
      const set: Partial<typeof integrations.$inferInsert> = {};
      if (patch.name !== undefined && patch.name !== current.name) {
        set.name = patch.name;
        changed.push("name");
      }
      if (patch.config !== undefined) {
        set.config = validConfig(provider, patch.config);
        audit.config = set.config;
        changed.push("config");
      }

      let generated: string | undefined;
      if (patch.addSecret !== undefined) {
        const { kind: field, value } = patch.addSecret;
        const unused = unusedSecretFields(provider, [field], "addSecret.kind");
        if (unused.length > 0) throw new ValidationError(unused);
        const active = await this.#store.listCredentials(tx, ctx, {
          ownerType: INTEGRATION_OWNER,
          ownerId: id,
        });
        if (active.filter((c) => c.kind === KIND_BY_FIELD[field]).length >= MAX_ACTIVE_PER_KIND) {
          throw new AppError("conflict", {
            detail: `this integration already has ${MAX_ACTIVE_PER_KIND} active ${field} values; retire one first`,
          });
        }
        let secret = value;
        if (field === "webhookSecret") {
          if (secret !== undefined) secret = parseOrThrow(webhookSecretValue, secret);
          else if (PROVIDER_CREDENTIALS[provider].webhookSecretChosenBy === "receiver") {
            secret = generated = generateWebhookSecret();
          }
        }
        if (secret === undefined) {
          const why =
            field === "webhookSecret" ? `${provider} issues the webhook secret; paste it in` : "required";
          throw new ValidationError([{ path: "addSecret.value", message: why }]);
        }
        const stored = await this.#store.storeCredential(tx, ctx, {
          ownerType: INTEGRATION_OWNER,
          ownerId: id,
          kind: KIND_BY_FIELD[field],
          secret,
          metadata: { source: generated === undefined ? "provided" : "generated" },
        });
        audit.added = { id: stored.id, kind: field };
        changed.push("secrets");
      }

      if (patch.retireSecret !== undefined) {
        const active = await this.#store.listCredentials(tx, ctx, {
          ownerType: INTEGRATION_OWNER,
          ownerId: id,
        });
        const target = active.find((c) => c.id === patch.retireSecret);
        if (!target) throw new NotFoundError("active secret of this integration");
        if (
          target.kind === WEBHOOK_SECRET_KIND &&
          active.filter((c) => c.kind === WEBHOOK_SECRET_KIND).length === 1
        ) {
          throw new AppError("conflict", {
            detail: "this is the integration's only webhook secret; add its replacement first",
          });
        }
        await this.#store.retireCredential(tx, ctx, target.id);
        audit.retired = { id: target.id, kind: fieldOfKind(target.kind) };
        if (!changed.includes("secrets")) changed.push("secrets");
      }

      const [row] = await tx
        .update(integrations)
        .set({ ...set, updatedAt: sql`now()` })
        .where(and(eq(integrations.id, id), eq(integrations.orgId, ctx.orgId)))
        .returning();
      if (!row) throw new NotFoundError("integration");
      await appendAudit(tx, ctx, {
        action: "integration.updated",
        subjectType: "integration",
        subjectId: id,
        data: { changed, ...(set.name === undefined ? {} : { name: set.name }), ...audit },
      });
      const view = await this.#view(tx, ctx, row);
      return generated === undefined ? view : { ...view, webhookSecret: generated };
    });
    this.#onChanged(id);
    return updated;
  }

  /** Soft delete: the row stays for the record, its secrets are retired, its webhook URL stops working. */
  async deleteIntegration(ctx: OrgContext, id: string): Promise<void> {
    requireRole(ctx, "admin");
    await withOrg(this.#db, ctx.orgId, async (tx) => {
      const current = await this.#load(tx, ctx, id, { lock: true });
      await tx
        .update(integrations)
        .set({ deletedAt: sql`now()`, updatedAt: sql`now()` })
        .where(and(eq(integrations.id, id), eq(integrations.orgId, ctx.orgId)));
      const active = await this.#store.listCredentials(tx, ctx, {
        ownerType: INTEGRATION_OWNER,
        ownerId: id,
      });
      for (const credential of active) await this.#store.retireCredential(tx, ctx, credential.id);
      await appendAudit(tx, ctx, {
        action: "integration.deleted",
        subjectType: "integration",
        subjectId: id,
        data: { provider: current.provider, name: current.name, retired: active.length },
      });
    });
    this.#onChanged(id);
  }

  /** The integration of this org with that id, or 404 (also for another org's id and deleted ones). */
  async #load(
    tx: OrgTx,
    ctx: OrgContext,
    id: string,
    options: { lock?: boolean } = {},
  ): Promise<Integration> {
    if (!UUID.test(id)) throw new NotFoundError("integration");
    const query = tx
      .select()
      .from(integrations)
      .where(and(eq(integrations.id, id), eq(integrations.orgId, ctx.orgId), isNull(integrations.deletedAt)));
    const [row] = options.lock ? await query.for("update") : await query;
    if (!row) throw new NotFoundError("integration");
    return row;
  }

  async #view(tx: OrgTx, ctx: OrgContext, row: Integration): Promise<IntegrationView> {
    const secrets = await this.#store.listCredentials(tx, ctx, {
      ownerType: INTEGRATION_OWNER,
      ownerId: row.id,
    });
    return this.#toView(row, secrets);
  }

  #toView(row: Integration, secrets: CredentialMeta[]): IntegrationView {
    return {
      id: row.id,
      provider: row.provider as ProviderId,
      name: row.name,
      webhookUrl: this.webhookUrlOf(row.provider, row.id),
      config: row.config,
      secrets: secrets.map((s) => ({
        id: s.id,
        kind: fieldOfKind(s.kind),
        last4: s.last4,
        createdAt: s.createdAt.toISOString(),
        rotatedAt: s.rotatedAt?.toISOString() ?? null,
      })),
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
    };
  }
}
