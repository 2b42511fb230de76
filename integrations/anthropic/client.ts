/**
 * The only file that knows Anthropic's SDK. Attribution hands it a system prompt and one user message and
 * gets the text back; the base URL comes from config (ANTHROPIC_BASE_URL), so tests point the real SDK at
 * a local fake Messages API.
 */
import Anthropic from "@anthropic-ai/sdk";
import { IntegrationError } from "../../src/errors.ts";

export interface TextCompletionRequest {
  system: string;
  user: string;
  maxTokens: number;
}

export type CompleteText = (request: TextCompletionRequest) => Promise<string>;

export interface AnthropicClientOptions {
  apiKey: string;
  baseUrl?: string;
  model?: string;
  timeoutMs?: number;
}

export const DEFAULT_REASONING_MODEL = "claude-sonnet-5-5";

export function createAnthropicCompletion(options: AnthropicClientOptions): CompleteText {
  const client = new Anthropic({
    apiKey: options.apiKey,
    ...(options.baseUrl ? { baseURL: options.baseUrl } : {}),
    timeout: options.timeoutMs ?? 30_000,
    maxRetries: 1,
  });
  const model = options.model ?? DEFAULT_REASONING_MODEL;
  return async ({ system, user, maxTokens }) => {
    try {
      const message = await client.messages.create({
        model,
        max_tokens: maxTokens,
        system,
        messages: [{ role: "user", content: user }],
      });
      return message.content
        .map((block) => (block.type === "text" ? block.text : ""))
        .join("")
        .trim();
    } catch (error) {
      const status = error instanceof Anthropic.APIError ? error.status : undefined;
      throw new IntegrationError(`Anthropic request failed${status ? ` (HTTP ${status})` : ""}`, {
        retryable: status === undefined || status === 429 || status >= 500,
        cause: error,
      });
    }
  };
}
