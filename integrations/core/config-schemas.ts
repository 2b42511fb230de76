/**
 * What each provider's integration config may hold, validated with zod on every write. Config is not
 * secret: it is returned by the API and recorded in the audit log, so these schemas are strict (an
 * unknown key, such as a pasted API key, is refused) and secrets travel separately as credentials.
 *
 * Every outbound base URL has a safe https default where the vendor has one, and can be overridden per
 * integration (GitHub Enterprise, Jira Data Center, Datadog sites, GovSlack, self-hosted Grafana/SigNoz).
 */
import { z } from "zod";
import type { ProviderId } from "./types.ts";

/**
 * An http(s) base URL without credentials, query or fragment, normalized without a trailing slash. Any
 * other scheme (file:, javascript:, gopher:, ...) is refused; userinfo is refused because config is not
 * secret and `https://user:pass@host` would put a password in it.
 */
export function baseUrl() {
  return z
    .string()
    .trim()
    .max(2048)
    .transform((value, ctx) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        ctx.addIssue({ code: "custom", message: "must be an absolute http(s) URL" });
        return z.NEVER;
      }
      if (url.protocol !== "https:" && url.protocol !== "http:") {
        ctx.addIssue({ code: "custom", message: "must use http or https" });
        return z.NEVER;
      }
      if (url.username !== "" || url.password !== "") {
        ctx.addIssue({ code: "custom", message: "must not contain credentials; store them as secrets" });
        return z.NEVER;
      }
      if (url.search !== "" || url.hash !== "") {
        ctx.addIssue({ code: "custom", message: "must not contain a query or fragment" });
        return z.NEVER;
      }
      return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
    });
}

/** An HTTP header name (RFC 9110 token characters, a sane length). */
const headerName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, "must be an HTTP header name");

/** How a sender without native body signing authenticates its webhook: a shared token, sent as … */
const unsignedWebhookAuth = z.enum(["bearer", "basic"]);

/** Datadog sites (https://docs.datadoghq.com/getting_started/site/); the API host is `api.<site>`. */
export const DATADOG_SITES = [
  "datadoghq.com",
  "us3.datadoghq.com",
  "us5.datadoghq.com",
  "datadoghq.eu",
  "ap1.datadoghq.com",
  "ap2.datadoghq.com",
  "uk1.datadoghq.com",
  "ddog-gov.com",
  "us2.ddog-gov.com",
] as const;

/** Jira project keys: an upper-case letter, then upper-case letters, digits or underscores. */
const jiraProjectKey = z.string().regex(/^[A-Z][A-Z0-9_]{1,9}$/, "must be a Jira project key such as OPS");

