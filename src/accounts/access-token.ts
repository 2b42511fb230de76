import { createPrivateKey, createPublicKey, type KeyObject, randomUUID } from "node:crypto";
import { type JWTPayload, errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { ROLES, type Role } from "../../db/schema/memberships.ts";
import { UnauthenticatedError } from "../errors.ts";

export interface SessionKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** The first key signs; every key verifies, so tokens signed before a rotation live out their 15 minutes. */
export interface SessionKeyring {
  signing: SessionKey;
  verifying: ReadonlyMap<string, KeyObject>;
}

const KID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Parses CAUSEWAY_SESSION_KEYS: `kid:base64(pkcs8 DER Ed25519)[,kid:…]`. Errors name the position, never
 * the key material.
 */
export function parseSessionKeys(value: string): SessionKeyring {
  const keys: SessionKey[] = [];
  const entries = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  entries.forEach((entry, index) => {
    const colon = entry.indexOf(":");
    const kid = entry.slice(0, colon);
    if (colon < 1 || !KID.test(kid)) {
      throw new Error(`CAUSEWAY_SESSION_KEYS entry ${index + 1}: expected kid:base64(pkcs8 Ed25519 key)`);
    }
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({
        key: Buffer.from(entry.slice(colon + 1), "base64"),
        format: "der",
        type: "pkcs8",
      });
    } catch {
      throw new Error(`CAUSEWAY_SESSION_KEYS entry ${index + 1} (${kid}): not a pkcs8 DER private key`);
    }
    if (privateKey.asymmetricKeyType !== "ed25519") {
      throw new Error(`CAUSEWAY_SESSION_KEYS entry ${index + 1} (${kid}): not an Ed25519 key`);
    }
    if (keys.some((k) => k.kid === kid)) {
      throw new Error(`CAUSEWAY_SESSION_KEYS entry ${index + 1}: duplicate kid ${kid}`);
    }
    keys.push({ kid, privateKey, publicKey: createPublicKey(privateKey) });
  });
  const signing = keys[0];
  if (!signing) throw new Error("CAUSEWAY_SESSION_KEYS: no key");
  return { signing, verifying: new Map(keys.map((k) => [k.kid, k.publicKey])) };
}

export interface AccessTokenOptions {
  issuer: string;
  audience: string;
  ttlSeconds: number;
  /** Allowed clock skew between replicas, in seconds. */
  clockToleranceSeconds: number;
}

export const DEFAULT_ACCESS_TOKEN_OPTIONS: AccessTokenOptions = {
  issuer: "causeway",
  audience: "causeway-api",
  ttlSeconds: 15 * 60,
  clockToleranceSeconds: 5,
};

export interface AccessTokenSubject {
  userId: string;
  orgId: string;
  role: Role;
  sessionId: string;
}

export interface AccessTokenClaims extends AccessTokenSubject {
  jti: string;
  expiresAt: Date;
}

/** RFC 9068's media type for JWT access tokens: a token of another kind signed by us is still refused. */
const TOKEN_TYPE = "at+jwt";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** EdDSA access tokens: `iss`, `aud`, `sub`, `org`, `role`, `sid`, `jti`, `iat`, `exp` and a `kid` header. */
export class AccessTokens {
  constructor(
    private readonly keyring: SessionKeyring,
    readonly options: AccessTokenOptions = DEFAULT_ACCESS_TOKEN_OPTIONS,
  ) {}

  async sign(subject: AccessTokenSubject, now = new Date()): Promise<{ token: string; expiresAt: Date }> {
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + this.options.ttlSeconds;
    const token = await new SignJWT({ org: subject.orgId, role: subject.role, sid: subject.sessionId })
      .setProtectedHeader({ alg: "EdDSA", kid: this.keyring.signing.kid, typ: TOKEN_TYPE })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setSubject(subject.userId)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.keyring.signing.privateKey);
    return { token, expiresAt: new Date(exp * 1000) };
  }

  /**
   * Verifies signature (by `kid`, EdDSA only: `alg: none` and HMAC confusion are refused), type, issuer,
   * audience and lifetime, then the claim shapes. Every failure is the same UnauthenticatedError.
   */
  async verify(token: string, now = new Date()): Promise<AccessTokenClaims> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(
        token,
        (header) => {
          const key = header.kid ? this.keyring.verifying.get(header.kid) : undefined;
          if (!key) throw new joseErrors.JWKSNoMatchingKey();
          return key;
        },
        {
          algorithms: ["EdDSA"],
          typ: TOKEN_TYPE,
          issuer: this.options.issuer,
          audience: this.options.audience,
          requiredClaims: ["sub", "jti", "iat", "exp"],
          clockTolerance: this.options.clockToleranceSeconds,
          currentDate: now,
          maxTokenAge: this.options.ttlSeconds + this.options.clockToleranceSeconds,
        },
      ));
    } catch {
      throw new UnauthenticatedError();
    }
    const { sub, org, role, sid, jti, exp } = payload as JWTPayload & Record<string, unknown>;
    if (
      typeof sub !== "string" ||
      !UUID.test(sub) ||
      typeof org !== "string" ||
      !UUID.test(org) ||
      typeof sid !== "string" ||
      !UUID.test(sid) ||
      typeof jti !== "string" ||
      typeof exp !== "number" ||
      typeof role !== "string" ||
      !(ROLES as readonly string[]).includes(role)
    ) {
      throw new UnauthenticatedError();
    }
    return {
      userId: sub,
      orgId: org,
      role: role as Role,
      sessionId: sid,
      jti,
      expiresAt: new Date(exp * 1000),
    };
  }
}
