/**
 * What a repository URL may be: https (any host), http (loopback only: a token must not cross a network
 * in the clear), ssh (`ssh://` or scp-like `git@host:path`), `file://` or an absolute local path for
 * self-hosted mirrors. Never userinfo with a password (credentials travel separately), never a query or
 * fragment, never git's `ext::`/`fd::` transports, never anything that could be read as an option, and
 * never a path inside Causeway's own data folder (another org's mirror lives there).
 */
import path from "node:path";

export type RepositoryTransport = "https" | "http" | "ssh" | "file";

export interface ParsedRepositoryUrl {
  transport: RepositoryTransport;
  /** What git is given, normalized (a local path becomes absolute and clean). */
  url: string;
  /** `owner/name` when the URL has that shape (GitHub and its look-alikes), lower-cased. */
  fullName: string | null;
}

export type RepositoryUrlResult = { ok: true; value: ParsedRepositoryUrl } | { ok: false; message: string };

const SCP_LIKE = /^(?:([A-Za-z0-9._-]{1,64})@)?([A-Za-z0-9.-]{1,253}):(?!\/\/)([^\s]{1,2000})$/;
const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

function fullNameOf(pathname: string): string | null {
  const parts = pathname
    .replace(/\.git\/?$/, "")
    .split("/")
    .filter((p) => p !== "");
  if (parts.length < 2) return null;
  const [owner, name] = parts.slice(-2) as [string, string];
  if (!/^[A-Za-z0-9_.-]+$/.test(owner) || !/^[A-Za-z0-9_.-]+$/.test(name)) return null;
  return `${owner}/${name}`.toLowerCase();
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

function localPath(raw: string, dataDir: string): RepositoryUrlResult {
  if (raw.includes("\0")) return { ok: false, message: "must not contain NUL" };
  const resolved = path.resolve(raw);
  if (isInside(resolved, path.resolve(dataDir))) {
    return { ok: false, message: "must not point inside Causeway's data folder" };
  }
  return { ok: true, value: { transport: "file", url: resolved, fullName: fullNameOf(resolved) } };
}

export function parseRepositoryUrl(input: string, options: { dataDir: string }): RepositoryUrlResult {
  const raw = input.trim();
  if (raw === "" || raw.length > 2048) return { ok: false, message: "must be 1 to 2048 characters" };
  if (raw.startsWith("-")) return { ok: false, message: "must not start with '-'" };
  if (/[\s\u0000-\u001f\u007f]/.test(raw))
    return { ok: false, message: "must not contain spaces or control characters" };
  if (raw.startsWith("/")) return localPath(raw, options.dataDir);

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(raw)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    const scp = SCP_LIKE.exec(raw);
    if (scp && !raw.includes("::")) {
      return { ok: true, value: { transport: "ssh", url: raw, fullName: fullNameOf(scp[3]!) } };
    }
    return { ok: false, message: "must be an https or ssh URL, a file:// URL or an absolute path" };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, message: "is not a valid URL" };
  }
  if (url.search !== "" || url.hash !== "")
    return { ok: false, message: "must not have a query or fragment" };
  switch (scheme) {
    case "https":
    case "http": {
      if (url.username !== "" || url.password !== "") {
        return { ok: false, message: "must not contain credentials; pass them as `credential`" };
      }
      if (scheme === "http" && !LOOPBACK.has(url.hostname)) {
        return { ok: false, message: "plain http is only allowed to this machine; use https" };
      }
      if (url.pathname === "/" || url.pathname === "")
        return { ok: false, message: "must name a repository" };
      return {
        ok: true,
        value: { transport: scheme, url: url.toString(), fullName: fullNameOf(url.pathname) },
      };
    }
    case "ssh": {
      if (url.password !== "") return { ok: false, message: "must not contain a password" };
      if (url.hostname === "" || url.pathname === "/")
        return { ok: false, message: "must name a host and a path" };
      return {
        ok: true,
        value: { transport: "ssh", url: url.toString(), fullName: fullNameOf(url.pathname) },
      };
    }
    case "file": {
      if (url.host !== "") return { ok: false, message: "file URLs must be file:///absolute/path" };
      return localPath(decodeURIComponent(url.pathname), options.dataDir);
    }
    default:
      return { ok: false, message: `the ${scheme} transport is not allowed` };
  }
}