export const CONFIG_SCHEMAS = {
  sentry: z.strictObject({
    apiBaseUrl: baseUrl().default("https://sentry.io"),
    organizationSlug: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "must be a Sentry organization slug")
      .optional(),
  }),
  datadog: z.strictObject({
    site: z.enum(DATADOG_SITES).default("datadoghq.com"),
    /** Overrides `https://api.<site>` (a proxy in front of Datadog, or a test double). */
    apiBaseUrl: baseUrl().optional(),
    /**
     * Datadog does not sign webhooks: a shared token in a custom header (default), an HMAC of the body
     * when the sender can compute one, or Basic auth in the URL.
     */
    webhookAuth: z.enum(["header", "hmac", "basic"]).default("header"),
    authHeader: headerName.default("X-Causeway-Token"),
  }),
  grafana: z.strictObject({
    /** The Grafana instance (self-hosted or a Grafana Cloud stack) the query proxy talks to. */
    url: baseUrl().optional(),
    /** Grafana ≥ 12 signs with HMAC-SHA256; older versions send a Bearer token or Basic auth. */
    webhookAuth: z.enum(["hmac", "bearer", "basic"]).default("hmac"),
    hmacHeader: headerName.default("X-Grafana-Alerting-Signature"),
    /** When set, Grafana sends Unix seconds in this header and signs `timestamp + ":" + body`. */
    timestampHeader: headerName.nullable().default(null),
    timestampToleranceSeconds: z.int().min(30).max(3600).default(300),
  }),
  signoz: z.strictObject({
    /** The SigNoz instance the query proxy talks to (self-hosted or SigNoz Cloud). */
    url: baseUrl().optional(),
    webhookAuth: unsignedWebhookAuth.default("bearer"),
  }),
  mezmo: z.strictObject({
    /** Mezmo does not sign: the token arrives in this header, or in `?token=` when allowed below. */
    authHeader: headerName.default("X-Causeway-Token"),
    allowQueryToken: z.boolean().default(false),
    apiBaseUrl: baseUrl().default("https://api.mezmo.com"),
  }),
  alertmanager: z.strictObject({
    webhookAuth: unsignedWebhookAuth.default("bearer"),
  }),
  pagerduty: z.strictObject({
    apiBaseUrl: baseUrl().default("https://api.pagerduty.com"),
  }),
  github: z.strictObject({
    /** GitHub Enterprise Server: `https://ghe.example.com/api/v3`. */
    apiBaseUrl: baseUrl().default("https://api.github.com"),
    webUrl: baseUrl().default("https://github.com"),
    appId: z.int().positive().optional(),
    installationId: z.int().positive().optional(),
  }),
  jira: z.strictObject({
    /** The Jira site: `https://acme.atlassian.net` (Cloud) or a Data Center base URL. */
    baseUrl: baseUrl(),
    deployment: z.enum(["cloud", "data_center"]).default("cloud"),
    /** Keys we accept when linking PRs to tickets (the bare key pattern also matches UTF-8, SHA-256). */
    projectKeys: z
      .array(jiraProjectKey)
      .max(200)
      .default([])
      .refine((keys) => new Set(keys).size === keys.length, "must not repeat a key"),
    /** Jira Cloud REST authenticates with this account's email and an API token (a secret). */
    email: z.email().max(320).optional(),
  }),
  slack: z.strictObject({
    /** GovSlack: `https://slack-gov.com/api`. */
    apiBaseUrl: baseUrl().default("https://slack.com/api"),
    /** Where investigation reports go: a channel id (C0123ABC) or a #name. */
    defaultChannel: z
      .string()
      .regex(/^(#[a-z0-9._-]{1,80}|[CG][A-Z0-9]{6,20})$/, "must be a channel id or #name"),
    /** Per-service routing: service name → channel; other services use defaultChannel. */
    serviceChannels: z
      .record(
        z.string().min(1).max(200),
        z.string().regex(/^(#[a-z0-9._-]{1,80}|[CG][A-Z0-9]{6,20})$/, "must be a channel id or #name"),
      )
      .default({}),
    /** Where an incident still open and unacknowledged after escalateAfterMinutes is re-posted, once. */
    escalationChannel: z
      .string()
      .regex(/^(#[a-z0-9._-]{1,80}|[CG][A-Z0-9]{6,20})$/, "must be a channel id or #name")
      .optional(),
    escalateAfterMinutes: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 60)
      .default(30),
  }),
} as const satisfies Record<ProviderId, z.ZodType>;

export type ProviderConfig<P extends ProviderId> = z.output<(typeof CONFIG_SCHEMAS)[P]>;

/**
 * The secrets an integration of each provider can hold. `webhookSecret` authenticates inbound webhooks
 * (an HMAC key or a shared token); the rest are outbound API credentials.
 */
export const SECRET_FIELDS = [
  "webhookSecret",
  "apiKey",
  "applicationKey",
  "apiToken",
  "botToken",
  "privateKey",
] as const;
export type SecretField = (typeof SECRET_FIELDS)[number];

export interface ProviderCredentials {
  fields: readonly SecretField[];
  /**
   * Who chooses the webhook secret. "receiver": the sender lets the user paste any value (GitHub, Jira,
   * Grafana HMAC, or a token header for senders that do not sign), so Causeway generates a strong one.
   * "sender": the vendor issues it (Sentry's client secret, Slack's signing secret, a PagerDuty
   * subscription's secret), so it has to be pasted in, at creation or later with `addSecret`.
   */
  webhookSecretChosenBy: "receiver" | "sender";
}

export const PROVIDER_CREDENTIALS = {
  sentry: { fields: ["webhookSecret", "apiToken"], webhookSecretChosenBy: "sender" },
  datadog: { fields: ["webhookSecret", "apiKey", "applicationKey"], webhookSecretChosenBy: "receiver" },
  grafana: { fields: ["webhookSecret", "apiToken"], webhookSecretChosenBy: "receiver" },
  signoz: { fields: ["webhookSecret", "apiKey"], webhookSecretChosenBy: "receiver" },
  mezmo: { fields: ["webhookSecret", "apiKey"], webhookSecretChosenBy: "receiver" },
  alertmanager: { fields: ["webhookSecret"], webhookSecretChosenBy: "receiver" },
  pagerduty: { fields: ["webhookSecret", "apiToken"], webhookSecretChosenBy: "sender" },
  github: { fields: ["webhookSecret", "apiToken", "privateKey"], webhookSecretChosenBy: "receiver" },
  jira: { fields: ["webhookSecret", "apiToken"], webhookSecretChosenBy: "receiver" },
  slack: { fields: ["webhookSecret", "botToken"], webhookSecretChosenBy: "sender" },
} as const satisfies Record<ProviderId, ProviderCredentials>;

export type ConfigParseResult =
  | { ok: true; config: Record<string, unknown> }
  | { ok: false; issues: Array<{ path: PropertyKey[]; message: string }> };

/** Validates and fills defaults. Issues carry paths and messages only, never the input values. */
export function parseProviderConfig(provider: ProviderId, input: unknown): ConfigParseResult {
  const result = CONFIG_SCHEMAS[provider].safeParse(input ?? {});
  if (result.success) return { ok: true, config: result.data as Record<string, unknown> };
  return {
    ok: false,
    issues: result.error.issues.map((issue) => ({ path: issue.path, message: issue.message })),
  };
}
