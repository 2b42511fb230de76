/**
 * A local Anthropic Messages API (POST /v1/messages) for tests: the real SDK is pointed at it by base URL.
 * It checks the API key (x-api-key or Authorization: Bearer), records every request, and answers with a Message whose text the test
 * chooses per request.
 */
import { type RecordedRequest, type RecordingServer, startRecordingServer } from "./recording-server.ts";

export interface FakeAnthropic extends RecordingServer {
  /** The text of the next replies (a function of the request, for tests that echo parts of it). */
  replyWith(text: string | ((req: RecordedRequest) => string)): void;
}

export async function startFakeAnthropic(apiKey: string): Promise<FakeAnthropic> {
  let reply: string | ((req: RecordedRequest) => string) = "";
  let n = 0;
  const server = await startRecordingServer((req) => {
    if (req.method !== "POST" || req.path !== "/v1/messages") {
      return {
        status: 404,
        body: { type: "error", error: { type: "not_found_error", message: "not found" } },
      };
    }
    // The SDK authenticates with x-api-key or, in newer versions, an Authorization bearer token.
    const presented = req.headers["x-api-key"] ?? req.headers["authorization"]?.replace(/^Bearer /, "");
    if (presented !== apiKey) {
      return {
        status: 401,
        body: { type: "error", error: { type: "authentication_error", message: "invalid x-api-key" } },
      };
    }
    const body = req.body as { model?: unknown; max_tokens?: unknown; messages?: unknown };
    if (
      typeof body?.model !== "string" ||
      typeof body.max_tokens !== "number" ||
      !Array.isArray(body.messages)
    ) {
      return {
        status: 400,
        body: {
          type: "error",
          error: { type: "invalid_request_error", message: "model, max_tokens, messages" },
        },
      };
    }
    const text = typeof reply === "function" ? reply(req) : reply;
    n++;
    return {
      status: 200,
      body: {
        id: `msg_fake_${n}`,
        type: "message",
        role: "assistant",
        model: body.model,
        content: [{ type: "text", text }],
        stop_reason: "end_turn",
        stop_sequence: null,
        usage: { input_tokens: 100, output_tokens: 50 },
      },
    };
  });
  return {
    ...server,
    replyWith: (text) => {
      reply = text;
    },
  };
}
