import { createRoute, z } from "@hono/zod-openapi";
import { PROVIDER_IDS } from "../../integrations/core/types.ts";
import { problemResponses } from "../http/problem.ts";
import { createRouter } from "../http/router.ts";
import {
  CreateIntegrationInput,
  type IntegrationService,
  ListIntegrationsInput,
  UpdateIntegrationInput,
} from "./integrations.ts";

/** Who may call a route and how it is rate limited, declared in its OpenAPI operation. */
function declared(role: "member" | "admin") {
  return { security: [{ bearer: [] as string[] }], "x-causeway-role": role };
}
const asMember = declared("member");
const asAdmin = declared("admin");

const SecretMetaSchema = z
  .object({
    id: z.uuid(),
    kind: z.string().openapi({ example: "webhookSecret" }),
    last4: z.string().nullable().openapi({ description: "last 4 characters of secrets of 12 or more" }),
    createdAt: z.string(),
    rotatedAt: z.string().nullable(),
  })
  .openapi("IntegrationSecret");

const IntegrationSchema = z
  .object({
    id: z.uuid(),
    provider: z.enum(PROVIDER_IDS),
    name: z.string(),
    webhookUrl: z.string().openapi({ description: "where the provider sends its webhooks" }),
    config: z.record(z.string(), z.unknown()),
    secrets: z
      .array(SecretMetaSchema)
      .openapi({ description: "metadata of the active secrets, never values" }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("Integration");

const IntegrationWithSecretSchema = IntegrationSchema.extend({
  webhookSecret: z.string().optional().openapi({
    description: "present only when Causeway generated the webhook secret in this request: shown once",
  }),
}).openapi("IntegrationWithWebhookSecret");

const IntegrationListSchema = z
  .object({ items: z.array(IntegrationSchema), nextCursor: z.string().nullable() })
  .openapi("IntegrationList");

const IdParam = z.object({ id: z.uuid().openapi({ param: { name: "id", in: "path" } }) });

const CreateBody = CreateIntegrationInput.openapi("CreateIntegration", {
  description:
    "config is validated per provider; secrets (webhookSecret, apiKey, applicationKey, apiToken, botToken, " +
    "privateKey, as the provider uses them) are stored encrypted and never returned.",
});
const UpdateBody = UpdateIntegrationInput.openapi("UpdateIntegration");

const json = <S extends z.ZodType>(schema: S) => ({ "application/json": { schema } });

/** `/api/v1/integrations`: connect, list, inspect, change and remove external systems. */
export function integrationRoutes(service: IntegrationService) {
  const router = createRouter();

  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/integrations",
      tags: ["integrations"],
      summary: "Connect an external system; a generated webhook secret is returned once",
      ...asAdmin,
      request: { body: { required: true, content: json(CreateBody) } },
      responses: {
        201: { description: "connected", content: json(IntegrationWithSecretSchema) },
        ...problemResponses("validation_failed", "invalid_json", "unauthenticated", "forbidden"),
      },
    }),
    async (c) => {
      const created = await service.createIntegration(c.get("auth"), c.req.valid("json"));
      // The body may hold a secret shown once: nothing along the way may keep a copy.
      c.header("Cache-Control", "no-store");
      return c.json(created, 201);
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/integrations",
      tags: ["integrations"],
      summary: "List the org's integrations, newest first",
      ...asMember,
      request: { query: ListIntegrationsInput },
      responses: {
        200: { description: "a page of integrations", content: json(IntegrationListSchema) },
        ...problemResponses("validation_failed", "unauthenticated"),
      },
    }),
    async (c) => c.json(await service.listIntegrations(c.get("auth"), c.req.valid("query")), 200),
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/integrations/{id}",
      tags: ["integrations"],
      summary: "One integration, with its secrets' metadata",
      ...asMember,
      request: { params: IdParam },
      responses: {
        200: { description: "the integration", content: json(IntegrationSchema) },
        ...problemResponses("validation_failed", "unauthenticated", "not_found"),
      },
    }),
    async (c) => c.json(await service.getIntegration(c.get("auth"), c.req.valid("param").id), 200),
  );

  router.openapi(
    createRoute({
      method: "patch",
      path: "/api/v1/integrations/{id}",
      tags: ["integrations"],
      summary: "Rename, replace the config, add a secret (rollover) or retire one",
      ...asAdmin,
      request: { params: IdParam, body: { required: true, content: json(UpdateBody) } },
      responses: {
        200: { description: "the changed integration", content: json(IntegrationWithSecretSchema) },
        ...problemResponses(
          "validation_failed",
          "invalid_json",
          "unauthenticated",
          "forbidden",
          "not_found",
          "conflict",
        ),
      },
    }),
    async (c) => {
      const updated = await service.updateIntegration(
        c.get("auth"),
        c.req.valid("param").id,
        c.req.valid("json"),
      );
      c.header("Cache-Control", "no-store");
      return c.json(updated, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "delete",
      path: "/api/v1/integrations/{id}",
      tags: ["integrations"],
      summary: "Disconnect: the webhook URL stops working and the secrets are retired",
      ...asAdmin,
      request: { params: IdParam },
      responses: {
        204: { description: "deleted" },
        ...problemResponses("validation_failed", "unauthenticated", "forbidden", "not_found"),
      },
    }),
    async (c) => {
      await service.deleteIntegration(c.get("auth"), c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  return router;
}
