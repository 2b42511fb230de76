import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlameParseError, blameArgs, blameAt, parseBlamePorcelain, unquotePath } from "./blame-parser.ts";

/** A throwaway repository driven by the real git CLI. */
function makeRepo() {
  const dir = mkdtempSync(join(tmpdir(), "cw-blame-"));
  const git = (args: string[], env: Record<string, string> = {}) =>
    execFileSync("git", args, {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1", HOME: dir, ...env },
    });
  git(["init", "-q", "-b", "main"]);
  git(["config", "user.name", "Test"]);
  git(["config", "user.email", "test@example.com"]);
  git(["config", "commit.gpgsign", "false"]);
  const commit = (message: string, files: Record<string, string>, author: string, epoch: number) => {
    for (const [path, content] of Object.entries(files)) writeFileSync(join(dir, path), content);
    git(["add", "-A"]);
    const date = `${epoch} +0000`;
    git(["commit", "-q", "-m", message, `--author=${author}`], {
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_DATE: date,
    });
    return git(["rev-parse", "HEAD"]).trim();
  };
  return { dir, git, commit, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

describe("parseBlamePorcelain on real git output", () => {
  const repo = makeRepo();
  let first = "";
  let second = "";
  let reformat = "";
  let renamed = "";

  beforeAll(() => {
    first = repo.commit(
      "add cart",
      { "cart.ts": "export function total(items) {\n  return items.reduce((a, b) => a + b, 0);\n}\n" },
      "Alice <alice@example.com>",
      1_700_000_000,
    );
    second = repo.commit(
      "PAY-42: skip null prices",
      {
        "cart.ts":
          "export function total(items) {\n  return items.filter(Boolean).reduce((a, b) => a + b.price, 0);\n}\n",
      },
      "Bob <bob@example.com>",
      1_700_100_000,
    );
    // Whitespace-only reformat of every line.
    reformat = repo.commit(
      "style: indent with tabs",
      {
        "cart.ts":
          "export function total(items) {\n\treturn items.filter(Boolean).reduce((a, b) => a + b.price, 0);\n}\n",
      },
      "Formatter Bot <bot@example.com>",
      1_700_200_000,
    );
    repo.git(["mv", "cart.ts", "basket.ts"]);
    renamed = repo.commit("rename cart to basket", {}, "Carol <carol@example.com>", 1_700_300_000);
  });
  afterAll(() => repo.cleanup());

  it("attributes each line with commit details repeated from the first occurrence", () => {
    const out = repo.git(["blame", "--porcelain", "basket.ts"]);
    const lines = parseBlamePorcelain(out);
    expect(lines.map((l) => l.finalLine)).toEqual([1, 2, 3]);
    // Line 1 and 3 come from the root commit, which git marks as a boundary.
    expect(lines[0]).toMatchObject({
      sha: first,
      authorMail: "alice@example.com",
      boundary: true,
      originalPath: "cart.ts",
    });
    expect(lines[2]).toMatchObject({
      sha: first,
      authorMail: "alice@example.com",
      summary: "add cart",
      originalLine: 3,
    });
    expect(lines[2]!.authorTime.toISOString()).toBe(new Date(1_700_000_000_000).toISOString());
    // Without -w the reformat owns line 2.
    expect(lines[1]).toMatchObject({ sha: reformat, authorName: "Formatter Bot", boundary: false });
    expect(lines[1]!.previous).toEqual({ sha: second, path: "cart.ts" });
    expect(lines[1]!.content).toBe("\treturn items.filter(Boolean).reduce((a, b) => a + b.price, 0);");
    expect(renamed).toMatch(/^[0-9a-f]{40}$/);
  });

  it("sees through the reformat with --ignore-rev, as the sandbox runs it", () => {
    const args = blameArgs({ sha: "HEAD", path: "basket.ts", line: 2, ignoreRevs: [reformat] });
    const lines = parseBlamePorcelain(repo.git(args));
    expect(lines).toHaveLength(1);
    expect(blameAt(lines, 2)).toMatchObject({
      sha: second,
      summary: "PAY-42: skip null prices",
      originalPath: "cart.ts",
    });
    expect(blameAt(lines, 1)).toBeUndefined();
  });

  it("parses --line-porcelain identically to --porcelain", () => {
    const a = parseBlamePorcelain(repo.git(["blame", "--porcelain", "-w", "basket.ts"]));
    const b = parseBlamePorcelain(repo.git(["blame", "--line-porcelain", "-w", "basket.ts"]));
    expect(b).toEqual(a);
    expect(a[1]!.sha).toBe(second);
  });

  it("returns nothing for empty output and rejects garbage with the line number", () => {
    expect(parseBlamePorcelain("")).toEqual([]);
    expect(() => parseBlamePorcelain("not a blame\n")).toThrow(BlameParseError);
    const truncated = `${"a".repeat(40)} 1 1 1\nauthor X\n`;
    expect(() => parseBlamePorcelain(truncated)).toThrow(/content line/);
  });
});

describe("blameArgs", () => {
  it("ignores whitespace, follows moves and skips every ignore-rev, limited to the frame line", () => {
    expect(blameArgs({ sha: "abc", path: "src/a.ts", line: 42, ignoreRevs: ["r1", "r2"] })).toEqual([
      "blame",
      "--porcelain",
      "-w",
      "-M",
      "-C",
      "--ignore-rev",
      "r1",
      "--ignore-rev",
      "r2",
      "-L",
      "42,42",
      "abc",
      "--",
      "src/a.ts",
    ]);
  });
});

describe("unquotePath", () => {
  it("decodes git's C-style quoting, including octal UTF-8 bytes", () => {
    expect(unquotePath('"caf\\303\\251.ts"')).toBe("café.ts");
    expect(unquotePath('"a\\tb\\"c\\\\d"')).toBe('a\tb"c\\d');
    expect(unquotePath("plain path.ts")).toBe("plain path.ts");
  });
});
