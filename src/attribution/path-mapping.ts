/**
 * Maps stack-frame paths to repository paths by the longest suffix match over path segments, against the
 * file list at the deployed SHA (the idea of Sentry's legacy `score_path_match_length`, applied to the
 * whole repository instead of one commit's files).
 *
 * Decisions:
 * - Segments compare exactly first; case-insensitively only when nothing matches exactly (macOS/Windows
 *   builds report paths in another case).
 * - The best match must be unique. A tie at the longest suffix is ambiguous and maps to nothing: guessing
 *   the shallowest file would send blame to a file the frame may not be in, and a wrong blame is worse
 *   than none (the frame is reported as unmapped, and can still be fixed with a code mapping).
 * - A basename-only match is accepted only when the basename is unique in the repository.
 * - Frames that are not in-app, or whose path is in dependency or runtime code (node_modules,
 *   site-packages, vendor/, node: internals, ...), are ignored.
 * - At most 25 in-app frames, crash site first (Sentry's frame window).
 */
import type { StackFrame } from "../../integrations/core/types.ts";

export const MAX_IN_APP_FRAMES = 25;

export interface RepoPathIndex {
  /** lower-cased basename → repo paths with that basename */
  byBasename: Map<string, string[]>;
  files: ReadonlySet<string>;
}

export interface MappedFrame {
  frame: StackFrame;
  /** Index among the kept in-app frames: 0 is the crash site. */
  inAppIndex: number;
  /** The repository path, when the frame mapped unambiguously. */
  repoPath?: string;
  /** How many trailing segments matched (0 when unmapped). */
  matchedSegments: number;
  unmappedReason?: "ambiguous" | "no_match";
}

const VENDOR_SEGMENTS = new Set([
  "node_modules",
  "site-packages",
  "dist-packages",
  "vendor",
  "bower_components",
  "jspm_packages",
  ".pnpm",
  ".yarn",
  "__pypackages__",
]);

const RUNTIME_PREFIXES = [
  "node:",
  "<",
  "[native code]",
  "/usr/lib/python",
  "/usr/local/lib/python",
  "/usr/local/go/src/",
  "/go/pkg/mod/",
];

const MODULE_EXTENSIONS = [".java", ".kt", ".scala", ".groovy", ".py"];

export function buildRepoPathIndex(files: readonly string[]): RepoPathIndex {
  const byBasename = new Map<string, string[]>();
  for (const file of files) {
    const base = basename(file).toLowerCase();
    const list = byBasename.get(base);
    if (list) list.push(file);
    else byBasename.set(base, [file]);
  }
  for (const list of byBasename.values()) list.sort();
  return { byBasename, files: new Set(files) };
}

function basename(path: string): string {
  const i = path.lastIndexOf("/");
  return i === -1 ? path : path.slice(i + 1);
}

/**
 * Turns whatever the runtime reported into path segments: strips URL schemes and hosts
 * (webpack:///./src/x.ts, app:///src/x.js, https://cdn/x.js?v=1), Windows drive letters and backslashes,
 * "." and ".." segments.
 */
export function normalizeFramePath(raw: string): string[] {
  let path = raw.trim().replace(/\\/g, "/");
  path = path.replace(/[?#].*$/, "");
  // webpack://<namespace>/./src, app:///src, https://cdn/js/x.js: the host is a bundle name or a server,
  // never a repository directory.
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/]*(.*)$/i.exec(path);
  if (scheme) path = scheme[1]!;
  path = path.replace(/^[A-Za-z]:\//, "/");
  const segments: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      segments.pop();
      continue;
    }
    segments.push(seg);
  }
  return segments;
}

/** Whether a frame path belongs to dependencies or the runtime rather than the application. */
export function isVendorPath(raw: string): boolean {
  const path = raw.trim().replace(/\\/g, "/");
  if (RUNTIME_PREFIXES.some((p) => path.startsWith(p))) return true;
  if (/^internal\/.*\.js$/.test(path)) return true; // Node core modules before the node: prefix
  return normalizeFramePath(path).some((seg) => VENDOR_SEGMENTS.has(seg));
}

/**
 * Candidate path spellings for one frame: the reported file, the absolute path, and for JVM / Python
 * frames whose file has no directory, the module's package as directories (Sentry's munged filename).
 */
