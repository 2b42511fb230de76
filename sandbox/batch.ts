/**
 * Several commands in one sandbox exec. A Docker exec costs three engine round trips and a process
 * spawn through the container runtime (~130 ms here), far more than a git read on a warm mirror, so the
 * Docker driver runs a batch as one `sh -c` whose script holds no caller data at all: every argument
 * reaches the shell as a positional parameter and each command is started through `env`, so nothing a
 * caller passes is parsed as shell syntax or runs as a shell builtin.
 *
 * After each command the script writes `\n<boundary> <exit code>\n` to stdout and to stderr. The
 * boundary is 128 random bits per batch, so a command's output cannot forge it. A batch cut short (by a
 * timeout or the output cap) still returns the commands that finished before the cut as complete.
 */
import { randomBytes } from "node:crypto";
import { type FieldError, ValidationError } from "../src/errors.ts";
import type { ExecResult } from "./driver.ts";

/** Largest number of commands in one batch: keeps the script and argv far below the kernel's limits. */
export const MAX_BATCH_COMMANDS = 200;

export function newBoundary(): string {
  return `causeway-batch-${randomBytes(16).toString("hex")}`;
}

/** Program names a batch may start: a plain name or absolute path, never an option or an assignment. */
const PROGRAM = /^[A-Za-z0-9_./+-]+$/;

export function validateBatch(commands: readonly (readonly string[])[]): void {
  const errors: FieldError[] = [];
  if (!Array.isArray(commands) || commands.length === 0 || commands.length > MAX_BATCH_COMMANDS) {
    errors.push({ path: "commands", message: `must hold 1 to ${MAX_BATCH_COMMANDS} commands` });
  } else {
    commands.forEach((argv, i) => {
      const program = argv[0];
      if (typeof program !== "string" || !PROGRAM.test(program) || program.startsWith("-")) {
        errors.push({ path: `commands.${i}.0`, message: "must name a program (no options, no '=')" });
      }
    });
  }
  if (errors.length > 0) throw new ValidationError(errors, "invalid sandbox batch");
}

/** The one argv that runs `commands` in order inside the sandbox, framing each result with `boundary`. */
export function batchArgv(commands: readonly (readonly string[])[], boundary: string): string[] {
  validateBatch(commands);
  let position = 2; // $1 is the boundary
  const lines = ['b="$1"'];
  for (const argv of commands) {
    const refs = argv.map(() => `"\${${position++}}"`).join(" ");
    lines.push(
      `env -- ${refs}`,
      "c=$?",
      `printf '\\n%s %s\\n' "$b" "$c"`,
      `printf '\\n%s %s\\n' "$b" "$c" >&2`,
    );
  }
  return ["sh", "-c", lines.join("\n"), "sh", boundary, ...commands.flat()];
}

interface Framed {
  output: Buffer;
  exitCode: number | null;
}

/** Splits one stream at the boundary markers; entries past the last complete marker are missing. */
function splitFramed(buf: Buffer, boundary: string, count: number): Framed[] {
  const marker = Buffer.from(`\n${boundary} `);
  const out: Framed[] = [];
  let from = 0;
  while (out.length < count) {
    const at = buf.indexOf(marker, from);
    if (at < 0) break;
    const eol = buf.indexOf(0x0a, at + marker.length);
    if (eol < 0) break;
    const code = Number(buf.subarray(at + marker.length, eol).toString("latin1"));
    out.push({ output: buf.subarray(from, at), exitCode: Number.isInteger(code) ? code : null });
    from = eol + 1;
  }
  return out;
}

/**
 * Per-command results from the batch's combined result. A command whose end marker never came (the
 * batch timed out or hit the output cap first) gets `exitCode: null` with the batch's timedOut/truncated.
 */
export function splitBatchResult(result: ExecResult, boundary: string, count: number): ExecResult[] {
  const outs = splitFramed(result.stdout, boundary, count);
  const errs = splitFramed(result.stderr, boundary, count);
  const results: ExecResult[] = [];
  for (let i = 0; i < count; i++) {
    const out = outs[i];
    const err = errs[i];
    if (out && err) {
      results.push({
        exitCode: out.exitCode,
        stdout: Buffer.from(out.output),
        stderr: Buffer.from(err.output),
        timedOut: false,
        truncated: false,
      });
      continue;
    }
    results.push({
      exitCode: null,
      stdout: Buffer.alloc(0),
      stderr: Buffer.alloc(0),
      timedOut: result.timedOut,
      // Neither a timeout nor the cap: the sandbox died mid-batch; the output is incomplete all the same.
      truncated: result.truncated || !result.timedOut,
    });
  }
  return results;
}
