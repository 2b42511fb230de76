import { randomBytes } from "node:crypto";
import { type Database, withOrg } from "../../db/client.ts";
import { attributions } from "../../db/schema/attributions.ts";
import { changes, changeTickets, deploys, repositories, tickets } from "../../db/schema/changes.ts";
import { anomalyDetectionContext } from "../../db/schema/evidence.ts";
import { anomalies, incidents } from "../../db/schema/incidents.ts";

const hex = (n: number) => randomBytes(n).toString("hex");

/** Inserts rows the evidence exporter reads, shaped like the ingest/attribution/changes stages write them. */
export class EvidenceSeed {
  constructor(
    private readonly db: Database,
    readonly orgId: string,
  ) {}

  async anomaly(input: {
    title: string;
    detectedAt: Date;
    firstSeenAt?: Date;
    resolvedAt?: Date;
    incidentId?: string;
    source?: string;
    labels?: Record<string, string>;
  }) {
    const [row] = await withOrg(this.db, this.orgId, (tx) =>
      tx
        .insert(anomalies)
        .values({
          orgId: this.orgId,
          fingerprint: `fp-${hex(6)}`,
          kind: "error",
          source: input.source ?? "sentry",
          title: input.title,
          severity: "high",
          status: input.resolvedAt ? "resolved" : "open",
          service: "checkout",
          environment: "production",
          errorType: "TypeError",
          labels: input.labels ?? {},
          firstSeenAt: input.firstSeenAt ?? new Date(input.detectedAt.getTime() - 90_000),
          detectedAt: input.detectedAt,
          lastSeenAt: input.detectedAt,
          resolvedAt: input.resolvedAt ?? null,
          incidentId: input.incidentId ?? null,
        })
        .returning(),
    );
    return row!;
  }

  async incident(input: {
    title: string;
    openedAt: Date;
    resolution?: Record<string, unknown>;
    resolvedAt?: Date;
  }) {
    const [row] = await withOrg(this.db, this.orgId, (tx) =>
      tx
        .insert(incidents)
        .values({
          orgId: this.orgId,
          title: input.title,
          severity: "high",
          status: input.resolution ? "resolved" : "open",
          openedAt: input.openedAt,
          lastActivityAt: input.openedAt,
          resolvedAt: input.resolvedAt ?? null,
          resolution: input.resolution ?? null,
        })
        .returning(),
    );
    return row!;
  }

  async attribution(
    anomalyId: string,
    suspect: { title: string; prNumber: number; login: string; mergedAt: Date; file: string },
  ) {
    await withOrg(this.db, this.orgId, (tx) =>
      tx.insert(attributions).values({
        orgId: this.orgId,
        anomalyId,
        status: "done",
        suspects: [
          {
            rank: 1,
            changeId: null,
            candidateId: "c1",
            prNumber: suspect.prNumber,
            title: suspect.title,
            author: { login: suspect.login },
            mergedAt: suspect.mergedAt.toISOString(),
            mergeSha: hex(20),
            htmlUrl: `https://github.example/acme/shop/pull/${suspect.prNumber}`,
            score: 0.82,
            facts: [
              {
                feature: "stack_overlap",
                weight: 0.4,
                value: 1,
                sentence: `The change edits ${suspect.file}, which is in the stack trace.`,
                pointers: [{ file: suspect.file, line: 42 }],
              },
            ],
            ticket: { key: "PAY-7", summary: "Faster checkout", status: "Done", linkSource: "explicit" },
          },
        ],
        ticket: { key: "PAY-7", summary: "Faster checkout", status: "Done", linkSource: "explicit" },
        confidence: { level: "high", score: 0.82 },
        reasoning: `PR #${suspect.prNumber} changed ${suspect.file} shortly before the error started.`,
        reasoningSource: "deterministic",
      }),
    );
  }

  async detectionContext(anomalyId: string, context: Record<string, unknown>) {
    await withOrg(this.db, this.orgId, (tx) =>
      tx.insert(anomalyDetectionContext).values({
        orgId: this.orgId,
        anomalyId,
        provider: "datadog",
        status: "ok",
        context,
        attempts: 1,
        fetchedAt: new Date(),
      }),
    );
  }

  async repository() {
    const [row] = await withOrg(this.db, this.orgId, (tx) =>
      tx
        .insert(repositories)
        .values({
          orgId: this.orgId,
          name: `shop-${hex(3)}`,
          url: "https://github.example/acme/shop.git",
          provider: "github",
        })
        .returning(),
    );
    return row!;
  }

  async change(input: {
    repositoryId: string;
    title: string;
    prNumber: number;
    mergedAt: Date;
    reviewers?: string[];
    ticket?: { key: string; linkType: "explicit" | "inferred" };
    deployedAt?: Date;
  }) {
    const mergeSha = hex(20);
    const [row] = await withOrg(this.db, this.orgId, async (tx) => {
      const inserted = await tx
        .insert(changes)
        .values({
          orgId: this.orgId,
          repositoryId: input.repositoryId,
          kind: "pull_request",
          prNumber: input.prNumber,
          title: input.title,
          authorLogin: "dev1",
          mergedAt: input.mergedAt,
          mergeSha,
          headSha: hex(20),
          reviewers: input.reviewers ?? [],
          files: [{ path: "src/internal/payments/charge.ts", status: "modified" }],
        })
        .returning();
      if (input.ticket) {
        await tx
          .insert(tickets)
          .values({
            orgId: this.orgId,
            key: input.ticket.key,
            projectKey: input.ticket.key.split("-")[0]!,
            summary: `Ticket ${input.ticket.key}`,
            status: "Done",
            approvers: [{ displayName: "Ada Approver" }],
          })
          .onConflictDoNothing();
        await tx.insert(changeTickets).values({
          orgId: this.orgId,
          changeId: inserted[0]!.id,
          ticketKey: input.ticket.key,
          linkType: input.ticket.linkType,
          source: input.ticket.linkType === "explicit" ? "title" : "inferred",
          primary: true,
          ...(input.ticket.linkType === "inferred" ? { score: 0.7 } : {}),
        });
      }
      if (input.deployedAt) {
        await tx.insert(deploys).values({
          orgId: this.orgId,
          repositoryId: input.repositoryId,
          service: "checkout",
          environment: "production",
          version: "v1.2.3",
          sha: mergeSha,
          deployedAt: input.deployedAt,
          source: "api",
        });
      }
      return inserted;
    });
    return row!;
  }
}
