import { createHash } from "node:crypto";
import type { Provider, ProviderId } from "../../integrations/core/types.ts";
import { AppError, NotFoundError } from "../errors.ts";
import { uuidv7 } from "../uuid7.ts";
import type { DeliveryWriter, WriteResult } from "./delivery-writer.ts";
import { redactHeaders } from "./headers.ts";
import { jsonKind } from "./json-kind.ts";
import type { FindWebhookTarget, WebhookTarget } from "./webhook-target.ts";

export interface ReceiveDeps {
  providers: Readonly<Record<ProviderId, Provider>>;
  findTarget: FindWebhookTarget;
  writer: DeliveryWriter;
  /** Records a failed verification (audit entry); must not throw. */
  onRejected(target: WebhookTarget, reason: "bad_signature" | "stale_timestamp"): Promise<void>;
  /** Tells the delivery processor there is work (in-process fast path; workers also poll). */
  onStored(): void;
  /** Every request that reaches the front door (the pressure gauge background work yields to). */
  onArrived?(): void;
  now?: () => Date;
}

export interface ReceiveInput {
  provider: string;
  integrationId: string;
  /** Slack interactivity arrives on its own path with a form body. */
  channel: "webhook" | "slack-interactions";
  rawBody: Buffer;
  /** Lower-cased names. */
  headers: Record<string, string>;
  query: Record<string, string>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

function mediaType(headers: Record<string, string>): string {
  return (headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * Ingest's front door, in the order DESIGN.md §4 fixes: (size limit, in the route) → integration lookup →
 * authenticity on the raw bytes → replay guard → durable write → answer. Nothing here parses more than it
 * must: normalization happens after the 202, from the stored bytes.
 */
export async function receiveWebhook(deps: ReceiveDeps, input: ReceiveInput): Promise<WriteResult> {
  deps.onArrived?.();
  const now = deps.now?.() ?? new Date();
  const isSlackPath = input.channel === "slack-interactions";
  const providerId = input.provider as ProviderId;
  const provider = Object.hasOwn(deps.providers, providerId) ? deps.providers[providerId] : undefined;
  // Unknown provider, unknown id, a deleted integration, or an id of another provider all look the same:
  // the caller learns nothing about which orgs or integrations exist.
  // (Built only when thrown: an error captures a stack trace, too costly for every accepted request.)
  const unknown = () => new NotFoundError("webhook endpoint");
  if (!provider || (providerId === "slack") !== isSlackPath || !UUID.test(input.integrationId))
    throw unknown();
  const target = await deps.findTarget(input.integrationId.toLowerCase());
  if (!target || target.provider !== providerId) throw unknown();

  const verdict = provider.verify({
    rawBody: input.rawBody,
    headers: input.headers,
    secrets: target.secrets,
    config: target.config,
    query: input.query,
    now,
  });
  if (!verdict.ok) {
    await deps.onRejected(target, verdict.reason);
    throw verdict.reason === "stale_timestamp"
      ? new AppError("stale_timestamp", { detail: "the request timestamp is outside the allowed window" })
      : new AppError("invalid_signature", { detail: "the request could not be authenticated" });
  }

  const type = mediaType(input.headers);
  if (input.rawBody.length === 0) throw new AppError("bad_request", { detail: "the body is empty" });
  if (isSlackPath) {
    if (type !== "application/x-www-form-urlencoded") {
      throw new AppError("unsupported_media_type", { detail: "expected application/x-www-form-urlencoded" });
    }
  } else {
    if (type !== "application/json" && !type.endsWith("+json")) {
      throw new AppError("unsupported_media_type", { detail: "expected application/json" });
    }
    // Checked without building the value (normalization parses the stored bytes after the answer).
    const kind = jsonKind(input.rawBody);
    if (kind === null) throw new AppError("invalid_json", { detail: "the body is not valid JSON" });
    if (kind !== "object") {
      throw new AppError("validation_failed", {
        detail: "the body must be a JSON object",
        errors: [{ path: "(root)", message: "expected an object" }],
      });
    }
  }

  const deliveryKey = verdict.deliveryKey
    ? verdict.deliveryKey.slice(0, 200)
    : `sha256:${createHash("sha256").update(input.rawBody).digest("hex")}`;
  const result = await deps.writer.write({
    id: uuidv7(),
    orgId: target.orgId,
    integrationId: target.integrationId,
    provider: providerId,
    deliveryKey,
    receivedAt: now,
    headers: redactHeaders(input.headers),
    contentType: input.headers["content-type"] ?? null,
    body: input.rawBody,
  });
  if (!result.duplicate) deps.onStored();
  return result;
}
