import { and, desc, eq, inArray, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import type { Database, OrgTx } from "../../db/client.ts";
import { type Credential, credentials, orgDataKeys } from "../../db/schema/index.ts";
import { isProviderId, type ProviderId } from "../../integrations/core/types.ts";
import { type OrgContext, requireRole } from "../context.ts";
import { AppError, fieldErrorsFromZod, ValidationError } from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import { DataKeyCache, type WrappedDataKeyRow } from "./data-key-cache.ts";
import { Fernet, InvalidTokenError } from "./fernet.ts";
import { generateDataKey, type MasterKeyring } from "./keyring.ts";
import { INTEGRATION_OWNER, WEBHOOK_SECRET_KIND } from "./kinds.ts";

/** What may leave this module about a credential: never the secret, never the token. */
export interface CredentialMeta {
  id: string;
  ownerType: string;
  ownerId: string | null;
  kind: string;
  /** The last 4 characters of a secret of 12 characters or more; null for shorter ones. */
  last4: string | null;
  metadata: Record<string, unknown>;
  createdAt: Date;
  /** When its ciphertext last moved to a new data key (`causeway keys rotate --reencrypt`). */
  rotatedAt: Date | null;
  retiredAt: Date | null;
}

/** A decrypted secret, for server-side use only (verifying a webhook, calling a vendor). */
export interface RevealedCredential {
  credential: CredentialMeta;
  secret: string;
}

export interface CredentialOwner {
  ownerType: string;
  ownerId: string | null;
}

export const StoreCredentialInput = z.object({
  ownerType: z.string().regex(/^[a-z][a-z_]{0,31}$/, "must be a lower-case identifier"),
  ownerId: z.uuid().nullable(),
  kind: z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, "must be a lower-case identifier"),
  // Private keys are the largest thing we hold (a PEM RSA-4096 key is about 3.3 KB).
  secret: z.string().min(1).max(16_384),
  metadata: z.record(z.string(), z.unknown()).default({}),
});
export type StoreCredentialInput = z.input<typeof StoreCredentialInput>;

/** Everything `getIntegrationForWebhook` needs to authenticate one delivery. */
export interface WebhookIntegration {
  integration: {
    id: string;
    orgId: string;
    provider: ProviderId;
    name: string;
    config: Record<string, unknown>;
  };
  /** Active webhook secrets, newest first (two during a rotation). */
  secrets: string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DEFAULT_CACHE_ENTRIES = 1_000;

/** Shows a little of a long secret so people can tell two apart; short ones would give too much away. */
export function last4Of(secret: string): string | null {
  const chars = Array.from(secret);
  return chars.length >= 12 ? chars.slice(-4).join("") : null;
}

function toMeta(row: Credential): CredentialMeta {
  return {
    id: row.id,
    ownerType: row.ownerType,
    ownerId: row.ownerId,
    kind: row.kind,
    last4: row.last4,
    metadata: row.metadata,
    createdAt: row.createdAt,
    rotatedAt: row.rotatedAt,
    retiredAt: row.retiredAt,
  };
}

const keyColumns = {
  id: orgDataKeys.id,
  masterKeyId: orgDataKeys.masterKeyId,
  wrappedKey: orgDataKeys.wrappedKey,
};

/**
 * The credential store: secrets are Fernet tokens under the org's data key, which is itself stored
 * wrapped by the current master key (envelope encryption, see keyring.ts). Every method that takes a
 * transaction expects `withOrg`'s, so row-level security scopes it to `ctx.orgId` as well.
 *
 * Readers decrypt with whichever data key the credential row names, read in the same statement as the
 * row, so a rotation running alongside never makes a read fail or return another value.
 */
export class CredentialStore {
  readonly #keyring: MasterKeyring;
  readonly #keys: DataKeyCache;

  constructor(keyring: MasterKeyring, options: { cacheEntries?: number } = {}) {
    this.#keyring = keyring;
    this.#keys = new DataKeyCache(keyring, options.cacheEntries ?? DEFAULT_CACHE_ENTRIES);
  }

