/**
 * Jira REST, read-only: one issue with its changelog. The only file that knows Jira's API paths. Jira
 * Cloud authenticates with Basic `email:apiToken` and serves `/rest/api/3`; Data Center takes a personal
 * access token as Bearer and serves `/rest/api/2`. Plain fetch with our deadline and response cap (no
 * SDK needed for one endpoint).
 */
import { z } from "zod";
import { type HttpLimits, requestJson, UpstreamError } from "../core/upstream.ts";

const PROVIDER = "jira";

export interface JiraClientOptions {
  /** The site: `https://acme.atlassian.net` or a Data Center base URL (context path included). */
  baseUrl: string;
  deployment: "cloud" | "data_center";
  /** Cloud: the account's e-mail (Basic auth user). */
  email?: string;
  /** Cloud: an API token; Data Center: a personal access token. */
  apiToken: string;
  limits: HttpLimits;
}

const historyItemSchema = z.looseObject({
  field: z.string().nullish(),
  fieldId: z.string().nullish(),
  fromString: z.string().nullish(),
  toString: z.string().nullish(),
});

const issueSchema = z.looseObject({
  id: z.union([z.string(), z.number()]).nullish(),
  key: z.string().min(1),
  self: z.string().nullish(),
  fields: z.record(z.string(), z.unknown()).nullish(),
  changelog: z
    .looseObject({
      histories: z
        .array(
          z.looseObject({
            created: z.string().nullish(),
            items: z.array(historyItemSchema).nullish(),
          }),
        )
        .nullish(),
    })
    .nullish(),
});

export type JiraIssue = z.infer<typeof issueSchema>;

export interface JiraClient {
  /** GET /rest/api/{3|2}/issue/{key}?expand=changelog; null when Jira has no such issue (404). */
  getIssue(key: string): Promise<JiraIssue | null>;
}

const KEY = /^[A-Z][A-Z0-9_]{1,254}-[1-9][0-9]{0,8}$/;

export function createJiraClient(options: JiraClientOptions): JiraClient {
  const version = options.deployment === "cloud" ? "3" : "2";
  let authorization: string;
  if (options.deployment === "cloud") {
    if (!options.email) throw new Error("Jira Cloud needs the account e-mail for Basic auth");
    authorization = `Basic ${Buffer.from(`${options.email}:${options.apiToken}`, "utf8").toString("base64")}`;
  } else {
    authorization = `Bearer ${options.apiToken}`;
  }
  const base = options.baseUrl.replace(/\/+$/, "");
  return {
    async getIssue(key) {
      if (!KEY.test(key))
        throw new UpstreamError(PROVIDER, "rejected", { upstreamMessage: "not an issue key" });
      const url = `${base}/rest/api/${version}/issue/${encodeURIComponent(key)}?expand=changelog`;
      let body: unknown;
      try {
        body = await requestJson(
          PROVIDER,
          url,
          { method: "GET", headers: { authorization } },
          options.limits,
        );
      } catch (error) {
        if (error instanceof UpstreamError && error.failure === "not_found") return null;
        throw error;
      }
      const parsed = issueSchema.safeParse(body);
      if (!parsed.success) throw new UpstreamError(PROVIDER, "invalid_response");
      return parsed.data;
    },
  };
}
