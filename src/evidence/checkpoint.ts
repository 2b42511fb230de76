import { createHash, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { HASH_BYTES, TREE_SIZE_LIMIT } from "./merkle.ts";

/**
 * C2SP tlog-checkpoint bodies carried in C2SP signed notes, with Ed25519 signatures. A checkpoint is the
 * log's public commitment to (origin, size, root); it is what auditors pin and witnesses cosign, so the
 * parser is strict and the format byte-compatible with Go's golang.org/x/mod/sumdb/note and
 * transparency-dev tooling.
 */

/** Signature type byte for Ed25519 in key IDs and verifier keys (c2sp.org/signed-note). */
export const ED25519_SIGNATURE_TYPE = 0x01;
const ED25519_PUBLIC_KEY_BYTES = 32;
const ED25519_SIGNATURE_BYTES = 64;
const KEY_ID_BYTES = 4;
// The spec requires accepting at least 16 signatures and warns post-quantum ones reach ~5 kB; these
// bounds leave room for witnesses while capping what a hostile note can make us parse.
const MAX_SIGNATURES = 64;
const MAX_NOTE_CHARS = 1 << 20;

const EM_DASH = "\u2014";
// Only newline may appear among the C0 controls in a note.
const FORBIDDEN_CONTROL = /[\u0000-\u0009\u000b-\u001f]/;
// With the u flag a valid surrogate pair is one code point, so this matches only unpaired halves, which
// have no UTF-8 encoding and so cannot be part of signed bytes.
const LONE_SURROGATE = /\p{Cs}/u;
const DECIMAL_UINT = /^(0|[1-9][0-9]{0,19})$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface Checkpoint {
  /** Unique log identity, e.g. `causeway.example/audit/<org id>`. */
  origin: string;
  size: bigint;
  rootHash: Uint8Array;
  /** Opaque extra lines; NOT RECOMMENDED by the spec because monitors cannot audit them. */
  extensions?: readonly string[];
}

export interface OpenedCheckpoint {
  origin: string;
  size: bigint;
  rootHash: Uint8Array;
  extensions: string[];
  /** Names of the trusted keys whose signatures verified. */
  signers: string[];
}

export interface NoteSigner {
  /** Key name; for a log it should equal the checkpoint origin. */
  name: string;
  privateKey: KeyObject;
}

export interface NoteVerifier {
  name: string;
  keyId: number;
  publicKey: KeyObject;
}

export type CheckpointErrorReason =
  | "malformed_note"
  | "malformed_checkpoint"
  | "invalid_verifier_key"
  | "bad_signature"
  | "untrusted"
  | "origin_mismatch";

/**
 * The note or key cannot be accepted. Messages name the reason and never echo note contents beyond
 * what a verifier pinned, so they are safe to log; callers map this to their own AppError.
 */
export class CheckpointError extends Error {
  readonly reason: CheckpointErrorReason;

  constructor(reason: CheckpointErrorReason, detail: string) {
    super(`${reason.replaceAll("_", " ")}: ${detail}`);
    this.name = "CheckpointError";
    this.reason = reason;
  }
}

/** SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4] as a big-endian uint32 (c2sp.org/signed-note). */
export function ed25519KeyId(name: string, publicKey: Uint8Array): number {
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) throw new TypeError("an Ed25519 public key is 32 bytes");
  const digest = createHash("sha256")
    .update(name, "utf8")
    .update(Uint8Array.of(0x0a, ED25519_SIGNATURE_TYPE))
    .update(publicKey)
    .digest();
  return digest.readUInt32BE(0);
}

/** `<name>+<hex key id>+<base64(0x01 ‖ public key)>`, the string auditors pin. Takes either key half. */
export function encodeVerifierKey(name: string, key: KeyObject): string {
  assertKeyName(name);
  const raw = rawPublicKey(key);
  const encoded = Buffer.concat([Uint8Array.of(ED25519_SIGNATURE_TYPE), raw]).toString("base64");
  return `${name}+${hexKeyId(ed25519KeyId(name, raw))}+${encoded}`;
}

