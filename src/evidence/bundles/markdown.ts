import type { BundleCheckpoint, BundleRow, Criterion } from "./format.ts";

type Raw = Record<string, unknown>;

const TITLES: Record<Criterion, string> = {
  "cc7.1": "SOC 2 CC7.1 evidence: detection and monitoring of anomalies",
  "cc8.1": "SOC 2 CC8.1 evidence: change management",
};

/** Inline text: one line, no HTML, table pipes escaped, Markdown emphasis characters neutralised. */
export function md(value: unknown): string {
  if (value === null || value === undefined || value === "") return "—";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text
    .replace(/\r?\n/g, " ")
    .replace(/[\\`*_[\]<>|#]/g, (c) => `\\${c}`)
    .slice(0, 2_000);
}

function duration(seconds: unknown): string {
  if (typeof seconds !== "number") return "—";
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7_200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3_600).toFixed(1)} h`;
}

function share(value: unknown): string {
  return typeof value === "number" ? `${(value * 100).toFixed(1)} %` : "—";
}

interface Head {
  criterion: Criterion;
  org: { id: string; name: string };
  period: { from: string; to: string };
  generatedAt: string;
  populationRule: string;
  redactPaths: boolean;
  summary: Raw;
  checkpoint: BundleCheckpoint;
  previousCheckpoint: { size: string } | null;
  consistencyProof: string[] | null;
}

function summaryTable(criterion: Criterion, s: Raw): string {
  const rows: Array<[string, string]> =
    criterion === "cc7.1"
      ? [
          ["Anomalies detected", md(s.anomalies)],
          ["Attributed to a change", `${md(s.attributed)} (${share(s.attributedShare)})`],
          ["Resolved", `${md(s.resolved)} (${share(s.resolvedShare)})`],
          ["Open at period end", md(s.openAtPeriodEnd)],
          [
            "Time to detect, median / p90",
            `${duration((s.ttdSeconds as Raw)?.median)} / ${duration((s.ttdSeconds as Raw)?.p90)}`,
          ],
          [
            "Time to resolve, median / p90",
            `${duration((s.ttrSeconds as Raw)?.median)} / ${duration((s.ttrSeconds as Raw)?.p90)}`,
          ],
        ]
      : [
          ["Changes merged or deployed", md(s.changes)],
          ["With an explicit ticket", md(s.withExplicitTicket)],
          ["With an inferred ticket", md(s.withInferredTicket)],
          ["Without a ticket", md(s.withoutTicket)],
          ["Reviewed (reviewer known)", md(s.reviewed)],
          ["Deployed", md(s.deployed)],
          ["Approvals, rejections, exceptions, escalations", md(s.decisions)],
        ];
  return `| Measure | Value |\n|---|---|\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join("\n")}\n`;
}

export function renderMarkdownCover(head: Head, manifest: BundleRow, rowCount: number): string {
  const cp = head.checkpoint;
  return `# ${TITLES[head.criterion]}

| | |
|---|---|
| Organisation | ${md(head.org.name)} (\`${head.org.id}\`) |
| Period (UTC, inclusive) | ${head.period.from} — ${head.period.to} |
| Generated at | ${head.generatedAt} |
| Rows | ${rowCount} |
| File paths | ${head.redactPaths ? "redacted" : "included"} |

## Population

${md(head.populationRule)}

## Summary

${summaryTable(head.criterion, head.summary)}
## Integrity statement

Every row below is an entry of the organisation's append-only audit log. The log is an RFC 6962 Merkle
tree; the JSON form of this bundle carries, for each row, the entry's exact canonical bytes (RFC 8785) and
its inclusion proof against the signed checkpoint below. The export's manifest (audit index
${manifest.auditIndex}) commits to the population rule, the row count (${rowCount}) and a SHA-256 digest
of the rows' leaf hashes in order, so a dropped, added or reordered row is detected, as is any edited one.
Verify offline, without access to Causeway's database:

\`\`\`
causeway verify bundle.json --key '${cp.vkey}'
\`\`\`

Checkpoint (C2SP signed note, Ed25519, key id \`${cp.keyId}\`, tree size ${cp.size}):

\`\`\`
${cp.note.trimEnd()}
\`\`\`

${
  head.previousCheckpoint
    ? `Consistency with the previous export's checkpoint (tree size ${head.previousCheckpoint.size}): ${head.consistencyProof?.length ?? 0}-hash RFC 9162 proof in the JSON bundle.`
    : "This is the first export of this criterion: there is no previous checkpoint to prove consistency with."
}

---
`;
}

function integrityLine(row: BundleRow): string {
  return `*Audit index ${row.auditIndex}, recorded ${row.entry.at} — inclusion proof of ${row.inclusionProof.length} hashes in the JSON bundle.*\n`;
}

function cc71Section(f: Raw, n: number, row: BundleRow): string {
  const anomaly = (f.anomaly ?? {}) as Raw;
  const signal = (f.signal ?? {}) as Raw;
  const rule = (f.rule ?? {}) as Raw;
  const ctx = rule.detectionContext as Raw | null;
  const attribution = f.attribution as Raw | null;
  const suspect = attribution?.suspect as Raw | null | undefined;
  const author = (suspect?.author ?? {}) as Raw;
  const resolution = (f.resolution ?? {}) as Raw;
  const ctxBody = ctx?.context as Raw | undefined;
  const lines = [
    `## ${n}. ${md(anomaly.title)}`,
    "",
    `- **Detected**: ${md(f.detectedAt)} (first seen ${md(f.firstSeenAt)}; time to detect ${duration(f.ttdSeconds)})`,
    `- **Source / signal**: ${md(signal.source)} ${md(signal.kind)}${signal.errorType ? ` (${md(signal.errorType)})` : ""}; service ${md(anomaly.service)}, environment ${md(anomaly.environment)}`,
    `- **Severity**: ${md(f.severity)}; **status**: ${md(f.status)}`,
    `- **Rule / alert**: ${md(rule.name)}`,
  ];
  if (ctx) {
    if (ctx.status === "ok" && ctxBody) {
      const monitor = (ctxBody.rule ?? {}) as Raw;
      lines.push(
        `  - Rule definition (${md(ctx.provider)}): ${md(monitor.name)}; query ${md(monitor.query)}; threshold ${md(monitor.threshold)}; window ${md(monitor.window)}; notifies ${md(monitor.targets)}`,
      );
      // The rule in words where the provider's context spells it out (SigNoz: "A above 500 ms at least once in 5m0s").
      if (typeof monitor.condition === "string" && monitor.condition) {
        lines.push(`  - Fires when: ${md(monitor.condition)}`);
      }
      if (ctxBody.series) {
        const series = ctxBody.series as Raw;
        lines.push(
          `  - Series around first seen: ${md(series.points ? (series.points as unknown[]).length : 0)} points from ${md(series.from)} to ${md(series.to)}${series.max !== undefined ? `, max ${md(series.max)}` : ""}`,
        );
      }
    } else {
      lines.push(
        `  - Detection context: ${md(ctx.status)}${ctx.lastError ? ` (${md(ctx.lastError)})` : ""} after ${md(ctx.attempts)} attempt(s)`,
      );
    }
  }
  if (suspect) {
    lines.push(
      `- **Suspect change**: ${suspect.prNumber ? `PR #${md(suspect.prNumber)} ` : ""}${md(suspect.title)} by ${md(author.login ?? author.name ?? author.email)}, merged ${md(suspect.mergedAt)}${suspect.url ? ` (${md(suspect.url)})` : ""}`,
    );
  } else {
    lines.push(`- **Suspect change**: none (${md(attribution?.status ?? "not attributed")})`);
  }
  const ticket = attribution?.authorizingTicket as Raw | null | undefined;
  lines.push(
    `- **Authorizing ticket**: ${ticket ? `${md(ticket.key)} ${md(ticket.summary)} (${md(ticket.linkType)}, status ${md(ticket.status)})` : "—"}`,
  );
  const contradicted = attribution?.contradictedTicket as Raw | null | undefined;
  if (contradicted)
    lines.push(`- **Ticket contradicted**: ${md(contradicted.key)} ${md(contradicted.summary)}`);
  if (attribution) {
    const conf = attribution.confidence as Raw | null;
    lines.push(`- **Confidence**: ${conf ? `${md(conf.level)} (${md(conf.score)})` : "—"}`);
    lines.push(`- **Reasoning**: ${md(attribution.reasoning)}`);
    for (const e of (attribution.evidence ?? []) as Raw[]) lines.push(`  - ${md(e.sentence)}`);
  }
  lines.push(
    `- **Resolution**: ${md(resolution.reason)}${resolution.at ? ` at ${md(resolution.at)}` : ""}${resolution.ticketKey ? `, ticket ${md(resolution.ticketKey)}` : ""}${resolution.prUrl ? `, ${md(resolution.prUrl)}` : ""}${resolution.note ? ` — ${md(resolution.note)}` : ""}; time to resolve ${duration(f.ttrSeconds)}`,
  );
  return `${lines.join("\n")}\n\n${integrityLine(row)}\n`;
}