  /** Encrypts and stores a secret under the org's active data key (made on first use). Admin only. */
  async storeCredential(tx: OrgTx, ctx: OrgContext, raw: StoreCredentialInput): Promise<CredentialMeta> {
    requireRole(ctx, "admin");
    const parsed = StoreCredentialInput.safeParse(raw);
    if (!parsed.success) throw new ValidationError(fieldErrorsFromZod(parsed.error.issues));
    const input = parsed.data;
    const key = await this.#activeDataKey(tx, ctx);
    const [row] = await tx
      .insert(credentials)
      .values({
        orgId: ctx.orgId,
        ownerType: input.ownerType,
        ownerId: input.ownerId,
        kind: input.kind,
        token: key.fernet.encrypt(input.secret),
        dataKeyId: key.id,
        last4: last4Of(input.secret),
        metadata: input.metadata,
      })
      .returning();
    if (!row) throw new Error("insert returned no row");
    await appendAudit(tx, ctx, {
      action: "credential.created",
      subjectType: "credential",
      subjectId: row.id,
      data: { ownerType: row.ownerType, ownerId: row.ownerId, kind: row.kind },
    });
    return toMeta(row);
  }

  /** One credential with its secret, retired or not; null when the org has no such credential. */
  async readCredential(tx: OrgTx, ctx: OrgContext, id: string): Promise<RevealedCredential | null> {
    if (!UUID.test(id)) return null;
    const [row] = await tx
      .select({ credential: credentials, key: keyColumns })
      .from(credentials)
      .innerJoin(orgDataKeys, eq(orgDataKeys.id, credentials.dataKeyId))
      .where(and(eq(credentials.id, id), eq(credentials.orgId, ctx.orgId)))
      .limit(1);
    if (!row) return null;
    return {
      credential: toMeta(row.credential),
      secret: this.#decrypt(row.credential.id, row.credential.token, row.key),
    };
  }

  /** The active (not retired) secrets of an owner, newest first, optionally of one kind. */
  async listSecrets(
    tx: OrgTx,
    ctx: OrgContext,
    owner: CredentialOwner & { kind?: string },
  ): Promise<RevealedCredential[]> {
    const rows = await tx
      .select({ credential: credentials, key: keyColumns })
      .from(credentials)
      .innerJoin(orgDataKeys, eq(orgDataKeys.id, credentials.dataKeyId))
      .where(
        and(
          eq(credentials.orgId, ctx.orgId),
          ...this.#ownerFilter(owner),
          owner.kind === undefined ? undefined : eq(credentials.kind, owner.kind),
          isNull(credentials.retiredAt),
        ),
      )
      .orderBy(desc(credentials.createdAt), desc(credentials.id));
    return rows.map((row) => ({
      credential: toMeta(row.credential),
      secret: this.#decrypt(row.credential.id, row.credential.token, row.key),
    }));
  }

  /** Metadata of an owner's credentials (active only unless asked), newest first. No decryption. */
  async listCredentials(
    tx: OrgTx,
    ctx: OrgContext,
    owner: CredentialOwner & { includeRetired?: boolean },
  ): Promise<CredentialMeta[]> {
    const rows = await tx
      .select()
      .from(credentials)
      .where(
        and(
          eq(credentials.orgId, ctx.orgId),
          ...this.#ownerFilter(owner),
          owner.includeRetired ? undefined : isNull(credentials.retiredAt),
        ),
      )
      .orderBy(desc(credentials.createdAt), desc(credentials.id));
    return rows.map(toMeta);
  }

  /** Metadata of the active credentials of many owners of one type, in one query, grouped by owner id. */
  async listCredentialsOfOwners(
    tx: OrgTx,
    ctx: OrgContext,
    ownerType: string,
    ownerIds: readonly string[],
  ): Promise<Map<string, CredentialMeta[]>> {
    const out = new Map<string, CredentialMeta[]>(ownerIds.map((id) => [id, []]));
    if (ownerIds.length === 0) return out;
    const rows = await tx
      .select()
      .from(credentials)
      .where(
        and(
          eq(credentials.orgId, ctx.orgId),
          eq(credentials.ownerType, ownerType),
          inArray(credentials.ownerId, [...ownerIds]),
          isNull(credentials.retiredAt),
        ),
      )
      .orderBy(desc(credentials.createdAt), desc(credentials.id));
    for (const row of rows) out.get(row.ownerId ?? "")?.push(toMeta(row));
    return out;
  }

  /** Stops a credential from being used; its row stays for the record. Null when not found or retired. */
  async retireCredential(tx: OrgTx, ctx: OrgContext, id: string): Promise<CredentialMeta | null> {
    requireRole(ctx, "admin");
    if (!UUID.test(id)) return null;
    const [row] = await tx
      .update(credentials)
      .set({ retiredAt: sql`now()` })
      .where(and(eq(credentials.id, id), eq(credentials.orgId, ctx.orgId), isNull(credentials.retiredAt)))
      .returning();
    if (!row) return null;
    await appendAudit(tx, ctx, {
      action: "credential.retired",
      subjectType: "credential",
      subjectId: row.id,
      data: { ownerType: row.ownerType, ownerId: row.ownerId, kind: row.kind },
    });
    return toMeta(row);
  }

