import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  declaredFunctionNames,
  declaredNames,
  parseCommitPatches,
  parseDiff,
  summarizeDiffs,
} from "./diff-parser.ts";

function makeRepo() {
  const dir = mkdtempSync(join(tmpdir(), "cw-diff-"));
  const git = (args: string[]) =>
    execFileSync("git", args, {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1", HOME: dir },
    });
  git(["init", "-q", "-b", "main"]);
  git(["config", "user.name", "Test"]);
  git(["config", "user.email", "test@example.com"]);
  git(["config", "commit.gpgsign", "false"]);
  const write = (files: Record<string, string | Buffer | null>) => {
    for (const [path, content] of Object.entries(files)) {
      const full = join(dir, path);
      if (content === null) {
        unlinkSync(full);
        continue;
      }
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, content);
    }
  };
  const commit = (message: string, files: Record<string, string | Buffer | null>) => {
    write(files);
    git(["add", "-A"]);
    git(["commit", "-q", "-m", message]);
    return git(["rev-parse", "HEAD"]).trim();
  };
  return { dir, git, write, commit, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const CART_V1 = [
  "export class Cart {",
  "  items = [];",
  "}",
  "",
  "export function total(cart) {",
  "  let sum = 0;",
  "  for (const item of cart.items) {",
  "    sum += item.price;",
  "  }",
  "  return sum;",
  "}",
  "",
].join("\n");

const CART_V2 = CART_V1.replace("    sum += item.price;", "    sum += item.price * item.qty;").concat(
  "export const MAX_ITEMS = 50;\n",
  "export function applyCoupon(cart, code) {\n  return cart;\n}\n",
);

const LONG_TEXT = Array.from({ length: 30 }, (_, i) => `line ${i} of a long enough file to be a rename`).join(
  "\n",
);

describe("parseDiff on real git output", () => {
  const repo = makeRepo();
  let base = "";
  let head = "";

  beforeAll(() => {
    base = repo.commit("base", {
      "src/cart.ts": CART_V1,
      "src/legacy.ts": "export const old = 1;\n",
      "src/move-me.ts": `${LONG_TEXT}\n`,
      "db/query.sql": "-- comment\nselect 1;\n",
      "assets/logo.png": Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 0, 0]),
      "notes.txt": "no newline at the end",
    });
    head = repo.commit("change", {
      "src/cart.ts": CART_V2,
      "src/legacy.ts": null,
      "src/move-me.ts": null,
      "src/moved.ts": `${LONG_TEXT.replace("line 3 of", "line three of")}\n`,
      "src/new-file.py": "def handle_request(req):\n    return None\n\nclass Handler:\n    pass\n",
      "db/query.sql": "select 1;\n",
      "assets/logo.png": Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 9, 9, 9, 0, 0]),
      "notes.txt": "no newline at the end, still",
      "dir with space/file name.ts": "export const spaced = true;\n",
    });
  });
  afterAll(() => repo.cleanup());

  function diffOf(): ReturnType<typeof parseDiff> {
    return parseDiff(repo.git(["diff", "-U0", "--find-renames", "--no-color", base, head]));
  }

  it("reports statuses for added, deleted, renamed, modified and binary files", () => {
    const files = diffOf();
    const byNew = (p: string) => files.find((f) => f.newPath === p);
    expect(files.find((f) => f.oldPath === "src/legacy.ts")).toMatchObject({
      status: "deleted",
      newPath: null,
      oldMode: "100644",
    });
    expect(byNew("src/new-file.py")).toMatchObject({ status: "added", oldPath: null, newMode: "100644" });
    const renamed = byNew("src/moved.ts");
    expect(renamed).toMatchObject({ status: "renamed", oldPath: "src/move-me.ts" });
    expect(renamed!.similarity).toBeGreaterThanOrEqual(90);
    expect(renamed!.hunks).toEqual([
      {
        oldStart: 4,
        oldLines: 1,
        newStart: 4,
        newLines: 1,
        header: expect.any(String),
        addedLines: ["line three of a long enough file to be a rename"],
        removedLines: ["line 3 of a long enough file to be a rename"],
      },
    ]);
    expect(byNew("assets/logo.png")).toMatchObject({
      binary: true,
      status: "modified",
      oldPath: "assets/logo.png",
      hunks: [],
    });
    expect(byNew("dir with space/file name.ts")).toMatchObject({
      status: "added",
      addedIdentifiers: ["spaced"],
    });
  });

  it("reads hunk ranges, added and removed lines, and the function context of the header", () => {
    const cart = diffOf().find((f) => f.newPath === "src/cart.ts")!;
    expect(cart.status).toBe("modified");
    expect(cart.hunks).toHaveLength(2);
    expect(cart.hunks[0]).toEqual({
      oldStart: 8,
      oldLines: 1,
      newStart: 8,
      newLines: 1,
      header: "export function total(cart) {",
      addedLines: ["    sum += item.price * item.qty;"],
      removedLines: ["    sum += item.price;"],
    });
    expect(cart.hunks[1]).toMatchObject({
      oldStart: 11,
      oldLines: 0,
      newStart: 12,
      newLines: 4,
      removedLines: [],
    });
    expect(cart.addedIdentifiers).toEqual(["MAX_ITEMS", "applyCoupon"]);
    expect(cart.touchedFunctions).toEqual(["total", "applyCoupon"]);
  });

  it("does not mistake a removed SQL comment for a file header", () => {
    const sql = diffOf().find((f) => f.newPath === "db/query.sql")!;
    expect(sql.hunks).toEqual([
      {
        oldStart: 1,
        oldLines: 1,
        newStart: 0,
        newLines: 0,
        header: "",
        addedLines: [],
        removedLines: ["-- comment"],
      },
    ]);
    // The next file still parses.
    expect(diffOf().map((f) => f.newPath ?? f.oldPath)).toContain("src/new-file.py");
  });

  it("records no-newline-at-end-of-file markers on both sides", () => {
    const notes = diffOf().find((f) => f.newPath === "notes.txt")!;
    expect(notes.noNewlineAtEof).toEqual({ old: true, new: true });
    expect(notes.hunks[0]).toMatchObject({
      removedLines: ["no newline at the end"],
      addedLines: ["no newline at the end, still"],
    });
  });

  it("finds Python declarations on added lines of a new file", () => {
    const py = diffOf().find((f) => f.newPath === "src/new-file.py")!;
    expect(py.hunks[0]).toMatchObject({ oldStart: 0, oldLines: 0, newStart: 1, newLines: 5 });
    expect(py.addedIdentifiers).toEqual(["handle_request", "Handler"]);
    expect(py.touchedFunctions).toEqual(["handle_request"]);
  });

  it("groups git log -p output by commit and parses git show", () => {
    const log = repo.git(["log", "-p", "-U0", "--find-renames", "--no-color", "--decorate", head]);
    const commits = parseCommitPatches(log);
    expect(commits.map((c) => c.sha)).toEqual([head, base]);
    expect(commits[1]!.files.every((f) => f.status === "added")).toBe(true);
    expect(commits[0]!.files.find((f) => f.newPath === "src/moved.ts")?.status).toBe("renamed");

    const show = parseCommitPatches(repo.git(["show", "-U0", "--find-renames", "--no-color", head]));
    expect(show).toHaveLength(1);
    expect(show[0]!.sha).toBe(head);
    expect(show[0]!.files.map((f) => f.newPath ?? f.oldPath).sort()).toEqual(
      diffOf()
        .map((f) => f.newPath ?? f.oldPath)
        .sort(),
    );
  });

  it("parses the combined diff of a conflicted merge shown by git show", () => {
    const r = makeRepo();
    try {
      r.commit("base", { "a.ts": "export function f() {\n  return 1;\n}\n" });
      r.git(["checkout", "-q", "-b", "side"]);
      r.commit("side", { "a.ts": "export function f() {\n  return 2;\n}\n" });
      r.git(["checkout", "-q", "main"]);
      r.commit("main", { "a.ts": "export function f() {\n  return 3;\n}\n" });
      try {
        r.git(["merge", "-q", "side"]);
      } catch {
        // conflict expected
      }
      r.write({ "a.ts": "export function f() {\n  return 4;\n}\n" });
      r.git(["add", "a.ts"]);
      r.git(["commit", "-q", "--no-edit"]);
      const files = parseDiff(r.git(["show", "--no-color", "HEAD"]));
      expect(files).toHaveLength(1);
      expect(files[0]).toMatchObject({ combined: true, newPath: "a.ts" });
      expect(files[0]!.hunks[0]!.addedLines).toEqual(["  return 4;"]);
      expect(files[0]!.hunks[0]!.removedLines.sort()).toEqual(["  return 2;", "  return 3;"]);
    } finally {
      r.cleanup();
    }
  });

  it("summarizes a candidate's files, hunks, identifiers and functions", () => {
    const s = summarizeDiffs(diffOf());
    expect(s.files).toContain("src/cart.ts");
    expect(s.files).toContain("src/legacy.ts");
    expect(s.hunks["src/cart.ts"]).toHaveLength(2);
    expect(s.addedIdentifiers).toEqual(
      expect.arrayContaining(["MAX_ITEMS", "applyCoupon", "handle_request"]),
    );
    expect(s.touchedFunctions).toEqual(expect.arrayContaining(["total", "applyCoupon", "handle_request"]));
  });
});

