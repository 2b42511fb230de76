/**
 * Measures the PR → ticket linker on the hand-labelled set in fixtures/linker-set.json: explicit keys
 * (precision must be 1.0: a decoy is never a link) and inferred links for the PRs that name no key
 * (precision ≥ 0.8, the ReLink level ATTRIBUTION.md §4 targets). Every number is computed from the set.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { linkExplicit } from "./jira-keys.ts";
import { type InferenceOutcome, inferTicketLink, linkTicket } from "./ticket-inference.ts";

const isoDate = z.iso.datetime().transform((s) => new Date(s));

const LinkerSet = z.object({
  knownProjectKeys: z.array(z.string()),
  jiraHosts: z.array(z.string()),
  identities: z.array(
    z.object({
      jiraAccountId: z.string().optional(),
      emails: z.array(z.string()).optional(),
      githubLogins: z.array(z.string()).optional(),
      displayNames: z.array(z.string()).optional(),
    }),
  ),
  tickets: z.array(
    z.object({
      key: z.string(),
      summary: z.string(),
      description: z.string(),
      assignee: z
        .object({ accountId: z.string(), email: z.string().optional(), displayName: z.string() })
        .nullable(),
      statusHistory: z.array(
        z.object({
          status: z.string(),
          category: z.enum(["todo", "in_progress", "done"]).optional(),
          from: isoDate,
          to: isoDate.nullable(),
        }),
      ),
    }),
  ),
  pullRequests: z.array(
    z.object({
      id: z.string(),
      number: z.number().int(),
      title: z.string(),
      branch: z.string(),
      body: z.string(),
      commits: z.array(z.object({ sha: z.string(), message: z.string() })),
      author: z.object({ login: z.string(), email: z.string(), name: z.string() }),
      createdAt: isoDate,
      mergedAt: isoDate,
      truth: z.string().nullable(),
      explicitKeys: z.array(z.string()),
      tags: z.array(z.string()),
      split: z.enum(["calibration", "holdout"]),
    }),
  ),
});
type LinkerSet = z.infer<typeof LinkerSet>;
type LabelledPr = LinkerSet["pullRequests"][number];

function loadSet(): LinkerSet {
  const raw = readFileSync(new URL("./fixtures/linker-set.json", import.meta.url), "utf8");
  return LinkerSet.parse(JSON.parse(raw));
}

interface Rates {
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  precision: number;
  recall: number;
}

function rates(truePositives: number, falsePositives: number, falseNegatives: number): Rates {
  const predicted = truePositives + falsePositives;
  const actual = truePositives + falseNegatives;
  return {
    truePositives,
    falsePositives,
    falseNegatives,
    precision: predicted === 0 ? Number.NaN : truePositives / predicted,
    recall: actual === 0 ? Number.NaN : truePositives / actual,
  };
}

interface ExplicitReport {
  keys: Rates;
  /** PRs whose primary key is their ticket / PRs with a primary key. */
  primaryCorrect: number;
  primaryTotal: number;
  wrongKeys: string[];
  missedKeys: string[];
}

function evaluateExplicit(set: LinkerSet, prs: readonly LabelledPr[] = set.pullRequests): ExplicitReport {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let primaryCorrect = 0;
  let primaryTotal = 0;
  const wrongKeys: string[] = [];
  const missedKeys: string[] = [];
  for (const pr of prs) {
    const link = linkExplicit(pr, set.knownProjectKeys, { jiraHosts: set.jiraHosts });
    const found = [link.primary, ...link.others].filter((k) => k !== null).map((k) => k.key);
    const expected = new Set(pr.explicitKeys);
    for (const key of found) {
      if (expected.has(key)) tp++;
      else {
        fp++;
        wrongKeys.push(`${pr.id}:${key}`);
      }
    }
    for (const key of expected) {
      if (!found.includes(key)) {
        fn++;
        missedKeys.push(`${pr.id}:${key}`);
      }
    }
    if (link.primary) {
      primaryTotal++;
      if (link.primary.key === pr.truth) primaryCorrect++;
    }
  }
  return { keys: rates(tp, fp, fn), primaryCorrect, primaryTotal, wrongKeys, missedKeys };
}

