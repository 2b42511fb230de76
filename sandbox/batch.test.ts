import { describe, expect, it } from "vitest";
import { ValidationError } from "../src/errors.ts";
import { batchArgv, MAX_BATCH_COMMANDS, newBoundary, splitBatchResult } from "./batch.ts";
import type { ExecResult } from "./driver.ts";

const B = "causeway-batch-0123456789abcdef0123456789abcdef";

function result(stdout: string, stderr: string, extra: Partial<ExecResult> = {}): ExecResult {
  return {
    exitCode: 0,
    stdout: Buffer.from(stdout),
    stderr: Buffer.from(stderr),
    timedOut: false,
    truncated: false,
    ...extra,
  };
}

describe("batchArgv", () => {
  it("puts no argument into the script: every one is a positional parameter", () => {
    const argv = batchArgv(
      [
        ["git", "show", "$(rm -rf /)"],
        ["printf", "%s", "`id`"],
      ],
      B,
    );
    expect(argv.slice(0, 2)).toEqual(["sh", "-c"]);
    const script = argv[2]!;
    expect(script).not.toContain("rm -rf");
    expect(script).not.toContain("id`");
    const ref = (n: number) => `"$\{${n}}"`;
    expect(script).toContain(`env -- ${ref(2)} ${ref(3)} ${ref(4)}`);
    expect(script).toContain(`env -- ${ref(5)} ${ref(6)} ${ref(7)}`);
    expect(argv.slice(3)).toEqual(["sh", B, "git", "show", "$(rm -rf /)", "printf", "%s", "`id`"]);
  });

  it("refuses an empty batch, an oversized one and program names that env would read as options", () => {
    expect(() => batchArgv([], B)).toThrow(ValidationError);
    expect(() =>
      batchArgv(
        Array.from({ length: MAX_BATCH_COMMANDS + 1 }, () => ["true"]),
        B,
      ),
    ).toThrow(ValidationError);
    expect(() => batchArgv([["-i", "sh"]], B)).toThrow(ValidationError);
    expect(() => batchArgv([["PATH=/tmp", "git"]], B)).toThrow(ValidationError);
    expect(() => batchArgv([["git; id"]], B)).toThrow(ValidationError);
  });

  it("draws a fresh 128-bit boundary each time", () => {
    const a = newBoundary();
    expect(a).toMatch(/^causeway-batch-[0-9a-f]{32}$/);
    expect(newBoundary()).not.toBe(a);
  });
});

describe("splitBatchResult", () => {
  it("splits stdout and stderr per command with each exit code", () => {
    const out = `one\n\n${B} 0\n\n${B} 128\nno newline\n${B} 0\n`;
    const err = `\n${B} 0\nfatal: bad revision\n\n${B} 128\n\n${B} 0\n`;
    const parts = splitBatchResult(result(out, err), B, 3);
    expect(parts.map((p) => p.exitCode)).toEqual([0, 128, 0]);
    expect(parts.map((p) => p.stdout.toString())).toEqual(["one\n", "", "no newline"]);
    expect(parts[1]!.stderr.toString()).toBe("fatal: bad revision\n");
    expect(parts.every((p) => !p.truncated && !p.timedOut)).toBe(true);
  });

  it("keeps what finished before a timeout and flags the rest", () => {
    const parts = splitBatchResult(
      result(`done\n${B} 0\npartial`, `\n${B} 0\n`, { exitCode: null, timedOut: true }),
      B,
      3,
    );
    expect(parts[0]).toMatchObject({ exitCode: 0, timedOut: false, truncated: false });
    expect(parts[0]!.stdout.toString()).toBe("done");
    for (const p of parts.slice(1)) expect(p).toMatchObject({ exitCode: null, timedOut: true });
    expect(parts[1]!.stdout.length).toBe(0);
  });

  it("treats a missing marker without timeout or cap as incomplete output", () => {
    const parts = splitBatchResult(result("", "", { exitCode: 137 }), B, 2);
    expect(parts.every((p) => p.exitCode === null && p.truncated)).toBe(true);
  });

  it("is not fooled by output that mentions a different boundary", () => {
    const other = "causeway-batch-ffffffffffffffffffffffffffffffff";
    const out = `\n${other} 0\nreal\n${B} 3\n`;
    const parts = splitBatchResult(result(out, `\n${B} 3\n`), B, 1);
    expect(parts[0]!.exitCode).toBe(3);
    expect(parts[0]!.stdout.toString()).toBe(`\n${other} 0\nreal`);
  });
});
