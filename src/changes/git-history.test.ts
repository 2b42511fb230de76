import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ValidationError } from "../errors.ts";
import {
  type Change,
  type ChangedFile,
  changesFromHistory,
  classifyChangeFiles,
  classifyPath,
  GIT_LOG_FORMAT,
  type GitCommit,
  GitLogParseError,
  gitLogArgs,
  isDocsOrTestsOnly,
  parseGitLog,
  splitMessage,
} from "./git-history.ts";

const run = promisify(execFile);

/** A throwaway repository; every commit gets the next fixed date so output is deterministic. */
class Repo {
  private tick = 0;
  private constructor(readonly dir: string) {}

  static async create(prefix: string, initArgs: string[] = []): Promise<Repo> {
    const dir = await mkdtemp(join(tmpdir(), `causeway-${prefix}-`));
    const repo = new Repo(dir);
    await repo.git("init", "-q", "-b", "main", ...initArgs);
    await repo.git("config", "user.name", "Ada Lovelace");
    await repo.git("config", "user.email", "ada@example.com");
    await repo.git("config", "commit.gpgsign", "false");
    return repo;
  }

  /** The date the next commit will carry (one hour after the previous one). */
  nextDate(): string {
    this.tick++;
    return new Date(Date.UTC(2024, 2, 1, 9, 0, 0) + this.tick * 3_600_000).toISOString();
  }

  async git(...args: string[]): Promise<string> {
    const date = this.nextDateForGit ?? new Date(Date.UTC(2024, 2, 1, 9)).toISOString();
    const { stdout } = await run("git", args, {
      cwd: this.dir,
      maxBuffer: 64 * 1024 * 1024,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: this.dir,
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        GIT_AUTHOR_DATE: date,
        GIT_COMMITTER_DATE: date,
        LC_ALL: "C",
        TZ: "UTC",
        ...this.extraEnv,
      },
    });
    return stdout;
  }

  private nextDateForGit: string | undefined;
  private extraEnv: Record<string, string> = {};

  /** Runs a committing command with the next fixed date (and optional author override). */
  async commitWith(args: string[], env: Record<string, string> = {}): Promise<string> {
    this.nextDateForGit = this.nextDate();
    this.extraEnv = env;
    try {
      await this.git(...args);
      return (await this.git("rev-parse", "HEAD")).trim();
    } finally {
      this.nextDateForGit = undefined;
      this.extraEnv = {};
    }
  }

  async write(path: string, content: string): Promise<void> {
    const full = join(this.dir, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, content);
  }

  async commitAll(message: string, env: Record<string, string> = {}): Promise<string> {
    await this.git("add", "-A");
    const file = join(this.dir, ".git", "MSG");
    await writeFile(file, message);
    return this.commitWith(["commit", "-q", "--allow-empty", "--cleanup=verbatim", "-F", file], env);
  }

  async log(input: Parameters<typeof gitLogArgs>[0] = { ref: "main" }): Promise<string> {
    return this.git(...gitLogArgs(input));
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

describe("gitLogArgs", () => {
  it("builds a first-parent, NUL-separated log with merge diffs against the first parent", () => {
    const args = gitLogArgs({ ref: "main", since: new Date("2024-01-01T00:00:00Z"), maxCount: 50 });
    expect(args[0]).toBe("log");
    for (const flag of ["--first-parent", "--diff-merges=first-parent", "--name-status", "-M", "-z"]) {
      expect(args).toContain(flag);
    }
    expect(args).toContain(`--format=${GIT_LOG_FORMAT}`);
    expect(args).toContain("--since=2024-01-01T00:00:00.000Z");
    expect(args).toContain("--max-count=50");
    expect(args.slice(-3)).toEqual(["--end-of-options", "main", "--"]);
  });

  it("uses control-character separators, not newlines, in the format", () => {
    expect(GIT_LOG_FORMAT).toContain("%x1e");
    expect(GIT_LOG_FORMAT).toContain("%x1f");
    expect(GIT_LOG_FORMAT).not.toContain("%n");
  });

  it.each([
    [{ ref: "--output=/tmp/x" }, "ref"],
    [{ ref: "" }, "ref"],
    [{ ref: "main branch" }, "ref"],
    [{ ref: "a..b" }, "ref"],
    [{ ref: "main", maxCount: 0 }, "maxCount"],
    [{ ref: "main", maxCount: 1.5 }, "maxCount"],
    [{ ref: "main", since: "last tuesday; rm -rf" }, "since"],
    [{ ref: "main", since: new Date(Number.NaN) }, "since"],
  ])("rejects %j", (input, field) => {
    try {
      gitLogArgs(input);
      expect.unreachable("gitLogArgs accepted bad input");
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).errors?.map((e) => e.path)).toEqual([field]);
    }
  });
});

