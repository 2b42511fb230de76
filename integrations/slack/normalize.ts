import { isJsonObject } from "../core/json.ts";
import type { NormalizeInput, NormalizeResult } from "../core/types.ts";
import { payloadJsonOf } from "./interaction.ts";

/*
 * Slack never produces Signals: its inbound requests are people clicking the buttons on our reports. The
 * interactions route parses them with parseSlackInteraction (interaction.ts). This normalize exists so a
 * Slack delivery stored by the generic ingest path is acknowledged, named by its interaction type, and
 * ignored.
 *
 * The body may arrive as the raw form text (or bytes), as the decoded form ({ payload: "<json>" }), or as
 * the payload object itself.
 */
export function normalizeSlack(input: NormalizeInput): NormalizeResult {
  const type = interactionTypeOf(input.body);
  if (type === undefined) return { ok: false, reason: "not a Slack interaction payload" };
  return { ok: true, signals: [], eventType: type, ignored: true };
}

function interactionTypeOf(body: unknown): string | undefined {
  let payload: unknown = body;
  if (typeof body === "string" || body instanceof Uint8Array) {
    const parsed = payloadJsonOf(body);
    payload = parsed.ok ? parsed.value : undefined;
  } else if (isJsonObject(body) && typeof body["payload"] === "string") {
    try {
      payload = JSON.parse(body["payload"]) as unknown;
    } catch {
      return undefined;
    }
  }
  if (!isJsonObject(payload)) return undefined;
  const type = payload["type"];
  return typeof type === "string" && /^[a-z_]{1,64}$/.test(type) ? type : undefined;
}
