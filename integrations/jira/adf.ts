import { isJsonObject } from "../core/json.ts";

/*
 * Atlassian Document Format → plain text, for ticket descriptions that arrive as ADF instead of a wiki-markup
 * string. Block nodes become lines, list items get "- ", inline nodes that are not text (mentions, emoji,
 * links, status lozenges) render as what a reader sees. Marks (bold, code, links) are dropped.
 */

/** Beyond this nesting the rest is skipped: real documents are shallow, hostile ones may not be. */
const MAX_DEPTH = 48;

const BLOCK_CONTAINERS = new Set([
  "doc",
  "bulletList",
  "orderedList",
  "blockquote",
  "panel",
  "table",
  "expand",
  "nestedExpand",
  "layoutSection",
  "layoutColumn",
  "taskList",
  "decisionList",
  "mediaSingle",
  "mediaGroup",
]);

/** True for a value shaped like an ADF document root. */
export function isAdfDocument(value: unknown): value is Record<string, unknown> {
  return isJsonObject(value) && value["type"] === "doc" && Array.isArray(value["content"]);
}

/** Plain text of an ADF document; never throws. */
export function adfToText(doc: unknown): string {
  return render(doc, 0)
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

function render(node: unknown, depth: number): string {
  if (!isJsonObject(node) || depth > MAX_DEPTH) return "";
  const type = node["type"];
  const attrs = isJsonObject(node["attrs"]) ? node["attrs"] : {};
  switch (type) {
    case "text":
      return typeof node["text"] === "string" ? node["text"] : "";
    case "hardBreak":
      return "\n";
    case "rule":
      return "---";
    case "mention":
    case "status":
      return stringAttr(attrs, "text");
    case "emoji":
      return stringAttr(attrs, "text") || stringAttr(attrs, "shortName");
    case "inlineCard":
    case "blockCard":
    case "embedCard":
      return stringAttr(attrs, "url");
    case "date": {
      const millis = Number(stringAttr(attrs, "timestamp"));
      const date = new Date(millis);
      return Number.isFinite(millis) && !Number.isNaN(date.getTime()) ? date.toISOString().slice(0, 10) : "";
    }
  }
  const children = Array.isArray(node["content"]) ? node["content"] : [];
  const parts = children.map((child) => render(child, depth + 1));
  if (type === "listItem" || type === "taskItem" || type === "decisionItem") {
    return `- ${parts.filter((part) => part.length > 0).join("\n  ")}`;
  }
  if (type === "tableRow") return parts.join(" | ");
  if (typeof type === "string" && BLOCK_CONTAINERS.has(type)) {
    return parts.filter((part) => part.length > 0).join(type === "doc" ? "\n\n" : "\n");
  }
  // paragraph, heading, codeBlock, tableCell and anything unknown: inline content, concatenated.
  return parts.join("");
}

function stringAttr(attrs: Record<string, unknown>, name: string): string {
  const value = attrs[name];
  return typeof value === "string" ? value : "";
}
