import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { adfToText, isAdfDocument } from "./adf.ts";

const text = (value: string, marks?: unknown[]) => ({
  type: "text",
  text: value,
  ...(marks ? { marks } : {}),
});
const paragraph = (...content: unknown[]) => ({ type: "paragraph", content });

describe("adfToText", () => {
  it("renders paragraphs as blank-line separated blocks and drops marks", () => {
    const doc = {
      type: "doc",
      version: 1,
      content: [
        paragraph(text("Retry "), text("authorizeCard", [{ type: "code" }]), text(" once.")),
        paragraph(text("Then give up.")),
      ],
    };
    expect(adfToText(doc)).toBe("Retry authorizeCard once.\n\nThen give up.");
  });

  it("renders lists, hard breaks, mentions, emoji, cards, status, dates and rules as a reader sees them", () => {
    const doc = {
      type: "doc",
      version: 1,
      content: [
        { type: "heading", attrs: { level: 1 }, content: [text("Plan")] },
        {
          type: "orderedList",
          content: [
            {
              type: "listItem",
              content: [
                paragraph(text("Ship "), { type: "inlineCard", attrs: { url: "https://x.example/1" } }),
              ],
            },
            {
              type: "listItem",
              content: [paragraph(text("Ask "), { type: "mention", attrs: { id: "1", text: "@Ana" } })],
            },
          ],
        },
        paragraph(text("a"), { type: "hardBreak" }, text("b "), {
          type: "emoji",
          attrs: { shortName: ":tada:" },
        }),
        paragraph({ type: "status", attrs: { text: "DONE", color: "green" } }, text(" on "), {
          type: "date",
          attrs: { timestamp: "1773100800000" },
        }),
        { type: "rule" },
        {
          type: "table",
          content: [
            {
              type: "tableRow",
              content: [
                { type: "tableHeader", content: [paragraph(text("env"))] },
                { type: "tableCell", content: [paragraph(text("prod"))] },
              ],
            },
          ],
        },
      ],
    };
    expect(adfToText(doc)).toBe(
      "Plan\n\n- Ship https://x.example/1\n- Ask @Ana\n\na\nb :tada:\n\nDONE on 2026-03-10\n\n---\n\nenv | prod",
    );
  });

  it("recognizes only a doc root as ADF", () => {
    expect(isAdfDocument({ type: "doc", version: 1, content: [] })).toBe(true);
    expect(isAdfDocument({ type: "paragraph", content: [] })).toBe(false);
    expect(isAdfDocument("plain text")).toBe(false);
    expect(isAdfDocument({ type: "doc" })).toBe(false);
  });

  it("stops at a hostile nesting depth instead of overflowing the stack", () => {
    let node: unknown = text("deep");
    for (let i = 0; i < 50_000; i++) node = { type: "blockquote", content: [node] };
    expect(adfToText({ type: "doc", content: [node] })).toBe("");
  });

  it("never throws on arbitrary JSON", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(typeof adfToText({ type: "doc", content: [value] })).toBe("string");
        expect(typeof adfToText(value)).toBe("string");
      }),
    );
  });
});
