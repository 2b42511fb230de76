import {
  type FakeReply,
  type RecordedRequest,
  type RecordingServer,
  startRecordingServer,
} from "./recording-server.ts";

/**
 * A SigNoz API double: POST /api/v5/query_range and GET /api/v1/rules/{id} with the `SIGNOZ-API-KEY`
 * header; a wrong key is 401 and an unknown rule 404, as SigNoz answers. query_range answers every query
 * with two series grouped by service.name (payments, then checkout).
 */
export interface FakeSignoz extends RecordingServer {
  allow(apiKey: string): void;
  /** Alert rules by id, served as GettableRule under `{status: "success", data}`. */
  rules: Map<string, Record<string, unknown>>;
}

export async function startFakeSignoz(): Promise<FakeSignoz> {
  const allowed = new Set<string>();
  const rules = new Map<string, Record<string, unknown>>();
  const route = (req: RecordedRequest): FakeReply => {
    const key = req.headers["signoz-api-key"];
    if (!key || !allowed.has(key)) {
      return {
        status: 401,
        body: { status: "error", error: { code: "unauthenticated", message: "invalid api key" } },
      };
    }
    if (req.method === "POST" && req.path === "/api/v5/query_range") {
      const body = req.body as {
        start: number;
        end: number;
        compositeQuery: { queries: Array<{ spec?: { name?: string } }> };
      };
      return {
        status: 200,
        body: {
          status: "success",
          data: {
            type: "time_series",
            data: {
              results: body.compositeQuery.queries.map((q, i) => ({
                queryName: q.spec?.name ?? `Q${i}`,
                aggregations: [
                  {
                    index: 0,
                    series: [
                      {
                        labels: [{ key: { name: "service.name" }, value: "payments" }],
                        values: [
                          { timestamp: body.start, value: 1 },
                          { timestamp: body.end, value: 2 },
                        ],
                      },
                      {
                        labels: [{ key: { name: "service.name" }, value: "checkout" }],
                        values: [
                          { timestamp: body.start, value: 3 },
                          { timestamp: body.end, value: 41 },
                        ],
                      },
                    ],
                  },
                ],
              })),
            },
          },
        },
      };
    }
    const ruleId = /^\/api\/v1\/rules\/([^/]+)$/.exec(req.path)?.[1];
    if (req.method === "GET" && ruleId) {
      const rule = rules.get(decodeURIComponent(ruleId));
      if (rule) return { status: 200, body: { status: "success", data: rule } };
      return {
        status: 404,
        body: { status: "error", error: { code: "not_found", message: "rule not found" } },
      };
    }
    return { status: 404, body: { status: "error", error: { code: "not_found", message: "not found" } } };
  };
  const server = await startRecordingServer(route);
  return Object.assign(server, { rules, allow: (apiKey: string) => void allowed.add(apiKey) });
}
