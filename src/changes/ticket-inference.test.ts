import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.ts";
import {
  compareCandidates,
  DEFAULT_INFERENCE_THRESHOLD,
  DEFAULT_INFERENCE_WEIGHTS,
  type Identity,
  inferTicketLink,
  linkTicket,
  type PullRequestForInference,
  type StatusInterval,
  type TicketCandidate,
  type TicketForInference,
} from "./ticket-inference.ts";

const day = (d: number, h = 0) => new Date(Date.UTC(2024, 3, 1 + d, h));

const alice = { accountId: "acc-alice", email: "alice@acme.io", displayName: "Alice Nguyen" };
const bob = { accountId: "acc-bob", email: "bob@acme.io", displayName: "Bob Martins" };
const identities: Identity[] = [
  {
    jiraAccountId: "acc-alice",
    emails: ["alice@acme.io"],
    githubLogins: ["alicen"],
    displayNames: ["Alice Nguyen"],
  },
  {
    jiraAccountId: "acc-bob",
    emails: ["bob@acme.io"],
    githubLogins: ["bmartins"],
    displayNames: ["Bob Martins"],
  },
];

/** In progress from day 0 to day 4, then done: covers a PR open from day 1 to day 2, no change during it. */
const working: StatusInterval[] = [
  { status: "To Do", category: "todo", from: day(-5), to: day(0) },
  { status: "In Progress", category: "in_progress", from: day(0), to: day(4) },
  { status: "Done", category: "done", from: day(4), to: null },
];

const pr = (over: Partial<PullRequestForInference> = {}): PullRequestForInference => ({
  title: "Retry webhook deliveries with exponential backoff",
  body: "Failed merchant webhook deliveries are retried up to five times.",
  branch: "feature/webhook-retry",
  author: { login: "alicen", email: "alice@acme.io", name: "Alice Nguyen" },
  createdAt: day(1),
  mergedAt: day(2),
  ...over,
});

const retryTicket: TicketForInference = {
  key: "PAY-7",
  summary: "Retry failed webhook deliveries",
  description: "Merchant webhook deliveries fail on transient errors; retry them with exponential backoff.",
  assignee: alice,
  statusHistory: working,
};
const others: TicketForInference[] = [
  {
    key: "PAY-8",
    summary: "Payout statements list fees",
    description: "Show fees on payout PDFs.",
    assignee: bob,
  },
  { key: "WEB-3", summary: "Dark mode toggle", description: "Theme switch in settings.", assignee: alice },
  { key: "OPS-1", summary: "Kubernetes upgrade", description: "Upgrade clusters to 1.29.", assignee: null },
];

const feature = (c: TicketCandidate | undefined, f: string) => c?.features.find((x) => x.feature === f);

