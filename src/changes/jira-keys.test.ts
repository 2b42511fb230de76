import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.ts";
import {
  DEFAULT_MAX_SCAN_CHARS,
  extractExplicitKeys,
  findKeysInText,
  linkExplicit,
  normalizeProjectKeys,
} from "./jira-keys.ts";

const KNOWN = ["PAY", "CORE", "OPS_2"];
const known = normalizeProjectKeys(KNOWN);
const keys = (text: string, source: "branch" | "title" | "body" | "commit" = "title", hosts?: string[]) =>
  findKeysInText(text, source, known, hosts ? { jiraHosts: hosts } : {}).map((k) => k.key);

describe("findKeysInText", () => {
  it("finds known keys with their offsets", () => {
    expect(findKeysInText("Fix PAY-12 and CORE-7", "title", known)).toEqual([
      { key: "PAY-12", project: "PAY", number: 12, index: 4 },
      { key: "CORE-7", project: "CORE", number: 7, index: 15 },
    ]);
  });

  it.each([
    "UTF-8 decoding of names",
    "Switch to SHA-256 digests",
    "Read ISO-8859-1 files",
    "Implement RFC-6962 Merkle proofs",
    "See RFC-7231 section 6",
    "Bump JIRA-1234 (unknown project)",
    "pay-12 is not a key in prose",
    "Pay-12 is not a key in prose",
    "xPAY-12 glued to a word",
    "PAY-12x glued to a word",
    "PAY_12 uses an underscore",
    "PAY 12 uses a space",
    "PAY-012 has a leading zero",
    "PAY-0 is not an issue number",
    "PAY-1234567890 has ten digits",
    "version PAY-1.2 looks like a release",
    "22-123 starts with a digit",
    "P-1 has a one-letter project",
  ])("ignores %j", (text) => {
    expect(keys(text)).toEqual([]);
  });

  it.each([
    ["[PAY-12] brackets", ["PAY-12"]],
    ["(PAY-12) parens", ["PAY-12"]],
    ["#PAY-12 hash", ["PAY-12"]],
    ["PAY-12: colon", ["PAY-12"]],
    ["Fixes PAY-12.", ["PAY-12"]],
    ["PAY-12-PAY-13 chained", ["PAY-12", "PAY-13"]],
    ["underscored project OPS_2-5", ["OPS_2-5"]],
    ["PAY-123456789 has nine digits", ["PAY-123456789"]],
  ])("finds the key in %j", (text, expected) => {
    expect(keys(text)).toEqual(expected);
  });

  it("matches decoy shapes once their project is configured", () => {
    const withUtf = normalizeProjectKeys(["UTF", "SHA"]);
    expect(findKeysInText("UTF-8 and SHA-256", "body", withUtf).map((k) => k.key)).toEqual([
      "UTF-8",
      "SHA-256",
    ]);
  });

  it("reads branches case-insensitively and through word_ prefixes", () => {
    expect(keys("feature/PAY-123-fix", "branch")).toEqual(["PAY-123"]);
    expect(keys("feature/pay-123-fix", "branch")).toEqual(["PAY-123"]);
    expect(keys("pay-123", "branch")).toEqual(["PAY-123"]);
    expect(keys("Pay-7_retry", "branch")).toEqual(["PAY-7"]);
    expect(keys("feature_pay-9", "branch")).toEqual(["PAY-9"]);
    expect(keys("ops_2-4-deploy", "branch")).toEqual(["OPS_2-4"]);
    expect(keys("dependabot/npm_and_yarn/utf-8-validate-6.0.3", "branch")).toEqual([]);
    expect(keys("release-2024-01", "branch")).toEqual([]);
    expect(keys("hotfix/pay-1.2.3", "branch")).toEqual([]);
    expect(findKeysInText("feature_pay-9", "branch", known)[0]?.index).toBe(8);
  });

  it("ignores keys inside URLs unless the URL is an issue link on a configured Jira host", () => {
    const body = [
      "Dashboard https://grafana.acme.io/d/PAY-12/latency",
      "Upstream bug https://jira.mongodb.org/browse/CORE-1234",
      "Docs https://github.com/acme/app/blob/main/docs/PAY-99-notes.md",
      "Ticket https://acme.atlassian.net/browse/PAY-7?focusedCommentId=1",
      "Board https://acme.atlassian.net/jira/software/projects/PAY/boards/1?selectedIssue=PAY-8",
      "Markdown [link](https://acme.atlassian.net/wiki/spaces/PAY/pages/PAY-5)",
    ].join("\n");
    expect(keys(body, "body")).toEqual([]);
    expect(keys(body, "body", ["acme.atlassian.net"])).toEqual(["PAY-7", "PAY-8"]);
    expect(keys(body, "body", ["ACME.atlassian.net", "jira.mongodb.org"])).toEqual([
      "CORE-1234",
      "PAY-7",
      "PAY-8",
    ]);
    // The key next to the link still counts.
    expect(keys("PAY-3 (https://grafana.acme.io/d/PAY-12)", "body")).toEqual(["PAY-3"]);
  });

  it("handles a 1 MB body quickly and stops at the scan cap", () => {
    const bodies = [
      "A".repeat(1_000_000),
      "PAY-".repeat(250_000),
      "A_".repeat(500_000),
      "UTF-8 ".repeat(170_000),
      "https://x.io/".repeat(80_000),
      `${"x ".repeat(10_000)}PAY-1 ${"PAY-2 ".repeat(200_000)}`,
    ];
    const started = performance.now();
    for (const body of bodies) findKeysInText(body, "body", known);
    for (const body of bodies) findKeysInText(body, "branch", known);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(1_000);

    const late = `${" ".repeat(DEFAULT_MAX_SCAN_CHARS)}PAY-77`;
    expect(keys(late, "body")).toEqual([]);
    expect(findKeysInText(late, "body", known, { maxScanChars: late.length }).map((k) => k.key)).toEqual([
      "PAY-77",
    ]);
    // A key cut by the cap is not read as a shorter key.
    const cut = `${" ".repeat(DEFAULT_MAX_SCAN_CHARS - 6)}PAY-123`;
    expect(keys(cut, "body")).toEqual([]);
  });

  it("only returns validated keys that appear in the text (property)", () => {
    const word = fc.constantFrom(
      "PAY",
      "pay",
      "CORE",
      "UTF",
      "SHA",
      "ISO",
      "OPS_2",
      "X",
      "-",
      "_",
      "/",
      " ",
      ".",
    );
    const digits = fc.constantFrom("1", "8", "256", "0", "12", "8859");
    const text = fc.array(fc.oneof(word, digits, fc.string()), { maxLength: 30 }).map((a) => a.join(""));
    fc.assert(
      fc.property(text, fc.constantFrom("branch", "title", "body", "commit" as const), (t, source) => {
        for (const k of findKeysInText(t, source, known)) {
          expect(known.has(k.project)).toBe(true);
          expect(k.number).toBeGreaterThan(0);
          const literal = t.slice(k.index, k.index + k.key.length);
          if (source === "branch") expect(literal.toUpperCase()).toBe(k.key);
          else expect(literal).toBe(k.key);
        }
      }),
      { numRuns: 1_000 },
    );
  });
});

