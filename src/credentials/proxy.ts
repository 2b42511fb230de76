import { and, asc, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import { type Database, type OrgTx, withOrg } from "../../db/client.ts";
import { type Integration, integrations } from "../../db/schema/index.ts";
import { CONFIG_SCHEMAS, type SecretField } from "../../integrations/core/config-schemas.ts";
import { type HttpLimits, UpstreamError } from "../../integrations/core/upstream.ts";
import type { DatadogClient, DatadogClientOptions } from "../../integrations/datadog/client.ts";
import type { GrafanaClient, GrafanaClientOptions } from "../../integrations/grafana/client.ts";
import type { SignozClient, SignozClientOptions } from "../../integrations/signoz/client.ts";
import type { OrgContext } from "../context.ts";
import { AppError, fieldErrorsFromZod, IntegrationError, NotFoundError, ValidationError } from "../errors.ts";
import { appendAudit } from "../evidence/audit.ts";
import { redactString } from "../telemetry/redact.ts";
import { capJson } from "./json-cap.ts";
import { fieldOfKind, INTEGRATION_OWNER } from "./kinds.ts";
import { PROXY_OPERATIONS, type ProxyOperation, type ProxyProvider } from "./proxy-operations.ts";
import type { CredentialStore } from "./store.ts";

/** How the proxy gets vendor clients; the composition root supplies the real ones. */
export interface ProxyClientFactories {
  datadog(options: DatadogClientOptions): DatadogClient;
  grafana(options: GrafanaClientOptions): GrafanaClient;
  signoz(options: SignozClientOptions): SignozClient;
}

export interface QueryProxyDeps {
  db: Database;
  store: CredentialStore;
  clients: ProxyClientFactories;
  /** Deadline of one vendor call. */
  timeoutMs: number;
  /** Bytes of vendor answer we read at most; more is an error (the query should be narrower). */
  maxUpstreamBytes: number;
  /** Bytes of answer we return at most; more is cut down and flagged `truncated`. */
  maxResponseBytes: number;
}

export const ProxyRequestInput = z.strictObject({
  /** Which integration's credentials to use; may be left out when the org has one of that provider. */
  integrationId: z.uuid().optional(),
  params: z.record(z.string(), z.unknown()).default({}),
});
export type ProxyRequestInput = z.input<typeof ProxyRequestInput>;

export interface ProxyResult {
  provider: ProxyProvider;
  operation: string;
  integrationId: string;
  /** True when the answer was larger than the response cap and lists in it were shortened. */
  truncated: boolean;
  data: unknown;
}

const DISPLAY: Record<ProxyProvider, string> = { datadog: "Datadog", grafana: "Grafana", signoz: "SigNoz" };

function isProxyProvider(value: string): value is ProxyProvider {
  return Object.hasOwn(PROXY_OPERATIONS, value);
}

/**
 * Runs an allow-listed, read-only vendor query with the org's stored credentials, server-side: the
 * caller names an operation and its params and gets data back, never a credential. Every call that
 * reaches a known integration is audited with its operation and outcome (not the answer).
 */
export class QueryProxy {
  readonly #deps: QueryProxyDeps;

  constructor(deps: QueryProxyDeps) {
    this.#deps = deps;
  }

  async run(
    ctx: OrgContext,
    provider: string,
    operation: string,
    raw: ProxyRequestInput,
  ): Promise<ProxyResult> {
    const op = isProxyProvider(provider)
      ? (PROXY_OPERATIONS[provider] as Record<string, ProxyOperation<unknown>>)[operation]
      : undefined;
    if (!isProxyProvider(provider) || !op || !Object.hasOwn(PROXY_OPERATIONS[provider], operation)) {
      throw new NotFoundError(`proxy operation ${provider}/${operation}`);
    }
    const input = ProxyRequestInput.safeParse(raw);
    if (!input.success) throw new ValidationError(fieldErrorsFromZod(input.error.issues));
    const params = op.params.safeParse(input.data.params);
    if (!params.success) {
      throw new ValidationError(
        fieldErrorsFromZod(params.error.issues.map((i) => ({ ...i, path: ["params", ...i.path] }))),
        `invalid params for ${provider}/${operation}`,
      );
    }

    // A short transaction for the lookup; the vendor call happens outside it.
    const { integration, secrets } = await withOrg(this.#deps.db, ctx.orgId, async (tx) => {
      const found = await this.#findIntegration(tx, ctx, provider, input.data.integrationId);
      const active = await this.#deps.store.listSecrets(tx, ctx, {
        ownerType: INTEGRATION_OWNER,
        ownerId: found.id,
      });
      // Newest first, so during a rollover the newer credential of each kind is the one used.
      const byField = new Map<string, string>();
      for (const { credential, secret } of active) {
        const field = fieldOfKind(credential.kind);
        if (!byField.has(field)) byField.set(field, secret);
      }
      return { integration: found, secrets: byField };
    });

    const started = performance.now();
    let outcome = "ok";
    let status: number | undefined;
    let truncated = false;
    try {
      const client = this.#client(provider, integration, secrets);
      const capped = capJson(await op.run(client, params.data), this.#deps.maxResponseBytes);
      truncated = capped.truncated;
      return { provider, operation, integrationId: integration.id, truncated, data: capped.value };
    } catch (error) {
      if (error instanceof UpstreamError) {
        outcome = error.failure;
        status = error.status;
        throw this.#toIntegrationError(provider, error, [...secrets.values()]);
      }
      outcome = error instanceof AppError ? error.code : "internal";
      throw error;
    } finally {
      await withOrg(this.#deps.db, ctx.orgId, (tx) =>
        appendAudit(tx, ctx, {
          action: "proxy.query",
          subjectType: "integration",
          subjectId: integration.id,
          data: {
            provider,
            operation,
            outcome,
            ...(status === undefined ? {} : { status }),
            truncated,
            durationMs: Math.round(performance.now() - started),
          },
        }),
      );
    }
  }

  async #findIntegration(
    tx: OrgTx,
    ctx: OrgContext,
    provider: ProxyProvider,
    integrationId: string | undefined,
  ): Promise<Integration> {
    const rows = await tx
      .select()
      .from(integrations)
      .where(
        and(
          eq(integrations.orgId, ctx.orgId),
          eq(integrations.provider, provider),
          isNull(integrations.deletedAt),
          integrationId === undefined ? undefined : eq(integrations.id, integrationId),
        ),
      )
      .orderBy(asc(integrations.createdAt))
      .limit(2);
    if (rows.length === 0) throw new NotFoundError(`${provider} integration`);
    if (rows.length > 1) {
      throw new ValidationError(
        [{ path: "integrationId", message: `this org has several ${provider} integrations; say which` }],
        "integrationId is required",
      );
    }
    return rows[0]!;
  }

  #limits(): HttpLimits {
    return { timeoutMs: this.#deps.timeoutMs, maxBytes: this.#deps.maxUpstreamBytes };
  }

  #client(provider: ProxyProvider, integration: Integration, secrets: Map<string, string>): unknown {
    const need = (field: SecretField): string => {
      const value = secrets.get(field);
      if (value !== undefined) return value;
      throw new AppError("bad_request", {
        detail:
          `the ${DISPLAY[provider]} integration ${integration.id} has no ${field}; ` +
          `add one with PATCH /api/v1/integrations/${integration.id} {"addSecret": {"kind": "${field}", ...}}`,
      });
    };
    const needUrl = (url: string | undefined): string => {
      if (url !== undefined) return url;
      throw new AppError("bad_request", {
        detail: `the ${DISPLAY[provider]} integration ${integration.id} has no url in its config`,
      });
    };
    switch (provider) {
      case "datadog": {
        const config = CONFIG_SCHEMAS.datadog.parse(integration.config);
        return this.#deps.clients.datadog({
          site: config.site,
          ...(config.apiBaseUrl ? { apiBaseUrl: config.apiBaseUrl } : {}),
          apiKey: need("apiKey"),
          applicationKey: need("applicationKey"),
          limits: this.#limits(),
        });
      }
      case "grafana": {
        const config = CONFIG_SCHEMAS.grafana.parse(integration.config);
        return this.#deps.clients.grafana({
          url: needUrl(config.url),
          apiToken: need("apiToken"),
          limits: this.#limits(),
        });
      }
      case "signoz": {
        const config = CONFIG_SCHEMAS.signoz.parse(integration.config);
        return this.#deps.clients.signoz({
          url: needUrl(config.url),
          apiKey: need("apiKey"),
          limits: this.#limits(),
        });
      }
    }
  }

  /** A problem the caller can act on, without anything of the request's credentials or the vendor's body. */
  #toIntegrationError(provider: ProxyProvider, error: UpstreamError, secrets: string[]): IntegrationError {
    const name = DISPLAY[provider];
    const http = error.status === undefined ? "" : ` (HTTP ${error.status})`;
    // The vendor's own words about a refused query help fix it; they could echo input, so scrub them.
    let said = "";
    if (error.upstreamMessage) {
      let text = error.upstreamMessage;
      for (const secret of secrets) text = text.split(secret).join("[redacted]");
      said = `: ${redactString(text)}`;
    }
    const retryable = error.retryable;
    switch (error.failure) {
      case "unauthorized":
        return new IntegrationError(
          `${name} refused the integration's stored credentials${http}; check that they are valid and have read access`,
          { retryable },
        );
      case "rejected":
        return new IntegrationError(`${name} refused the query${http}${said}`, { retryable });
      case "not_found":
        return new IntegrationError(`${name} has no such resource${http}${said}`, { retryable });
      case "rate_limited":
        return new IntegrationError(`${name} is rate limiting these credentials${http}; retry later`, {
          retryable,
        });
      case "server_error":
        return new IntegrationError(`${name} failed to answer${http}`, { retryable });
      case "timeout":
        return new IntegrationError(`${name} did not answer within ${this.#deps.timeoutMs} ms`, {
          retryable,
          timeout: true,
        });
      case "network":
        return new IntegrationError(`could not reach ${name} at the integration's base URL`, { retryable });
      case "too_large":
        return new IntegrationError(
          `${name}'s answer was larger than ${this.#deps.maxUpstreamBytes} bytes; narrow the query`,
          { retryable },
        );
      case "invalid_response":
        return new IntegrationError(`${name} sent an answer that could not be read${http}`, { retryable });
    }
  }
}
