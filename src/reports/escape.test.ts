import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { escapeMrkdwn, mrkdwnLink } from "./escape.ts";

describe("escapeMrkdwn", () => {
  it("makes mentions, links, entities and broadcast words inert", () => {
    expect(escapeMrkdwn("<!channel> <!here|here> <@U123> <#C42|ops> <http://x|y> a&b @everyone @Here")).toBe(
      "&lt;!channel&gt; &lt;!here|here&gt; &lt;@U123&gt; &lt;#C42|ops&gt; &lt;http://x|y&gt; a&amp;b @\u2060everyone @\u2060Here",
    );
  });

  it("drops control characters and caps the length", () => {
    expect(escapeMrkdwn("a\u0000b\u001bc\nd")).toBe("abc\nd");
    const long = escapeMrkdwn("x".repeat(600), 100);
    expect(long).toHaveLength(100);
    expect(long.endsWith("…")).toBe(true);
    expect(escapeMrkdwn(null)).toBe("");
  });

  it("never lets a raw < or > through, whatever the input", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const out = escapeMrkdwn(s, 1000);
        expect(out).not.toMatch(/[<>]/);
        expect(out).not.toMatch(/@(channel|here|everyone)\b/i);
      }),
    );
  });
});

describe("mrkdwnLink", () => {
  it("links only http(s) URLs and keeps the label escaped", () => {
    expect(mrkdwnLink("https://github.com/acme/shop/pull/11", "#11 <b>")).toBe(
      "<https://github.com/acme/shop/pull/11|#11 &lt;b&gt;>",
    );
    expect(mrkdwnLink("javascript:alert(1)", "click")).toBe("click");
    expect(mrkdwnLink("not a url", "label")).toBe("label");
    expect(mrkdwnLink(null, "<!channel>")).toBe("&lt;!channel&gt;");
  });

  it("cannot be broken out of through the URL or the label", () => {
    const link = mrkdwnLink("https://evil.example/a|<!channel>?q=1&r=>", "x|<@U1>");
    expect(link).toBe("<https://evil.example/a%7C%3C!channel%3E?q=1&amp;r=%3E|x¦&lt;@U1&gt;>");
    // Exactly one link: one opening, one separator, one closing.
    expect(link.match(/[<|>]/g)).toEqual(["<", "|", ">"]);
  });
});