interface InferredReport {
  rates: Rates;
  /** PRs with no explicit key: the ones inference runs on. */
  evaluated: number;
  outcomes: Record<string, InferenceOutcome>;
  wrong: string[];
  missed: string[];
}

function evaluateInferred(set: LinkerSet, prs: readonly LabelledPr[] = set.pullRequests): InferredReport {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let evaluated = 0;
  const outcomes: Record<string, InferenceOutcome> = {};
  const wrong: string[] = [];
  const missed: string[] = [];
  for (const pr of prs) {
    if (linkExplicit(pr, set.knownProjectKeys, { jiraHosts: set.jiraHosts }).primary) continue;
    evaluated++;
    const result = inferTicketLink(pr, set.tickets, { identities: set.identities });
    outcomes[pr.id] = result.outcome;
    const key = result.link?.key ?? null;
    if (key !== null && key === pr.truth) tp++;
    else {
      if (key !== null) {
        fp++;
        wrong.push(`${pr.id}:${key} (truth ${pr.truth ?? "none"}, score ${result.link?.score.toFixed(2)})`);
      }
      if (pr.truth !== null) {
        fn++;
        missed.push(
          `${pr.id}:${pr.truth} (${result.outcome}, best ${result.candidates[0]?.key} ${result.candidates[0]?.score.toFixed(2)})`,
        );
      }
    }
  }
  return { rates: rates(tp, fp, fn), evaluated, outcomes, wrong, missed };
}

const pct = (x: number) => (Number.isNaN(x) ? "n/a" : x.toFixed(3));