describe("inferTicketLink", () => {
  it("links the ticket whose assignee, status and text agree, with its score and fired features", () => {
    const result = inferTicketLink(pr(), [...others, retryTicket], { identities });
    expect(result.outcome).toBe("linked");
    expect(result.link).toMatchObject({ key: "PAY-7", kind: "inferred" });
    expect(result.link!.fired).toEqual(["assignee", "in_progress", "text"]);
    expect(result.link!.score).toBeGreaterThanOrEqual(DEFAULT_INFERENCE_THRESHOLD);
    expect(result.link!.score).toBeLessThanOrEqual(1);
    const expected = result.link!.features.reduce((s, f) => s + f.weight * f.value, 0);
    expect(result.link!.score).toBeCloseTo(expected, 9);
    expect(feature(result.link!, "text")?.detail).toMatch(/shared terms: .*webhook/);
    expect(result.candidates.map((c) => c.key)[0]).toBe("PAY-7");
    expect(result.candidates).toHaveLength(4);
  });

  describe("assignee feature", () => {
    const value = (author: PullRequestForInference["author"], assignee: TicketForInference["assignee"]) =>
      feature(
        inferTicketLink(pr({ author }), [{ ...retryTicket, assignee }], { identities }).candidates[0],
        "assignee",
      );

    it("matches by e-mail, by login through the identity map, and weakly by display name", () => {
      expect(value({ email: "ALICE@acme.io " }, alice)?.value).toBe(1);
      expect(value({ login: "@AliceN" }, { accountId: "acc-alice" })?.value).toBe(1);
      expect(
        value({ name: "Alice Nguyen", email: "a@gmail.com" }, { displayName: "Alice  Nguyen" }),
      ).toMatchObject({
        value: 1, // displayNames in the identity map
      });
      expect(value({ name: "Hana Sato" }, { accountId: "acc-hana", displayName: "Hána Sato" })).toMatchObject(
        {
          value: 0.6,
          detail: "assignee display name equals the PR author's name",
        },
      );
      expect(value({ login: "bmartins" }, alice)?.value).toBe(0);
      expect(value({ login: "alicen" }, null)).toMatchObject({ value: 0, detail: "ticket has no assignee" });
    });
  });

  describe("in-progress feature", () => {
    const share = (history: StatusInterval[], over: Partial<PullRequestForInference> = {}) =>
      feature(
        inferTicketLink(pr(over), [{ ...retryTicket, statusHistory: history }]).candidates[0],
        "in_progress",
      )?.value;

    it("is the share of the PR's open window the ticket spent in progress", () => {
      expect(share(working)).toBe(1);
      const half: StatusInterval[] = [
        { status: "In Progress", category: "in_progress", from: day(1, 12), to: day(4) },
      ];
      expect(share(half)).toBeCloseTo(0.5, 9);
      expect(share([{ status: "In Progress", category: "in_progress", from: day(5), to: null }])).toBe(0);
      expect(share([])).toBe(0);
    });

    it("does not count overlapping intervals twice and reads status names without categories", () => {
      const overlapping: StatusInterval[] = [
        { status: "In Progress", from: day(1), to: day(1, 18) },
        { status: "In Review", from: day(1, 6), to: day(1, 12) },
        { status: "Blocked", from: day(1, 18), to: day(2) },
      ];
      expect(share(overlapping)).toBeCloseTo(0.75, 9);
      expect(share([{ status: "Doing", from: day(0), to: null }])).toBe(0);
      expect(share([{ status: "in development", from: day(0), to: null }])).toBe(1);
    });

    it("uses `now` as the end of an open PR's window", () => {
      const history: StatusInterval[] = [
        { status: "In Progress", category: "in_progress", from: day(1), to: day(2) },
      ];
      const open = pr({ mergedAt: null });
      expect(
        feature(
          inferTicketLink(open, [{ ...retryTicket, statusHistory: history }], { now: day(5) }).candidates[0],
          "in_progress",
        )?.value,
      ).toBeCloseTo(0.25, 9);
      // Without now, the window is the instant the PR opened.
      expect(share(history, { mergedAt: null })).toBe(1);
    });
  });

  describe("transition feature", () => {
    const transition = (history: StatusInterval[]) =>
      feature(
        inferTicketLink(pr(), [{ ...retryTicket, statusHistory: history }]).candidates[0],
        "transition",
      );

    it("fires for a status change while the PR was open, shortly before or within a day after it merged", () => {
      const at = (d: Date): StatusInterval[] => [
        { status: "To Do", category: "todo", from: day(-3), to: d },
        { status: "In Review", category: "in_progress", from: d, to: null },
      ];
      expect(transition(at(day(1, 12)))?.value).toBe(1);
      expect(transition(at(new Date(day(1).getTime() - 30 * 60_000)))?.value).toBe(1);
      expect(transition(at(day(2, 23)))?.value).toBe(1);
      expect(transition(at(day(0)))?.value).toBe(0);
      expect(transition(at(day(3, 1)))?.value).toBe(0);
      // Creation is not a change.
      expect(transition([{ status: "To Do", category: "todo", from: day(1, 12), to: null }])?.value).toBe(0);
    });
  });

  describe("text feature", () => {
    it("needs two shared terms: one common word is not evidence", () => {
      const one = inferTicketLink(pr({ title: "Fix typo in README", body: "", branch: "" }), [
        { ...retryTicket, summary: "Fix retries", description: "" },
        ...others,
      ]);
      const text = feature(
        one.candidates.find((c) => c.key === "PAY-7"),
        "text",
      );
      expect(text).toMatchObject({ value: 0, detail: "only one word in common (fix), not evidence" });
      expect(one.link).toBeNull();
    });

    it("ignores template noise in the body", () => {
      const template =
        "<!-- Describe your change: webhook retry backoff -->\n- [ ] webhook retry tests added\n";
      const result = inferTicketLink(
        pr({ title: "Bump eslint", branch: "", body: template }),
        [retryTicket, ...others],
        {
          identities,
        },
      );
      expect(
        feature(
          result.candidates.find((c) => c.key === "PAY-7"),
          "text",
        )?.value,
      ).toBe(0);
      expect(result.link).toBeNull();
    });
  });

  it("never links on person and time alone", () => {
    const result = inferTicketLink(
      pr({ title: "Upgrade React", body: "No behaviour change.", branch: "" }),
      [{ ...retryTicket, statusHistory: [...working.slice(0, 1), { ...working[1]!, from: day(1, 1) }] }],
      { identities },
    );
    const best = result.candidates[0]!;
    expect(best.fired).toEqual(["assignee", "in_progress", "transition"]);
    expect(best.score).toBeCloseTo(
      DEFAULT_INFERENCE_WEIGHTS.assignee +
        DEFAULT_INFERENCE_WEIGHTS.in_progress * (23 / 24) +
        DEFAULT_INFERENCE_WEIGHTS.transition,
      9,
    );
    expect(result).toMatchObject({ link: null, outcome: "below_threshold" });
  });

  it("refuses a link without text agreement even when custom weights clear the threshold", () => {
    const result = inferTicketLink(pr({ title: "Upgrade React", body: "", branch: "" }), [retryTicket], {
      identities,
      weights: { assignee: 0.5, in_progress: 0.4, transition: 0, text: 0.1 },
    });
    expect(result.candidates[0]!.score).toBeCloseTo(0.9, 9);
    expect(result).toMatchObject({ link: null, outcome: "no_text_match" });
  });

  it("abstains when two tickets are equally good, and breaks exact ties by key when asked not to", () => {
    const twin = (key: string): TicketForInference => ({ ...retryTicket, key });
    const tickets = [twin("PAY-10"), twin("PAY-2"), ...others];
    const ambiguous = inferTicketLink(pr(), tickets, { identities });
    expect(ambiguous).toMatchObject({ link: null, outcome: "ambiguous" });
    expect(ambiguous.candidates.slice(0, 2).map((c) => c.key)).toEqual(["PAY-2", "PAY-10"]);
    const forced = inferTicketLink(pr(), tickets, { identities, minMargin: 0 });
    expect(forced.link?.key).toBe("PAY-2");
  });

  it("respects the threshold option", () => {
    const score = inferTicketLink(pr(), [retryTicket, ...others], { identities }).link!.score;
    expect(inferTicketLink(pr(), [retryTicket, ...others], { identities, threshold: score }).link?.key).toBe(
      "PAY-7",
    );
    expect(
      inferTicketLink(pr(), [retryTicket, ...others], { identities, threshold: Math.min(1, score + 0.01) }),
    ).toMatchObject({ link: null, outcome: "below_threshold" });
  });

  it("is deterministic whatever the order of the tickets (property)", () => {
    const tickets = [
      retryTicket,
      { ...retryTicket, key: "PAY-9", summary: "Webhook retry metrics", assignee: bob },
      { ...retryTicket, key: "CORE-4", summary: "Retry budget", description: "" },
      ...others,
    ];
    const reference = inferTicketLink(pr(), tickets, { identities });
    fc.assert(
      fc.property(
        fc.shuffledSubarray(tickets, { minLength: tickets.length, maxLength: tickets.length }),
        (order) => {
          const result = inferTicketLink(pr(), order, { identities });
          expect(result.link?.key).toBe(reference.link?.key);
          expect(result.candidates.map((c) => [c.key, c.score])).toEqual(
            reference.candidates.map((c) => [c.key, c.score]),
          );
        },
      ),
      { numRuns: 50 },
    );
  });

  it("keeps every score in [0, 1] (property)", () => {
    const words = fc.constantFrom(
      "retry",
      "webhook",
      "payout",
      "fee",
      "dark",
      "mode",
      "backoff",
      "merchant",
      "typo",
    );
    const text = fc.array(words, { maxLength: 8 }).map((w) => w.join(" "));
    fc.assert(
      fc.property(text, text, fc.integer({ min: -5, max: 5 }), (title, summary, start) => {
        const result = inferTicketLink(
          pr({ title, body: "", branch: "" }),
          [
            {
              ...retryTicket,
              summary,
              description: "",
              statusHistory: [{ status: "In Progress", category: "in_progress", from: day(start), to: null }],
            },
            ...others,
          ],
          { identities },
        );
        for (const c of result.candidates) {
          expect(c.score).toBeGreaterThanOrEqual(0);
          expect(c.score).toBeLessThanOrEqual(1);
          for (const f of c.features) expect(f.value >= 0 && f.value <= 1).toBe(true);
        }
        if (result.link) expect(result.link.score).toBeGreaterThanOrEqual(DEFAULT_INFERENCE_THRESHOLD);
      }),
    );
  });

  it("returns no_candidates for an empty ticket list and validates options", () => {
    expect(inferTicketLink(pr(), [])).toEqual({ link: null, outcome: "no_candidates", candidates: [] });
    expect(() => inferTicketLink(pr(), [retryTicket], { weights: { text: 0.9 } })).toThrow(ValidationError);
    expect(() => inferTicketLink(pr(), [retryTicket], { threshold: 1.5 })).toThrow(ValidationError);
    expect(() =>
      inferTicketLink(pr(), [retryTicket], {
        weights: { assignee: -0.1, in_progress: 0.55, transition: 0.1, text: 0.45 },
      }),
    ).toThrow(ValidationError);
  });
});

