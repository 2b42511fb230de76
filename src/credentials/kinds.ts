import type { SecretField } from "../../integrations/core/config-schemas.ts";

/** `credentials.owner_type` of an integration's secrets (`owner_id` is the integration id). */
export const INTEGRATION_OWNER = "integration";

/** The stored `credentials.kind` of each secret field the integrations API accepts. */
export const KIND_BY_FIELD = {
  webhookSecret: "webhook_secret",
  apiKey: "api_key",
  applicationKey: "application_key",
  apiToken: "api_token",
  botToken: "bot_token",
  privateKey: "private_key",
} as const satisfies Record<SecretField, string>;

export type CredentialKind = (typeof KIND_BY_FIELD)[SecretField];

export const WEBHOOK_SECRET_KIND: CredentialKind = KIND_BY_FIELD.webhookSecret;

const FIELD_BY_KIND = new Map<string, SecretField>(
  Object.entries(KIND_BY_FIELD).map(([field, kind]) => [kind, field as SecretField]),
);

/** The API name of a stored kind; kinds stored by other stages are shown as they are. */
export function fieldOfKind(kind: string): string {
  return FIELD_BY_KIND.get(kind) ?? kind;
}
