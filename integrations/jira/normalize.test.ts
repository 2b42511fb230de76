import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fingerprintOf } from "../core/hmac.ts";
import type { NormalizeInput, NormalizeResult } from "../core/types.ts";
import { normalizeJira, severityFromPriority } from "./normalize.ts";

const RECEIVED_AT = new Date("2026-03-10T16:00:00Z");
const MARA = {
  accountId: "712020:5c1f3a9e-2b7d-4e8a-9f06-3d1c2b4a5e6f",
  displayName: "Mara Lindqvist",
  emailAddress: "mara@acme-pay.example",
};
const TOMASZ = {
  accountId: "712020:0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d",
  displayName: "Tomasz Kowalczyk",
  emailAddress: null,
};
const PRIYA = {
  accountId: "712020:e1d2c3b4-a5f6-4789-8a0b-c1d2e3f4a5b6",
  displayName: "Priya Raman",
  emailAddress: "priya@acme-pay.example",
};
const PAY_1192_DESCRIPTION =
  "When the acquirer answers *502 Bad Gateway* we fail the checkout immediately.\n\nRetry {{authorizeCard}} once with jitter before giving up.";

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"));
}

function input(body: unknown, config: Record<string, unknown> = {}): NormalizeInput {
  return { body, headers: { "content-type": "application/json" }, config, receivedAt: RECEIVED_AT };
}

const PAY_LABELS = { project: "PAY", issue_type: "Story", priority: "High" };

