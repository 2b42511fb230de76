import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { importSPKI, type JWTPayload, jwtVerify } from "jose";

/** A pull request as the fake serves it (GitHub's REST shapes are built from this). */
export interface FakePull {
  number: number;
  title: string;
  body: string | null;
  branch: string;
  base: string;
  author: string;
  createdAt: string;
  updatedAt: string;
  mergedAt: string | null;
  mergeCommitSha: string | null;
  headSha: string;
  files: Array<{ filename: string; status: string; previous_filename?: string }>;
  commits: Array<{ sha: string; message: string; name: string; email: string; login: string | null }>;
}

export interface FakeGitHubRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization: string;
  at: number;
  status: number;
}

export interface FakeGitHub {
  url: string;
  pulls: FakePull[];
  requests: FakeGitHubRequest[];
  /** Installation tokens issued, in order. */
  tokens: string[];
  /** Claims of every app JWT that verified (RS256 with the app's public key). */
  jwtClaims: JWTPayload[];
  /** Answers the first request matching `when` with GitHub's primary rate-limit 403 (reset in `seconds`). */
  rateLimitOnce(when: (path: string, query: Record<string, string>) => boolean, seconds: number): void;
  /**
   * Answers the first request matching `when` with a secondary rate limit: `status` (403 or 429) with
   * `Retry-After: seconds` while the primary quota still has requests left.
   */
  secondaryRateLimitOnce(
    when: (path: string, query: Record<string, string>) => boolean,
    seconds: number,
    status?: 403 | 429,
  ): void;
  close(): Promise<void>;
}

/**
 * GitHub's REST API for the calls Causeway makes, on 127.0.0.1: app installation tokens (the app JWT is
 * verified like GitHub does: RS256, iss = app id, at most 10 minutes long), closed pulls of a repository
 * with Link-header pagination, a pull's files and commits. Every request's Authorization is recorded and
 * checked: repository calls need an installation token this fake issued (or `acceptTokens`).
 */
