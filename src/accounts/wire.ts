import { z } from "@hono/zod-openapi";
import { ROLES } from "../../db/schema/memberships.ts";
import type { ApiKeyView } from "./api-keys.ts";
import type { AuditEntryView } from "./audit-entries.ts";
import type { InvitationView } from "./invitations.ts";
import type { MemberView } from "./members.ts";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "./password.ts";
import type { IssuedTokens, SessionView } from "./sessions.ts";

/** Wire shapes of the accounts API, separate from the drizzle tables. Times are RFC 3339 UTC. */
const Role = z.enum(ROLES);
const Email = z.email().max(320).openapi({ example: "ada@example.com" });
const iso = (d: Date) => d.toISOString();
const isoOrNull = (d: Date | null) => (d ? d.toISOString() : null);

export const IdParam = z.object({ id: z.uuid().openapi({ param: { name: "id", in: "path" } }) });

export const LoginBody = z
  .object({
    email: Email,
    password: z.string().min(1).max(PASSWORD_MAX_LENGTH),
    orgId: z.uuid().optional().openapi({ description: "For a user in several orgs; the oldest otherwise" }),
  })
  .openapi("LoginRequest");

export const TokenResponse = z
  .object({
    accessToken: z.string(),
    tokenType: z.literal("Bearer"),
    expiresIn: z.number().int().openapi({ description: "Seconds until the access token expires" }),
    expiresAt: z.iso.datetime(),
    session: z.object({ id: z.uuid(), orgId: z.uuid(), userId: z.uuid(), role: Role }),
  })
  .openapi("TokenResponse");

/** `expiresIn` is the token's lifetime (RFC 6749 §5.1), counted from its `iat`. */
export function tokenResponse(issued: IssuedTokens, lifetimeSeconds: number) {
  return {
    accessToken: issued.accessToken,
    tokenType: "Bearer" as const,
    expiresIn: lifetimeSeconds,
    expiresAt: iso(issued.accessTokenExpiresAt),
    session: issued.session,
  };
}

export const SessionSchema = z
  .object({
    id: z.uuid(),
    createdAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
    userAgent: z.string().nullable(),
    ip: z.string().nullable(),
    current: z.boolean().openapi({ description: "The session of the access token making this request" }),
  })
  .openapi("Session");

export const sessionToWire = (s: SessionView) => ({
  ...s,
  createdAt: iso(s.createdAt),
  lastUsedAt: iso(s.lastUsedAt),
  expiresAt: iso(s.expiresAt),
});

export const CreateApiKeyBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    role: Role.optional().openapi({ description: "Defaults to member; never above the creator's role" }),
    scopes: z
      .array(z.string().regex(/^[a-z][a-z0-9-]{0,39}$/))
      .max(20)
      .optional()
      .openapi({
        description: "OpenAPI tags the key is limited to; empty or absent: every route its role allows",
      }),
    expiresAt: z.iso.datetime().optional(),
  })
  .openapi("CreateApiKeyRequest");

export const ApiKeySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    prefix: z
      .string()
      .openapi({ description: "The public part of the key (cw_<prefix>_…), for recognizing it" }),
    role: Role,
    scopes: z.array(z.string()),
    createdBy: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
    expiresAt: z.iso.datetime().nullable(),
    lastUsedAt: z.iso.datetime().nullable(),
    revokedAt: z.iso.datetime().nullable(),
  })
  .openapi("ApiKey");

export const apiKeyToWire = (k: ApiKeyView) => ({
  ...k,
  createdAt: iso(k.createdAt),
  expiresAt: isoOrNull(k.expiresAt),
  lastUsedAt: isoOrNull(k.lastUsedAt),
  revokedAt: isoOrNull(k.revokedAt),
});

export const CreatedApiKeySchema = z
  .object({
    apiKey: ApiKeySchema,
    key: z.string().openapi({ description: "The key itself: shown this once, store it now" }),
  })
  .openapi("CreatedApiKey");

export const MemberSchema = z
  .object({
    userId: z.uuid(),
    email: z.string(),
    name: z.string().nullable(),
    role: Role,
    createdAt: z.iso.datetime(),
  })
  .openapi("Member");

export const memberToWire = (m: MemberView) => ({ ...m, createdAt: iso(m.createdAt) });

export const ChangeRoleBody = z.object({ role: Role }).openapi("ChangeRoleRequest");

export const CreateInvitationBody = z
  .object({ email: Email, role: Role.optional().openapi({ description: "Defaults to member" }) })
  .openapi("CreateInvitationRequest");

export const InvitationSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    role: Role,
    invitedBy: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
  })
  .openapi("Invitation");

export const invitationToWire = (i: InvitationView) => ({
  ...i,
  createdAt: iso(i.createdAt),
  expiresAt: iso(i.expiresAt),
});

export const CreatedInvitationSchema = z
  .object({
    invitation: InvitationSchema,
    token: z.string().openapi({ description: "Give it to the invitee; shown this once" }),
  })
  .openapi("CreatedInvitation");

export const AcceptInvitationBody = z
  .object({
    token: z.string().min(1).max(200),
    password: z
      .string()
      .min(PASSWORD_MIN_LENGTH)
      .max(PASSWORD_MAX_LENGTH)
      .optional()
      .openapi({ description: "Required when the email has no account yet" }),
    name: z.string().trim().min(1).max(200).optional(),
  })
  .openapi("AcceptInvitationRequest");

export const AcceptedInvitationSchema = z
  .object({ orgId: z.uuid(), userId: z.uuid(), role: Role, created: z.boolean() })
  .openapi("AcceptedInvitation");

export const AuditEntrySchema = z
  .object({
    seq: z.string().openapi({ description: "Position in the org's log (0, 1, 2, …) as a decimal string" }),
    at: z.iso.datetime(),
    actor: z.object({ kind: z.string(), id: z.string() }),
    action: z.string(),
    subject: z.object({ type: z.string(), id: z.string().nullable() }),
    data: z.record(z.string(), z.unknown()),
    requestId: z.string().nullable(),
  })
  .openapi("AuditEntry");

export const auditEntryToWire = (e: AuditEntryView) => ({ ...e, at: iso(e.at) });