describe("linker evaluation set", () => {
  const set = loadSet();

  it("is large and covers every stratum", () => {
    expect(set.pullRequests.length).toBeGreaterThanOrEqual(60);
    const tags = new Set(set.pullRequests.flatMap((pr) => pr.tags));
    for (const tag of [
      "explicit-branch",
      "explicit-title",
      "explicit-body",
      "explicit-commit",
      "lowercase-branch",
      "multiple-keys",
      "decoy",
      "decoy-only",
      "url-decoy",
      "inferable",
      "no-ticket",
    ]) {
      expect(tags, tag).toContain(tag);
    }
    const text = set.pullRequests.map((pr) => `${pr.title} ${pr.body} ${pr.branch}`).join("\n");
    for (const decoy of [
      "UTF-8",
      "SHA-256",
      "ISO-8859",
      "RFC-6962",
      "JIRA-4412",
      "https://grafana.acme.io/d/PAY-88",
    ]) {
      expect(text).toContain(decoy);
    }
    const tickets = new Set(set.tickets.map((t) => t.key));
    for (const pr of set.pullRequests) {
      if (pr.truth !== null) expect(tickets).toContain(pr.truth);
    }
    const noKey = set.pullRequests.filter((pr) => pr.explicitKeys.length === 0);
    expect(noKey.filter((pr) => pr.truth !== null).length).toBeGreaterThanOrEqual(15);
    expect(noKey.filter((pr) => pr.truth === null).length).toBeGreaterThanOrEqual(8);
  });

  const splits = {
    all: set.pullRequests,
    calibration: set.pullRequests.filter((pr) => pr.split === "calibration"),
    holdout: set.pullRequests.filter((pr) => pr.split === "holdout"),
  };

  it("explicit keys: precision 1.0, recall reported", () => {
    for (const [name, prs] of Object.entries(splits)) {
      const report = evaluateExplicit(set, prs);
      console.log(
        `[linker-eval] explicit keys, ${name} (${prs.length} PRs): precision ${pct(report.keys.precision)} ` +
          `recall ${pct(report.keys.recall)} (tp ${report.keys.truePositives}, fp ${report.keys.falsePositives}, ` +
          `fn ${report.keys.falseNegatives}); primary = ticket on ${report.primaryCorrect}/${report.primaryTotal} PRs; ` +
          `missed: ${report.missedKeys.join(", ") || "none"}`,
      );
    }
    const report = evaluateExplicit(set);
    expect(report.wrongKeys).toEqual([]);
    expect(report.keys.precision).toBe(1);
    expect(evaluateExplicit(set, splits.holdout).keys.precision).toBe(1);
    expect(report.keys.truePositives).toBeGreaterThanOrEqual(40);
    // The only key the linker cannot read is one written in lower case in a title (prose is case-sensitive).
    expect(report.missedKeys).toEqual(["pr-344:PAY-117"]);
    expect(report.keys.recall).toBeCloseTo(
      report.keys.truePositives / (report.keys.truePositives + report.keys.falseNegatives),
      12,
    );
    expect(report.primaryCorrect).toBe(report.primaryTotal);
  });

  it("inferred links: precision ≥ 0.8, recall reported", () => {
    for (const [name, prs] of Object.entries(splits)) {
      const report = evaluateInferred(set, prs);
      console.log(
        `[linker-eval] inferred links, ${name} (${report.evaluated} PRs without a key): ` +
          `precision ${pct(report.rates.precision)} recall ${pct(report.rates.recall)} ` +
          `(tp ${report.rates.truePositives}, fp ${report.rates.falsePositives}, fn ${report.rates.falseNegatives}); ` +
          `wrong: ${report.wrong.join("; ") || "none"}; missed: ${report.missed.join("; ") || "none"}`,
      );
    }
    const report = evaluateInferred(set);
    expect(report.evaluated).toBeGreaterThanOrEqual(25);
    expect(report.rates.truePositives + report.rates.falsePositives).toBeGreaterThan(0);
    expect(report.rates.precision).toBeGreaterThanOrEqual(0.8);
    expect(evaluateInferred(set, splits.holdout).rates.precision).toBeGreaterThanOrEqual(0.8);
    // A floor against regressions, below what the set measures today.
    expect(report.rates.recall).toBeGreaterThanOrEqual(0.5);
  });

  it("end to end: explicit first, else inferred, never a link for PRs with no ticket and no evidence", () => {
    let correct = 0;
    let linked = 0;
    for (const pr of set.pullRequests) {
      const link = linkTicket(pr, set.tickets, {
        knownProjectKeys: set.knownProjectKeys,
        jiraHosts: set.jiraHosts,
        identities: set.identities,
      });
      if (link === null) continue;
      linked++;
      if (link.key === pr.truth) correct++;
      if (pr.explicitKeys.length > 0 && pr.tags.includes("lowercase-title-key") === false) {
        expect(link.kind, pr.id).toBe("explicit");
      }
    }
    const precision = correct / linked;
    console.log(`[linker-eval] combined: ${correct}/${linked} links correct (precision ${pct(precision)})`);
    expect(precision).toBeGreaterThanOrEqual(0.9);
  });

  it("the metrics follow the labels: corrupting them lowers the numbers", () => {
    const baseline = evaluateInferred(set);
    const linkedCorrectly = set.pullRequests.find(
      (pr) => pr.explicitKeys.length === 0 && baseline.outcomes[pr.id] === "linked" && pr.truth !== null,
    );
    expect(linkedCorrectly).toBeDefined();
    const relabelled: LinkerSet = {
      ...set,
      pullRequests: set.pullRequests.map((pr) => (pr === linkedCorrectly ? { ...pr, truth: null } : pr)),
    };
    const after = evaluateInferred(relabelled);
    expect(after.rates.falsePositives).toBe(baseline.rates.falsePositives + 1);
    expect(after.rates.precision).toBeLessThan(baseline.rates.precision);

    const withWrongKey: LinkerSet = {
      ...set,
      pullRequests: set.pullRequests.map((pr, i) => (i === 0 ? { ...pr, explicitKeys: ["PAY-999"] } : pr)),
    };
    const explicit = evaluateExplicit(withWrongKey);
    expect(explicit.keys.precision).toBeLessThan(1);
    expect(explicit.keys.falseNegatives).toBe(evaluateExplicit(set).keys.falseNegatives + 1);
  });
});