describe("extractExplicitKeys and linkExplicit", () => {
  const pr = {
    branch: "feature/pay-12-retry",
    title: "CORE-3: retry payments (PAY-12)",
    body: "Follow-up to PAY-40. Uses SHA-256 and UTF-8. See https://grafana.acme.io/d/PAY-99",
    commits: [
      { sha: "a1", message: "PAY-41 first step" },
      { sha: "a2", message: "Merge branch 'main' into feature/CORE-77" },
      { sha: "a3", message: "wip\n\nmentions CORE-3 and PAY-42" },
    ],
  };

  it("returns keys in precedence order with their source and position", () => {
    expect(extractExplicitKeys(pr, KNOWN)).toEqual([
      { key: "PAY-12", project: "PAY", number: 12, source: "branch", index: 8, alsoIn: ["title"] },
      { key: "CORE-3", project: "CORE", number: 3, source: "title", index: 0, alsoIn: ["commit"] },
      { key: "PAY-40", project: "PAY", number: 40, source: "body", index: 13, alsoIn: [] },
      {
        key: "PAY-41",
        project: "PAY",
        number: 41,
        source: "commit",
        index: 0,
        commitIndex: 0,
        commitSha: "a1",
        alsoIn: [],
      },
      {
        key: "PAY-42",
        project: "PAY",
        number: 42,
        source: "commit",
        index: 25,
        commitIndex: 2,
        commitSha: "a3",
        alsoIn: [],
      },
    ]);
  });

  it("picks the first key by precedence as primary", () => {
    const link = linkExplicit(pr, KNOWN);
    expect(link.primary?.key).toBe("PAY-12");
    expect(link.others.map((k) => k.key)).toEqual(["CORE-3", "PAY-40", "PAY-41", "PAY-42"]);
    expect(linkExplicit({ title: "CORE-3 only in title", body: "PAY-1" }, KNOWN).primary).toMatchObject({
      key: "CORE-3",
      source: "title",
    });
    expect(linkExplicit({ commits: [{ message: "PAY-5 late" }] }, KNOWN).primary).toMatchObject({
      key: "PAY-5",
      source: "commit",
      commitIndex: 0,
    });
  });

  it("returns no primary when only decoys are present", () => {
    const link = linkExplicit(
      { branch: "utf-8-fix", title: "Support ISO-8859-1 and SHA-256", body: "RFC-6962, ABC-1", commits: [] },
      KNOWN,
    );
    expect(link).toEqual({ primary: null, others: [] });
  });

  it("strips refs/heads/ and caps the number of commits", () => {
    const commits = Array.from({ length: 5 }, (_, i) => ({ message: `PAY-${i + 1}` }));
    expect(
      extractExplicitKeys({ branch: "refs/heads/pay-9", commits }, KNOWN, { maxCommits: 2 }).map(
        (k) => k.key,
      ),
    ).toEqual(["PAY-9", "PAY-1", "PAY-2"]);
  });

  it("rejects malformed project keys in configuration", () => {
    expect(() => normalizeProjectKeys(["PAY", "PAY-1"])).toThrow(ValidationError);
    expect(() => normalizeProjectKeys(["1AB"])).toThrow(ValidationError);
    expect([...normalizeProjectKeys([" pay ", "core"])]).toEqual(["PAY", "CORE"]);
  });
});
