/**
 * GitHub App installation tokens. The app id and installation id live in a `github` integration's config,
 * its private key in the credential store (owner: that integration, kind `private_key`). A token is
 * bought with a freshly signed app JWT and cached until shortly before it expires (GitHub issues them
 * for one hour), per (integration, installation, key): rotating the key buys a new token.
 */
import { and, eq, isNull } from "drizzle-orm";
import { type Database, type OrgTx, withOrg } from "../../db/client.ts";
import { integrations } from "../../db/schema/index.ts";
import { CONFIG_SCHEMAS } from "../../integrations/core/config-schemas.ts";
import { UpstreamError } from "../../integrations/core/upstream.ts";
import { createGitHubClient, type InstallationToken, signAppJwt } from "../../integrations/github/client.ts";
import type { OrgContext } from "../context.ts";
import { INTEGRATION_OWNER, KIND_BY_FIELD } from "../credentials/kinds.ts";
import type { CredentialStore } from "../credentials/store.ts";
import { AppError, NotFoundError } from "../errors.ts";
import { integrationErrorOf } from "./upstream-errors.ts";

export interface GitHubAppRef {
  integrationId: string;
  /** Overrides the integration's configured installation (one app, several organisations). */
  installationId?: number;
}

export interface GitHubAppAccess {
  token: string;
  expiresAt: Date;
  apiBaseUrl: string;
}

interface AppSettings {
  appId: number;
  installationId: number;
  apiBaseUrl: string;
  privateKey: string;
  keyId: string;
}

export class GitHubAppTokens {
  readonly #cache = new Map<string, InstallationToken>();
  readonly #inFlight = new Map<string, Promise<InstallationToken>>();
  readonly #refreshBeforeMs: number;
  readonly #now: () => Date;

  constructor(
    private readonly credentials: CredentialStore,
    options: { refreshBeforeMs?: number; now?: () => Date } = {},
  ) {
    this.#refreshBeforeMs = options.refreshBeforeMs ?? 5 * 60_000;
    this.#now = options.now ?? (() => new Date());
  }

  /** A valid installation token for the app of `ref.integrationId` (an integration of ctx.orgId). */
  async installationToken(db: Database, ctx: OrgContext, ref: GitHubAppRef): Promise<GitHubAppAccess> {
    const settings = await withOrg(db, ctx.orgId, (tx) => this.#settings(tx, ctx, ref));
    const key = `${ctx.orgId}:${ref.integrationId}:${settings.installationId}:${settings.keyId}`;
    const cached = this.#cache.get(key);
    if (cached && cached.expiresAt.getTime() - this.#refreshBeforeMs > this.#now().getTime()) {
      return { ...cached, apiBaseUrl: settings.apiBaseUrl };
    }
    let pending = this.#inFlight.get(key);
    if (!pending) {
      pending = this.#buy(settings).finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pending);
    }
    const token = await pending;
    this.#cache.set(key, token);
    return { ...token, apiBaseUrl: settings.apiBaseUrl };
  }

  /** Forgets cached tokens (a refused token, a deleted integration). */
  forget(orgId: string, integrationId: string): void {
    for (const key of this.#cache.keys())
      if (key.startsWith(`${orgId}:${integrationId}:`)) this.#cache.delete(key);
  }

  async #buy(settings: AppSettings): Promise<InstallationToken> {
    const jwt = await signAppJwt(settings.appId, settings.privateKey, this.#now());
    try {
      return await createGitHubClient({ baseUrl: settings.apiBaseUrl, token: jwt }).createInstallationToken(
        settings.installationId,
      );
    } catch (error) {
      if (error instanceof UpstreamError) throw integrationErrorOf("GitHub", error);
      throw error;
    }
  }

  async #settings(tx: OrgTx, ctx: OrgContext, ref: GitHubAppRef): Promise<AppSettings> {
    const [integration] = await tx
      .select()
      .from(integrations)
      .where(
        and(
          eq(integrations.id, ref.integrationId),
          eq(integrations.orgId, ctx.orgId),
          eq(integrations.provider, "github"),
          isNull(integrations.deletedAt),
        ),
      );
    if (!integration) throw new NotFoundError("GitHub integration");
    const config = CONFIG_SCHEMAS.github.safeParse(integration.config);
    if (!config.success) {
      throw new AppError("bad_request", { detail: "the GitHub integration's config is not valid" });
    }
    const installationId = ref.installationId ?? config.data.installationId;
    if (config.data.appId === undefined || installationId === undefined) {
      throw new AppError("bad_request", {
        detail: "the GitHub integration needs an appId and an installationId to act as a GitHub App",
      });
    }
    const [key] = await this.credentials.listSecrets(tx, ctx, {
      ownerType: INTEGRATION_OWNER,
      ownerId: integration.id,
      kind: KIND_BY_FIELD.privateKey,
    });
    if (!key) throw new AppError("bad_request", { detail: "the GitHub integration has no private key" });
    return {
      appId: config.data.appId,
      installationId,
      apiBaseUrl: config.data.apiBaseUrl,
      privateKey: key.secret,
      keyId: key.credential.id,
    };
  }
}