function cc81ChangeSection(f: Raw, n: number, row: BundleRow): string {
  const change = (f.change ?? {}) as Raw;
  const author = (change.author ?? {}) as Raw;
  const ticket = f.ticket as Raw | null;
  const deploys = (f.deploys ?? []) as Raw[];
  const reviewers = (f.reviewers ?? []) as unknown[];
  const files = (f.files ?? {}) as Raw;
  const lines = [
    `## ${n}. ${change.prNumber ? `PR #${md(change.prNumber)}: ` : ""}${md(change.title)}`,
    "",
    `- **Repository**: ${md(change.repository)}; ${md(change.kind)} by ${md(author.login ?? author.name)}, merged ${md(change.mergedAt)} (${md(change.mergeSha)})${change.url ? `, ${md(change.url)}` : ""}`,
    `- **Ticket**: ${ticket ? `${md(ticket.key)} ${md(ticket.summary)} (${md(ticket.linkType)} via ${md(ticket.source)}, status ${md(ticket.status)}${(ticket.approvers as unknown[])?.length ? `, approvers ${md((ticket.approvers as unknown[]).join(", "))}` : ""})` : "none linked"}`,
    `- **Reviewers**: ${reviewers.length ? md(reviewers.join(", ")) : "unknown"}`,
    `- **Deploys**: ${deploys.length ? deploys.map((d) => `${md(d.service)}/${md(d.environment)} at ${md(d.deployedAt)}${d.version ? ` (${md(d.version)})` : ""}`).join("; ") : "none recorded"}`,
    `- **Files**: ${md(files.count)}${Array.isArray(files.paths) && files.paths.length ? ` — ${md((files.paths as string[]).slice(0, 20).join(", "))}` : ""}`,
  ];
  if (change.revertedBySha) lines.push(`- **Reverted by**: ${md(change.revertedBySha)}`);
  return `${lines.join("\n")}\n\n${integrityLine(row)}\n`;
}

function decisionSection(row: BundleRow, n: number): string {
  const e = row.entry;
  const data = { ...e.data };
  return `## ${n}. ${md(e.action)} — ${md(e.subject.type)} ${md(e.subject.id)}

- **Actor**: ${md(e.actor.kind)} ${md(e.actor.id)}
- **Time**: ${md(e.at)}
- **Details**: ${md(data)}

${integrityLine(row)}
`;
}

export function renderMarkdownRow(criterion: Criterion, row: BundleRow, n: number): string {
  const facts = (row.entry.data.facts ?? {}) as Raw;
  if (row.entry.action !== "evidence.row") return decisionSection(row, n);
  return criterion === "cc7.1" ? cc71Section(facts, n, row) : cc81ChangeSection(facts, n, row);
}
