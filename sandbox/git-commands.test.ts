import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../src/errors.ts";
import {
  blameArgs,
  diffArgs,
  GIT_DIR_ARG,
  gitArgv,
  isAncestorArgs,
  logArgs,
  lsTreeArgs,
  readIsAncestor,
  SANDBOX_REPO_PATH,
} from "./git-commands.ts";

const A = "a".repeat(40);
const B = "b".repeat(40);
const PREFIX = ["git", "--git-dir=/repo", "-c", "safe.directory=*"];

describe("git argv builders", () => {
  it("names the mirror at the fixed sandbox path", () => {
    expect(SANDBOX_REPO_PATH).toBe("/repo");
    expect(GIT_DIR_ARG).toBe("--git-dir=/repo");
  });

  it("builds blame with ignore-revs, a line range and the path after --", () => {
    expect(blameArgs(A, "src/app.ts", { lineStart: 3, lineEnd: 9, ignoreRevs: [B, "abc1234"] })).toEqual([
      ...PREFIX,
      "blame",
      "--porcelain",
      "-w",
      "-M",
      "-C",
      "--ignore-rev",
      B,
      "--ignore-rev",
      "abc1234",
      "-L",
      "3,9",
      A,
      "--",
      "src/app.ts",
    ]);
  });

  it("builds log, diff, merge-base and ls-tree", () => {
    expect(logArgs(A, { maxCount: 5, paths: ["a b.ts"], firstParent: true })).toEqual([
      ...PREFIX,
      "--literal-pathspecs",
      "log",
      "-z",
      "--format=%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%cI%x1f%s",
      "--encoding=UTF-8",
      "--no-color",
      "--no-show-signature",
      "--no-notes",
      "--first-parent",
      "--max-count=5",
      A,
      "--",
      "a b.ts",
    ]);
    expect(diffArgs(A, B)).toEqual([
      ...PREFIX,
      "--literal-pathspecs",
      "diff",
      "-U0",
      "--no-color",
      "--find-renames",
      "--no-ext-diff",
      "--no-textconv",
      A,
      B,
      "--",
    ]);
    expect(diffArgs(A, B, ["x.ts", "y.ts"]).slice(-3)).toEqual(["--", "x.ts", "y.ts"]);
    expect(isAncestorArgs(A, B)).toEqual([...PREFIX, "merge-base", "--is-ancestor", A, B]);
    expect(lsTreeArgs(A)).toEqual([...PREFIX, "ls-tree", "-r", "--name-only", "-z", A]);
  });

  it("refuses anything that could become an option or is not a hex SHA", () => {
    const bad = (fn: () => unknown) => expect(fn).toThrow(ValidationError);
    bad(() => blameArgs("--output=/tmp/x", "a", { lineStart: 1, lineEnd: 1 }));
    bad(() => blameArgs("HEAD", "a", { lineStart: 1, lineEnd: 1 }));
    bad(() => blameArgs("abc12", "a", { lineStart: 1, lineEnd: 1 }));
    bad(() => blameArgs(A.toUpperCase(), "a", { lineStart: 1, lineEnd: 1 }));
    bad(() => blameArgs(A, "-L1,1", { lineStart: 1, lineEnd: 1 }));
    bad(() => blameArgs(A, "a\0b", { lineStart: 1, lineEnd: 1 }));
    bad(() => blameArgs(A, "", { lineStart: 1, lineEnd: 1 }));
    bad(() => blameArgs(A, "a", { lineStart: 0, lineEnd: 1 }));
    bad(() => blameArgs(A, "a", { lineStart: 5, lineEnd: 4 }));
    bad(() => blameArgs(A, "a", { lineStart: 1.5, lineEnd: 4 }));
    bad(() => blameArgs(A, "a", { lineStart: 1, lineEnd: 1, ignoreRevs: ["--since=x"] }));
    bad(() => logArgs(A, { maxCount: 0 }));
    bad(() => logArgs(A, { paths: ["--all"] }));
    bad(() => diffArgs(A, "-R"));
    bad(() => isAncestorArgs(A, "main"));
    bad(() => lsTreeArgs(`${A}\n`));
  });

  it("names every invalid field at once", () => {
    try {
      blameArgs("nope", "-x", { lineStart: 0, lineEnd: 1 });
      expect.unreachable();
    } catch (error) {
      expect((error as ValidationError).errors?.map((e) => e.path)).toEqual(["sha", "path", "lineStart"]);
    }
  });

  it("never lets arbitrary input land before -- or as an option (fuzzed)", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (sha, p) => {
        let argv: string[];
        try {
          argv = blameArgs(sha, p, { lineStart: 1, lineEnd: 1 });
        } catch (error) {
          return error instanceof ValidationError;
        }
        const dashdash = argv.indexOf("--");
        return (
          /^[0-9a-f]{7,64}$/.test(sha) &&
          argv[dashdash - 1] === sha &&
          argv[dashdash + 1] === p &&
          !p.startsWith("-") &&
          !p.includes("\0")
        );
      }),
    );
  });

  it("wraps read-only subcommands only", () => {
    expect(gitArgv(["log", "--oneline"])).toEqual([...PREFIX, "--literal-pathspecs", "log", "--oneline"]);
    expect(() => gitArgv(["push", "origin"])).toThrow(ValidationError);
    expect(() => gitArgv(["-c", "core.pager=sh"])).toThrow(ValidationError);
    expect(() => gitArgv([])).toThrow(ValidationError);
  });

  it("reads merge-base --is-ancestor exits", () => {
    const r = (exitCode: number | null, timedOut = false) => ({
      exitCode,
      timedOut,
      truncated: false,
      stdout: Buffer.alloc(0),
      stderr: Buffer.alloc(0),
    });
    expect(readIsAncestor(r(0))).toBe(true);
    expect(readIsAncestor(r(1))).toBe(false);
    expect(() => readIsAncestor(r(128))).toThrow(/exit code 128/);
    expect(() => readIsAncestor(r(null, true))).toThrow(/timed out/);
  });
});