export async function startFakeGitHub(options: {
  appId: number;
  installationId: number;
  publicKeyPem: string;
  owner: string;
  repo: string;
  pageSize?: number;
  acceptTokens?: string[];
}): Promise<FakeGitHub> {
  const publicKey = await importSPKI(options.publicKeyPem, "RS256");
  const pageSize = options.pageSize ?? 30;
  const pulls: FakePull[] = [];
  const requests: FakeGitHubRequest[] = [];
  const tokens: string[] = [];
  const jwtClaims: JWTPayload[] = [];
  const limits: Array<{
    when: (path: string, query: Record<string, string>) => boolean;
    seconds: number;
    secondary?: 403 | 429;
  }> = [];
  let base = "";

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
    res.end(JSON.stringify(body));
  };

  const pullJson = (p: FakePull) => ({
    url: `${base}/repos/${options.owner}/${options.repo}/pulls/${p.number}`,
    html_url: `https://github.example/${options.owner}/${options.repo}/pull/${p.number}`,
    number: p.number,
    state: "closed",
    title: p.title,
    body: p.body,
    user: { login: p.author },
    labels: [],
    requested_reviewers: [],
    created_at: p.createdAt,
    updated_at: p.updatedAt,
    closed_at: p.mergedAt ?? p.updatedAt,
    merged_at: p.mergedAt,
    merge_commit_sha: p.mergeCommitSha,
    head: { ref: p.branch, sha: p.headSha },
    base: { ref: p.base, sha: "0".repeat(40) },
  });

  const handle = async (req: IncomingMessage, res: ServerResponse, record: FakeGitHubRequest) => {
    const url = new URL(req.url ?? "/", "http://fake");
    const auth = record.authorization;

    const limit = limits.findIndex((l) => l.when(url.pathname, record.query));
    if (limit >= 0) {
      const { seconds, secondary } = limits.splice(limit, 1)[0]!;
      if (secondary) {
        record.status = secondary;
        return send(
          res,
          secondary,
          {
            message:
              "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            documentation_url: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
          },
          {
            "retry-after": String(seconds),
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4990",
            "x-ratelimit-used": "10",
            "x-ratelimit-reset": String(Math.ceil(Date.now() / 1000) + 3600),
          },
        );
      }
      record.status = 403;
      return send(
        res,
        403,
        {
          message: "API rate limit exceeded for installation.",
          documentation_url: "https://docs.github.com/rest",
        },
        {
          "x-ratelimit-limit": "5000",
          "x-ratelimit-remaining": "0",
          "x-ratelimit-used": "5000",
          "x-ratelimit-reset": String(Math.ceil(Date.now() / 1000) + seconds),
        },
      );
    }

    const tokenRoute = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(url.pathname);
    if (tokenRoute && req.method === "POST") {
      const jwt = /^bearer (.+)$/i.exec(auth)?.[1];
      try {
        if (!jwt) throw new Error("no bearer");
        const { payload } = await jwtVerify(jwt, publicKey, {
          algorithms: ["RS256"],
          issuer: String(options.appId),
          clockTolerance: 0,
        });
        if (typeof payload.iat !== "number" || typeof payload.exp !== "number") throw new Error("no iat/exp");
        if (payload.exp - payload.iat > 600) throw new Error("longer than 10 minutes");
        if (payload.iat > Date.now() / 1000) throw new Error("issued in the future");
        jwtClaims.push(payload);
      } catch {
        record.status = 401;
        return send(res, 401, { message: "A JSON web token could not be decoded" });
      }
      if (Number(tokenRoute[1]) !== options.installationId) {
        record.status = 404;
        return send(res, 404, { message: "Not Found" });
      }
      const token = `ghs_${randomBytes(18).toString("base64url")}`;
      tokens.push(token);
      record.status = 201;
      return send(res, 201, {
        token,
        expires_at: new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
        permissions: { contents: "read", pull_requests: "read" },
        repository_selection: "all",
      });
    }

    const given = /^token (.+)$/i.exec(auth)?.[1] ?? /^bearer (.+)$/i.exec(auth)?.[1];
    if (!given || !(tokens.includes(given) || (options.acceptTokens ?? []).includes(given))) {
      record.status = 401;
      return send(res, 401, {
        message: "Bad credentials",
        documentation_url: "https://docs.github.com/rest",
      });
    }
    const prefix = `/repos/${options.owner}/${options.repo}/pulls`;
    if (url.pathname === prefix && req.method === "GET") {
      const page = Math.max(1, Number(record.query.page ?? "1"));
      const state = record.query.state ?? "open";
      const matching = pulls
        .filter(() => state === "all" || state === "closed")
        .filter((p) => !record.query.base || p.base === record.query.base)
        .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
      const last = Math.max(1, Math.ceil(matching.length / pageSize));
      const items = matching.slice((page - 1) * pageSize, page * pageSize);
      const link = (n: number) => {
        const u = new URL(`${base}${prefix}`);
        for (const [k, v] of Object.entries(record.query)) u.searchParams.set(k, v);
        u.searchParams.set("page", String(n));
        return u.toString();
      };
      const links: string[] = [];
      if (page < last) links.push(`<${link(page + 1)}>; rel="next"`, `<${link(last)}>; rel="last"`);
      if (page > 1) links.push(`<${link(1)}>; rel="first"`, `<${link(page - 1)}>; rel="prev"`);
      record.status = 200;
      return send(res, 200, items.map(pullJson), links.length > 0 ? { link: links.join(", ") } : {});
    }
    const sub = new RegExp(`^${prefix}/(\\d+)/(files|commits)$`).exec(url.pathname);
    if (sub && req.method === "GET") {
      const pull = pulls.find((p) => p.number === Number(sub[1]));
      if (!pull) {
        record.status = 404;
        return send(res, 404, { message: "Not Found" });
      }
      record.status = 200;
      if (sub[2] === "files") {
        return send(
          res,
          200,
          pull.files.map((f) => ({ sha: "0".repeat(40), additions: 1, deletions: 0, changes: 1, ...f })),
        );
      }
      return send(
        res,
        200,
        pull.commits.map((c) => ({
          sha: c.sha,
          commit: { message: c.message, author: { name: c.name, email: c.email, date: pull.createdAt } },
          author: c.login ? { login: c.login } : null,
          parents: [],
        })),
      );
    }
    record.status = 404;
    return send(res, 404, { message: "Not Found", documentation_url: "https://docs.github.com/rest" });
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://fake");
    const record: FakeGitHubRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorization: req.headers.authorization ?? "",
      at: Date.now(),
      status: 0,
    };
    requests.push(record);
    req.resume();
    req.on("end", () => {
      handle(req, res, record).catch(() => send(res, 500, { message: "fake failed" }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    pulls,
    requests,
    tokens,
    jwtClaims,
    rateLimitOnce: (when, seconds) => limits.push({ when, seconds }),
    secondaryRateLimitOnce: (when, seconds, status = 403) =>
      limits.push({ when, seconds, secondary: status }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