describe("splitMessage", () => {
  it("joins the first paragraph into the subject like git's %s", () => {
    expect(splitMessage("\n\nFirst line\nsecond line\n\n\nBody one\n\nBody two\n")).toEqual({
      subject: "First line second line",
      body: "Body one\n\nBody two",
    });
    expect(splitMessage("only\r\n")).toEqual({ subject: "only", body: "" });
  });
});

describe("classifyPath and isDocsOrTestsOnly", () => {
  it.each([
    ["README.md", "docs"],
    ["docs/guide/setup.py", "docs"],
    ["notes/design.rst", "docs"],
    ["CHANGELOG", "docs"],
    ["LICENSE.txt", "docs"],
    ["requirements.txt", "code"],
    ["requirements-dev.txt", "code"],
    ["CMakeLists.txt", "code"],
    ["src/pay.ts", "code"],
    ["src/pay.test.ts", "tests"],
    ["web/Button.spec.tsx", "tests"],
    ["pkg/client_test.go", "tests"],
    ["tests/test_client.py", "tests"],
    ["app/test_views.py", "tests"],
    ["src/__tests__/pay.ts", "tests"],
    ["spec/models/user_spec.rb", "tests"],
    ["test/fixtures/data.json", "tests"],
    ["src/latest/contest.ts", "code"],
    ["src/testing.ts", "code"],
  ])("%s is %s", (path, cls) => {
    expect(classifyPath(path)).toBe(cls);
  });

  const f = (path: string, oldPath?: string): ChangedFile =>
    oldPath === undefined
      ? { status: "modified", path }
      : { status: "renamed", path, oldPath, similarity: 100 };

  it("classifies whole changes", () => {
    expect(classifyChangeFiles([])).toBe("empty");
    expect(classifyChangeFiles([f("README.md"), f("docs/a.md")])).toBe("docs");
    expect(classifyChangeFiles([f("a.test.ts")])).toBe("tests");
    expect(classifyChangeFiles([f("README.md"), f("a.test.ts")])).toBe("docs_and_tests");
    expect(classifyChangeFiles([f("README.md"), f("src/a.ts")])).toBe("code");
    expect(isDocsOrTestsOnly([f("README.md"), f("a.test.ts")])).toBe(true);
    expect(isDocsOrTestsOnly([])).toBe(false);
    expect(isDocsOrTestsOnly([f("src/a.ts")])).toBe(false);
  });

  it("counts both sides of a rename: moving code into docs/ is not docs-only", () => {
    expect(isDocsOrTestsOnly([f("docs/old-client.ts", "src/client.ts")])).toBe(false);
    expect(isDocsOrTestsOnly([f("docs/b.md", "docs/a.md")])).toBe(true);
  });
});

