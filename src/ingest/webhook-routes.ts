import { type IncomingHttpHeaders, IncomingMessage } from "node:http";
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { AppError } from "../errors.ts";
import { problemResponses } from "../http/problem.ts";
import { createRouter } from "../http/router.ts";
import type { AppEnv } from "../http/types.ts";
import { type ReceiveDeps, type ReceiveInput, receiveWebhook } from "./receive.ts";

const AcceptedSchema = z
  .object({ deliveryId: z.uuid(), duplicate: z.boolean().optional() })
  .openapi("WebhookAccepted");

const errors = problemResponses(
  "invalid_signature",
  "stale_timestamp",
  "not_found",
  "payload_too_large",
  "unsupported_media_type",
  "invalid_json",
  "validation_failed",
);

function tooLarge(maxBodyBytes: number): AppError {
  return new AppError("payload_too_large", { detail: `the body exceeds ${maxBodyBytes} bytes` });
}

/** The Node request under @hono/node-server (absent when the app is called through fetch, as in tests). */
function nodeRequestOf(c: Context<AppEnv>): IncomingMessage | undefined {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  return incoming instanceof IncomingMessage ? incoming : undefined;
}

function plainHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

/**
 * The raw body, refused past `maxBodyBytes` (by its declared length before reading, else while reading).
 * Under Node it is read straight from the socket stream: the Fetch API Request and web stream that
 * `c.req.arrayBuffer()` builds cost more than the rest of the front door on a small webhook.
 */
async function readRawBody(
  c: Context<AppEnv>,
  incoming: IncomingMessage | undefined,
  maxBodyBytes: number,
): Promise<Buffer> {
  const declared = Number(c.req.header("content-length"));
  if (Number.isFinite(declared) && declared > maxBodyBytes) throw tooLarge(maxBodyBytes);
  if (!incoming) {
    const body = Buffer.from(await c.req.arrayBuffer());
    if (body.length > maxBodyBytes) throw tooLarge(maxBodyBytes);
    return body;
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (error?: unknown) => {
      incoming.off("data", onData).off("end", onEnd).off("error", done).off("aborted", onAborted);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        // Stop reading (without destroying the socket, so the 413 still goes out), then close.
        incoming.pause();
        c.header("connection", "close");
        done(tooLarge(maxBodyBytes));
      } else chunks.push(chunk);
    };
    const onEnd = () => done();
    const onAborted = () => done(new AppError("bad_request", { detail: "the request body was cut short" }));
    incoming.on("data", onData).once("end", onEnd).once("error", done).once("aborted", onAborted);
  });
}

/**
 * POST /webhooks/{provider}/{integrationId} and Slack's interactivity endpoint. No API auth: each
 * request authenticates itself by the provider's signature scheme on the raw bytes.
 */
export function webhookRoutes(deps: ReceiveDeps, maxBodyBytes: number) {
  const router = createRouter();
  const store = async (c: Context<AppEnv>, input: Omit<ReceiveInput, "rawBody" | "headers" | "query">) => {
    const incoming = nodeRequestOf(c);
    const rawBody = await readRawBody(c, incoming, maxBodyBytes);
    return receiveWebhook(deps, {
      ...input,
      rawBody,
      // Node has already lower-cased and joined them; the Fetch API view would build them again.
      headers: incoming ? plainHeaders(incoming.headers) : c.req.header(),
      query: c.req.query(),
    });
  };
  const handle = async (c: Context<AppEnv>, input: Omit<ReceiveInput, "rawBody" | "headers" | "query">) => {
    const result = await store(c, input);
    // A replay is answered 200 with the original delivery id: nothing new was stored.
    return result.duplicate
      ? c.json({ deliveryId: result.deliveryId, duplicate: true }, 200)
      : c.json({ deliveryId: result.deliveryId }, 202);
  };

  router.openapi(
    createRoute({
      method: "post",
      path: "/webhooks/{provider}/{integrationId}",
      tags: ["webhooks"],
      summary: "Receive an alert, change or ticket webhook",
      description:
        "Verifies the sender's signature (or token) on the raw body, stores the delivery durably and answers 202. A delivery id seen before is answered 200 with the original id.",
      request: {
        params: z.object({
          provider: z.string().openapi({ example: "sentry" }),
          integrationId: z.string().openapi({ example: "3b241101-e2bb-4255-8caf-4136c566a962" }),
        }),
      },
      responses: {
        202: { description: "stored", content: { "application/json": { schema: AcceptedSchema } } },
        200: { description: "already received", content: { "application/json": { schema: AcceptedSchema } } },
        ...errors,
      },
    }),
    (c) =>
      handle(c, {
        provider: c.req.param("provider"),
        integrationId: c.req.param("integrationId"),
        channel: "webhook",
      }),
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/webhooks/slack/{integrationId}/interactions",
      tags: ["webhooks"],
      summary: "Receive a Slack interactivity callback (button clicks)",
      description:
        "Verifies X-Slack-Signature over the raw form body and refuses a request timestamp more than five minutes away; answers 200 once the callback is stored, and the report is updated from the stored copy.",
      request: { params: z.object({ integrationId: z.string() }) },
      responses: {
        200: {
          description: "stored (or already received)",
          content: { "application/json": { schema: AcceptedSchema } },
        },
        ...errors,
      },
    }),
    async (c) => {
      const result = await store(c, {
        provider: "slack",
        integrationId: c.req.param("integrationId"),
        channel: "slack-interactions",
      });
      // Slack counts any answer but 200 as a failed interaction.
      return c.json({ deliveryId: result.deliveryId, ...(result.duplicate ? { duplicate: true } : {}) }, 200);
    },
  );
  return router;
}
