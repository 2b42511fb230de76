import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { UnauthenticatedError } from "../errors.ts";
import { generateEd25519Pkcs8 } from "../keys.ts";
import { AccessTokens, DEFAULT_ACCESS_TOKEN_OPTIONS, parseSessionKeys } from "./access-token.ts";

const subject = () => ({
  userId: randomUUID(),
  orgId: randomUUID(),
  role: "admin" as const,
  sessionId: randomUUID(),
});

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

async function rejected(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected the token to be refused");
    },
    (e: unknown) => e,
  );
}

describe("session keys", () => {
  it("parses kid:key pairs, the first one signing", () => {
    const ring = parseSessionKeys(`new:${generateEd25519Pkcs8()}, old:${generateEd25519Pkcs8()}`);
    expect(ring.signing.kid).toBe("new");
    expect([...ring.verifying.keys()]).toEqual(["new", "old"]);
  });

  it("refuses malformed entries without echoing key material", () => {
    const material = "c2VjcmV0LW5vdC1hLWtleQ==";
    expect(() => parseSessionKeys(`k1:${material}`)).toThrow(/entry 1 \(k1\): not a pkcs8/);
    expect(() => parseSessionKeys(`k1:${material}`)).not.toThrow(new RegExp(material));
    expect(() => parseSessionKeys(generateEd25519Pkcs8())).toThrow(/expected kid:/);
    const key = generateEd25519Pkcs8();
    expect(() => parseSessionKeys(`a:${key},a:${key}`)).toThrow(/duplicate kid/);
    expect(() => parseSessionKeys("")).toThrow(/no key/);
  });
});