describe("normalizeJira", () => {
  it("turns jira:issue_created into a live ticket signal", () => {
    expect(normalizeJira(input(fixture("issue-created.json")))).toEqual({
      ok: true,
      eventType: "jira:issue_created",
      signals: [
        {
          kind: "ticket",
          source: "jira",
          fingerprint: fingerprintOf(["jira", "issue", "10042"]),
          title: "PAY-1192: Retry card authorization on acquirer 502",
          severity: "high",
          status: "firing",
          occurredAt: new Date(1773051072411),
          frames: [],
          labels: {
            ...PAY_LABELS,
            webhook_event: "jira:issue_created",
            status: "To Do",
            status_category: "new",
            issue_event_type: "issue_created",
          },
          links: [{ rel: "issue", url: "https://acme-pay.atlassian.net/browse/PAY-1192" }],
          data: {
            issueId: "10042",
            key: "PAY-1192",
            projectKey: "PAY",
            summary: "Retry card authorization on acquirer 502",
            description: PAY_1192_DESCRIPTION,
            issueType: "Story",
            priority: "High",
            status: "To Do",
            statusCategory: "new",
            resolution: null,
            assignee: MARA,
            reporter: TOMASZ,
            approvers: null,
            approversField: null,
            fixVersions: ["checkout-api 2026.03.10"],
            components: ["checkout-api"],
            labels: ["acquirer", "payments"],
            url: "https://acme-pay.atlassian.net/browse/PAY-1192",
            createdAt: "2026-03-09T10:11:12.345Z",
            updatedAt: "2026-03-09T10:11:12.345Z",
            changelog: [],
            statusTransitions: [],
            actor: TOMASZ,
            deleted: false,
          },
        },
      ],
    } satisfies NormalizeResult);
  });

  it("turns jira:issue_updated into the same fingerprint with its status transition and named approvers", () => {
    expect(normalizeJira(input(fixture("issue-updated-status.json")))).toEqual({
      ok: true,
      eventType: "jira:issue_updated",
      signals: [
        {
          kind: "ticket",
          source: "jira",
          fingerprint: fingerprintOf(["jira", "issue", "10042"]),
          title: "PAY-1192: Retry card authorization on acquirer 502",
          severity: "high",
          status: "firing",
          occurredAt: new Date(1773150069118),
          frames: [],
          labels: {
            ...PAY_LABELS,
            webhook_event: "jira:issue_updated",
            status: "Approved",
            status_category: "indeterminate",
            issue_event_type: "issue_generic",
          },
          links: [{ rel: "issue", url: "https://acme-pay.atlassian.net/browse/PAY-1192" }],
          data: {
            issueId: "10042",
            key: "PAY-1192",
            projectKey: "PAY",
            summary: "Retry card authorization on acquirer 502",
            description: PAY_1192_DESCRIPTION,
            issueType: "Story",
            priority: "High",
            status: "Approved",
            statusCategory: "indeterminate",
            resolution: null,
            assignee: MARA,
            reporter: TOMASZ,
            approvers: [{ ...PRIYA, decision: null }],
            approversField: "customfield_10003",
            fixVersions: ["checkout-api 2026.03.10"],
            components: ["checkout-api"],
            labels: ["acquirer", "payments"],
            url: "https://acme-pay.atlassian.net/browse/PAY-1192",
            createdAt: "2026-03-09T10:11:12.345Z",
            updatedAt: "2026-03-10T13:41:09.118Z",
            changelog: [
              { field: "status", fieldId: "status", from: "In Review", to: "Approved" },
              { field: "Approvers", fieldId: "customfield_10003", from: "", to: "Priya Raman" },
            ],
            statusTransitions: [{ from: "In Review", to: "Approved", at: "2026-03-10T13:41:09.118Z" }],
            actor: PRIYA,
            deleted: false,
          },
        },
      ],
    } satisfies NormalizeResult);
  });

  it("turns jira:issue_deleted into a resolved signal marked deleted", () => {
    expect(normalizeJira(input(fixture("issue-deleted.json")))).toEqual({
      ok: true,
      eventType: "jira:issue_deleted",
      signals: [
        {
          kind: "ticket",
          source: "jira",
          fingerprint: fingerprintOf(["jira", "issue", "10057"]),
          title: "PAY-1201: Duplicate: retry on acquirer timeout",
          severity: "low",
          status: "resolved",
          occurredAt: new Date(1773152400000),
          frames: [],
          labels: {
            webhook_event: "jira:issue_deleted",
            project: "PAY",
            issue_type: "Story",
            status: "To Do",
            status_category: "new",
            priority: "Low",
            issue_event_type: "issue_deleted",
          },
          links: [{ rel: "issue", url: "https://acme-pay.atlassian.net/browse/PAY-1201" }],
          data: {
            issueId: "10057",
            key: "PAY-1201",
            projectKey: "PAY",
            summary: "Duplicate: retry on acquirer timeout",
            description: null,
            issueType: "Story",
            priority: "Low",
            status: "To Do",
            statusCategory: "new",
            resolution: null,
            assignee: null,
            reporter: TOMASZ,
            approvers: null,
            approversField: null,
            fixVersions: [],
            components: ["checkout-api"],
            labels: [],
            url: "https://acme-pay.atlassian.net/browse/PAY-1201",
            createdAt: "2026-03-10T08:30:00.000Z",
            updatedAt: "2026-03-10T08:30:00.000Z",
            changelog: [],
            statusTransitions: [],
            actor: TOMASZ,
            deleted: true,
          },
        },
      ],
    } satisfies NormalizeResult);
  });

  it("flattens an ADF description and reads JSM approvals with each approver's decision", () => {
    expect(normalizeJira(input(fixture("issue-created-adf-approvals.json")))).toEqual({
      ok: true,
      eventType: "jira:issue_created",
      signals: [
        {
          kind: "ticket",
          source: "jira",
          fingerprint: fingerprintOf(["jira", "issue", "10311"]),
          title: "CHG-311: Deploy checkout-api 2026.03.10-2 (card authorization retry)",
          severity: "medium",
          status: "firing",
          occurredAt: new Date(1773149400512),
          frames: [],
          labels: {
            webhook_event: "jira:issue_created",
            project: "CHG",
            issue_type: "Change",
            status: "Implementing",
            status_category: "indeterminate",
            priority: "Medium",
            issue_event_type: "issue_created",
          },
          links: [{ rel: "issue", url: "https://acme-pay.atlassian.net/browse/CHG-311" }],
          data: {
            issueId: "10311",
            key: "CHG-311",
            projectKey: "CHG",
            summary: "Deploy checkout-api 2026.03.10-2 (card authorization retry)",
            description:
              "Change\n\nRoll out checkout-api 2026.03.10-2 to production, requested by @Mara Lindqvist.\n\n" +
              "- Ships https://github.com/acme-pay/checkout-api/pull/482\n- Rollback: redeploy 2026.03.10-1\n\n" +
              "Risk: low\nWindow: 14:00–14:30 UTC ✅",
            issueType: "Change",
            priority: "Medium",
            status: "Implementing",
            statusCategory: "indeterminate",
            resolution: null,
            assignee: TOMASZ,
            reporter: MARA,
            approvers: [
              { ...PRIYA, decision: "approved" },
              { ...TOMASZ, decision: "pending" },
            ],
            approversField: "customfield_10027",
            fixVersions: [],
            components: [],
            labels: [],
            url: "https://acme-pay.atlassian.net/browse/CHG-311",
            createdAt: "2026-03-10T13:30:00.000Z",
            updatedAt: "2026-03-10T13:30:00.000Z",
            changelog: [],
            statusTransitions: [],
            actor: MARA,
            deleted: false,
          },
        },
      ],
    } satisfies NormalizeResult);
  });

  it("does not take an unnamed user-picker custom field for approvers", () => {
    const body = fixture("issue-updated-status.json");
    delete body["changelog"];
    const result = normalizeJira(input(body));
    expect(result.ok && result.signals[0]?.data).toMatchObject({ approvers: null, approversField: null });
  });

  it("marks a ticket in the done category resolved", () => {
    const body = fixture("issue-updated-status.json");
    const fields = (body["issue"] as { fields: Record<string, unknown> }).fields;
    fields["status"] = { name: "Done", statusCategory: { key: "done", name: "Done" } };
    fields["resolution"] = { name: "Done" };
    const result = normalizeJira(input(body));
    expect(result.ok && result.signals[0]?.status).toBe("resolved");
    expect(result.ok && result.signals[0]?.data?.["resolution"]).toBe("Done");
  });

  it("builds the browse URL from the configured site first, then from the issue's self", () => {
    const configured = normalizeJira(
      input(fixture("issue-created.json"), { baseUrl: "https://jira.acme-pay.example/jira/" }),
    );
    expect(configured.ok && configured.signals[0]?.links).toEqual([
      { rel: "issue", url: "https://jira.acme-pay.example/jira/browse/PAY-1192" },
    ]);
    const body = fixture("issue-created.json");
    (body["issue"] as Record<string, unknown>)["self"] =
      "https://jira.internal.example/ctx/rest/api/2/issue/10042";
    const derived = normalizeJira(input(body, { baseUrl: "javascript:alert(1)" }));
    expect(derived.ok && derived.signals[0]?.data?.["url"]).toBe(
      "https://jira.internal.example/ctx/browse/PAY-1192",
    );
    (body["issue"] as Record<string, unknown>)["self"] = "not a url";
    const none = normalizeJira(input(body));
    expect(none.ok && none.signals[0]?.links).toEqual([]);
  });

  it("falls back from the webhook timestamp to the issue's update time, then to the receive time", () => {
    const body = fixture("issue-updated-status.json");
    delete body["timestamp"];
    const first = normalizeJira(input(body));
    expect(first.ok && first.signals[0]?.occurredAt).toEqual(new Date("2026-03-10T13:41:09.118Z"));
    delete (body["issue"] as { fields: Record<string, unknown> }).fields["updated"];
    const second = normalizeJira(input(body));
    expect(second.ok && second.signals[0]?.occurredAt).toEqual(RECEIVED_AT);
  });

  it.each(["comment_created", "jira:worklog_updated", "sprint_started", "jira:version_released"])(
    "stores and ignores %s",
    (webhookEvent) => {
      expect(normalizeJira(input({ ...fixture("issue-created.json"), webhookEvent }))).toEqual({
        ok: true,
        signals: [],
        eventType: webhookEvent,
        ignored: true,
      });
    },
  );

  it("refuses a payload without webhookEvent, and an issue event without an issue key", () => {
    expect(normalizeJira(input({ issue: {} })).ok).toBe(false);
    expect(normalizeJira(input({ webhookEvent: "jira:issue_updated", issue: { id: "1" } }))).toEqual({
      ok: false,
      reason: "jira:issue_updated without an issue key",
    });
  });

  it("maps priorities to severities", () => {
    expect(severityFromPriority("Highest")).toBe("critical");
    expect(severityFromPriority("Blocker")).toBe("critical");
    expect(severityFromPriority("High")).toBe("high");
    expect(severityFromPriority("Medium")).toBe("medium");
    expect(severityFromPriority("Minor")).toBe("low");
    expect(severityFromPriority("Lowest")).toBe("info");
    expect(severityFromPriority(null)).toBe("medium");
  });

  it("never throws on arbitrary JSON, nor on issue events with arbitrary issue, fields and changelog", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        expect(typeof normalizeJira(input(body)).ok).toBe("boolean");
      }),
    );
    const base = fixture("issue-created-adf-approvals.json");
    const fields = (base["issue"] as { fields: Record<string, unknown> }).fields;
    const keys = Object.keys(fields);
    fc.assert(
      fc.property(
        fc.constantFrom("jira:issue_created", "jira:issue_updated", "jira:issue_deleted"),
        fc.jsonValue(),
        fc.jsonValue(),
        fc.nat(),
        (webhookEvent, value, changelog, pick) => {
          const key = keys[pick % keys.length] ?? "summary";
          const body = {
            ...base,
            webhookEvent,
            changelog,
            issue: { ...(base["issue"] as object), fields: { ...fields, [key]: value } },
          };
          const result = normalizeJira(input(body));
          if (result.ok) {
            for (const signal of result.signals)
              expect(Number.isNaN(signal.occurredAt.getTime())).toBe(false);
          }
        },
      ),
    );
  });
});
