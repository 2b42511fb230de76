import { describe, expect, it } from "vitest";
import { ValidationError } from "../src/errors.ts";
import { CappedBuffer, validateExec, validateSpec } from "./driver.ts";

describe("CappedBuffer", () => {
  it("keeps bytes up to the cap and flags the rest", () => {
    const b = new CappedBuffer(5);
    b.push(Buffer.from("abc"));
    expect(b.truncated).toBe(false);
    b.push(Buffer.from("de"));
    expect(b.truncated).toBe(false);
    expect(b.toBuffer().toString()).toBe("abcde");
    b.push(Buffer.from("f"));
    expect(b.truncated).toBe(true);
    expect(b.toBuffer().toString()).toBe("abcde");
  });

  it("cuts a chunk that crosses the cap", () => {
    const b = new CappedBuffer(4);
    b.push(Buffer.from("ab"));
    b.push(Buffer.from("cdef"));
    expect(b.toBuffer().toString()).toBe("abcd");
    expect(b.truncated).toBe(true);
  });
});

describe("spec and exec validation", () => {
  const spec = { orgId: "o", repositoryId: "r", mirrorPath: "/srv/m/../mirrors/r.git", ttlMs: 1000 };

  it("normalizes the mirror path", () => {
    expect(validateSpec(spec).mirrorPath).toBe("/srv/mirrors/r.git");
  });

  it("refuses relative mirrors, empty ids and silly TTLs", () => {
    expect(() => validateSpec({ ...spec, mirrorPath: "mirrors/r.git" })).toThrow(ValidationError);
    expect(() => validateSpec({ ...spec, mirrorPath: "/a,b" })).toThrow(ValidationError);
    expect(() => validateSpec({ ...spec, orgId: "" })).toThrow(ValidationError);
    expect(() => validateSpec({ ...spec, repositoryId: "a\nb" })).toThrow(ValidationError);
    expect(() => validateSpec({ ...spec, ttlMs: 0 })).toThrow(ValidationError);
    expect(() => validateSpec({ ...spec, ttlMs: 1.5 })).toThrow(ValidationError);
  });

  it("refuses empty argv, NUL bytes and non-positive limits", () => {
    const opts = { timeoutMs: 1000, maxOutputBytes: 10 };
    expect(() => validateExec([], opts)).toThrow(ValidationError);
    expect(() => validateExec([""], opts)).toThrow(ValidationError);
    expect(() => validateExec(["git", "a\0b"], opts)).toThrow(ValidationError);
    expect(() => validateExec(["git"], { ...opts, timeoutMs: 0 })).toThrow(ValidationError);
    expect(() => validateExec(["git"], { ...opts, maxOutputBytes: -1 })).toThrow(ValidationError);
    expect(() => validateExec(["git"], { ...opts, cwd: "tmp" })).toThrow(ValidationError);
    expect(() => validateExec(["git", "log"], { ...opts, cwd: "/tmp" })).not.toThrow();
  });
});
