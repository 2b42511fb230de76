import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeJiraRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization: string;
  status: number;
}

export interface FakeJira {
  url: string;
  /** Issues by key, in Jira Cloud's REST v3 shape (fields, changelog.histories). */
  issues: Map<string, Record<string, unknown>>;
  requests: FakeJiraRequest[];
  close(): Promise<void>;
}

/**
 * Jira Cloud's `GET /rest/api/3/issue/{key}` on 127.0.0.1, behind Basic `email:apiToken` (401 otherwise,
 * as Jira answers a bad token), 404 with Jira's error body for an unknown key. Records every request.
 */
export async function startFakeJira(options: { email: string; apiToken: string }): Promise<FakeJira> {
  const expected = `Basic ${Buffer.from(`${options.email}:${options.apiToken}`).toString("base64")}`;
  const issues = new Map<string, Record<string, unknown>>();
  const requests: FakeJiraRequest[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://fake");
    const record: FakeJiraRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorization: req.headers.authorization ?? "",
      status: 0,
    };
    requests.push(record);
    const send = (status: number, body: unknown) => {
      record.status = status;
      res.writeHead(status, { "content-type": "application/json;charset=UTF-8" });
      res.end(JSON.stringify(body));
    };
    req.resume();
    if (record.authorization !== expected) {
      return send(401, {
        errorMessages: ["You are not authenticated. Authentication required to perform this operation."],
      });
    }
    const match = /^\/rest\/api\/3\/issue\/([^/]+)$/.exec(url.pathname);
    if (!match || req.method !== "GET") return send(404, { errorMessages: ["Not found"], errors: {} });
    const issue = issues.get(decodeURIComponent(match[1]!));
    if (!issue) {
      return send(404, {
        errorMessages: ["Issue does not exist or you do not have permission to see it."],
        errors: {},
      });
    }
    const { changelog, ...rest } = issue;
    return send(200, url.searchParams.get("expand")?.includes("changelog") ? issue : rest);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    issues,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