describe("compareCandidates", () => {
  const cand = (key: string, score: number, text = 0, assignee = 0, inProgress = 0): TicketCandidate => ({
    key,
    score,
    fired: [],
    features: [
      { feature: "assignee", value: assignee, weight: 0.25, detail: "" },
      { feature: "in_progress", value: inProgress, weight: 0.2, detail: "" },
      { feature: "transition", value: 0, weight: 0.1, detail: "" },
      { feature: "text", value: text, weight: 0.45, detail: "" },
    ],
  });

  it("orders by score, text, assignee, in-progress share, then key in natural order", () => {
    const sorted = [
      cand("PAY-10", 0.7),
      cand("PAY-2", 0.7),
      cand("CORE-1", 0.7),
      cand("PAY-3", 0.7, 0, 0, 1),
      cand("PAY-4", 0.7, 0, 1),
      cand("PAY-5", 0.7, 0.5),
      cand("PAY-6", 0.8),
    ].sort(compareCandidates);
    expect(sorted.map((c) => c.key)).toEqual([
      "PAY-6",
      "PAY-5",
      "PAY-4",
      "PAY-3",
      "CORE-1",
      "PAY-2",
      "PAY-10",
    ]);
  });
});

describe("linkTicket", () => {
  const options = { knownProjectKeys: ["PAY", "WEB", "OPS"], identities };

  it("prefers an explicit key over any inference", () => {
    const link = linkTicket({ ...pr(), title: "WEB-3: retry webhooks" }, [retryTicket, ...others], options);
    expect(link).toMatchObject({ kind: "explicit", key: "WEB-3", primary: { source: "title" } });
  });

  it("falls back to inference, then to nothing", () => {
    expect(linkTicket(pr(), [retryTicket, ...others], options)).toMatchObject({
      kind: "inferred",
      key: "PAY-7",
    });
    expect(
      linkTicket(pr({ title: "Bump eslint", body: "", branch: "" }), [retryTicket, ...others], options),
    ).toBeNull();
    // Decoys are not keys, so the inference still runs.
    expect(
      linkTicket({ ...pr(), body: "Uses SHA-256 and UTF-8." }, [retryTicket, ...others], options),
    ).toMatchObject({
      kind: "inferred",
      key: "PAY-7",
    });
  });
});