describe("git history from a real repository", () => {
  let repo: Repo;
  const sha: Record<string, string> = {};
  let commits: GitCommit[];
  let changes: Change[];
  const byId = (id: string): Change => {
    const change = changes.find((c) => c.id === id);
    if (!change) throw new Error(`no change ${id}`);
    return change;
  };

  beforeAll(async () => {
    repo = await Repo.create("history");
    // A hostile user config must not change the output shape.
    await repo.git("config", "color.ui", "always");
    await repo.git("config", "log.showRoot", "false");
    await repo.git("config", "diff.renames", "false");
    await repo.git("config", "core.quotePath", "true");

    await repo.write("README.md", "# Payments\n");
    await repo.write("src/pay.ts", "export function pay() {\n  return 1;\n}\n".repeat(5));
    await repo.write("src/retry.ts", "export const attempts = 1;\n");
    sha.initial = await repo.commitAll("Initial commit\n");

    // Merge-commit workflow: two commits on a branch, merged with --no-ff as GitHub does.
    await repo.git("checkout", "-q", "-b", "feature-x");
    await repo.write("src/invoice.ts", "export function parseInvoice() {}\n");
    await repo.commitAll("Parse invoices\n");
    await repo.write("src/invoice.test.ts", "test('parse', () => {});\n");
    await repo.commitAll("Test invoices\n");
    await repo.git("checkout", "-q", "main");
    sha.merge12 = await repo.commitWith([
      "merge",
      "-q",
      "--no-ff",
      "-m",
      "Merge pull request #12 from acme/feature-x",
      "-m",
      "Feature X: parse invoices\n\nAlso adds tests.",
      "feature-x",
    ]);

    // Squash workflow.
    await repo.write("src/retry.ts", "export const attempts = 3;\n");
    await repo.write("src/retry.test.ts", "test('retry', () => {});\n");
    sha.squash13 = await repo.commitAll("Add retry (#13)\n\n* add retry\n\n* cover retry with a test\n");

    // Direct push, docs only.
    await repo.write("README.md", "# Payments\n\nHow to pay.\n");
    sha.direct = await repo.commitAll("Fix typo in README\n");

    // Rename, squashed.
    await mkdir(join(repo.dir, "src/payments"), { recursive: true });
    await repo.git("mv", "src/pay.ts", "src/payments/client.ts");
    sha.rename14 = await repo.commitAll("Move payment client (#14)\n");

    // A revert of the squash commit, pushed directly.
    sha.revert = await repo.commitWith(["revert", "--no-edit", sha.squash13]);

    // Merge of a branch whose name has slashes and a Jira key.
    await repo.git("checkout", "-q", "-b", "feature/PAY-7-fix");
    await repo.write("src/payments/client.ts", "export function pay() {\n  return 2;\n}\n");
    await repo.commitAll("PAY-7 return the right amount\n");
    await repo.git("checkout", "-q", "main");
    sha.merge15 = await repo.commitWith([
      "merge",
      "-q",
      "--no-ff",
      "-m",
      "Merge pull request #15 from acme/feature/PAY-7-fix",
      "-m",
      "Return the right amount",
      "feature/PAY-7-fix",
    ]);

    // GitHub's "Revert" button on PR #12: a branch with a revert of the merge, merged as PR #16.
    await repo.git("checkout", "-q", "-b", "revert-12-feature-x");
    await repo.commitWith(["revert", "--no-edit", "-m", "1", sha.merge12]);
    await repo.git("checkout", "-q", "main");
    sha.merge16 = await repo.commitWith([
      "merge",
      "-q",
      "--no-ff",
      "-m",
      "Merge pull request #16 from acme/revert-12-feature-x",
      "-m",
      'Revert "Feature X: parse invoices"',
      "revert-12-feature-x",
    ]);

    // A local merge pushed by hand: a merge commit, but no PR.
    await repo.git("checkout", "-q", "-b", "hotfix");
    await repo.write("src/retry.ts", "export const attempts = 2;\n");
    await repo.commitAll("Two attempts\n");
    await repo.git("checkout", "-q", "main");
    sha.localMerge = await repo.commitWith([
      "merge",
      "-q",
      "--no-ff",
      "-m",
      "Merge branch 'hotfix'",
      "hotfix",
    ]);

    // Tests only, different author.
    await repo.write("tests/test_client.py", "def test_client():\n    pass\n");
    sha.testsOnly = await repo.commitAll("Add client tests (#17)\n\nCovers the client.\n", {
      GIT_AUTHOR_NAME: "Grace Hopper",
      GIT_AUTHOR_EMAIL: "grace@example.com",
    });

    commits = parseGitLog(await repo.log({ ref: "main" }));
    changes = changesFromHistory(commits, { defaultBranch: "main" });
  });

  afterAll(async () => {
    await repo?.remove();
  });

  it("returns one change per first-parent commit, newest first", () => {
    expect(commits.map((c) => c.sha)).toEqual([
      sha.testsOnly,
      sha.localMerge,
      sha.merge16,
      sha.merge15,
      sha.revert,
      sha.rename14,
      sha.direct,
      sha.squash13,
      sha.merge12,
      sha.initial,
    ]);
    expect(changes.map((c) => c.kind)).toEqual([
      "squash",
      "commit",
      "merge",
      "merge",
      "commit",
      "squash",
      "commit",
      "squash",
      "merge",
      "commit",
    ]);
  });

  it("parses a merge-commit PR: number, branch, owner, title from the body, files against the first parent", () => {
    const pr = byId("pr-12");
    expect(pr).toMatchObject({
      kind: "merge",
      prNumber: 12,
      branch: "feature-x",
      headOwner: "acme",
      title: "Feature X: parse invoices",
      body: "Also adds tests.",
      mergeSha: sha.merge12,
      baseBranch: "main",
      fileClass: "code",
      docsOrTestsOnly: false,
    });
    expect(pr.parents).toHaveLength(2);
    expect(pr.files).toEqual([
      { status: "added", path: "src/invoice.test.ts" },
      { status: "added", path: "src/invoice.ts" },
    ]);
    const merge = commits.find((c) => c.sha === sha.merge12)!;
    expect(pr.mergedAt).toEqual(merge.committerDate);
    expect(pr.mergedAt.toISOString()).toBe("2024-03-01T13:00:00.000Z");
  });

  it("keeps slashes of the head branch", () => {
    expect(byId("pr-15")).toMatchObject({
      kind: "merge",
      branch: "feature/PAY-7-fix",
      headOwner: "acme",
      title: "Return the right amount",
      files: [{ status: "modified", path: "src/payments/client.ts" }],
    });
  });

  it("parses a squash PR: title without the suffix, body, files", () => {
    const pr = byId("pr-13");
    expect(pr).toMatchObject({
      kind: "squash",
      prNumber: 13,
      title: "Add retry",
      body: "* add retry\n\n* cover retry with a test",
      mergeSha: sha.squash13,
    });
    expect(pr.branch).toBeUndefined();
    expect(pr.files).toEqual([
      { status: "added", path: "src/retry.test.ts" },
      { status: "modified", path: "src/retry.ts" },
    ]);
    expect(pr.revertedBy).toBe(sha.revert);
  });

  it("parses direct pushes, local merges and the root commit as commits", () => {
    const direct = byId(sha.direct!);
    expect(direct).toMatchObject({ kind: "commit", title: "Fix typo in README", fileClass: "docs" });
    expect(direct.prNumber).toBeUndefined();
    expect(direct.docsOrTestsOnly).toBe(true);
    expect(byId(sha.localMerge!)).toMatchObject({
      kind: "commit",
      title: "Merge branch 'hotfix'",
      files: [{ status: "modified", path: "src/retry.ts" }],
    });
    expect(byId(sha.initial!).files.map((f) => f.path)).toEqual(["README.md", "src/pay.ts", "src/retry.ts"]);
  });

  it("walks every parent without paths, and from a known head only, when asked", async () => {
    const all = parseGitLog(await repo.log({ ref: "main", firstParent: false, nameStatus: false }));
    // Every commit, inner branch commits included, and no file lists.
    expect(all.length).toBeGreaterThan(commits.length);
    expect(all.map((c) => c.sha)).toEqual(expect.arrayContaining(commits.map((c) => c.sha)));
    expect(all.every((c) => c.files.length === 0)).toBe(true);
    const inner = all.filter((c) => c.subject === "Parse invoices" || c.subject === "Test invoices");
    expect(inner).toHaveLength(2);

    const since = parseGitLog(await repo.log({ ref: "main", exclude: [sha.merge15!] }));
    expect(since.map((c) => c.sha)).toEqual([sha.testsOnly, sha.localMerge, sha.merge16]);
    expect(() => gitLogArgs({ ref: "main", exclude: ["HEAD~1"] })).toThrow(ValidationError);
  });

  it("keeps both paths of a rename", () => {
    expect(byId("pr-14").files).toEqual([
      { status: "renamed", path: "src/payments/client.ts", oldPath: "src/pay.ts", similarity: 100 },
    ]);
  });

  it("detects a revert from git's message and links it to the reverted change", () => {
    const revert = byId(sha.revert!);
    expect(revert).toMatchObject({
      kind: "commit",
      title: 'Revert "Add retry (#13)"',
      revertsTitle: "Add retry (#13)",
      revertsSha: sha.squash13,
      revertsPrNumber: 13,
    });
  });

  it("resolves a reverted merge PR by its title", () => {
    const revert = byId("pr-16");
    expect(revert).toMatchObject({
      kind: "merge",
      branch: "revert-12-feature-x",
      revertsTitle: "Feature X: parse invoices",
      revertsSha: sha.merge12,
      revertsPrNumber: 12,
    });
    expect(byId("pr-12").revertedBy).toBe(sha.merge16);
    expect(byId("pr-15").revertsSha).toBeUndefined();
    expect(byId("pr-15").revertedBy).toBeUndefined();
  });

  it("reads authors and tests-only changes", () => {
    const pr = byId("pr-17");
    expect(pr.author).toEqual({ name: "Grace Hopper", email: "grace@example.com" });
    expect(pr.fileClass).toBe("tests");
    expect(pr.docsOrTestsOnly).toBe(true);
    expect(pr.authoredAt.toISOString()).toBe(pr.mergedAt.toISOString());
  });

  it("honours maxCount and since", async () => {
    const two = parseGitLog(await repo.log({ ref: "main", maxCount: 2 }));
    expect(two.map((c) => c.sha)).toEqual([sha.testsOnly, sha.localMerge]);
    const since = commits.find((c) => c.sha === sha.merge16)!.committerDate;
    const recent = parseGitLog(await repo.log({ ref: "main", since }));
    expect(recent.map((c) => c.sha)).toEqual([sha.testsOnly, sha.localMerge, sha.merge16]);
  });

  it("cannot be tricked into reading an option as the ref", async () => {
    expect(() => gitLogArgs({ ref: "--output=/tmp/pwned" })).toThrow(ValidationError);
    // A tag that looks like nothing special still works after --end-of-options.
    await repo.git("tag", "v1", sha.merge15!);
    const upToTag = parseGitLog(await repo.log({ ref: "v1" }));
    expect(upToTag[0]?.sha).toBe(sha.merge15);
  });
});

