/**
 * Read-only Grafana HTTP API calls with a service account token. The only file that knows Grafana's API
 * paths. Grafana has no official Node SDK, so this is plain fetch with our deadline and response cap.
 */
import { type HttpLimits, requestJson } from "../core/upstream.ts";

export interface GrafanaClientOptions {
  /** The Grafana instance, e.g. https://grafana.example.com or https://acme.grafana.net. */
  url: string;
  /** A service account token (Bearer). */
  apiToken: string;
  limits: HttpLimits;
}

export interface GrafanaDatasourceQuery {
  datasourceUid: string;
  /** Datasource-specific query objects; each needs a refId. The datasource is set from datasourceUid. */
  queries: Array<Record<string, unknown> & { refId: string }>;
  from: Date;
  to: Date;
}

export interface GrafanaClient {
  /** POST /api/ds/query: runs queries against one datasource over a time range. */
  queryDatasource(input: GrafanaDatasourceQuery): Promise<unknown>;
  /** GET /api/v1/provisioning/alert-rules: every Grafana-managed alert rule. */
  listAlertRules(): Promise<unknown>;
}

const PROVIDER = "grafana";

export function createGrafanaClient(options: GrafanaClientOptions): GrafanaClient {
  const headers = { authorization: `Bearer ${options.apiToken}` };
  const url = (path: string) => `${options.url}${path}`;
  return {
    queryDatasource: (input) =>
      requestJson(
        PROVIDER,
        url("/api/ds/query"),
        {
          method: "POST",
          headers,
          body: {
            from: String(input.from.getTime()),
            to: String(input.to.getTime()),
            queries: input.queries.map((query) => ({ ...query, datasource: { uid: input.datasourceUid } })),
          },
        },
        options.limits,
      ),
    listAlertRules: () =>
      requestJson(
        PROVIDER,
        url("/api/v1/provisioning/alert-rules"),
        { method: "GET", headers },
        options.limits,
      ),
  };
}
