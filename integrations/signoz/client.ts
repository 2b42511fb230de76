/**
 * Read-only SigNoz API calls with an API key (`SIGNOZ-API-KEY` header): query_range and one alert rule's
 * definition. The only file that knows SigNoz's API paths; plain fetch with our deadline and response cap.
 */
import { type HttpLimits, requestJson } from "../core/upstream.ts";

export interface SignozClientOptions {
  /** The SigNoz instance, e.g. https://signoz.example.com or https://acme.us.signoz.cloud. */
  url: string;
  apiKey: string;
  limits: HttpLimits;
}

export interface SignozQueryRange {
  from: Date;
  to: Date;
  requestType: string;
  /** SigNoz's compositeQuery object (builder, PromQL or ClickHouse queries), passed through. */
  compositeQuery: Record<string, unknown>;
  variables?: Record<string, unknown>;
}

export interface SignozClient {
  /** POST /api/v5/query_range. */
  queryRange(input: SignozQueryRange): Promise<unknown>;
  /** GET /api/v1/rules/{id}: one alert rule (`{status, data: rule}`), as the rule editor loads it. */
  getRule(input: { ruleId: string }): Promise<unknown>;
}

const PROVIDER = "signoz";

export function createSignozClient(options: SignozClientOptions): SignozClient {
  const headers = { "SIGNOZ-API-KEY": options.apiKey };
  return {
    queryRange: (input) =>
      requestJson(
        PROVIDER,
        `${options.url}/api/v5/query_range`,
        {
          method: "POST",
          headers,
          body: {
            start: input.from.getTime(),
            end: input.to.getTime(),
            requestType: input.requestType,
            compositeQuery: input.compositeQuery,
            ...(input.variables ? { variables: input.variables } : {}),
          },
        },
        options.limits,
      ),
    getRule: (input) =>
      requestJson(
        PROVIDER,
        `${options.url}/api/v1/rules/${encodeURIComponent(input.ruleId)}`,
        { method: "GET", headers },
        options.limits,
      ),
  };
}