describe("messages and paths containing anything", () => {
  let repo: Repo;
  beforeAll(async () => {
    repo = await Repo.create("hostile");
  });
  afterAll(async () => {
    await repo?.remove();
  });

  it("survives separators, fake records and fake fences inside messages", async () => {
    const fakeSha = "a".repeat(40);
    const message =
      "Subject with \x1f unit and \x1e record\n\n" +
      `Body \x1e${fakeSha}\x1f\x1f2024-01-01T00:00:00Z\x1fevil\x1f${fakeSha}\x1f\n` +
      "Merge pull request #99 from evil/branch\n\tTabs, \u00fcnicode \u{1f600}, \r carriage\n";
    await repo.write("a.txt", "a\n");
    const first = await repo.commitAll(message);
    await repo.write("b.txt", "b\n");
    const second = await repo.commitAll("Plain second\n");
    const parsed = parseGitLog(await repo.log());
    expect(parsed.map((c) => c.sha)).toEqual([second, first]);
    const raw = await repo.git("log", "-1", "--format=%B", first);
    expect(parsed[1]).toMatchObject(splitMessage(raw));
    expect(parsed[1]!.subject).toBe("Subject with \x1f unit and \x1e record");
    expect(parsed[1]!.body).toContain("Merge pull request #99 from evil/branch");
    expect(parsed[1]!.files).toEqual([{ status: "added", path: "a.txt" }]);
    // git's own %s agrees with our subject.
    expect((await repo.git("log", "-1", "--format=%s", first)).replace(/\n$/, "")).toBe(parsed[1]!.subject);
  });

  it("keeps file names with tabs, newlines, quotes, separators and unicode", async () => {
    const names = [
      'we"ird\tname.txt',
      "new\nline.txt",
      "rec\x1esep\x1f.txt",
      "\u00fcber sp ace.md",
      "-dash.ts",
    ];
    for (const name of names) await repo.write(`odd/${name}`, `${name}\n`);
    const sha = await repo.commitAll("Odd names\n");
    await repo.git("mv", `odd/${names[0]!}`, `odd/moved\t${names[0]!}`);
    const moved = await repo.commitAll("Move odd\n");
    const parsed = parseGitLog(await repo.log());
    const odd = parsed.find((c) => c.sha === sha)!;
    expect(odd.files.map((f) => f.path).sort()).toEqual(names.map((n) => `odd/${n}`).sort());
    expect(parsed.find((c) => c.sha === moved)!.files).toEqual([
      { status: "renamed", oldPath: `odd/${names[0]!}`, path: `odd/moved\t${names[0]!}`, similarity: 100 },
    ]);
  });

  it("round-trips arbitrary messages through real git", async () => {
    // Anything git accepts in a message (no NUL); verbatim cleanup keeps it byte for byte.
    const messageArb = fc
      .array(
        fc.oneof(
          fc.string({ unit: "grapheme", maxLength: 12 }),
          fc.constantFrom("\n", "\n\n", "\x1e", "\x1f", "\r\n", " ", "\t", 'Revert "x"', "(#12)"),
        ),
        { minLength: 1, maxLength: 12 },
      )
      .map((parts) => parts.join("").replace(/\0/g, ""))
      .filter((m) => m.trim() !== "");
    await fc.assert(
      fc.asyncProperty(messageArb, async (message) => {
        const sha = await repo.commitAll(message);
        const [head] = parseGitLog(await repo.log({ ref: "main", maxCount: 1 }));
        expect(head?.sha).toBe(sha);
        expect({ subject: head?.subject, body: head?.body }).toEqual(splitMessage(message));
      }),
      { numRuns: 25 },
    );
  });

  it("parses a SHA-256 repository", async () => {
    const sha256 = await Repo.create("sha256", ["--object-format=sha256"]);
    try {
      await sha256.write("x.go", "package x\n");
      const head = await sha256.commitAll("Add x (#3)\n");
      expect(head).toMatch(/^[0-9a-f]{64}$/);
      const [change] = changesFromHistory(parseGitLog(await sha256.log()), { defaultBranch: "main" });
      expect(change).toMatchObject({ id: "pr-3", kind: "squash", mergeSha: head, title: "Add x" });
    } finally {
      await sha256.remove();
    }
  });
});

