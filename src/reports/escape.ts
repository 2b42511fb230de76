/**
 * Slack mrkdwn escaping for text that came from outside (alert titles, PR titles, ticket summaries,
 * reasoning). Slack parses `<…>` as mentions (`<!channel>`, `<@U…>`, `<#C…>`) and links (`<http://x|y>`),
 * and `&` starts an entity; escaping these three characters makes all of that inert text. Bare `@channel`,
 * `@here` and `@everyone` get a word joiner after the `@`, and blocks set `verbatim: true` so Slack does
 * not auto-link plain text either. Control characters are dropped and the result is capped, because a Block Kit text field has a size limit.
 */
export function escapeMrkdwn(value: string | null | undefined, max = 500): string {
  if (value == null) return "";
  const clean = value.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "");
  const capped = clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
  return (
    capped
      .replaceAll("&", "&amp;")
      .replaceAll("<", "&lt;")
      .replaceAll(">", "&gt;")
      // Plain-text broadcast words: a word joiner after the @ keeps any client from linking them.
      .replace(/@(channel|here|everyone)\b/gi, "@\u2060$1")
  );
}

/**
 * A link Slack renders as `<url|label>`. Only http(s) URLs become links; `|` and `>` cannot appear
 * unescaped in the URL part, and the label is escaped like any other text.
 */
export function mrkdwnLink(url: string | null | undefined, label: string): string {
  const text = escapeMrkdwn(label, 200);
  if (!url) return text;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return text;
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return text;
  const href = parsed
    .toString()
    .replaceAll("&", "&amp;")
    .replaceAll("<", "%3C")
    .replaceAll(">", "%3E")
    .replaceAll("|", "%7C");
  return `<${href}|${text.replaceAll("|", "¦")}>`;
}
