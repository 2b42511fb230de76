import type { SlackBlock } from "../../integrations/slack/client.ts";
import { escapeMrkdwn, mrkdwnLink } from "./escape.ts";
import type { ReportView, SuspectView } from "./view.ts";

/** Button action ids; interaction callbacks are matched on these. */
export const REPORT_ACTIONS = {
  confirm: "causeway.confirm_suspect",
  reject: "causeway.reject_suspect",
  intended: "causeway.intended_change",
} as const;
export type ReportAction = keyof typeof REPORT_ACTIONS;

export function actionOf(actionId: string): ReportAction | undefined {
  return (Object.keys(REPORT_ACTIONS) as ReportAction[]).find((k) => REPORT_ACTIONS[k] === actionId);
}

/** Slack renders this in each reader's time zone; the fallback text is the RFC 3339 time. */
function slackDate(d: Date): string {
  return `<!date^${Math.floor(d.getTime() / 1000)}^{date_short_pretty} {time}|${d.toISOString()}>`;
}

const SEVERITY_EMOJI: Record<string, string> = {
  critical: ":red_circle:",
  high: ":large_orange_circle:",
  medium: ":large_yellow_circle:",
  low: ":large_blue_circle:",
  info: ":white_circle:",
};

function suspectLine(s: SuspectView): string {
  const label = `${s.prNumber ? `#${s.prNumber} ` : ""}${s.title}`;
  const parts = [`*Suspect:* ${mrkdwnLink(s.url, label)}`];
  if (s.author) parts.push(`by ${escapeMrkdwn(s.author, 100)}`);
  if (s.mergedAt) parts.push(`merged ${slackDate(s.mergedAt)}`);
  return parts.join(" ");
}

function verdictLine(view: ReportView): string | null {
  const v = view.verdict;
  if (!v) return null;
  const who = escapeMrkdwn(v.actor.display ?? v.actor.id, 100);
  switch (v.kind) {
    case "confirmed":
      return `:white_check_mark: Suspect${v.prNumber ? ` #${v.prNumber}` : ""} confirmed by ${who}`;
    case "rejected":
      return `:x: ${who} said it was not${v.prNumber ? ` #${v.prNumber}` : " that change"}${view.attribution?.suspect ? "; showing the next suspect" : "; no suspect remains"}`;
    case "intended":
      return `:memo: ${who} marked the change as intended${v.ticketKey ? ` (${escapeMrkdwn(v.ticketKey, 40)})` : ""}`;
  }
}

