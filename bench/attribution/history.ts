/**
 * A git history built in memory and written with one `git fast-import` (fast enough for a 10,000-commit
 * repository). Commits follow GitHub's conventions so the service's git-history parser sees pull requests:
 * squash merges are "Title (#N)" on main, merge-workflow PRs are inner commits on a branch merged --no-ff
 * as "Merge pull request #N from acme/<branch>" with the title on the body's first line.
 */
import { execFile, spawn } from "node:child_process";
import { mkdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Person {
  name: string;
  email: string;
}

/** path → lines (null deletes the file). */
export type Changes = Record<string, string[] | null>;

interface Pending {
  kind: "commit";
  ref: string;
  mark: number;
  from?: number;
  merge?: number;
  author: Person;
  authorAt: Date;
  committerAt: Date;
  message: string;
  changes: Changes;
}

export const GITHUB: Person = { name: "GitHub", email: "noreply@github.com" };

export class History {
  /** Current content of main. */
  readonly files = new Map<string, string[]>();
  private readonly commands: Pending[] = [];
  private nextMark = 1;
  private mainTip: number | undefined;

  /** Mark of main's tip. */
  get tip(): number {
    if (this.mainTip === undefined) throw new Error("empty history");
    return this.mainTip;
  }

  file(p: string): string[] {
    const f = this.files.get(p);
    if (!f) throw new Error(`no file ${p}`);
    return f;
  }

  private apply(changes: Changes, into: Map<string, string[]>): void {
    for (const [p, lines] of Object.entries(changes)) {
      if (lines === null) into.delete(p);
      else into.set(p, [...lines]);
    }
  }

  /** A commit straight on main (a squash merge, a direct push, an import). Returns its mark. */
  commit(message: string, author: Person, at: Date, changes: Changes, committer: Date = at): number {
    const mark = this.nextMark++;
    this.commands.push({
      kind: "commit",
      ref: "refs/heads/main",
      mark,
      ...(this.mainTip !== undefined ? { from: this.mainTip } : {}),
      author,
      authorAt: at,
      committerAt: committer,
      message,
      changes,
    });
    this.mainTip = mark;
    this.apply(changes, this.files);
    return mark;
  }

  squashPr(n: number, title: string, body: string, author: Person, at: Date, changes: Changes): number {
    return this.commit(body ? `${title} (#${n})\n\n${body}\n` : `${title} (#${n})\n`, author, at, changes);
  }

  /** Merge workflow: inner commits on `branch` from main's tip, then a --no-ff merge commit. */
  mergePr(
    n: number,
    branch: string,
    title: string,
    body: string,
    inner: Array<{ message: string; author: Person; at: Date; changes: Changes }>,
    mergeAt: Date,
  ): { merge: number; inner: number[] } {
    const ref = `refs/heads/${branch}`;
    let tip = this.mainTip;
    const marks: number[] = [];
    const touched: Changes = {};
    const branchFiles = new Map(this.files);
    for (const c of inner) {
      const mark = this.nextMark++;
      this.commands.push({
        kind: "commit",
        ref,
        mark,
        ...(tip !== undefined ? { from: tip } : {}),
        author: c.author,
        authorAt: c.at,
        committerAt: c.at,
        message: c.message,
        changes: c.changes,
      });
      this.apply(c.changes, branchFiles);
      for (const p of Object.keys(c.changes)) touched[p] = branchFiles.get(p) ?? null;
      marks.push(mark);
      tip = mark;
    }
    const mark = this.nextMark++;
    this.commands.push({
      kind: "commit",
      ref: "refs/heads/main",
      mark,
      ...(this.mainTip !== undefined ? { from: this.mainTip } : {}),
      merge: tip!,
      author: GITHUB,
      authorAt: mergeAt,
      committerAt: mergeAt,
      message: `Merge pull request #${n} from acme/${branch}\n\n${body ? `${title}\n\n${body}` : title}\n`,
      changes: touched,
    });
    this.mainTip = mark;
    this.apply(touched, this.files);
    return { merge: mark, inner: marks };
  }

  private stream(): Buffer {
    const parts: Buffer[] = [];
    const text = (s: string) => parts.push(Buffer.from(s, "utf8"));
    const data = (s: string) => {
      const b = Buffer.from(s, "utf8");
      text(`data ${b.length}\n`);
      parts.push(b);
      text("\n");
    };
    const stamp = (p: Person, d: Date) => `${p.name} <${p.email}> ${Math.floor(d.getTime() / 1000)} +0000`;
    for (const c of this.commands) {
      text(`commit ${c.ref}\nmark :${c.mark}\n`);
      text(`author ${stamp(c.author, c.authorAt)}\ncommitter ${stamp(GITHUB, c.committerAt)}\n`);
      data(c.message);
      if (c.from !== undefined) text(`from :${c.from}\n`);
      if (c.merge !== undefined) text(`merge :${c.merge}\n`);
      for (const [p, lines] of Object.entries(c.changes)) {
        if (lines === null) text(`D ${p}\n`);
        else {
          text(`M 100644 inline ${p}\n`);
          data(lines.length ? `${lines.join("\n")}\n` : "");
        }
      }
      text("\n");
    }
    return Buffer.concat(parts);
  }

  /** Writes the repository (bare) at `dir`; returns mark → SHA. */
  async write(dir: string): Promise<Map<number, string>> {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await git(dir, ["init", "-q", "--bare", "-b", "main"]);
    const marks = path.join(dir, "bench-marks");
    await new Promise<void>((resolve, reject) => {
      const child = spawn("git", ["fast-import", "--quiet", `--export-marks=${marks}`], {
        cwd: dir,
        env: gitEnv(),
        stdio: ["pipe", "ignore", "pipe"],
      });
      let err = "";
      child.stderr.on("data", (d) => {
        err += String(d);
      });
      child.on("error", reject);
      child.on("close", (code) =>
        code === 0 ? resolve() : reject(new Error(`fast-import exited ${code}: ${err}`)),
      );
      child.stdin.end(this.stream());
    });
    const out = new Map<number, string>();
    for (const line of (await readFile(marks, "utf8")).split("\n")) {
      const m = /^:(\d+) ([0-9a-f]{40})$/.exec(line);
      if (m) out.set(Number(m[1]), m[2]!);
    }
    await rm(marks, { force: true });
    return out;
  }
}

export function gitEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: "/nonexistent",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    LC_ALL: "C",
    TZ: "UTC",
  };
}

export async function git(dir: string, args: string[]): Promise<string> {
  const { stdout } = await run("git", args, { cwd: dir, env: gitEnv(), maxBuffer: 256 * 1024 * 1024 });
  return stdout;
}
