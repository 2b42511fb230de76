import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { REDACTED, redactDeep, redactString, SECRET_VALUE_PATTERNS } from "./redact.ts";

/** redactString without its pre-check: every pattern applied. */
function redactStringSlow(value: string): string {
  let out = value;
  for (const pattern of SECRET_VALUE_PATTERNS) {
    out = out.replace(pattern, (match, urlPrefix?: string) =>
      typeof urlPrefix === "string" && match.startsWith(urlPrefix) ? `${urlPrefix}${REDACTED}@` : REDACTED,
    );
  }
  return out;
}

describe("redaction", () => {
  it.each([
    ["ghp_abcdefghijklmnopqrstuvwxyz0123456789"],
    ["xoxb-1234567890-abcdefghij"],
    ["sk-ant-api03-abcdefghijklmnop"],
    ["AKIAABCDEFGHIJKLMNOP"],
    ["cw_ABCDEFGH_abcdefghijklmnopqrstuvwxyz012345"],
    ["eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlMTIz"],
    ["github_pat_11ABCDEFG0123456789_abcdefghijklmnop"],
    ["gAAAAABkabcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ=="],
    ["Bearer abc.def-ghi_jkl"],
    ["bearer abc.def-ghi_jkl"],
    ["BASIC dXNlcjpwYXNzd29yZA=="],
  ])("removes %s from free text", (secret) => {
    const out = redactString(`upstream said: token ${secret} is invalid`);
    expect(out).not.toContain(secret);
    expect(out).toContain(REDACTED);
  });

  it("keeps the user but removes the password of a connection URL", () => {
    expect(redactString("connect postgres://app:s3cr3t@db:5432/x failed")).toBe(
      `connect postgres://app:${REDACTED}@db:5432/x failed`,
    );
  });

  it("keeps the password of a postgresql:// URL out, whatever the scheme's case", () => {
    expect(redactString("POSTGRESQL://app:s3cr3t@db/x")).toBe(`POSTGRESQL://app:${REDACTED}@db/x`);
  });

  it("the quick pre-check never skips a string a pattern would change", () => {
    // Strings built from the patterns' own literals so that matches are frequent.
    const piece = fc.constantFrom(
      "cw_ABCDEF_",
      "ghp_",
      "gho_",
      "github_pat_",
      "xoxb-",
      "sk-ant-",
      "AKIA",
      "eyJ",
      "gAAAAA",
      "Bearer ",
      "basic ",
      "postgres://u:",
      "postgresql://u:",
      "@",
      ".",
      "abcdefghijklmnopqrstuvwxyz0123456789",
      "ABCDEFGHIJKLMNOP",
      " ",
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
        const text = parts.join("");
        expect(redactString(text)).toBe(redactStringSlow(text));
      }),
    );
  });

  it("redacts secret-named keys at any depth", () => {
    const out = redactDeep({ a: { password: "pw", nested: [{ apiKey: "k" }] }, ok: "visible" }) as Record<
      string,
      unknown
    >;
    expect(JSON.stringify(out)).not.toMatch(/"pw"|"k"/);
    expect(out.ok).toBe("visible");
  });

  it("never throws on arbitrary values, including cycles", () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        redactDeep(value);
      }),
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => redactDeep(cyclic)).not.toThrow();
  });
});