/** The investigation report as Block Kit. Every piece of text from an alert, PR or ticket is escaped. */
export function buildReportMessage(view: ReportView): { text: string; blocks: SlackBlock[] } {
  const i = view.incident;
  const status = i.status === "resolved" ? ":large_green_circle: resolved" : i.status;
  const title = escapeMrkdwn(i.title, 200);
  const blocks: SlackBlock[] = [
    {
      type: "section",
      block_id: "incident",
      text: {
        type: "mrkdwn",
        verbatim: true,
        text: `${SEVERITY_EMOJI[i.severity] ?? ""} *Incident: ${title}*\n*Status:* ${status} · *Severity:* ${escapeMrkdwn(i.severity, 20)}${i.reopenCount > 0 ? ` · reopened ${i.reopenCount}×` : ""}`,
      },
    },
    {
      type: "section",
      block_id: "what_broke",
      fields: [
        { type: "mrkdwn", verbatim: true, text: `*Service*\n${escapeMrkdwn(i.service ?? "unknown", 100)}` },
        {
          type: "mrkdwn",
          verbatim: true,
          text: `*Environment*\n${escapeMrkdwn(i.environment ?? "unknown", 100)}`,
        },
        { type: "mrkdwn", verbatim: true, text: `*First seen*\n${slackDate(view.firstSeenAt)}` },
        {
          type: "mrkdwn",
          verbatim: true,
          text: `*Occurrences*\n${view.signalCount} in ${view.anomalyCount} anomal${view.anomalyCount === 1 ? "y" : "ies"}`,
        },
      ],
    },
    { type: "divider" },
  ];
  const a = view.attribution;
  const suspectText: string[] = [];
  if (!a || a.status === "pending" || a.status === "running") {
    suspectText.push("_Looking for the change that caused this…_");
  } else if (a.status === "failed") {
    suspectText.push("_Attribution failed; the timeline has the details._");
  } else if (!a.suspect) {
    suspectText.push(view.rejectedCount > 0 ? "*Suspect:* none left after review" : "*Suspect:* none found");
  } else {
    suspectText.push(suspectLine(a.suspect));
    const t = a.suspect.ticket;
    suspectText.push(
      t
        ? `*Ticket:* ${mrkdwnLink(t.url, `${t.key} ${t.summary}`)}${t.status ? ` (${escapeMrkdwn(t.status, 40)})` : ""} · ${t.linkSource === "explicit" ? "linked explicitly" : "inferred link"}`
        : "*Ticket:* none linked",
    );
  }
  if (a?.confidence && a.suspect) {
    suspectText.push(
      `*Confidence:* ${escapeMrkdwn(a.confidence.level, 10)} (${a.confidence.score.toFixed(2)})`,
    );
  }
  blocks.push({
    type: "section",
    block_id: "suspect",
    text: { type: "mrkdwn", verbatim: true, text: suspectText.join("\n") },
  });
  if (a?.reasoning && a.suspect) {
    blocks.push({
      type: "section",
      block_id: "reasoning",
      text: { type: "mrkdwn", verbatim: true, text: `*Why*\n${escapeMrkdwn(a.reasoning, 2500)}` },
    });
  }
  if (a && a.runnersUp.length > 0) {
    blocks.push({
      type: "context",
      block_id: "runners_up",
      elements: [
        {
          type: "mrkdwn",
          verbatim: true,
          text: `Runners-up: ${a.runnersUp
            .map(
              (s) =>
                `${mrkdwnLink(s.url, `${s.prNumber ? `#${s.prNumber} ` : ""}${s.title}`)}${s.score !== null ? ` (${s.score.toFixed(2)})` : ""}`,
            )
            .join(" · ")}`,
        },
      ],
    });
  }
  const verdict = verdictLine(view);
  if (verdict)
    blocks.push({
      type: "context",
      block_id: "verdict",
      elements: [{ type: "mrkdwn", verbatim: true, text: verdict }],
    });
  if (a?.suspect && i.status !== "resolved") {
    const value = `${i.id}:${a.suspect.candidateId}`.slice(0, 2000);
    blocks.push({
      type: "actions",
      block_id: "suspect_actions",
      elements: [
        {
          type: "button",
          action_id: REPORT_ACTIONS.confirm,
          text: { type: "plain_text", text: "Confirm suspect" },
          style: "primary",
          value,
        },
        {
          type: "button",
          action_id: REPORT_ACTIONS.reject,
          text: { type: "plain_text", text: "Not this PR" },
          style: "danger",
          value,
        },
        {
          type: "button",
          action_id: REPORT_ACTIONS.intended,
          text: { type: "plain_text", text: "Intended change" },
          value,
        },
      ],
    });
  }
  const links = [`<${view.timelineUrl}|Timeline>`];
  if (view.sourceAlertUrl) links.push(mrkdwnLink(view.sourceAlertUrl, "Source alert"));
  blocks.push({
    type: "context",
    block_id: "links",
    elements: [{ type: "mrkdwn", verbatim: true, text: links.join(" · ") }],
  });
  const fallback = `Incident: ${title} (${escapeMrkdwn(i.service ?? "unknown service", 100)}, ${i.status})`;
  return { text: fallback, blocks };
}

/** The one-line thread reply that says what changed. */
export function changeSummary(view: ReportView, reason: string): string {
  const i = view.incident;
  switch (reason) {
    case "attribution": {
      if (view.attribution?.status === "failed") return "Attribution failed; the timeline has the details";
      const s = view.attribution?.suspect;
      return s
        ? `Attribution finished: suspect ${mrkdwnLink(s.url, `${s.prNumber ? `#${s.prNumber} ` : ""}${s.title}`)}${view.attribution?.confidence ? ` (${escapeMrkdwn(view.attribution.confidence.level, 10)} confidence)` : ""}`
        : "Attribution finished: no suspect found";
    }
    case "anomaly":
      return `New activity: ${view.signalCount} occurrences in ${view.anomalyCount} anomal${view.anomalyCount === 1 ? "y" : "ies"}`;
    case "acknowledged":
      return "Acknowledged";
    case "resolved": {
      const reason =
        typeof i.resolution?.["reason"] === "string"
          ? ` (${escapeMrkdwn(String(i.resolution["reason"]), 40)})`
          : "";
      return `:large_green_circle: Resolved${reason}`;
    }
    case "reopened":
      return ":warning: Reopened";
    case "verdict":
      return verdictLine(view) ?? "Suspect review recorded";
    default:
      return `Updated (${escapeMrkdwn(reason, 40)})`;
  }
}
