import { type FakeReply, type RecordingServer, startRecordingServer } from "./recording-server.ts";

/**
 * A small Datadog API double speaking the real wire shapes of the endpoints the query proxy uses
 * (logs search v2, metrics query v1, monitors v1, events v2). It checks the DD-API-KEY and
 * DD-APPLICATION-KEY headers the way Datadog does (403 {"errors": ["Forbidden"]}) and records requests.
 */
export interface FakeDatadog extends RecordingServer {
  /** Accept this API key / application key pair from now on. */
  allow(apiKey: string, applicationKey: string): void;
  /** Size of each log line's message, to make large answers. */
  setLogMessageBytes(bytes: number): void;
  /** Monitors by id (GET /api/v1/monitor/{id}); others are 404. */
  monitors: Map<number, Record<string, unknown>>;
}

export async function startFakeDatadog(): Promise<FakeDatadog> {
  const allowed = new Set<string>();
  const monitors = new Map<number, Record<string, unknown>>();
  const state = { logMessageBytes: 40 };

  const route = (req: Parameters<Parameters<typeof startRecordingServer>[0]>[0]): FakeReply => {
    const pair = `${req.headers["dd-api-key"] ?? ""}\n${req.headers["dd-application-key"] ?? ""}`;
    if (!allowed.has(pair)) return { status: 403, body: { errors: ["Forbidden"] } };

    if (req.method === "POST" && req.path === "/api/v2/logs/events/search") {
      const body = req.body as { filter?: { query?: string; from?: string }; page?: { limit?: number } };
      const count = body.page?.limit ?? 10;
      const from = Date.parse(body.filter?.from ?? new Date().toISOString());
      return {
        status: 200,
        body: {
          data: Array.from({ length: count }, (_, i) => ({
            id: `AAAAAWgN8Xwgr1vKDQAAAAB${i}`,
            type: "log",
            attributes: {
              timestamp: new Date(from + i * 1000).toISOString(),
              service: "checkout",
              status: "error",
              host: "web-1",
              message: `${i} ${"m".repeat(state.logMessageBytes)}`,
              tags: ["env:prod"],
              attributes: { http: { status_code: 500 } },
            },
          })),
          meta: {
            page: { after: "eyJhZnRlciI6Im5leHQifQ" },
            status: "done",
            elapsed: 12,
            request_id: "req-1",
          },
          links: { next: "https://api.datadoghq.com/api/v2/logs/events?page[cursor]=eyJhZnRlciI6Im5leHQifQ" },
        },
      };
    }

    if (req.method === "GET" && req.path === "/api/v1/query") {
      const from = Number(req.query.from);
      const to = Number(req.query.to);
      return {
        status: 200,
        body: {
          status: "ok",
          res_type: "time_series",
          query: req.query.query,
          from_date: from * 1000,
          to_date: to * 1000,
          series: [
            {
              metric: "system.cpu.user",
              display_name: "system.cpu.user",
              expression: "avg:system.cpu.user{*}",
              scope: "*",
              aggr: "avg",
              interval: 20,
              length: 3,
              start: from * 1000,
              end: to * 1000,
              pointlist: [
                [from * 1000, 12.5],
                [from * 1000 + 20_000, 80.25],
                [from * 1000 + 40_000, 13],
              ],
            },
          ],
        },
      };
    }

    const monitorMatch = /^\/api\/v1\/monitor\/(\d+)$/.exec(req.path);
    if (req.method === "GET" && monitorMatch) {
      const monitor = monitors.get(Number(monitorMatch[1]));
      return monitor
        ? { status: 200, body: monitor }
        : { status: 404, body: { errors: ["Monitor not found"] } };
    }

    if (req.method === "GET" && req.path === "/api/v1/monitor/search") {
      const all = [...monitors.values()].map((m) => ({
        id: m.id,
        name: m.name,
        status: "Alert",
        type: m.type,
        query: m.query,
        tags: m.tags ?? [],
      }));
      return {
        status: 200,
        body: {
          monitors: all,
          metadata: {
            page: 0,
            page_count: 1,
            per_page: Number(req.query.per_page ?? 30),
            total_count: all.length,
          },
          counts: { status: [{ name: "Alert", count: all.length }] },
        },
      };
    }

    if (req.method === "GET" && req.path === "/api/v2/events") {
      const count = Number(req.query["page[limit]"] ?? 10);
      return {
        status: 200,
        body: {
          data: Array.from({ length: Math.min(count, 3) }, (_, i) => ({
            id: `event-${i}`,
            type: "event",
            attributes: {
              timestamp: req.query["filter[from]"],
              message: `deploy ${i} of checkout`,
              tags: ["source:deploys"],
              attributes: { title: `Deployed checkout v1.${i}` },
            },
          })),
          meta: { page: { after: "next-events" }, status: "done", elapsed: 3, request_id: "req-2" },
          links: {},
        },
      };
    }
    return { status: 404, body: { errors: ["Not found"] } };
  };

  const server = await startRecordingServer(route);
  return Object.assign(server, {
    allow: (apiKey: string, applicationKey: string) => void allowed.add(`${apiKey}\n${applicationKey}`),
    monitors,
    setLogMessageBytes: (bytes: number) => {
      state.logMessageBytes = bytes;
    },
  });
}
