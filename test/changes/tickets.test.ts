import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { withOrg } from "../../db/client.ts";
import { changes, changeTickets, deliveries, signals, tickets } from "../../db/schema/index.ts";
import { type FakeJira, startFakeJira } from "../fakes/jira.ts";
import { jsonOf } from "../harness/app.ts";
import { ADA, GitFixture } from "./git-fixture.ts";
import { createRepo, makeTestOrg, syncRepo, type TestOrg, useChangesApp } from "./harness.ts";

const EMAIL = "causeway-bot@acme-pay.example";

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../integrations/jira/fixtures/${name}.json`, import.meta.url), "utf8"));

const jiraTime = (d: Date) => d.toISOString().replace("Z", "+0000");

/** A Jira issue event in the webhook's shape. */
function issueEvent(input: {
  event?: "jira:issue_created" | "jira:issue_updated" | "jira:issue_deleted";
  key: string;
  summary: string;
  description?: string;
  status: string;
  category: "new" | "indeterminate" | "done";
  at: Date;
  created: Date;
  assignee?: { accountId: string; displayName: string; emailAddress?: string } | null;
  transition?: { from: string; to: string };
}) {
  return {
    timestamp: input.at.getTime(),
    webhookEvent: input.event ?? "jira:issue_updated",
    issue_event_type_name: input.transition ? "issue_generic" : "issue_updated",
    user: { accountId: "712020:actor", displayName: "Actor" },
    issue: {
      id: String(10_000 + Number(input.key.split("-")[1])),
      self: `https://acme-pay.atlassian.net/rest/api/2/issue/${input.key}`,
      key: input.key,
      fields: {
        summary: input.summary,
        description: input.description ?? null,
        project: { key: input.key.split("-")[0] },
        status: { name: input.status, statusCategory: { key: input.category } },
        assignee: input.assignee ?? null,
        reporter: { accountId: "712020:reporter", displayName: "Rita Reporter" },
        fixVersions: [{ name: "checkout-api 2026.03" }],
        created: jiraTime(input.created),
        updated: jiraTime(input.at),
      },
    },
    ...(input.transition
      ? {
          changelog: {
            id: "1",
            items: [
              {
                field: "status",
                fieldtype: "jira",
                fieldId: "status",
                from: "1",
                fromString: input.transition.from,
                to: "3",
                toString: input.transition.to,
              },
            ],
          },
        }
      : {}),
  };
}

