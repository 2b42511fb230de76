import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fingerprintOf } from "../core/hmac.ts";
import type { NormalizeInput, NormalizeResult } from "../core/types.ts";
import { normalizeGitHub } from "./normalize.ts";

const RECEIVED_AT = new Date("2026-03-10T16:00:00Z");
const REPO = "acme-pay/checkout-api";
const MERGE_SHA = "9f1c2a7e4b3d8c6f0a5e1d2c3b4a59687f6e5d4c";
const HEAD_SHA = "3b7e9d1f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e1d";

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"));
}

function input(event: string | undefined, body: unknown): NormalizeInput {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (event !== undefined) headers["x-github-event"] = event;
  return { body, headers, config: {}, receivedAt: RECEIVED_AT };
}

describe("normalizeGitHub", () => {
  it("turns a merged pull request into a change signal carrying the merge", () => {
    expect(normalizeGitHub(input("pull_request", fixture("pull-request-closed-merged.json")))).toEqual({
      ok: true,
      eventType: "pull_request.closed",
      signals: [
        {
          kind: "change",
          source: "github",
          fingerprint: fingerprintOf(["github", "pull_request", REPO, "482"]),
          title: "PAY-1192: retry card authorization on 502 from the acquirer (acme-pay/checkout-api#482)",
          severity: "info",
          status: "firing",
          commitSha: MERGE_SHA,
          occurredAt: new Date("2026-03-10T13:58:01Z"),
          frames: [],
          labels: {
            repository: REPO,
            action: "closed",
            merged: "true",
            branch: "feature/PAY-1192-retry-auth",
            base: "main",
          },
          links: [{ rel: "pull_request", url: "https://github.com/acme-pay/checkout-api/pull/482" }],
          data: {
            number: 482,
            title: "PAY-1192: retry card authorization on 502 from the acquirer",
            body: "Retries `authorizeCard` once with jitter when the acquirer answers 502.\n\nCloses PAY-1192.",
            branch: "feature/PAY-1192-retry-auth",
            base: "main",
            author: "mara-lindqvist",
            mergedAt: "2026-03-10T13:58:01.000Z",
            mergeCommitSha: MERGE_SHA,
            mergedBy: "tomasz-k",
            headSha: HEAD_SHA,
            htmlUrl: "https://github.com/acme-pay/checkout-api/pull/482",
            repository: REPO,
            action: "closed",
            merged: true,
            labels: ["payments"],
          },
        },
      ],
    } satisfies NormalizeResult);
  });

  it("turns an opened pull request into a change signal at its head", () => {
    expect(normalizeGitHub(input("pull_request", fixture("pull-request-opened.json")))).toEqual({
      ok: true,
      eventType: "pull_request.opened",
      signals: [
        {
          kind: "change",
          source: "github",
          fingerprint: fingerprintOf(["github", "pull_request", REPO, "487"]),
          title: "Bump card-network timeout to 4s (acme-pay/checkout-api#487)",
          severity: "info",
          status: "firing",
          commitSha: "7d2e4f6a8b0c1d3e5f7a9b1c3d5e7f9a0b2c4d6e",
          occurredAt: new Date("2026-03-10T15:02:40Z"),
          frames: [],
          labels: {
            repository: REPO,
            action: "opened",
            merged: "false",
            branch: "chore/card-network-timeout",
            base: "main",
          },
          links: [{ rel: "pull_request", url: "https://github.com/acme-pay/checkout-api/pull/487" }],
          data: {
            number: 487,
            title: "Bump card-network timeout to 4s",
            body: null,
            branch: "chore/card-network-timeout",
            base: "main",
            author: "jonas-weber",
            mergedAt: null,
            mergeCommitSha: null,
            mergedBy: null,
            headSha: "7d2e4f6a8b0c1d3e5f7a9b1c3d5e7f9a0b2c4d6e",
            htmlUrl: "https://github.com/acme-pay/checkout-api/pull/487",
            repository: REPO,
            action: "opened",
            merged: false,
            labels: [],
          },
        },
      ],
    } satisfies NormalizeResult);
  });

  it("does not call a pull request closed without merging merged, even with a merge_commit_sha", () => {
    const body = fixture("pull-request-closed-merged.json");
    const pr = body["pull_request"] as Record<string, unknown>;
    pr["merged"] = false;
    pr["merged_at"] = null;
    pr["merged_by"] = null;
    const result = normalizeGitHub(input("pull_request", body));
    expect(result.ok && result.signals[0]?.data).toMatchObject({
      merged: false,
      mergedAt: null,
      mergeCommitSha: null,
      mergedBy: null,
    });
    expect(result.ok && result.signals[0]?.commitSha).toBe(HEAD_SHA);
    expect(result.ok && result.signals[0]?.occurredAt).toEqual(new Date("2026-03-10T13:58:01Z"));
  });

  it("keeps edited and synchronize on the same fingerprint as the rest of the pull request", () => {
    for (const action of ["edited", "synchronize"]) {
      const body = { ...fixture("pull-request-opened.json"), action };
      const result = normalizeGitHub(input("pull_request", body));
      expect(result).toMatchObject({ ok: true, eventType: `pull_request.${action}` });
      expect(result.ok && result.signals[0]?.fingerprint).toBe(
        fingerprintOf(["github", "pull_request", REPO, "487"]),
      );
    }
  });

  it("turns a push into one change signal with its commits", () => {
    expect(normalizeGitHub(input("push", fixture("push-two-commits.json")))).toEqual({
      ok: true,
      eventType: "push",
      signals: [
        {
          kind: "change",
          source: "github",
          fingerprint: fingerprintOf(["github", "push", REPO, "d41f3e2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e"]),
          title: "Push to main in acme-pay/checkout-api (2 commits)",
          severity: "info",
          status: "firing",
          commitSha: "d41f3e2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e",
          occurredAt: new Date(1773151081 * 1000),
          frames: [],
          labels: { repository: REPO, ref: "refs/heads/main", forced: "false" },
          links: [
            {
              rel: "compare",
              url: "https://github.com/acme-pay/checkout-api/compare/e5d4c3b2a1f0...d41f3e2a1b0c",
            },
          ],
          data: {
            ref: "refs/heads/main",
            before: "e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6",
            after: "d41f3e2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e",
            forced: false,
            created: false,
            pusher: "mara-lindqvist",
            repository: REPO,
            commits: [
              {
                id: "4e8a1c3b5d7f9e0a2c4b6d8f0e1a3c5b7d9f1e2a",
                message: "Retry authorizeCard once on acquirer 502 (PAY-1192)",
                author: {
                  name: "Mara Lindqvist",
                  email: "mara@acme-pay.example",
                  username: "mara-lindqvist",
                },
                timestamp: "2026-03-10T13:51:07.000Z",
                added: ["src/payments/retry-policy.ts"],
                modified: ["src/payments/authorize.ts"],
                removed: [],
              },
              {
                id: "d41f3e2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e",
                message: "Add jitter to the retry delay\n\nAvoids a thundering herd against the acquirer.",
                author: {
                  name: "Mara Lindqvist",
                  email: "mara@acme-pay.example",
                  username: "mara-lindqvist",
                },
                timestamp: "2026-03-10T13:57:30.000Z",
                added: [],
                modified: ["src/payments/retry-policy.ts", "test/payments/retry-policy.test.ts"],
                removed: ["src/payments/legacy-backoff.ts"],
              },
            ],
          },
        },
      ],
    } satisfies NormalizeResult);
  });

  it("ignores a push that deletes a branch", () => {
    const body = { ...fixture("push-two-commits.json"), deleted: true, commits: [] };
    expect(normalizeGitHub(input("push", body))).toEqual({
      ok: true,
      signals: [],
      eventType: "push.deleted",
      ignored: true,
    });
  });

  it("turns a successful deployment status into a deploy signal", () => {
    expect(normalizeGitHub(input("deployment_status", fixture("deployment-status-success.json")))).toEqual({
      ok: true,
      eventType: "deployment_status.success",
      signals: [
        {
          kind: "deploy",
          source: "github",
          fingerprint: fingerprintOf(["github", "deployment", "1873390214"]),
          title: "Deployed acme-pay/checkout-api@9f1c2a7 to production",
          severity: "info",
          status: "firing",
          environment: "production",
          commitSha: MERGE_SHA,
          occurredAt: new Date("2026-03-10T14:04:51Z"),
          frames: [],
          labels: { repository: REPO, state: "success", environment: "production" },
          links: [
            { rel: "deployment_log", url: "https://deploy.acme-pay.example/runs/88412" },
            { rel: "environment", url: "https://checkout.acme-pay.example" },
          ],
          data: {
            environment: "production",
            state: "success",
            sha: MERGE_SHA,
            ref: "main",
            deploymentId: 1873390214,
            deploymentStatusId: 3958112034,
            createdAt: "2026-03-10T14:04:51.000Z",
            productionEnvironment: true,
            description: "Rolled out to 12/12 pods",
            repository: REPO,
          },
        },
      ],
    } satisfies NormalizeResult);
  });

  it.each(["pending", "queued", "in_progress", "failure", "error", "inactive"])(
    "stores and ignores a %s deployment status",
    (state) => {
      const body = fixture("deployment-status-success.json");
      (body["deployment_status"] as Record<string, unknown>)["state"] = state;
      expect(normalizeGitHub(input("deployment_status", body))).toEqual({
        ok: true,
        signals: [],
        eventType: `deployment_status.${state}`,
        ignored: true,
      });
    },
  );

  it("turns a completed check run into a change signal with its conclusion", () => {
    expect(normalizeGitHub(input("check_run", fixture("check-run-completed.json")))).toEqual({
      ok: true,
      eventType: "check_run.completed",
      signals: [
        {
          kind: "change",
          source: "github",
          fingerprint: fingerprintOf(["github", "check_run", "24518833902"]),
          title: 'Check "test (node 20)" failure on acme-pay/checkout-api@3b7e9d1',
          severity: "info",
          status: "firing",
          commitSha: HEAD_SHA,
          occurredAt: new Date("2026-03-09T16:24:47Z"),
          frames: [],
          labels: { repository: REPO, check: "test (node 20)", conclusion: "failure" },
          links: [
            {
              rel: "check_run",
              url: "https://github.com/acme-pay/checkout-api/actions/runs/13800441122/job/24518833902",
            },
          ],
          data: {
            checkRunId: 24518833902,
            name: "test (node 20)",
            status: "completed",
            conclusion: "failure",
            headSha: HEAD_SHA,
            headBranch: "feature/PAY-1192-retry-auth",
            pullRequests: [482],
            app: "github-actions",
            repository: REPO,
            action: "completed",
          },
        },
      ],
    } satisfies NormalizeResult);
  });

  it("ignores ping, unknown events and uninteresting actions", () => {
    expect(normalizeGitHub(input("ping", fixture("ping.json")))).toEqual({
      ok: true,
      signals: [],
      eventType: "ping",
      ignored: true,
    });
    expect(normalizeGitHub(input("issues", { action: "opened", issue: {} }))).toEqual({
      ok: true,
      signals: [],
      eventType: "issues.opened",
      ignored: true,
    });
    const labeled = { ...fixture("pull-request-opened.json"), action: "labeled" };
    expect(normalizeGitHub(input("pull_request", labeled))).toMatchObject({ ignored: true });
    const created = { ...fixture("check-run-completed.json"), action: "created" };
    expect(normalizeGitHub(input("check_run", created))).toMatchObject({
      ignored: true,
      eventType: "check_run.created",
    });
  });

  it("does not guess the event from the body when X-GitHub-Event is missing", () => {
    expect(normalizeGitHub(input(undefined, fixture("push-two-commits.json")))).toEqual({
      ok: false,
      reason: "missing X-GitHub-Event header",
    });
  });

  it("refuses a known event whose payload lacks what the signal needs, naming paths but no values", () => {
    const body = fixture("pull-request-closed-merged.json");
    delete body["repository"];
    expect(normalizeGitHub(input("pull_request", body))).toEqual({
      ok: false,
      reason: "malformed pull_request payload at repository",
    });
    expect(normalizeGitHub(input("push", { ref: "refs/heads/main" })).ok).toBe(false);
    expect(normalizeGitHub(input("push", "a string")).ok).toBe(false);
  });

  it("never throws on arbitrary JSON under any of the handled events", () => {
    const events = fc.constantFrom(
      "pull_request",
      "push",
      "deployment_status",
      "check_run",
      "ping",
      "issues",
    );
    fc.assert(
      fc.property(events, fc.jsonValue(), (event, body) => {
        expect(typeof normalizeGitHub(input(event, body)).ok).toBe("boolean");
      }),
    );
  });

  it("never throws when any top-level field of a real payload is replaced by arbitrary JSON", () => {
    const cases = [
      ["pull_request", fixture("pull-request-closed-merged.json")],
      ["push", fixture("push-two-commits.json")],
      ["deployment_status", fixture("deployment-status-success.json")],
      ["check_run", fixture("check-run-completed.json")],
    ] as const;
    fc.assert(
      fc.property(fc.constantFrom(...cases), fc.jsonValue(), fc.nat(), ([event, body], value, pick) => {
        const keys = Object.keys(body);
        const key = keys[pick % keys.length] ?? "action";
        const result = normalizeGitHub(input(event, { ...body, [key]: value }));
        if (result.ok) {
          for (const signal of result.signals) expect(Number.isNaN(signal.occurredAt.getTime())).toBe(false);
        }
      }),
    );
  });
});
