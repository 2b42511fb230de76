/**
 * Read-only Datadog API calls through the official SDK (@datadog/datadog-api-client). The only file that
 * knows Datadog's API hosts. Results come back in Datadog's own wire format (snake_case JSON), not the
 * SDK's model classes, so what the proxy returns matches Datadog's API documentation. The SDK is large
 * (seconds of start-up), so it is loaded on the first call, not when the server boots.
 */
import type { DATADOG_SITES } from "../core/config-schemas.ts";
import {
  errorMessageOf,
  failureForStatus,
  fetchWithLimits,
  type HttpLimits,
  UpstreamError,
} from "../core/upstream.ts";

export type DatadogSite = (typeof DATADOG_SITES)[number];

export interface DatadogClientOptions {
  site: DatadogSite;
  /** Overrides `https://api.<site>`. */
  apiBaseUrl?: string;
  apiKey: string;
  applicationKey: string;
  limits: HttpLimits;
}

export interface DatadogTimeRange {
  from: Date;
  to: Date;
}

export interface DatadogClient {
  searchLogs(
    input: DatadogTimeRange & {
      query: string;
      indexes?: string[];
      limit: number;
      cursor?: string;
      sort?: "timestamp" | "-timestamp";
    },
  ): Promise<unknown>;
  queryMetrics(input: DatadogTimeRange & { query: string }): Promise<unknown>;
  getMonitor(input: { monitorId: number }): Promise<unknown>;
  searchMonitors(input: { query?: string; page?: number; perPage?: number }): Promise<unknown>;
  listEvents(input: DatadogTimeRange & { query?: string; limit: number; cursor?: string }): Promise<unknown>;
}

export function datadogApiBaseUrl(site: DatadogSite, override?: string): string {
  return override ?? `https://api.${site}`;
}

const PROVIDER = "datadog";

type Sdk = typeof import("@datadog/datadog-api-client");
let sdkLoading: Promise<Sdk> | undefined;

function loadSdk(): Promise<Sdk> {
  sdkLoading ??= import("@datadog/datadog-api-client").then((sdk) => {
    // The SDK logs every failed request to the console, outside our redacted JSON logs; failures reach
    // the caller (and our logs, when unexpected) as UpstreamError instead.
    sdk.logger.setLevel("silent");
    return sdk;
  });
  return sdkLoading;
}

function toUpstreamError(sdk: Sdk, error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  if (error instanceof sdk.client.ApiException) {
    const failure = failureForStatus(error.code);
    // Only a refused request's own explanation is kept (Datadog's {errors: [...]}); nothing else of the body.
    const upstreamMessage =
      failure === "rejected" || failure === "not_found" ? errorMessageOf(error.body) : undefined;
    return new UpstreamError(PROVIDER, failure, { status: error.code, upstreamMessage });
  }
  // The SDK failed to parse or deserialize the answer.
  return new UpstreamError(PROVIDER, "invalid_response", { cause: error });
}

interface Apis {
  sdk: Sdk;
  logs: InstanceType<Sdk["v2"]["LogsApi"]>;
  events: InstanceType<Sdk["v2"]["EventsApi"]>;
  metrics: InstanceType<Sdk["v1"]["MetricsApi"]>;
  monitors: InstanceType<Sdk["v1"]["MonitorsApi"]>;
}

async function call<T>(
  apis: () => Promise<Apis>,
  run: (apis: Apis) => Promise<T>,
  serialize: (value: T, sdk: Sdk) => unknown,
): Promise<unknown> {
  const loaded = await apis();
  let value: T;
  try {
    value = await run(loaded);
  } catch (error) {
    throw toUpstreamError(loaded.sdk, error);
  }
  return serialize(value, loaded.sdk);
}

function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/**
 * A client bound to one integration's keys. The SDK is given both keys and the base server explicitly,
 * so its DD_API_KEY / DD_APP_KEY / DD_SITE environment fallbacks never apply, and a fetch of ours that
 * enforces the deadline and the response cap. SDK retries stay off: the caller decides about retrying.
 */
export function createDatadogClient(options: DatadogClientOptions): DatadogClient {
  let built: Promise<Apis> | undefined;
  const apis = () => {
    built ??= loadSdk().then((sdk) => {
      const configuration = sdk.client.createConfiguration({
        authMethods: { apiKeyAuth: options.apiKey, appKeyAuth: options.applicationKey },
        baseServer: new sdk.client.BaseServerConfiguration(
          datadogApiBaseUrl(options.site, options.apiBaseUrl),
          {},
        ),
        enableRetry: false,
        fetch: (url: string, init: RequestInit) => fetchWithLimits(PROVIDER, url, init, options.limits),
      });
      return {
        sdk,
        logs: new sdk.v2.LogsApi(configuration),
        events: new sdk.v2.EventsApi(configuration),
        metrics: new sdk.v1.MetricsApi(configuration),
        monitors: new sdk.v1.MonitorsApi(configuration),
      };
    });
    return built;
  };

  return {
    searchLogs: (input) =>
      call(
        apis,
        ({ logs }) =>
          logs.listLogs({
            body: {
              filter: {
                query: input.query,
                from: input.from.toISOString(),
                to: input.to.toISOString(),
                ...(input.indexes ? { indexes: input.indexes } : {}),
              },
              page: { limit: input.limit, ...(input.cursor ? { cursor: input.cursor } : {}) },
              sort: input.sort ?? "-timestamp",
            },
          }),
        (value, sdk) => sdk.v2.ObjectSerializer.serialize(value, "LogsListResponse", ""),
      ),
    queryMetrics: (input) =>
      call(
        apis,
        ({ metrics }) =>
          metrics.queryMetrics({ from: seconds(input.from), to: seconds(input.to), query: input.query }),
        (value, sdk) => sdk.v1.ObjectSerializer.serialize(value, "MetricsQueryResponse", ""),
      ),
    getMonitor: (input) =>
      call(
        apis,
        ({ monitors }) => monitors.getMonitor({ monitorId: input.monitorId }),
        (value, sdk) => sdk.v1.ObjectSerializer.serialize(value, "Monitor", ""),
      ),
    searchMonitors: (input) =>
      call(
        apis,
        ({ monitors }) => monitors.searchMonitors(input),
        (value, sdk) => sdk.v1.ObjectSerializer.serialize(value, "MonitorSearchResponse", ""),
      ),
    listEvents: (input) =>
      call(
        apis,
        ({ events }) =>
          events.listEvents({
            filterFrom: input.from.toISOString(),
            filterTo: input.to.toISOString(),
            pageLimit: input.limit,
            ...(input.query ? { filterQuery: input.query } : {}),
            ...(input.cursor ? { pageCursor: input.cursor } : {}),
          }),
        (value, sdk) => sdk.v2.ObjectSerializer.serialize(value, "EventsListResponse", ""),
      ),
  };
}
