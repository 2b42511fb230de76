/**
 * Parsed patches of merged commits, kept between attributions. A commit's first-parent patch never
 * changes, and anomalies come in storms against the same repository and release, so the next
 * attribution reads only the commits it has not seen (`git show` of a few hundred commits is the largest
 * single read of an attribution on a long history). Keyed by repository and SHA, so one org's entries
 * are never served for another's repository; bounded by an estimate of the memory held, least recently
 * used first out.
 */
import type { CommitPatch } from "./diff-parser.ts";

const PER_FILE_BYTES = 256;
const PER_LINE_BYTES = 48;

/** Rough heap bytes of a parsed patch: the line text plus per-object overhead. */
export function patchBytes(patch: CommitPatch): number {
  let bytes = 128;
  for (const f of patch.files) {
    bytes += PER_FILE_BYTES + (f.newPath?.length ?? 0) + (f.oldPath?.length ?? 0);
    for (const h of f.hunks) {
      for (const l of h.addedLines) bytes += PER_LINE_BYTES + 2 * l.length;
      for (const l of h.removedLines) bytes += PER_LINE_BYTES + 2 * l.length;
    }
  }
  return bytes;
}

export class PatchCache {
  private readonly entries = new Map<string, { patch: CommitPatch; bytes: number }>();
  private held = 0;
  hits = 0;
  misses = 0;

  constructor(private maxBytes: number) {}

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.held;
  }

  /** Changes the bound (0 turns the cache off), evicting what no longer fits. */
  resize(maxBytes: number): void {
    this.maxBytes = Math.max(0, maxBytes);
    this.evict();
  }

  get(repositoryId: string, sha: string): CommitPatch | undefined {
    const key = `${repositoryId}:${sha}`;
    const hit = this.entries.get(key);
    if (!hit) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Most recently used goes last.
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit.patch;
  }

  set(repositoryId: string, sha: string, patch: CommitPatch): void {
    const bytes = patchBytes(patch);
    // One patch larger than a tenth of the cache would push out everything else for little gain.
    if (this.maxBytes === 0 || bytes > this.maxBytes / 10) return;
    const key = `${repositoryId}:${sha}`;
    const old = this.entries.get(key);
    if (old) {
      this.held -= old.bytes;
      this.entries.delete(key);
    }
    this.entries.set(key, { patch, bytes });
    this.held += bytes;
    this.evict();
  }

  private evict(): void {
    for (const [key, entry] of this.entries) {
      if (this.held <= this.maxBytes) break;
      this.entries.delete(key);
      this.held -= entry.bytes;
    }
  }
}

/** The process's cache (attribution workers); sized from CAUSEWAY_ATTRIBUTION_PATCH_CACHE_MB. */
export const sharedPatchCache = new PatchCache(64 * 1024 * 1024);
