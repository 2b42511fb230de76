import {
  type FakeReply,
  type RecordedRequest,
  type RecordingServer,
  startRecordingServer,
} from "./recording-server.ts";

/**
 * A SigNoz query API double: POST /api/v5/query_range with the `SIGNOZ-API-KEY` header; a wrong key is
 * 401 as SigNoz answers.
 */
export interface FakeSignoz extends RecordingServer {
  allow(apiKey: string): void;
}

export async function startFakeSignoz(): Promise<FakeSignoz> {
  const allowed = new Set<string>();
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
    return { status: 404, body: { status: "error", error: { code: "not_found", message: "not found" } } };
  };
  const server = await startRecordingServer(route);
  return Object.assign(server, { allow: (apiKey: string) => void allowed.add(apiKey) });
}
