import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { REDACTED, redactDeep, redactString } from "./redact.ts";

describe("redaction", () => {
  it.each([
    ["ghp_abcdefghijklmnopqrstuvwxyz0123456789"],
    ["xoxb-1234567890-abcdefghij"],
    ["sk-ant-api03-abcdefghijklmnop"],
    ["AKIAABCDEFGHIJKLMNOP"],
    ["cw_ABCDEFGH_abcdefghijklmnopqrstuvwxyz012345"],
    ["eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlMTIz"],
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