describe("Jira tickets: webhooks, REST fetch and PR → ticket links", async () => {
  const { t } = await useChangesApp();
  const db = t.database.db;
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  async function jira(
    org: TestOrg,
    options: { baseUrl?: string; apiToken?: string; projectKeys?: string[] } = {},
  ) {
    const webhookSecret = randomBytes(24).toString("hex");
    const res = await t.request("/api/v1/integrations", {
      method: "POST",
      apiKey: org.owner,
      json: {
        provider: "jira",
        name: `Jira ${randomBytes(3).toString("hex")}`,
        config: {
          baseUrl: options.baseUrl ?? "https://acme-pay.atlassian.net",
          projectKeys: options.projectKeys ?? ["PAY"],
          email: EMAIL,
        },
        secrets: { webhookSecret, apiToken: options.apiToken ?? "jira-api-token-0123456789" },
      },
    });
    const body = await jsonOf(res);
    expect(res.status, JSON.stringify(body)).toBe(201);
    const post = async (payload: unknown) => {
      const raw = JSON.stringify(payload);
      const sent = await t.request(`/webhooks/jira/${body.id}`, {
        method: "POST",
        body: raw,
        headers: {
          "content-type": "application/json",
          "x-hub-signature": `sha256=${createHmac("sha256", webhookSecret).update(raw).digest("hex")}`,
          "x-atlassian-webhook-identifier": randomUUID(),
        },
      });
      expect(sent.status).toBe(202);
      await t.processDeliveries();
    };
    return { id: body.id as string, post };
  }

  const ticketRow = async (orgId: string, key: string) =>
    (
      await withOrg(db, orgId, (tx) =>
        tx
          .select()
          .from(tickets)
          .where(and(eq(tickets.orgId, orgId), eq(tickets.key, key))),
      )
    )[0];

  it("stores created, updated and deleted tickets with their status history; ignores undeclared projects", async () => {
    const org = await makeTestOrg(t);
    const { post } = await jira(org);

    await post(fixture("issue-created"));
    const created = await ticketRow(org.orgId, "PAY-1192");
    expect(created).toMatchObject({
      projectKey: "PAY",
      externalId: "10042",
      status: "To Do",
      statusCategory: "new",
      assignee: { accountId: "712020:5c1f3a9e-2b7d-4e8a-9f06-3d1c2b4a5e6f", displayName: "Mara Lindqvist" },
      fixVersions: ["checkout-api 2026.03.10"],
      url: "https://acme-pay.atlassian.net/browse/PAY-1192",
      deletedAt: null,
    });
    expect(created?.summary).toMatch(/retry/i);
    expect(created?.statusHistory).toEqual([{ from: null, to: "To Do", at: "2026-03-09T10:11:12.345Z" }]);

    await post(fixture("issue-updated-status"));
    const updated = await ticketRow(org.orgId, "PAY-1192");
    expect(updated?.status).toBe("Approved");
    expect(updated?.statusHistory).toEqual([
      { from: null, to: "To Do", at: "2026-03-09T10:11:12.345Z" },
      { from: "In Review", to: "Approved", at: "2026-03-10T13:41:09.118Z" },
    ]);
    expect(updated?.approvers).toMatchObject([{ displayName: "Priya Raman" }]);

    // An older report arriving late adds nothing and rolls nothing back.
    const historyLength = updated!.statusHistory.length;
    await post(fixture("issue-created"));
    const late = await ticketRow(org.orgId, "PAY-1192");
    expect(late?.status).toBe("Approved");
    expect(late?.statusHistory).toHaveLength(historyLength);

    // A project the org never declared: recorded by ingest, not stored as a ticket, not an error.
    await post(fixture("issue-created-adf-approvals"));
    expect(await ticketRow(org.orgId, "CHG-311")).toBeUndefined();
    const chg = await withOrg(db, org.orgId, (tx) =>
      tx
        .select({ status: deliveries.status, kind: signals.kind })
        .from(signals)
        .innerJoin(deliveries, eq(deliveries.id, signals.deliveryId))
        .where(sql`${signals.title} like 'CHG-311%'`),
    );
    expect(chg).toEqual([{ status: "processed", kind: "ticket" }]);
    expect(t.logs.text()).toMatch(/jira ticket of an undeclared project ignored/);

    // Deleted in Jira before we ever saw it: a row that says so.
    await post(fixture("issue-deleted"));
    const deleted = await ticketRow(org.orgId, "PAY-1201");
    expect(deleted?.deletedAt).toBeInstanceOf(Date);
  });

  it("links explicit keys (never decoys), infers a link above the threshold, and keeps links to a deleted ticket", async () => {
    const org = await makeTestOrg(t);
    const { post } = await jira(org);
    const git = await GitFixture.create();
    cleanups.push(() => git.remove());
    await git.commit("Initial\n", { "src/tax.ts": "export const rate = 1;\n" });
    await git.squashPr(1, "PAY-1192: retry card authorization", {
      "src/auth.ts": "export const retry = 3;\n",
    });
    await git.squashPr(2, "Handle UTF-8 names and SHA-256 digests per RFC-7231", { "src/enc.ts": "1\n" });
    const pr3 = await git.squashPr(
      3,
      "Cache tax table lookups",
      { "src/tax.ts": "export const rate = 2;\n" },
      "Cache the tax table so lookups stop hitting the database on every checkout.",
      ADA,
    );
    const mergedAt = new Date((await git.git(["show", "-s", "--format=%cI", pr3])).trim());

    const created = new Date(mergedAt.getTime() - 2 * 86_400_000);
    const base = {
      key: "PAY-1300",
      summary: "Cache the tax table lookups",
      description: "Tax table lookups hit the database on every checkout; cache the table.",
      created,
      assignee: { accountId: "712020:ada", displayName: ADA.name, emailAddress: ADA.email },
    };
    await post(
      issueEvent({ ...base, event: "jira:issue_created", status: "To Do", category: "new", at: created }),
    );
    await post(
      issueEvent({
        ...base,
        status: "In Progress",
        category: "indeterminate",
        at: new Date(mergedAt.getTime() - 30 * 60_000),
        transition: { from: "To Do", to: "In Progress" },
      }),
    );
    await post(fixture("issue-created"));

    const repo = await createRepo(t, org.admin, { name: "tax", url: git.dir, jiraProjectKeys: ["PAY"] });
    const sync = await syncRepo(t, org.admin, repo.id);
    expect(sync.body).toMatchObject({ pullRequests: 3, links: { explicit: 1, inferred: 1 } });

    const rows = await withOrg(db, org.orgId, (tx) =>
      tx
        .select({ pr: changes.prNumber, link: changeTickets })
        .from(changeTickets)
        .innerJoin(changes, eq(changes.id, changeTickets.changeId)),
    );
    const byPr = new Map(rows.map((r) => [r.pr, r.link]));
    expect(byPr.get(1)).toMatchObject({
      ticketKey: "PAY-1192",
      linkType: "explicit",
      source: "title",
      primary: true,
    });
    expect(byPr.has(2)).toBe(false);
    const inferred = byPr.get(3)!;
    expect(inferred).toMatchObject({
      ticketKey: "PAY-1300",
      linkType: "inferred",
      source: "inferred",
      primary: true,
    });
    expect(inferred.score).toBeGreaterThanOrEqual(0.6);
    expect(JSON.stringify(inferred.features)).toMatch(/assignee/);

    // Syncing again links nothing twice.
    await syncRepo(t, org.admin, repo.id);
    const again = await withOrg(db, org.orgId, (tx) => tx.select().from(changeTickets));
    expect(again).toHaveLength(2);

    const filtered = await jsonOf(await t.request("/api/v1/changes?ticket=pay-1192", { apiKey: org.member }));
    expect(filtered.items.map((c: { prNumber: number }) => c.prNumber)).toEqual([1]);

    // The ticket is deleted in Jira after it was linked: the link stays, marked.
    const gone = fixture("issue-deleted");
    gone.issue.key = "PAY-1192";
    gone.issue.id = "10042";
    await post(gone);
    const change1 = filtered.items[0];
    const detail = await jsonOf(await t.request(`/api/v1/changes/${change1.id}`, { apiKey: org.member }));
    expect(detail.tickets).toMatchObject([{ key: "PAY-1192", linkType: "explicit", deleted: true }]);
    expect(detail.tickets[0].deletedAt).toEqual(expect.any(String));
    const ticket = await jsonOf(await t.request("/api/v1/tickets/PAY-1192", { apiKey: org.member }));
    expect(ticket).toMatchObject({ key: "PAY-1192", deletedAt: expect.any(String) });
    expect(ticket.changes).toMatchObject([
      { id: change1.id, prNumber: 1, linkType: "explicit", source: "title" },
    ]);
  });

  it("fetches a ticket a PR names through Jira's REST API (Basic email:token), and reports Jira's refusals", async () => {
    const org = await makeTestOrg(t);
    const apiToken = `jira-${randomBytes(12).toString("hex")}`;
    const fake: FakeJira = await startFakeJira({ email: EMAIL, apiToken });
    cleanups.push(() => fake.close());
    await jira(org, { baseUrl: fake.url, apiToken, projectKeys: ["PAY"] });
    fake.issues.set("PAY-1500", {
      id: "11500",
      key: "PAY-1500",
      self: `${fake.url}/rest/api/3/issue/11500`,
      fields: {
        summary: "Rotate the acquirer credentials",
        description: {
          type: "doc",
          version: 1,
          content: [{ type: "paragraph", content: [{ type: "text", text: "Rotate before the audit." }] }],
        },
        project: { key: "PAY" },
        status: { name: "Done", statusCategory: { key: "done" } },
        assignee: { accountId: "712020:bo", displayName: "Bo Berg", emailAddress: "bo@acme-pay.example" },
        reporter: { accountId: "712020:rita", displayName: "Rita Reporter" },
        fixVersions: [{ name: "2026.04" }],
        created: "2026-03-01T08:00:00.000+0000",
        updated: "2026-03-04T08:00:00.000+0000",
      },
      changelog: {
        startAt: 0,
        maxResults: 100,
        total: 2,
        histories: [
          {
            id: "1",
            created: "2026-03-02T08:00:00.000+0000",
            items: [
              {
                field: "status",
                fieldtype: "jira",
                fieldId: "status",
                fromString: "To Do",
                toString: "In Progress",
              },
            ],
          },
          {
            id: "2",
            created: "2026-03-04T08:00:00.000+0000",
            items: [
              {
                field: "assignee",
                fieldtype: "jira",
                fieldId: "assignee",
                fromString: null,
                toString: "Bo Berg",
              },
              {
                field: "status",
                fieldtype: "jira",
                fieldId: "status",
                fromString: "In Progress",
                toString: "Done",
              },
            ],
          },
        ],
      },
    });

    const git = await GitFixture.create();
    cleanups.push(() => git.remove());
    await git.commit("Initial\n", { "a.ts": "1\n" });
    await git.squashPr(7, "Rotate acquirer credentials", { "a.ts": "2\n" }, "Fixes PAY-1500.");
    const repo = await createRepo(t, org.admin, { name: "rotate", url: git.dir, jiraProjectKeys: ["PAY"] });
    expect((await syncRepo(t, org.admin, repo.id)).body).toMatchObject({ links: { explicit: 1 } });
    // The key the PR names has no ticket yet: a fetch is queued.
    const queued = await db.owner.execute<{ data: { orgId: string; key: string } }>(
      sql`select data from pgboss.job where name = 'changes.fetch-ticket'`,
    );
    expect(queued.map((q) => q.data)).toContainEqual({ orgId: org.orgId, key: "PAY-1500" });

    // Reading it fetches it (read-through), with Basic email:token.
    const res = await t.request("/api/v1/tickets/PAY-1500", { apiKey: org.member });
    const body = await jsonOf(res);
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({
      key: "PAY-1500",
      summary: "Rotate the acquirer credentials",
      description: "Rotate before the audit.",
      status: "Done",
      statusCategory: "done",
      assignee: { displayName: "Bo Berg", email: "bo@acme-pay.example" },
      fixVersions: ["2026.04"],
      url: `${fake.url}/browse/PAY-1500`,
      changes: [{ prNumber: 7, linkType: "explicit", source: "body" }],
    });
    expect(body.statusHistory).toEqual([
      { from: "To Do", to: "In Progress", at: "2026-03-02T08:00:00.000Z" },
      { from: "In Progress", to: "Done", at: "2026-03-04T08:00:00.000Z" },
    ]);
    const calls = fake.requests.filter((r) => r.path === "/rest/api/3/issue/PAY-1500");
    expect(calls).toHaveLength(1);
    expect(calls[0]?.query.expand).toBe("changelog");
    expect(calls[0]?.authorization).toBe(`Basic ${Buffer.from(`${EMAIL}:${apiToken}`).toString("base64")}`);
    // Now stored: the next read does not call Jira.
    expect((await t.request("/api/v1/tickets/PAY-1500", { apiKey: org.member })).status).toBe(200);
    expect(fake.requests.filter((r) => r.path === "/rest/api/3/issue/PAY-1500")).toHaveLength(1);

    const missing = await t.request("/api/v1/tickets/PAY-9999", { apiKey: org.member });
    expect(missing.status).toBe(404);
    expect(fake.requests.at(-1)).toMatchObject({ path: "/rest/api/3/issue/PAY-9999", status: 404 });
    expect((await t.request("/api/v1/tickets/not-a-key", { apiKey: org.member })).status).toBe(404);

    // Jira refusing the stored token is a clear 502, not a 500 and not a 404.
    const other = await makeTestOrg(t);
    await jira(other, { baseUrl: fake.url, apiToken: "wrong-token-0123456789" });
    const refused = await t.request("/api/v1/tickets/PAY-1500", { apiKey: other.member });
    expect(refused.status).toBe(502);
    expect(await jsonOf(refused)).toMatchObject({ code: "upstream_error", retryable: false });
    expect(fake.requests.at(-1)?.status).toBe(401);
  });
});
