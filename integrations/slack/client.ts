import { ErrorCode, LogLevel, WebClient } from "@slack/web-api";

/*
 * The only file that knows Slack's Web API. @slack/web-api does the HTTP: it honours 429 + Retry-After by
 * pausing and retrying (up to `retries` times), and `apiBaseUrl` points it at GovSlack or a local fake.
 */

export interface SlackBlock {
  type: string;
  [key: string]: unknown;
}

export interface SlackMessage {
  channel: string;
  text: string;
  blocks?: SlackBlock[];
  threadTs?: string;
}

export interface SlackClient {
  postMessage(message: SlackMessage): Promise<{ channel: string; ts: string }>;
  updateMessage(message: SlackMessage & { ts: string }): Promise<{ channel: string; ts: string }>;
  /** The e-mail of a workspace user (needs the users:read.email scope); null when Slack has none. */
  userEmail(userId: string): Promise<string | null>;
  joinChannel(channel: string): Promise<void>;
}

export interface SlackClientOptions {
  botToken: string;
  /** https://slack.com/api (default), https://slack-gov.com/api, or a fake in tests. */
  apiBaseUrl: string;
  timeoutMs?: number;
  /** Retries after the first attempt (rate limits included). */
  retries?: number;
}

/** A failed Slack call: `slackError` is Slack's error code (channel_not_found, not_in_channel, …). */
export class SlackApiError extends Error {
  constructor(
    readonly slackError: string,
    readonly retryable: boolean,
    readonly retryAfterSeconds?: number,
  ) {
    super(`slack: ${slackError}`);
    this.name = "SlackApiError";
  }
}

/** Errors where trying again later can help. Everything else (invalid_auth, channel_not_found, …) is final. */
const RETRYABLE_PLATFORM_ERRORS = new Set([
  "ratelimited",
  "internal_error",
  "fatal_error",
  "service_unavailable",
  "request_timeout",
]);

function toSlackError(error: unknown): SlackApiError {
  const e = error as { code?: string; data?: { error?: string }; retryAfter?: number; statusCode?: number };
  switch (e?.code) {
    case ErrorCode.PlatformError: {
      const code = String(e.data?.error ?? "unknown_error").slice(0, 100);
      return new SlackApiError(code, RETRYABLE_PLATFORM_ERRORS.has(code));
    }
    case ErrorCode.RateLimitedError:
      return new SlackApiError("ratelimited", true, e.retryAfter);
    case ErrorCode.HTTPError:
      return new SlackApiError(`http_${e.statusCode ?? "error"}`, (e.statusCode ?? 500) >= 500);
    case ErrorCode.RequestError:
      return new SlackApiError("request_failed", true);
    default: {
      // The client retries a 429 itself after Retry-After; when its retries run out it rejects with a
      // plain Error naming the rate limit, which is still a rate limit for whoever retries later.
      const limited = /rate limit was exceeded.*retry-after: (\d+)/i.exec(
        error instanceof Error ? error.message : "",
      );
      if (limited) return new SlackApiError("ratelimited", true, Number(limited[1]));
      return new SlackApiError("unexpected_error", true);
    }
  }
}

export function createSlackClient(options: SlackClientOptions): SlackClient {
  const web = new WebClient(options.botToken, {
    slackApiUrl: `${options.apiBaseUrl.replace(/\/+$/, "")}/`,
    timeout: options.timeoutMs ?? 10_000,
    retryConfig: { retries: options.retries ?? 2, factor: 2, minTimeout: 200, maxTimeout: 2_000 },
    rejectRateLimitedCalls: false,
    // A method name must never become an absolute URL somewhere else.
    allowAbsoluteUrls: false,
    logLevel: LogLevel.ERROR,
  });
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw toSlackError(error);
    }
  };
  return {
    async postMessage(message) {
      const res = await call(() =>
        web.chat.postMessage({
          channel: message.channel,
          text: message.text,
          ...(message.blocks ? { blocks: message.blocks as never } : {}),
          ...(message.threadTs ? { thread_ts: message.threadTs } : {}),
          unfurl_links: false,
          unfurl_media: false,
        }),
      );
      if (!res.ts || !res.channel) throw new SlackApiError("missing_ts", false);
      return { channel: res.channel, ts: res.ts };
    },
    async updateMessage(message) {
      const res = await call(() =>
        web.chat.update({
          channel: message.channel,
          ts: message.ts,
          text: message.text,
          ...(message.blocks ? { blocks: message.blocks as never } : {}),
        }),
      );
      return { channel: res.channel ?? message.channel, ts: res.ts ?? message.ts };
    },
    async userEmail(userId) {
      const res = await call(() => web.users.info({ user: userId }));
      const email = res.user?.profile?.email;
      return typeof email === "string" && email.includes("@") ? email.toLowerCase() : null;
    },
    async joinChannel(channel) {
      await call(() => web.conversations.join({ channel }));
    },
  };
}