describe("access tokens", () => {
  const ring = parseSessionKeys(`k1:${generateEd25519Pkcs8()}`);
  const tokens = new AccessTokens(ring);

  it("carries iss, aud, sub, org, role, sid, jti and a kid header, for 15 minutes", async () => {
    const s = subject();
    const now = new Date("2026-01-01T00:00:00Z");
    const { token, expiresAt } = await tokens.sign(s, now);
    const [header, payload] = token
      .split(".")
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, "base64url").toString()));
    expect(header).toEqual({ alg: "EdDSA", kid: "k1", typ: "at+jwt" });
    expect(payload).toMatchObject({
      iss: "causeway",
      aud: "causeway-api",
      sub: s.userId,
      org: s.orgId,
      role: "admin",
      sid: s.sessionId,
      iat: now.getTime() / 1000,
      exp: now.getTime() / 1000 + 900,
    });
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(expiresAt.toISOString()).toBe("2026-01-01T00:15:00.000Z");
    const claims = await tokens.verify(token, new Date(now.getTime() + 60_000));
    expect(claims).toMatchObject(s);
  });

  it("refuses an expired token", async () => {
    const now = new Date("2026-01-01T00:00:00Z");
    const { token } = await tokens.sign(subject(), now);
    const later = new Date(now.getTime() + 15 * 60_000 + 6_000);
    expect(await rejected(tokens.verify(token, later))).toBeInstanceOf(UnauthenticatedError);
  });

  it("refuses a tampered payload or signature", async () => {
    const { token } = await tokens.sign(subject());
    const [h, p, sig] = token.split(".");
    const payload = JSON.parse(Buffer.from(p!, "base64url").toString());
    const forged = `${h}.${b64url({ ...payload, role: "owner" })}.${sig}`;
    expect(await rejected(tokens.verify(forged))).toBeInstanceOf(UnauthenticatedError);
    const flipped = `${h}.${p}.${sig!.slice(0, 10)}${sig![10] === "A" ? "B" : "A"}${sig!.slice(11)}`;
    expect(await rejected(tokens.verify(flipped))).toBeInstanceOf(UnauthenticatedError);
  });

  it("refuses alg none, HMAC and unknown key ids", async () => {
    const { token } = await tokens.sign(subject());
    const [, p] = token.split(".");
    const none = `${b64url({ alg: "none", typ: "at+jwt" })}.${p}.`;
    expect(await rejected(tokens.verify(none))).toBeInstanceOf(UnauthenticatedError);
    const hs = await new SignJWT(JSON.parse(Buffer.from(p!, "base64url").toString()))
      .setProtectedHeader({ alg: "HS256", kid: "k1", typ: "at+jwt" })
      .sign(new TextEncoder().encode("a shared secret the server never had"));
    expect(await rejected(tokens.verify(hs))).toBeInstanceOf(UnauthenticatedError);
    const stranger = new AccessTokens(parseSessionKeys(`k1:${generateEd25519Pkcs8()}`));
    const foreign = await stranger.sign(subject());
    expect(await rejected(tokens.verify(foreign.token))).toBeInstanceOf(UnauthenticatedError);
    const otherKid = new AccessTokens(parseSessionKeys(`k9:${generateEd25519Pkcs8()}`));
    expect(await rejected(tokens.verify((await otherKid.sign(subject())).token))).toBeInstanceOf(
      UnauthenticatedError,
    );
  });

  it("refuses a wrong audience, issuer or token type", async () => {
    const wrongAud = new AccessTokens(ring, { ...DEFAULT_ACCESS_TOKEN_OPTIONS, audience: "other-api" });
    const wrongIss = new AccessTokens(ring, { ...DEFAULT_ACCESS_TOKEN_OPTIONS, issuer: "https://evil" });
    expect(await rejected(tokens.verify((await wrongAud.sign(subject())).token))).toBeInstanceOf(
      UnauthenticatedError,
    );
    expect(await rejected(tokens.verify((await wrongIss.sign(subject())).token))).toBeInstanceOf(
      UnauthenticatedError,
    );
    const s = subject();
    const idToken = await new SignJWT({ org: s.orgId, role: s.role, sid: s.sessionId })
      .setProtectedHeader({ alg: "EdDSA", kid: "k1", typ: "JWT" })
      .setIssuer("causeway")
      .setAudience("causeway-api")
      .setSubject(s.userId)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime("15m")
      .sign(ring.signing.privateKey);
    expect(await rejected(tokens.verify(idToken))).toBeInstanceOf(UnauthenticatedError);
  });

  it("refuses a validly signed token whose claims are not ours", async () => {
    const bad = await new SignJWT({ org: "not-a-uuid", role: "superuser", sid: randomUUID() })
      .setProtectedHeader({ alg: "EdDSA", kid: "k1", typ: "at+jwt" })
      .setIssuer("causeway")
      .setAudience("causeway-api")
      .setSubject(randomUUID())
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime("15m")
      .sign(ring.signing.privateKey);
    expect(await rejected(tokens.verify(bad))).toBeInstanceOf(UnauthenticatedError);
  });

  it("keeps verifying tokens of a retired signing key while it is still configured", async () => {
    const oldKey = generateEd25519Pkcs8();
    const before = new AccessTokens(parseSessionKeys(`old:${oldKey}`));
    const { token } = await before.sign(subject());
    const after = new AccessTokens(parseSessionKeys(`new:${generateEd25519Pkcs8()},old:${oldKey}`));
    expect((await after.verify(token)).role).toBe("admin");
    const fresh = await after.sign(subject());
    expect(JSON.parse(Buffer.from(fresh.token.split(".")[0]!, "base64url").toString()).kid).toBe("new");
    const dropped = new AccessTokens(parseSessionKeys(`new2:${generateEd25519Pkcs8()}`));
    expect(await rejected(dropped.verify(token))).toBeInstanceOf(UnauthenticatedError);
  });

  it("answers anything that is not one of its tokens with UnauthenticatedError, never another error", async () => {
    const segment = fc.oneof(
      fc.base64String().map((b) => b.replaceAll("=", "")),
      fc.string(),
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v)).toString("base64url")),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.tuple(segment, segment, segment).map((p) => p.join(".")),
        ),
        async (t) => {
          const error = await tokens.verify(t).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(UnauthenticatedError);
        },
      ),
      { numRuns: 300 },
    );
  });
});
