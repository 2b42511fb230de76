import {
  type FakeReply,
  type RecordedRequest,
  type RecordingServer,
  startRecordingServer,
} from "./recording-server.ts";

/**
 * A Grafana HTTP API double for the proxy's two operations: POST /api/ds/query and
 * GET /api/v1/provisioning/alert-rules. Service account tokens arrive as `Authorization: Bearer`;
 * a wrong one is 401 {"message": "invalid API key"} as Grafana answers.
 */
export interface FakeGrafana extends RecordingServer {
  allow(token: string): void;
}

export async function startFakeGrafana(): Promise<FakeGrafana> {
  const allowed = new Set<string>();
  const route = (req: RecordedRequest): FakeReply => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    if (!token || !allowed.has(token)) return { status: 401, body: { message: "invalid API key" } };
    if (req.method === "POST" && req.path === "/api/ds/query") {
      const body = req.body as { from: string; to: string; queries: Array<{ refId: string }> };
      const from = Number(body.from);
      return {
        status: 200,
        body: {
          results: Object.fromEntries(
            body.queries.map((q) => [
              q.refId,
              {
                status: 200,
                frames: [
                  {
                    schema: {
                      refId: q.refId,
                      fields: [
                        { name: "Time", type: "time" },
                        { name: "Value", type: "number", labels: { service: "checkout" } },
                      ],
                    },
                    data: {
                      values: [
                        [from, from + 60_000],
                        [0.2, 0.9],
                      ],
                    },
                  },
                ],
              },
            ]),
          ),
        },
      };
    }
    if (req.method === "GET" && req.path === "/api/v1/provisioning/alert-rules") {
      return {
        status: 200,
        body: [
          {
            uid: "high-error-rate",
            title: "High error rate",
            condition: "C",
            folderUID: "ops",
            ruleGroup: "checkout",
            for: "5m",
            labels: { severity: "critical" },
            data: [{ refId: "A", datasourceUid: "prom", model: { expr: "rate(errors[5m])" } }],
          },
        ],
      };
    }
    return { status: 404, body: { message: "Not found" } };
  };
  const server = await startRecordingServer(route);
  return Object.assign(server, { allow: (token: string) => void allowed.add(token) });
}
