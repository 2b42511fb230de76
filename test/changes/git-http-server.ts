import { spawn } from "node:child_process";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

export interface GitHttpServer {
  /** Clone URL of the repository (http://127.0.0.1:port/repo.git). */
  url: string;
  /** Every Authorization header received, in order ("" when absent). */
  authorizations: string[];
  /** The next upload-pack answer longer than this is cut there (a connection dropped mid-pack). */
  dropNextPackAfter(bytes: number): void;
  close(): Promise<void>;
}

/**
 * A real git smart-HTTP server for tests: node:http on 127.0.0.1 in front of `git http-backend` (CGI),
 * serving one bare repository, requiring `Authorization: Basic base64(user:token)`.
 */
export async function startGitHttpServer(options: {
  bareDir: string;
  username: string;
  /** The one accepted token, or a function listing the tokens accepted right now (e.g. those a fake issued). */
  token: string | (() => readonly string[]);
}): Promise<GitHttpServer> {
  const root = path.dirname(options.bareDir);
  const name = path.basename(options.bareDir);
  const basic = (token: string) => `Basic ${Buffer.from(`${options.username}:${token}`).toString("base64")}`;
  const accepted = (auth: string) =>
    typeof options.token === "string"
      ? auth === basic(options.token)
      : options.token().some((token) => auth === basic(token));
  const authorizations: string[] = [];
  let dropAfter: number | undefined;

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const auth = req.headers.authorization ?? "";
    authorizations.push(auth);
    if (!accepted(auth)) {
      res.writeHead(401, { "www-authenticate": 'Basic realm="git"', "content-type": "text/plain" });
      res.end("Authentication required\n");
      return;
    }
    const url = new URL(req.url ?? "/", "http://localhost");
    const isPack = url.pathname.endsWith("/git-upload-pack") && req.method === "POST";
    // Armed until a pack answer is actually longer than the cut (protocol v2 also POSTs small ls-refs).
    const cut = isPack ? dropAfter : undefined;
    const child = spawn("git", ["http-backend"], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        GATEWAY_INTERFACE: "CGI/1.1",
        REQUEST_METHOD: req.method ?? "GET",
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.replace(/^\?/, ""),
        CONTENT_TYPE: req.headers["content-type"] ?? "",
        REMOTE_USER: options.username,
        REMOTE_ADDR: "127.0.0.1",
        HTTP_CONTENT_ENCODING: req.headers["content-encoding"] ?? "",
        HTTP_GIT_PROTOCOL: String(req.headers["git-protocol"] ?? ""),
      },
      stdio: ["pipe", "pipe", "ignore"],
    });
    req.pipe(child.stdin);
    let head = Buffer.alloc(0);
    let headersSent = false;
    let sent = 0;
    child.stdout.on("data", (chunk: Buffer) => {
      if (!headersSent) {
        head = Buffer.concat([head, chunk]);
        const text = head.toString("latin1");
        const end = text.indexOf("\r\n\r\n") >= 0 ? text.indexOf("\r\n\r\n") + 4 : text.indexOf("\n\n") + 2;
        if (end < 2) return;
        const headers: Record<string, string> = {};
        let status = 200;
        for (const line of text.slice(0, end).split(/\r?\n/)) {
          const colon = line.indexOf(":");
          if (colon <= 0) continue;
          const key = line.slice(0, colon).trim();
          const value = line.slice(colon + 1).trim();
          if (key.toLowerCase() === "status") status = Number(value.split(" ")[0]);
          else headers[key] = value;
        }
        res.writeHead(status, headers);
        headersSent = true;
        chunk = head.subarray(end);
      }
      if (cut !== undefined && sent + chunk.byteLength > cut) {
        dropAfter = undefined;
        res.write(chunk.subarray(0, Math.max(0, cut - sent)));
        child.kill("SIGKILL");
        res.destroy();
        return;
      }
      sent += chunk.byteLength;
      res.write(chunk);
    });
    child.on("close", () => {
      if (!res.destroyed) res.end();
    });
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/${name}`,
    authorizations,
    dropNextPackAfter: (bytes) => {
      dropAfter = bytes;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
