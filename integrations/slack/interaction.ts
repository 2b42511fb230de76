import { z } from "zod";
import { isJsonObject } from "../core/json.ts";

/*
 * Slack interactivity requests (button clicks on our investigation reports). The body is
 * `application/x-www-form-urlencoded` with one field, `payload`, holding JSON. Verify the raw form bytes
 * first (verify.ts), then parse here. Only `block_actions` is understood; other interaction types
 * (view_submission, shortcut, message_action, …) are reported as unsupported.
 */

export interface SlackAction {
  actionId: string;
  blockId: string | null;
  /** The button's value as we set it when posting the report. */
  value: string | null;
  /** Block Kit element type: button, static_select, … */
  type: string | null;
  actionTs: string | null;
}

export interface SlackBlockActions {
  type: "block_actions";
  user: { id: string; username: string | null; name: string | null; teamId: string | null };
  team: { id: string; domain: string | null } | null;
  apiAppId: string | null;
  actions: SlackAction[];
  /** The message the buttons sit on: `message.ts`, else `container.message_ts`. */
  message: { ts: string } | null;
  /** `channel.id`, else `container.channel_id`. */
  channel: { id: string; name: string | null } | null;
  /** Where to post a follow-up (valid 30 minutes, 5 uses); null unless an https URL. */
  responseUrl: string | null;
  triggerId: string | null;
}

export type SlackInteractionFailure =
  | "not_utf8"
  | "missing_payload"
  | "invalid_json"
  | "unsupported_type"
  | "invalid_block_actions";

export type ParsedSlackInteraction =
  | { ok: true; interaction: SlackBlockActions }
  | { ok: false; reason: SlackInteractionFailure };

const optText = z.string().nullish();

const blockActionsSchema = z.looseObject({
  type: z.literal("block_actions"),
  user: z.looseObject({ id: z.string().min(1), username: optText, name: optText, team_id: optText }),
  team: z.looseObject({ id: z.string().min(1), domain: optText }).nullish(),
  api_app_id: optText,
  actions: z
    .array(
      z.looseObject({
        action_id: z.string().min(1),
        block_id: optText,
        value: optText,
        type: optText,
        action_ts: optText,
      }),
    )
    .min(1),
  message: z.looseObject({ ts: optText }).nullish(),
  container: z.looseObject({ message_ts: optText, channel_id: optText }).nullish(),
  channel: z.looseObject({ id: z.string().min(1), name: optText }).nullish(),
  response_url: optText,
  trigger_id: optText,
});

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Parses the raw interactivity body. Pure; never throws. */
export function parseSlackInteraction(rawBody: Uint8Array): ParsedSlackInteraction {
  const payload = payloadJsonOf(rawBody);
  if (!payload.ok) return payload;
  return interactionFromPayload(payload.value);
}

/** The decoded `payload` field of a form body given as bytes or text. */
export function payloadJsonOf(
  body: Uint8Array | string,
): { ok: true; value: unknown } | { ok: false; reason: SlackInteractionFailure } {
  let text: string;
  try {
    text = typeof body === "string" ? body : utf8.decode(body);
  } catch {
    return { ok: false, reason: "not_utf8" };
  }
  const payloads = new URLSearchParams(text).getAll("payload");
  const [payload] = payloads;
  // Two payload fields would make "which one did we act on" ambiguous.
  if (payload === undefined || payloads.length !== 1) return { ok: false, reason: "missing_payload" };
  try {
    return { ok: true, value: JSON.parse(payload) as unknown };
  } catch {
    return { ok: false, reason: "invalid_json" };
  }
}

/** A parsed payload object → typed block_actions interaction. */
export function interactionFromPayload(payload: unknown): ParsedSlackInteraction {
  if (!isJsonObject(payload) || payload["type"] !== "block_actions")
    return { ok: false, reason: "unsupported_type" };
  const parsed = blockActionsSchema.safeParse(payload);
  if (!parsed.success) return { ok: false, reason: "invalid_block_actions" };
  const p = parsed.data;
  const messageTs = p.message?.ts ?? p.container?.message_ts ?? null;
  const channelId = p.channel?.id ?? p.container?.channel_id ?? null;
  return {
    ok: true,
    interaction: {
      type: "block_actions",
      user: {
        id: p.user.id,
        username: p.user.username ?? null,
        name: p.user.name ?? null,
        teamId: p.user.team_id ?? null,
      },
      team: p.team == null ? null : { id: p.team.id, domain: p.team.domain ?? null },
      apiAppId: p.api_app_id ?? null,
      actions: p.actions.map((action) => ({
        actionId: action.action_id,
        blockId: action.block_id ?? null,
        value: action.value ?? null,
        type: action.type ?? null,
        actionTs: action.action_ts ?? null,
      })),
      message: messageTs === null ? null : { ts: messageTs },
      channel: channelId === null ? null : { id: channelId, name: p.channel?.name ?? null },
      responseUrl: httpsUrlOrNull(p.response_url),
      triggerId: p.trigger_id ?? null,
    },
  };
}

function httpsUrlOrNull(value: string | null | undefined): string | null {
  if (typeof value !== "string" || !URL.canParse(value)) return null;
  return new URL(value).protocol === "https:" ? value : null;
}
