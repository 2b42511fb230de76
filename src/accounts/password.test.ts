import { scryptSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { hashPassword, PasswordHasher, validateScryptParams, verifyPassword } from "./password.ts";

// Small but real scrypt parameters keep the unit tests fast; the format and logic are the same.
const FAST = { N: 2 ** 10, r: 8, p: 1 };

describe("password hashing", () => {
  it("stores the parameters and salt with the hash and verifies only the right password", async () => {
    const stored = await hashPassword("correct horse battery staple", FAST);
    expect(stored).toMatch(/^scrypt\$N=1024,r=8,p=1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    expect(await verifyPassword("correct horse battery staple", stored)).toBe(true);
    expect(await verifyPassword("correct horse battery stapl", stored)).toBe(false);
    expect(await verifyPassword("", stored)).toBe(false);
  });

  it("is scrypt as specified (RFC 7914 parameters, 32-byte key)", async () => {
    const stored = await hashPassword("pw-0123456789", FAST);
    const [, , salt, key] = stored.split("$");
    const expected = scryptSync("pw-0123456789", Buffer.from(salt!, "base64"), 32, FAST).toString("base64");
    expect(key).toBe(expected);
  });

  it("salts every hash", async () => {
    const a = await hashPassword("same password", FAST);
    const b = await hashPassword("same password", FAST);
    expect(a).not.toBe(b);
  });

  it("never matches a malformed or tampered hash", async () => {
    const stored = await hashPassword("pw-0123456789", FAST);
    const flipped = stored.slice(0, -3) + (stored.at(-3) === "A" ? "B" : "A") + stored.slice(-2);
    expect(await verifyPassword("pw-0123456789", flipped)).toBe(false);
    expect(await verifyPassword("pw-0123456789", "plaintext")).toBe(false);
    expect(await verifyPassword("pw-0123456789", stored.replace("N=1024", "N=1000"))).toBe(false);
    expect(await verifyPassword("pw-0123456789", stored.replace("N=1024", `N=${2 ** 30}`))).toBe(false);
  });

  it("rejects parameters that are not a sane power of two", () => {
    expect(() => validateScryptParams({ N: 1000, r: 8, p: 1 })).toThrow();
    expect(() => validateScryptParams({ N: 2 ** 14, r: 0, p: 1 })).toThrow();
    expect(() => validateScryptParams({ N: 2 ** 14, r: 8, p: 1 })).not.toThrow();
  });

  it("runs one derivation for an unknown user and answers false", async () => {
    const hasher = new PasswordHasher(FAST);
    expect(await hasher.verify("anything at all", undefined)).toBe(false);
    expect(await hasher.verify("anything at all", null)).toBe(false);
    const real = await hasher.hash("the real one, long");
    expect(await hasher.verify("the real one, long", real)).toBe(true);
  });

  it("asks for a rehash when the parameters changed", async () => {
    const hasher = new PasswordHasher(FAST);
    const old = await hashPassword("pw-0123456789", { N: 2 ** 11, r: 8, p: 1 });
    expect(hasher.needsRehash(old)).toBe(true);
    expect(hasher.needsRehash(await hasher.hash("pw-0123456789"))).toBe(false);
  });
});