/**
 * Parses a verifier key. Split at the first two `+` only: names cannot contain `+` but base64 can (the
 * sum.golang.org key does). The key ID is recomputed, so a typo in any part is caught here.
 */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const invalid = (why: string) => new CheckpointError("invalid_verifier_key", why);
  if (typeof vkey !== "string") throw invalid("not a string");
  const first = vkey.indexOf("+");
  const second = vkey.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw invalid("expected <name>+<key id>+<key>");
  const name = vkey.slice(0, first);
  const idHex = vkey.slice(first + 1, second);
  if (!isKeyName(name)) throw invalid("bad key name");
  if (!/^[0-9a-fA-F]{8}$/.test(idHex)) throw invalid("key id is not 8 hex digits");
  const key = decodeBase64(vkey.slice(second + 1));
  if (key === null || key.length === 0) throw invalid("key is not base64");
  if (key[0] !== ED25519_SIGNATURE_TYPE)
    throw invalid(`unsupported signature type 0x${key[0]!.toString(16)}`);
  if (key.length !== 1 + ED25519_PUBLIC_KEY_BYTES) throw invalid("an Ed25519 key is 32 bytes");
  const raw = key.subarray(1);
  const keyId = Number.parseInt(idHex, 16);
  if (ed25519KeyId(name, raw) !== keyId) throw invalid("key id does not match name and key");
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(raw).toString("base64url") },
      format: "jwk",
    });
  } catch {
    throw invalid("not an Ed25519 public key");
  }
  return { name, keyId, publicKey };
}

/** The checkpoint's note text: origin, size, base64 root, extension lines, each ending in a newline. */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  const malformed = (why: string) => new CheckpointError("malformed_checkpoint", why);
  const { origin, size, rootHash, extensions = [] } = checkpoint;
  if (!isLine(origin)) throw malformed("origin must be a non-empty line of text");
  if (typeof size !== "bigint" || size < 0n || size >= TREE_SIZE_LIMIT)
    throw malformed("size must be a uint64");
  if (!(rootHash instanceof Uint8Array) || rootHash.length !== HASH_BYTES) {
    throw malformed(`root hash must be ${HASH_BYTES} bytes`);
  }
  if (!extensions.every(isLine)) throw malformed("extension lines must be non-empty lines of text");
  const lines = [origin, size.toString(10), Buffer.from(rootHash).toString("base64"), ...extensions];
  return `${lines.join("\n")}\n`;
}

/**
 * Reads checkpoint note text. It does not check signatures: use it only on text that openNote returned,
 * or the values mean nothing.
 */
export function parseCheckpoint(text: string): Checkpoint & { extensions: string[] } {
  const malformed = (why: string) => new CheckpointError("malformed_checkpoint", why);
  if (!text.endsWith("\n")) throw malformed("text must end with a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw malformed("expected origin, size and root hash lines");
  if (lines.some((line) => line === "")) throw malformed("empty line");
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]];
  if (!DECIMAL_UINT.test(sizeLine)) throw malformed("size is not a decimal without leading zeros");
  const size = BigInt(sizeLine);
  if (size >= TREE_SIZE_LIMIT) throw malformed("size exceeds uint64");
  const rootHash = decodeBase64(rootLine);
  if (rootHash === null || rootHash.length !== HASH_BYTES)
    throw malformed(`root is not ${HASH_BYTES} bytes of base64`);
  return { origin, size, rootHash, extensions };
}

/** Signs note text (which must end with a newline) and returns the full signed note. */
export function signNote(text: string, signer: NoteSigner): string {
  if (typeof text !== "string" || !text.endsWith("\n") || !isNoteSafe(text)) {
    throw new TypeError("note text must be newline-terminated text without control characters");
  }
  assertKeyName(signer.name);
  if (signer.privateKey.type !== "private" || signer.privateKey.asymmetricKeyType !== "ed25519") {
    throw new TypeError("the signer needs an Ed25519 private key");
  }
  const keyId = ed25519KeyId(signer.name, rawPublicKey(signer.privateKey));
  const signature = sign(null, Buffer.from(text, "utf8"), signer.privateKey);
  const blob = Buffer.alloc(KEY_ID_BYTES + signature.length);
  blob.writeUInt32BE(keyId, 0);
  blob.set(signature, KEY_ID_BYTES);
  return `${text}\n${EM_DASH} ${signer.name} ${blob.toString("base64")}\n`;
}

/**
 * Verifies a signed note: signatures from keys not in `verifiers` (name and ID must both match) are
 * ignored, a known key whose signature fails rejects the whole note, and at least one must verify.
 */
export function openNote(
  note: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
): { text: string; signers: string[] } {
  const { text, signatures } = splitNote(decodeNote(note));
  const message = Buffer.from(text, "utf8");
  const signers: string[] = [];
  for (const { name, keyId, signature } of signatures) {
    const known = verifiers.filter((v) => v.name === name && v.keyId === keyId);
    for (const verifier of known) {
      const ok =
        signature.length === ED25519_SIGNATURE_BYTES && verify(null, message, verifier.publicKey, signature);
      if (!ok) throw new CheckpointError("bad_signature", `signature by ${name} does not verify`);
      if (!signers.includes(name)) signers.push(name);
    }
  }
  if (signers.length === 0) throw new CheckpointError("untrusted", "no signature from a trusted key");
  return { text, signers };
}

