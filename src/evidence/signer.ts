import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { ed25519KeyId, encodeVerifierKey, type NoteSigner } from "./checkpoint.ts";

/** The log's checkpoint key, parsed once from CAUSEWAY_CHECKPOINT_KEY (`name:base64(pkcs8 DER Ed25519)`). */
export interface CheckpointKey {
  signer: NoteSigner;
  publicKey: KeyObject;
  /** `<name>+<hex key id>+<base64(0x01 ‖ key)>`: what an auditor pins and passes to `causeway verify --key`. */
  verifierKey: string;
  /** The 8-hex-digit key id of the note signature lines. */
  keyId: string;
}

export function parseCheckpointKey(value: string): CheckpointKey {
  const colon = value.indexOf(":");
  if (colon <= 0) throw new Error("CAUSEWAY_CHECKPOINT_KEY: expected name:base64(pkcs8 DER Ed25519)");
  const name = value.slice(0, colon);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({
      key: Buffer.from(value.slice(colon + 1), "base64"),
      format: "der",
      type: "pkcs8",
    });
  } catch {
    throw new Error("CAUSEWAY_CHECKPOINT_KEY: the key is not a base64 PKCS#8 DER private key");
  }
  if (privateKey.asymmetricKeyType !== "ed25519")
    throw new Error("CAUSEWAY_CHECKPOINT_KEY: not an Ed25519 key");
  const publicKey = createPublicKey(privateKey);
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  return {
    signer: { name, privateKey },
    publicKey,
    verifierKey: encodeVerifierKey(name, publicKey),
    keyId: ed25519KeyId(name, new Uint8Array(raw)).toString(16).padStart(8, "0"),
  };
}

/** Each org's tree is its own log; the origin names it (c2sp tlog-checkpoint: a schema-less URL-ish id). */
export function originOf(orgId: string): string {
  return `causeway/${orgId}`;
}