describe("parseDiff on hand-written edge cases", () => {
  it("unquotes C-quoted paths and keeps lines that look like headers inside hunks", () => {
    const text = [
      'diff --git "a/caf\\303\\251.ts" "b/caf\\303\\251.ts"',
      "index 1111111..2222222 100644",
      '--- "a/caf\\303\\251.ts"',
      '+++ "b/caf\\303\\251.ts"',
      "@@ -1,2 +1,2 @@ function brew(",
      "--- not a header",
      "-+++ neither",
      "++++ added",
      "+diff --git a/x b/y",
      "",
    ].join("\n");
    const [f] = parseDiff(text);
    expect(f).toMatchObject({ oldPath: "café.ts", newPath: "café.ts", status: "modified" });
    expect(f!.hunks[0]).toMatchObject({
      removedLines: ["-- not a header", "+++ neither"],
      addedLines: ["+++ added", "diff --git a/x b/y"],
      header: "function brew(",
    });
    expect(f!.touchedFunctions).toEqual(["brew"]);
  });

  it("reads a mode-only change from the diff --git line", () => {
    const [f] = parseDiff("diff --git a/bin/run b/bin/run\nold mode 100644\nnew mode 100755\n");
    expect(f).toMatchObject({
      oldPath: "bin/run",
      newPath: "bin/run",
      status: "modified",
      oldMode: "100644",
      newMode: "100755",
    });
  });

  it("never throws on arbitrary text", () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 400 }),
        fc.constantFrom("", "diff --git a/x b/x\n", "@@ -1 +1 @@\n"),
        (s, prefix) => {
          const out = parseDiff(prefix + s);
          expect(Array.isArray(out)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("declaration extraction", () => {
  it.each([
    ["export async function chargeCard(amount: number) {", ["chargeCard"]],
    ["  const applyDiscount = (cart) => {", ["applyDiscount"]],
    ["  public async addItem(item: Item): Promise<void> {", ["addItem"]],
    ["  addItem(item) {", ["addItem"]],
    ["    def charge(self, amount):", ["charge"]],
    ["func (s *Server) HandleCheckout(w http.ResponseWriter) {", ["HandleCheckout"]],
    ["    public void processOrder(Order order) throws IOException {", ["processOrder"]],
    ["pub async fn settle(&self) -> Result<()> {", ["settle"]],
    ["  if (cart.items.length > 0) {", []],
    ["  return total(cart);", []],
  ])("%s", (line, names) => {
    expect(declaredFunctionNames(line)).toEqual(names);
  });

  it("finds types and constants as identifiers but not as functions", () => {
    expect(declaredNames("export class PaymentGateway {")).toEqual(["PaymentGateway"]);
    expect(declaredNames("export const RETRY_LIMIT = 3;")).toEqual(["RETRY_LIMIT"]);
    expect(declaredNames("MAX_RETRIES = 5")).toEqual(["MAX_RETRIES"]);
    expect(declaredFunctionNames("export class PaymentGateway {")).toEqual([]);
    expect(declaredNames("type Money = { cents: number };")).toEqual(["Money"]);
  });
});