  /**
   * For the webhook route, which knows only the integration id from its URL: the integration (its org,
   * provider and config) and its active webhook secrets, or null for an unknown or deleted id. Cross-org
   * by nature, so it reads as the owner, but each secret is decrypted with its own org's data key. One
   * query; data keys are unwrapped once per process (cached by id).
   */
  async getIntegrationForWebhook(db: Database, integrationId: string): Promise<WebhookIntegration | null> {
    if (!UUID.test(integrationId)) return null;
    const rows = await db.owner.execute<{
      id: string;
      org_id: string;
      provider: string;
      name: string;
      config: Record<string, unknown>;
      secrets: Array<{ id: string; token: string; keyId: string; masterKeyId: string; wrappedKey: string }>;
    }>(sql`
      select i.id, i.org_id, i.provider, i.name, i.config,
        coalesce(
          json_agg(
            json_build_object(
              'id', c.id, 'token', c.token,
              'keyId', k.id, 'masterKeyId', k.master_key_id, 'wrappedKey', k.wrapped_key
            ) order by c.created_at desc, c.id desc
          ) filter (where c.id is not null),
          '[]'::json
        ) as secrets
      from integrations i
      left join credentials c
        on c.org_id = i.org_id and c.owner_type = ${INTEGRATION_OWNER} and c.owner_id = i.id
        and c.kind = ${WEBHOOK_SECRET_KIND} and c.retired_at is null
      left join org_data_keys k on k.id = c.data_key_id and k.org_id = c.org_id
      where i.id = ${integrationId} and i.deleted_at is null
      group by i.id`);
    const row = rows[0];
    if (!row || !isProviderId(row.provider)) return null;
    return {
      integration: {
        id: row.id,
        orgId: row.org_id,
        provider: row.provider,
        name: row.name,
        config: row.config,
      },
      secrets: row.secrets.map((s) =>
        this.#decrypt(s.id, s.token, { id: s.keyId, masterKeyId: s.masterKeyId, wrappedKey: s.wrappedKey }),
      ),
    };
  }

  #ownerFilter(owner: CredentialOwner) {
    return [
      eq(credentials.ownerType, owner.ownerType),
      owner.ownerId === null ? isNull(credentials.ownerId) : eq(credentials.ownerId, owner.ownerId),
    ];
  }

  #decrypt(credentialId: string, token: string, key: WrappedDataKeyRow): string {
    try {
      return this.#keys.fernetFor(key).decryptString(token);
    } catch (error) {
      // Neither the token nor any key material goes into the error; the id is enough to investigate.
      if (error instanceof InvalidTokenError) {
        throw new AppError("internal", {
          detail: `credential ${credentialId} could not be decrypted (${error.reason.replaceAll("_", " ")})`,
        });
      }
      throw error;
    }
  }

  /**
   * The org's active data key, created (version max + 1, wrapped by the current master key) when it has
   * none. The row is locked FOR SHARE, so a rotation cannot retire the key between our read and our
   * insert of a credential under it. The partial unique index lets only one concurrent creator win; the
   * loser reads the winner's key on the next pass.
   */
  async #activeDataKey(tx: OrgTx, ctx: OrgContext): Promise<{ id: string; fernet: Fernet }> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const [active] = await tx
        .select(keyColumns)
        .from(orgDataKeys)
        .where(and(eq(orgDataKeys.orgId, ctx.orgId), eq(orgDataKeys.state, "active")))
        .for("share");
      if (active) return { id: active.id, fernet: this.#keys.fernetFor(active) };

      const dataKey = generateDataKey();
      const wrapped = this.#keyring.wrapDataKey(dataKey);
      const [created] = await tx
        .insert(orgDataKeys)
        .values({
          orgId: ctx.orgId,
          version: sql`(select coalesce(max(version), 0) + 1 from org_data_keys where org_id = ${ctx.orgId})`,
          masterKeyId: wrapped.keyId,
          wrappedKey: wrapped.wrapped,
          state: "active",
        })
        .onConflictDoNothing()
        .returning({ id: orgDataKeys.id, version: orgDataKeys.version });
      if (created) {
        const fernet = new Fernet(dataKey);
        this.#keys.remember(created.id, fernet);
        await appendAudit(tx, ctx, {
          action: "data_key.created",
          subjectType: "data_key",
          subjectId: created.id,
          data: { version: created.version, masterKeyId: wrapped.keyId },
        });
        return { id: created.id, fernet };
      }
    }
    throw new AppError("conflict", { detail: "the org's data key changed during the request; retry" });
  }
}