/** The signed checkpoint note, ready to publish. */
export function signCheckpoint(checkpoint: Checkpoint, signer: NoteSigner): string {
  return signNote(formatCheckpoint(checkpoint), signer);
}

/**
 * Verifies a signed checkpoint against pinned verifier keys and returns its contents. Pass `origin` to
 * bind the result to one log: a key trusted for several logs would otherwise vouch for any of them.
 */
export function openCheckpoint(
  note: string | Uint8Array,
  verifierKeys: readonly string[],
  options: { origin?: string } = {},
): OpenedCheckpoint {
  if (verifierKeys.length === 0) throw new CheckpointError("invalid_verifier_key", "no verifier keys given");
  const verifiers = verifierKeys.map(parseVerifierKey);
  const { text, signers } = openNote(note, verifiers);
  const checkpoint = parseCheckpoint(text);
  if (options.origin !== undefined && checkpoint.origin !== options.origin) {
    throw new CheckpointError("origin_mismatch", `expected origin ${options.origin}`);
  }
  return { ...checkpoint, signers };
}

interface NoteSignature {
  name: string;
  keyId: number;
  signature: Uint8Array;
}

function decodeNote(note: string | Uint8Array): string {
  if (typeof note === "string") return note;
  if (!(note instanceof Uint8Array)) throw new CheckpointError("malformed_note", "not text");
  try {
    // ignoreBOM keeps a BOM in the text, where it fails the checks, instead of silently dropping it.
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(note);
  } catch {
    throw new CheckpointError("malformed_note", "not valid UTF-8");
  }
}

function splitNote(note: string): { text: string; signatures: NoteSignature[] } {
  const malformed = (why: string) => new CheckpointError("malformed_note", why);
  if (typeof note !== "string") throw malformed("not text");
  if (note.length > MAX_NOTE_CHARS) throw malformed("too large");
  if (!note.endsWith("\n")) throw malformed("must end with a newline");
  if (!isNoteSafe(note)) throw malformed("control characters or invalid Unicode");
  // Signature lines are never empty, so the last empty line is the separator the spec defines.
  const separator = note.lastIndexOf("\n\n");
  if (separator < 0) throw malformed("no blank line before the signatures");
  const text = note.slice(0, separator + 1);
  const lines = note.slice(separator + 2, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) throw malformed("too many signatures");
  const signatures = lines.map((line) => {
    const prefix = `${EM_DASH} `;
    if (!line.startsWith(prefix)) throw malformed("signature line must start with an em dash and a space");
    const fields = line.slice(prefix.length).split(" ");
    if (fields.length !== 2) throw malformed("signature line must be: em dash, key name, base64");
    const [name, encoded] = fields as [string, string];
    if (!isKeyName(name)) throw malformed("bad key name in signature line");
    const blob = decodeBase64(encoded);
    if (blob === null || blob.length <= KEY_ID_BYTES)
      throw malformed("signature is not base64 of key id and bytes");
    const view = Buffer.from(blob.buffer, blob.byteOffset, blob.length);
    return { name, keyId: view.readUInt32BE(0), signature: blob.subarray(KEY_ID_BYTES) };
  });
  return { text, signatures };
}

/** Strict standard base64: canonical padding and no stray bits, so one value has one spelling. */
function decodeBase64(s: string): Uint8Array | null {
  if (s.length % 4 !== 0 || !BASE64.test(s)) return null;
  const bytes = Buffer.from(s, "base64");
  if (bytes.toString("base64") !== s) return null;
  return new Uint8Array(bytes);
}

function rawPublicKey(key: KeyObject): Uint8Array {
  if (key.asymmetricKeyType !== "ed25519") throw new TypeError("expected an Ed25519 key");
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  const { x } = publicKey.export({ format: "jwk" });
  if (typeof x !== "string") throw new TypeError("expected an Ed25519 key");
  return new Uint8Array(Buffer.from(x, "base64url"));
}

function hexKeyId(keyId: number): string {
  return keyId.toString(16).padStart(8, "0");
}

function isNoteSafe(s: string): boolean {
  return !FORBIDDEN_CONTROL.test(s) && !LONE_SURROGATE.test(s);
}

/** Non-empty, no Unicode spaces, no `+` (c2sp.org/signed-note), and printable. */
function isKeyName(name: unknown): name is string {
  return typeof name === "string" && name.length > 0 && !/[\s+\u0085]/.test(name) && isNoteSafe(name);
}

function assertKeyName(name: string): void {
  if (!isKeyName(name)) throw new TypeError("key names must be non-empty, without spaces or '+'");
}

function isLine(s: unknown): s is string {
  return typeof s === "string" && s.length > 0 && !s.includes("\n") && isNoteSafe(s);
}
