/**
 * A real bare git mirror made by the test, with fixed authors and dates so blame output is exact:
 *
 *   c1 Alice  "Initial app"               src/app.js (5 lines), README.md
 *   c2 Bob    "Fix add for strings (#12)" line 2 changed
 *   c3 Carol  "Quote style"               line 4 changed (a formatting commit, for --ignore-rev)
 *   f1 Dave   "Feature work"              on branch feature from c2, never merged into main
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export interface GitFixture {
  root: string;
  mirrorPath: string;
  commits: { c1: string; c2: string; c3: string; f1: string };
  /** Runs host git against the mirror with the same isolation from user config as the sandboxes. */
  hostGit(args: string[]): Buffer;
  cleanup(): void;
}

export const APP_V1 = [
  "function add(a, b) {",
  "  return a + b;",
  "}",
  'const label = "sum";',
  "module.exports = { add, label };",
];

export function makeGitFixture(prefix = "causeway-sandbox-test-"): GitFixture {
  const root = mkdtempSync(path.join(os.tmpdir(), prefix));
  const work = path.join(root, "work");
  const mirrorPath = path.join(root, "mirror.git");
  const home = path.join(root, "home");
  mkdirSync(work);
  mkdirSync(home);
  const baseEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, GIT_CONFIG_NOSYSTEM: "1" };

  const git = (cwd: string, args: string[], env: Record<string, string> = {}) =>
    execFileSync("git", args, { cwd, env: { ...baseEnv, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const commit = (author: string, date: string, message: string): string => {
    const email = `${author.toLowerCase()}@example.com`;
    git(work, ["add", "-A"]);
    git(work, ["commit", "-q", "-m", message], {
      GIT_AUTHOR_NAME: author,
      GIT_AUTHOR_EMAIL: email,
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_NAME: author,
      GIT_COMMITTER_EMAIL: email,
      GIT_COMMITTER_DATE: date,
    });
    return git(work, ["rev-parse", "HEAD"]).toString().trim();
  };
  const writeApp = (lines: string[]) => writeFileSync(path.join(work, "src/app.js"), `${lines.join("\n")}\n`);

  git(root, ["init", "-q", "--bare", "--initial-branch=main", mirrorPath]);
  git(work, ["init", "-q", "--initial-branch=main"]);
  mkdirSync(path.join(work, "src"));
  writeApp(APP_V1);
  writeFileSync(path.join(work, "README.md"), "# demo\n");
  const c1 = commit("Alice", "2024-01-01T10:00:00Z", "Initial app");
  const v2 = [...APP_V1];
  v2[1] = "  return Number(a) + Number(b);";
  writeApp(v2);
  const c2 = commit("Bob", "2024-02-01T10:00:00Z", "Fix add for strings (#12)");
  git(work, ["checkout", "-q", "-b", "feature"]);
  writeFileSync(path.join(work, "src/feature.js"), "export const feature = true;\n");
  const f1 = commit("Dave", "2024-02-15T10:00:00Z", "Feature work");
  git(work, ["checkout", "-q", "main"]);
  const v3 = [...v2];
  v3[3] = "const label = 'sum';";
  writeApp(v3);
  const c3 = commit("Carol", "2024-03-01T10:00:00Z", "Quote style");
  git(work, ["push", "-q", mirrorPath, "main", "feature"]);

  return {
    root,
    mirrorPath,
    commits: { c1, c2, c3, f1 },
    hostGit: (args) => git(root, [`--git-dir=${mirrorPath}`, ...args]),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}