function frameSpellings(frame: StackFrame): string[][] {
  const out: string[][] = [];
  const push = (segments: string[]) => {
    if (segments.length > 0 && !out.some((s) => s.join("/") === segments.join("/"))) out.push(segments);
  };
  const file = frame.file?.trim() ?? "";
  const usableFile = file !== "" && !/^(Unknown Source|Native Method|<unknown>)$/i.test(file);
  if (usableFile) push(normalizeFramePath(file));
  if (frame.absPath) push(normalizeFramePath(frame.absPath));
  const module = frame.module?.trim();
  if (module && /^[\w$]+(\.[\w$]+)+$/.test(module)) {
    const parts = module.split(".").map((p) => p.replace(/\$.*$/, ""));
    const fileBase = usableFile ? basename(normalizeFramePath(file).join("/")) : "";
    if (fileBase !== "" && !file.includes("/")) {
      // com.acme.cart.CartService + CartService.java → com/acme/cart/CartService.java; the same for
      // Python's app.views + views.py. The last module part is the class or module itself.
      push([...parts.slice(0, -1), fileBase]);
    } else if (!usableFile) {
      const cls = parts[parts.length - 1]!;
      for (const ext of MODULE_EXTENSIONS) push([...parts.slice(0, -1), cls + ext]);
    }
  }
  return out;
}

function commonSuffix(a: readonly string[], b: readonly string[], fold: boolean): number {
  let n = 0;
  while (n < a.length && n < b.length) {
    const x = a[a.length - 1 - n]!;
    const y = b[b.length - 1 - n]!;
    if (fold ? x.toLowerCase() !== y.toLowerCase() : x !== y) break;
    n++;
  }
  return n;
}

export interface PathMatch {
  repoPath?: string;
  matchedSegments: number;
  reason?: "ambiguous" | "no_match";
}

/** Longest-suffix match of one frame path (as segments) against the repository. */
export function matchRepoPath(segments: readonly string[], index: RepoPathIndex): PathMatch {
  const base = segments[segments.length - 1];
  if (base === undefined) return { matchedSegments: 0, reason: "no_match" };
  const candidates = index.byBasename.get(base.toLowerCase()) ?? [];
  for (const fold of [false, true]) {
    let best = 0;
    let winners: string[] = [];
    for (const repoPath of candidates) {
      const n = commonSuffix(segments, repoPath.split("/"), fold);
      if (n === 0) continue;
      if (n > best) {
        best = n;
        winners = [repoPath];
      } else if (n === best) {
        winners.push(repoPath);
      }
    }
    if (best === 0) continue;
    if (winners.length > 1) return { matchedSegments: best, reason: "ambiguous" };
    return { repoPath: winners[0]!, matchedSegments: best };
  }
  return { matchedSegments: 0, reason: "no_match" };
}

/** The best mapping over a frame's spellings: the longest unique match wins. */
export function mapFrame(frame: StackFrame, index: RepoPathIndex): PathMatch {
  let best: PathMatch = { matchedSegments: 0, reason: "no_match" };
  for (const spelling of frameSpellings(frame)) {
    const m = matchRepoPath(spelling, index);
    if (
      m.matchedSegments > best.matchedSegments ||
      (m.matchedSegments === best.matchedSegments && m.repoPath && !best.repoPath)
    ) {
      best = m;
    }
  }
  return best;
}

/** Whether the frame is application code worth attributing. */
export function isInAppFrame(frame: StackFrame): boolean {
  if (!frame.inApp) return false;
  const paths = [frame.file, frame.absPath].filter((p): p is string => typeof p === "string" && p !== "");
  if (paths.length === 0) return frame.module !== undefined;
  return !paths.some(isVendorPath);
}

/** Keeps the in-app frames (crash site first, at most 25) and maps each to a repository path. */
export function mapStackFrames(frames: readonly StackFrame[], index: RepoPathIndex): MappedFrame[] {
  const out: MappedFrame[] = [];
  for (const frame of frames) {
    if (out.length >= MAX_IN_APP_FRAMES) break;
    if (!isInAppFrame(frame)) continue;
    const m = mapFrame(frame, index);
    const mapped: MappedFrame = { frame, inAppIndex: out.length, matchedSegments: m.matchedSegments };
    if (m.repoPath !== undefined) mapped.repoPath = m.repoPath;
    if (m.reason !== undefined) mapped.unmappedReason = m.reason;
    out.push(mapped);
  }
  return out;
}
