import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { redactSecrets, SECRET_PLACEHOLDER } from "./redact-secrets.ts";

const R = SECRET_PLACEHOLDER;

describe("redactSecrets", () => {
  it.each([
    ["token ghp_abcdefghijklmnopqrstuvwxyz0123456789 leaked", `token ${R} leaked`],
    ["slack xoxb-1234567890-abcdefghij-XYZ", `slack ${R}`],
    ["aws AKIAIOSFODNN7EXAMPLE id", `aws ${R} id`],
    ["key sk-ant-api03-AbCdEfGhIjKlMnOp_qr-st", `key ${R}`],
    ["Authorization: Bearer abc.def-ghi_jkl~123", `Authorization: Bearer ${R}`],
    [
      "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
      `jwt ${R}`,
    ],
    ["DATABASE_URL=postgres://app:s3cr3t@db:5432/x", `DATABASE_URL=postgres://app:${R}@db:5432/x`],
    ["password=hunter2 user=bob", `password=${R} user=bob`],
    ['{"client_secret": "abc123", "name": "x"}', `{"client_secret": "${R}", "name": "x"}`],
    ["API_KEY: 'q1w2e3r4'", `API_KEY: '${R}'`],
    ["digest 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", `digest ${R}`],
    ["blob dGhpcyBpcyBhIHNlY3JldCBrZXkgdGhhdCBpcyBsb25nMTIzNDU2Nzg5MA== end", `blob ${R} end`],
  ])("%s", (input, expected) => {
    expect(redactSecrets(input)).toBe(expected);
  });

  it("keeps what a reasoning needs: short SHAs, known full SHAs, paths, tickets, times", () => {
    const sha = "3f2a9c1d4e5b6a7c8d9e0f1a2b3c4d5e6f7a8b9c";
    const text =
      `PR #118 (3f2a9c1, ${sha}) changed src/checkout/components/PaymentFormContainer/index.ts:42 ` +
      "for PAY-42 at 2024-05-01T10:02:00Z; token_count = 3 is redacted too (secret-named key).";
    expect(redactSecrets(text, { keep: [sha] })).toBe(text.replace("token_count = 3", `token_count = ${R}`));
    // Without the keep list, a full 40-hex run could be an old GitHub token and goes.
    expect(redactSecrets(`sha ${sha}`)).toBe(`sha ${R}`);
  });

  it("leaves placeholders and empty values alone", () => {
    // A shell / compose reference to an environment variable, not a value.
    const reference = `password=${"$"}{DB_PASSWORD} secret=<redacted> token=`;
    expect(redactSecrets(reference)).toBe(reference);
  });

  it("never lets a generated GitHub or Slack token through, whatever surrounds it", () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 30 }),
        fc.stringMatching(/^[A-Za-z0-9]{36}$/),
        fc.constantFrom("ghp_", "gho_", "xoxb-"),
        fc.string({ maxLength: 30 }),
        (before, body, prefix, after) => {
          const secret = prefix + body;
          expect(redactSecrets(`${before} ${secret} ${after}`)).not.toContain(secret);
        },
      ),
      { numRuns: 300 },
    );
  });
});
