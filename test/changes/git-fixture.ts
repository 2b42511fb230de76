import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Author {
  name: string;
  email: string;
}

export const ADA: Author = { name: "Ada Lovelace", email: "ada@example.com" };
export const GRACE: Author = { name: "Grace Hopper", email: "grace@example.com" };

/**
 * A real git repository made by a test, with GitHub's merge and squash conventions as helpers. Every
 * commit gets the next fixed time (one hour apart from `start`), so histories are deterministic.
 */
export class GitFixture {
  private tick = 0;
  private constructor(
    readonly dir: string,
    private readonly start: number,
  ) {}

  static async create(options: { start?: Date; bare?: boolean } = {}): Promise<GitFixture> {
    const dir = await mkdtemp(path.join(tmpdir(), "causeway-repo-"));
    const repo = new GitFixture(dir, (options.start ?? new Date("2026-03-01T09:00:00Z")).getTime());
    await repo.git(["init", "-q", "-b", "main"]);
    return repo;
  }

  /** The time the next commit will carry. */
  nextDate(): Date {
    this.tick++;
    return new Date(this.start + this.tick * 3_600_000);
  }

  async git(args: string[], env: Record<string, string> = {}, cwd = this.dir): Promise<string> {
    const { stdout } = await run("git", args, {
      cwd,
      maxBuffer: 64 * 1024 * 1024,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: this.dir,
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        GIT_AUTHOR_NAME: ADA.name,
        GIT_AUTHOR_EMAIL: ADA.email,
        GIT_COMMITTER_NAME: "GitHub",
        GIT_COMMITTER_EMAIL: "noreply@github.com",
        LC_ALL: "C",
        TZ: "UTC",
        ...env,
      },
    });
    return stdout;
  }

  private async dated(args: string[], author: Author): Promise<string> {
    const date = this.nextDate().toISOString();
    await this.git(args, {
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_DATE: date,
      GIT_AUTHOR_NAME: author.name,
      GIT_AUTHOR_EMAIL: author.email,
    });
    return (await this.git(["rev-parse", "HEAD"])).trim();
  }

  async write(file: string, content: string): Promise<void> {
    const full = path.join(this.dir, file);
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, content);
  }

  async commit(message: string, files: Record<string, string> = {}, author: Author = ADA): Promise<string> {
    for (const [file, content] of Object.entries(files)) await this.write(file, content);
    await this.git(["add", "-A"]);
    const msgFile = path.join(this.dir, ".git", "CAUSEWAY_MSG");
    await writeFile(msgFile, message);
    return this.dated(["commit", "-q", "--allow-empty", "--cleanup=verbatim", "-F", msgFile], author);
  }

  async checkout(branch: string, create = false): Promise<void> {
    await this.git(create ? ["checkout", "-q", "-b", branch] : ["checkout", "-q", branch]);
  }

  /**
   * GitHub's merge-commit workflow: commits on `branch` (each {message, files}), merged --no-ff into main as
   * "Merge pull request #N from owner/branch" with the PR title on the body's first line.
   */
  async mergePr(
    number: number,
    branch: string,
    title: string,
    commits: Array<{ message: string; files: Record<string, string>; author?: Author }>,
    body = "",
  ): Promise<{ merge: string; inner: string[] }> {
    await this.checkout(branch, true);
    const inner: string[] = [];
    for (const c of commits) inner.push(await this.commit(c.message, c.files, c.author ?? ADA));
    await this.checkout("main");
    const message = body === "" ? title : `${title}\n\n${body}`;
    const merge = await this.dated(
      [
        "merge",
        "-q",
        "--no-ff",
        "-m",
        `Merge pull request #${number} from acme/${branch}`,
        "-m",
        message,
        branch,
      ],
      ADA,
    );
    return { merge, inner };
  }

  /** GitHub's squash workflow: one commit "Title (#N)" on main. */
  async squashPr(
    number: number,
    title: string,
    files: Record<string, string>,
    body = "",
    author: Author = ADA,
  ): Promise<string> {
    return this.commit(
      body === "" ? `${title} (#${number})\n` : `${title} (#${number})\n\n${body}\n`,
      files,
      author,
    );
  }

  /** `git revert` of a commit, pushed directly. */
  async revert(sha: string): Promise<string> {
    return this.dated(["revert", "--no-edit", sha], ADA);
  }

  async head(ref = "main"): Promise<string> {
    return (await this.git(["rev-parse", ref])).trim();
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A bare clone of `source` (what a git server serves); push to it with `pushTo`. */
export async function bareCopyOf(source: GitFixture): Promise<{ dir: string; remove(): Promise<void> }> {
  const parent = await mkdtemp(path.join(tmpdir(), "causeway-bare-"));
  const dir = path.join(parent, "repo.git");
  await source.git(["clone", "-q", "--bare", source.dir, dir]);
  return { dir, remove: () => rm(parent, { recursive: true, force: true }) };
}

export async function pushTo(source: GitFixture, bareDir: string, force = false): Promise<void> {
  await source.git(["push", "-q", ...(force ? ["--force"] : []), bareDir, "main:main"]);
}