describe("parseGitLog on malformed output", () => {
  const sha = "0123456789abcdef0123456789abcdef01234567";
  const record = (files: string) =>
    `\x1e${sha}\x1f\x1f2024-01-01T00:00:00Z\x1f2024-01-02T00:00:00Z\x1fA\x1f${sha}\x1fa@b\x1f${sha}\x1f` +
    `Fix (#2)\n\x1f${sha}\x1f\0${files}`;

  it("parses a hand-built record and an empty history", () => {
    expect(parseGitLog("")).toEqual([]);
    const [commit] = parseGitLog(record("\nM\0src/a.ts\0R087\0old\0new\0"));
    expect(commit).toMatchObject({ sha, parents: [], subject: "Fix (#2)", authorName: "A" });
    expect(commit?.files).toEqual([
      { status: "modified", path: "src/a.ts" },
      { status: "renamed", oldPath: "old", path: "new", similarity: 87 },
    ]);
  });

  it.each([
    ["garbage", "not git output"],
    ["bad sha", record("").replace(sha, "xyz")],
    ["bad date", record("").replace("2024-01-01T00:00:00Z", "yesterday")],
    ["bad status", record("\nQ\0a\0")],
    ["missing rename target", record("\nR100\0old")],
    ["no NUL after record", record("").replace(/\0$/, "")],
  ])("throws GitLogParseError on %s", (_name, text) => {
    expect(() => parseGitLog(text)).toThrow(GitLogParseError);
  });

  it("never throws anything but GitLogParseError, on any input", () => {
    const alphabet = fc.constantFrom("\x1e", "\x1f", "\0", "\n", "a", "0", "M", "R100", sha, "2024-01-01");
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(alphabet).map((a) => a.join("")),
        ),
        (text) => {
          try {
            const commits = parseGitLog(text);
            expect(Array.isArray(commits)).toBe(true);
          } catch (error) {
            expect(error).toBeInstanceOf(GitLogParseError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("every truncation of real output parses or fails with GitLogParseError", () => {
    const text = record("\nM\0src/a.ts\0R087\0old\0new\0") + record("\nD\0gone.ts\0");
    for (let cut = 0; cut <= text.length; cut++) {
      try {
        const commits = parseGitLog(text.slice(0, cut));
        expect(commits.length).toBeLessThanOrEqual(2);
      } catch (error) {
        expect(error).toBeInstanceOf(GitLogParseError);
      }
    }
  });
});

describe("changesFromHistory conventions", () => {
  let n = 0;
  const commit = (subject: string, body = "", parents = 1): GitCommit => {
    n++;
    const sha = createHash("sha1").update(`commit ${n}`).digest("hex");
    return {
      sha,
      parents: Array.from({ length: parents }, (_, i) =>
        createHash("sha1").update(`parent ${n} ${i}`).digest("hex"),
      ),
      authorName: "A",
      authorEmail: "a@example.com",
      authorDate: new Date(Date.UTC(2024, 0, n)),
      committerDate: new Date(Date.UTC(2024, 0, n, 1)),
      subject,
      body,
      files: [{ status: "modified", path: "src/a.ts" }],
    };
  };

  it("resolves GitHub's 'Reverts owner/repo#N', abbreviated SHAs and squashed revert PRs", () => {
    const original = commit("Add retry (#13)");
    const merged = commit("Merge pull request #20 from acme/cache", "Cache sessions", 2);
    const other = commit("Tidy imports");
    const revertByPr = commit('Revert "Cache sessions" (#21)', "Reverts acme/app#20");
    const revertByShortSha = commit(
      'Revert "Tidy imports"',
      `This reverts commit ${other.sha.slice(0, 10)}.`,
    );
    const revertSquashed = commit('Revert "Add retry (#13)" (#22)', '* Revert "Add retry (#13)"');
    const changes = changesFromHistory(
      [revertSquashed, revertByShortSha, revertByPr, other, merged, original],
      {
        defaultBranch: "main",
      },
    );
    const [squashedRevert, shortShaRevert, prRevert, tidy, cache, retry] = changes;
    expect(prRevert).toMatchObject({
      kind: "squash",
      prNumber: 21,
      revertsPrNumber: 20,
      revertsSha: merged.sha,
    });
    expect(shortShaRevert).toMatchObject({
      kind: "commit",
      revertsSha: other.sha,
      revertsTitle: "Tidy imports",
    });
    expect(squashedRevert).toMatchObject({
      kind: "squash",
      title: 'Revert "Add retry (#13)"',
      revertsTitle: "Add retry (#13)",
      revertsSha: original.sha,
      revertsPrNumber: 13,
    });
    expect(retry?.revertedBy).toBe(revertSquashed.sha);
    expect(cache?.revertedBy).toBe(revertByPr.sha);
    expect(tidy?.revertedBy).toBe(revertByShortSha.sha);
  });

  it("keeps an unresolvable revert SHA as written and never links forward in time", () => {
    const inner = "f".repeat(40);
    const revert = commit('Revert "Something inside a PR"', `This reverts commit ${inner}.`);
    const later = commit("Something inside a PR");
    // `later` is newer than the revert (first in newest-first order), so it cannot be what was reverted.
    const [newer, reverting] = changesFromHistory([later, revert], { defaultBranch: "main" });
    expect(reverting).toMatchObject({ revertsSha: inner, revertsTitle: "Something inside a PR" });
    expect(newer?.revertedBy).toBeUndefined();
  });

  it("handles merges without a body, heads without an owner, and (#N) not at the end", () => {
    const [noBody, bareHead, middle, localMerge, squashLike] = changesFromHistory(
      [
        commit("Merge pull request #5 from alice/main", "", 2),
        commit("Merge pull request #6 from hotfix", "Hotfix", 2),
        commit("Port (#7) to the new API"),
        commit("Merge pull request #8 from acme/x"),
        commit("Fix it (#9)", "", 2),
      ],
      { defaultBranch: "main" },
    );
    expect(noBody).toMatchObject({
      kind: "merge",
      prNumber: 5,
      title: "Merge pull request #5 from alice/main",
      branch: "main",
      headOwner: "alice",
    });
    expect(bareHead).toMatchObject({ kind: "merge", prNumber: 6, branch: "hotfix", title: "Hotfix" });
    expect(bareHead?.headOwner).toBeUndefined();
    expect(middle).toMatchObject({ kind: "commit", title: "Port (#7) to the new API" });
    // A "merge" subject on a single-parent commit is a squash of nothing: treat it as a plain commit.
    expect(localMerge).toMatchObject({ kind: "commit" });
    // A "(#N)" subject on a merge commit is a local merge, not a squash.
    expect(squashLike).toMatchObject({ kind: "commit", title: "Fix it (#9)" });
  });
});
