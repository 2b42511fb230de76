import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CheckpointError,
  type CheckpointErrorReason,
  ed25519KeyId,
  encodeVerifierKey,
  formatCheckpoint,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  signCheckpoint,
  signNote,
} from "./checkpoint.ts";
import { TREE_SIZE_LIMIT } from "./merkle.ts";

// RFC 8032 §7.1 TEST 1: a published Ed25519 key pair, so the vectors below rest on public values.
const RFC8032_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

function ed25519FromSeed(seedHex: string): KeyObject {
  // PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410).
  const der = Buffer.concat([
    Buffer.from("302e020100300506032b657004220420", "hex"),
    Buffer.from(seedHex, "hex"),
  ]);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}

const NAME = "causeway.example/audit";
const rfcKey = ed25519FromSeed(RFC8032_SEED);
const rfcSigner = { name: NAME, privateKey: rfcKey };

// Derived once with a plain node:crypto script from the spec's definitions (not from this module).
const RFC_KEY_ID = "e3009ca1";
const RFC_VKEY = "causeway.example/audit+e3009ca1+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea";
const CT_ROOT_8 = Buffer.from("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328", "hex");
const RFC_NOTE =
  "causeway.example/audit\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n" +
  "— causeway.example/audit 4wCcoYUix2R7URJm8I+QQ435S6yA/sDgMlDDN/+Wn5k4TW2CDREBoiZUXdVemL9sD1DPkrnDZ9a7srnszyK9J2k0VQ4=\n";

// The Go checksum database's published key and two of its real checkpoints (found in public test code;
// EVIDENCE.md §2.6 verified both independently).
const SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
const SUMDB_NOTES = [
  {
    size: 65209736n,
    root: "5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=",
    sig: "Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZKdsQ8=",
  },
  {
    size: 31700353n,
    root: "qINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=",
    sig: "Az3grnmrIUEDFqHzAElIQCPNoRFRAAdFo47fooyWKMHb89k11GJh5zHIfNCOBmwn/C3YI8oW9/C8DJ87F61QqspBYwM=",
  },
];
const sumdbNote = (n: (typeof SUMDB_NOTES)[number]) =>
  `go.sum database tree\n${n.size}\n${n.root}\n\n— sum.golang.org ${n.sig}\n`;

function newSigner(name = NAME) {
  const { privateKey } = generateKeyPairSync("ed25519");
  return { name, privateKey };
}

function failure(fn: () => unknown): CheckpointErrorReason | "no error" | "other error" {
  try {
    fn();
    return "no error";
  } catch (err) {
    return err instanceof CheckpointError ? err.reason : "other error";
  }
}

const sample = { origin: NAME, size: 8n, rootHash: new Uint8Array(CT_ROOT_8) };

describe("key IDs and verifier keys", () => {
  it("computes the key ID as SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]", () => {
    const publicKey = Buffer.from(RFC8032_PUBLIC, "hex");
    const fromSpec = createHash("sha256")
      .update(Buffer.concat([Buffer.from(`${NAME}\n`, "utf8"), Buffer.of(0x01), publicKey]))
      .digest()
      .readUInt32BE(0);
    expect(ed25519KeyId(NAME, publicKey)).toBe(fromSpec);
    expect(ed25519KeyId(NAME, publicKey).toString(16).padStart(8, "0")).toBe(RFC_KEY_ID);
    // The public half of the RFC 8032 key really is the published one.
    const jwk = createPublicKey(rfcKey).export({ format: "jwk" });
    expect(Buffer.from(jwk.x!, "base64url").toString("hex")).toBe(RFC8032_PUBLIC);
  });

  it("matches the key ID in the published sum.golang.org verifier key", () => {
    const raw = Buffer.from(SUMDB_VKEY.slice(SUMDB_VKEY.lastIndexOf("+Ac4") + 1), "base64").subarray(1);
    expect(ed25519KeyId("sum.golang.org", raw)).toBe(0x033de0ae);
  });

  it("encodes and parses vkeys, including base64 that contains '+'", () => {
    expect(encodeVerifierKey(NAME, rfcKey)).toBe(RFC_VKEY);
    expect(encodeVerifierKey(NAME, createPublicKey(rfcKey))).toBe(RFC_VKEY);
    const sumdb = parseVerifierKey(SUMDB_VKEY);
    expect(sumdb.name).toBe("sum.golang.org");
    expect(sumdb.keyId).toBe(0x033de0ae);
    expect(encodeVerifierKey(sumdb.name, sumdb.publicKey)).toBe(SUMDB_VKEY);
  });

  it.each([
    ["wrong key id", SUMDB_VKEY.replace("033de0ae", "033de0af")],
    ["key id of another name", SUMDB_VKEY.replace("sum.golang.org", "sum.golang.org.evil")],
    ["short key id", SUMDB_VKEY.replace("033de0ae", "33de0ae")],
    ["non-hex key id", SUMDB_VKEY.replace("033de0ae", "033de0ag")],
    ["unsupported type byte", RFC_VKEY.replace("AddamAGC", "AtdamAGC")],
    ["truncated key", RFC_VKEY.slice(0, -4)],
    ["not base64", `${RFC_VKEY.slice(0, -1)}!`],
    ["missing key", `${NAME}+${RFC_KEY_ID}`],
    ["empty name", `+${RFC_KEY_ID}+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea`],
    ["space in name", RFC_VKEY.replace("causeway.example/audit", "causeway example")],
  ])("rejects a vkey with %s", (_, vkey) => {
    expect(failure(() => parseVerifierKey(vkey))).toBe("invalid_verifier_key");
  });
});

describe("published notes", () => {
  it.each(SUMDB_NOTES)("opens the real sum.golang.org checkpoint of size $size", (n) => {
    const opened = openCheckpoint(sumdbNote(n), [SUMDB_VKEY], { origin: "go.sum database tree" });
    expect(opened.size).toBe(n.size);
    expect(Buffer.from(opened.rootHash).toString("base64")).toBe(n.root);
    expect(opened.signers).toEqual(["sum.golang.org"]);
    expect(opened.extensions).toEqual([]);
  });

  it("rejects a real checkpoint whose size was changed by one", () => {
    const n = SUMDB_NOTES[0]!;
    const forged = sumdbNote(n).replace(String(n.size), String(n.size + 1n));
    expect(failure(() => openCheckpoint(forged, [SUMDB_VKEY]))).toBe("bad_signature");
  });

  it("produces the fixed note for the RFC 8032 key (Ed25519 is deterministic)", () => {
    expect(signCheckpoint(sample, rfcSigner)).toBe(RFC_NOTE);
    const opened = openCheckpoint(RFC_NOTE, [RFC_VKEY], { origin: NAME });
    expect(opened).toEqual({ ...sample, extensions: [], signers: [NAME] });
  });

  it("accepts the note as UTF-8 bytes too", () => {
    expect(openCheckpoint(Buffer.from(RFC_NOTE, "utf8"), [RFC_VKEY]).size).toBe(8n);
    const invalidUtf8 = Buffer.concat([
      Buffer.from(RFC_NOTE.slice(0, 5)),
      Buffer.of(0xff),
      Buffer.from(RFC_NOTE),
    ]);
    expect(failure(() => openCheckpoint(invalidUtf8, [RFC_VKEY]))).toBe("malformed_note");
  });
});

describe("signing and opening", () => {
  it("round-trips any valid checkpoint", () => {
    const line = fc
      .string({ unit: "grapheme", minLength: 1, maxLength: 30 })
      .filter((s) => !/[\u0000-\u001f]/.test(s));
    const signer = newSigner();
    const vkey = encodeVerifierKey(signer.name, signer.privateKey);
    fc.assert(
      fc.property(
        line,
        fc.bigInt({ min: 0n, max: TREE_SIZE_LIMIT - 1n }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(line, { maxLength: 3 }),
        (origin, size, rootHash, extensions) => {
          const note = signCheckpoint({ origin, size, rootHash, extensions }, signer);
          const opened = openCheckpoint(note, [vkey], { origin });
          expect(opened).toEqual({ origin, size, rootHash, extensions, signers: [NAME] });
        },
      ),
      { numRuns: 200 },
    );
  });

  it("formats the body exactly as tlog-checkpoint specifies", () => {
    expect(formatCheckpoint({ ...sample, extensions: ["ext one", "two"] })).toBe(
      `${NAME}\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\next one\ntwo\n`,
    );
    expect(formatCheckpoint({ origin: "o", size: 0n, rootHash: new Uint8Array(32) })).toBe(
      "o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    );
    const max = formatCheckpoint({ origin: "o", size: TREE_SIZE_LIMIT - 1n, rootHash: new Uint8Array(32) });
    expect(max.split("\n")[1]).toBe("18446744073709551615");
  });

  it("rejects tampered size, root, origin and extensions", () => {
    const note = signCheckpoint({ ...sample, extensions: ["e"] }, rfcSigner);
    const root64 = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=";
    const otherRoot = Buffer.from(CT_ROOT_8).fill(7, 0, 1).toString("base64");
    const tampered = {
      size: note.replace(`${NAME}\n8\n`, `${NAME}\n9\n`),
      root: note.replace(root64, otherRoot),
      origin: note.replace(`${NAME}\n8`, `causeway.example/other\n8`),
      extension: note.replace("\ne\n", "\nf\n"),
      "added extension": note.replace("\ne\n", "\ne\nx\n"),
      "removed extension": note.replace("\ne\n", "\n"),
    };
    expect(openCheckpoint(note, [RFC_VKEY]).size).toBe(8n);
    for (const [what, forged] of Object.entries(tampered)) {
      expect(forged, what).not.toBe(note);
      expect(
        failure(() => openCheckpoint(forged, [RFC_VKEY])),
        what,
      ).toBe("bad_signature");
    }
  });

  it("rejects notes from unknown keys, and ignores them next to a trusted one", () => {
    const stranger = newSigner();
    const strangerNote = signCheckpoint(sample, stranger);
    // Same name, different key: the key ID differs, so the signature is simply unknown.
    expect(failure(() => openCheckpoint(strangerNote, [RFC_VKEY]))).toBe("untrusted");
    // Same key ID, different name: also unknown (name and ID must both match).
    const renamed = RFC_NOTE.replace(`— ${NAME} `, `— ${NAME}.x `);
    expect(failure(() => openCheckpoint(renamed, [RFC_VKEY]))).toBe("untrusted");
    // A witness cosignature or a rotated-out key alongside the trusted signature is ignored.
    const unknownLine = strangerNote.slice(strangerNote.lastIndexOf("— "));
    const cosigned = `${RFC_NOTE}${unknownLine.replace(NAME, "witness.example/w1")}`;
    expect(openCheckpoint(cosigned, [RFC_VKEY]).signers).toEqual([NAME]);
    // The spec requires accepting at least 16 signatures.
    const many = RFC_NOTE + Array.from({ length: 16 }, (_, i) => unknownLine.replace(NAME, `w${i}`)).join("");
    expect(openCheckpoint(many, [RFC_VKEY]).size).toBe(8n);
  });

  it("rejects the whole note when any trusted key's signature fails", () => {
    const second = newSigner("causeway.example/audit-2");
    const secondVkey = encodeVerifierKey(second.name, second.privateKey);
    const both = `${RFC_NOTE}${signCheckpoint(sample, second).split("\n\n")[1]}`;
    expect(openCheckpoint(both, [RFC_VKEY, secondVkey]).signers).toEqual([NAME, second.name]);
    // Corrupt the second signature (flip a base64 character of the signature bytes).
    const lines = both.split("\n");
    const last = lines[lines.length - 2]!;
    const flipped = `${last.slice(0, -10)}${last.at(-10) === "A" ? "B" : "A"}${last.slice(-9)}`;
    const broken = both.replace(last, flipped);
    expect(failure(() => openCheckpoint(broken, [RFC_VKEY, secondVkey]))).toBe("bad_signature");
    // ...but when that key is not trusted, its line is just unknown.
    expect(openCheckpoint(broken, [RFC_VKEY]).signers).toEqual([NAME]);
  });

  it("binds the checkpoint to the expected origin", () => {
    expect(failure(() => openCheckpoint(RFC_NOTE, [RFC_VKEY], { origin: "causeway.example/other" }))).toBe(
      "origin_mismatch",
    );
  });

  it("requires at least one verifier key, and valid ones", () => {
    expect(failure(() => openCheckpoint(RFC_NOTE, []))).toBe("invalid_verifier_key");
    expect(failure(() => openCheckpoint(RFC_NOTE, [RFC_VKEY, "nonsense"]))).toBe("invalid_verifier_key");
  });

  it("refuses to sign what it could not parse back", () => {
    expect(failure(() => signCheckpoint({ ...sample, origin: "" }, rfcSigner))).toBe("malformed_checkpoint");
    expect(failure(() => signCheckpoint({ ...sample, origin: "a\nb" }, rfcSigner))).toBe(
      "malformed_checkpoint",
    );
    expect(failure(() => signCheckpoint({ ...sample, size: -1n }, rfcSigner))).toBe("malformed_checkpoint");
    expect(failure(() => signCheckpoint({ ...sample, size: TREE_SIZE_LIMIT }, rfcSigner))).toBe(
      "malformed_checkpoint",
    );
    expect(failure(() => signCheckpoint({ ...sample, rootHash: new Uint8Array(31) }, rfcSigner))).toBe(
      "malformed_checkpoint",
    );
    expect(failure(() => signCheckpoint({ ...sample, extensions: [""] }, rfcSigner))).toBe(
      "malformed_checkpoint",
    );
    expect(() => signCheckpoint(sample, { ...rfcSigner, name: "bad name" })).toThrow(TypeError);
    expect(() => signCheckpoint(sample, { ...rfcSigner, name: "a+b" })).toThrow(TypeError);
    expect(() => signCheckpoint(sample, { ...rfcSigner, privateKey: createPublicKey(rfcKey) })).toThrow(
      TypeError,
    );
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    expect(() => signCheckpoint(sample, { ...rfcSigner, privateKey: ec })).toThrow(TypeError);
    expect(() => signNote("no newline", rfcSigner)).toThrow(TypeError);
  });
});

describe("malformed notes", () => {
  const sigLine = RFC_NOTE.slice(RFC_NOTE.indexOf("— "));
  const sigB64 = sigLine.slice(sigLine.lastIndexOf(" ") + 1, -1);
  const body = RFC_NOTE.slice(0, RFC_NOTE.indexOf("\n\n") + 1);

  it.each([
    ["no trailing newline", RFC_NOTE.slice(0, -1)],
    ["CRLF line endings", RFC_NOTE.replaceAll("\n", "\r\n")],
    ["no blank line", RFC_NOTE.replace("\n\n", "\n")],
    ["no signature lines", `${body}\n`],
    ["hyphen instead of em dash", RFC_NOTE.replace("— ", "- ")],
    ["en dash instead of em dash", RFC_NOTE.replace("— ", "– ")],
    ["two spaces after the name", RFC_NOTE.replace(`${NAME} ${sigB64}`, `${NAME}  ${sigB64}`)],
    ["trailing space", RFC_NOTE.replace(`${sigB64}\n`, `${sigB64} \n`)],
    ["base64url signature", RFC_NOTE.replace(sigB64, sigB64.replaceAll("+", "-").replaceAll("/", "_"))],
    ["unpadded signature", RFC_NOTE.replace(sigB64, sigB64.replace(/=+$/, ""))],
    [
      "signature of only a key id",
      RFC_NOTE.replace(sigB64, Buffer.from(RFC_KEY_ID, "hex").toString("base64")),
    ],
    ["NUL in the text", RFC_NOTE.replace("audit\n8", "audit\u0000\n8")],
    ["tab in the text", RFC_NOTE.replace("audit\n8", "audit\t\n8")],
    ["lone surrogate", RFC_NOTE.replace("audit\n8", "audit\ud800\n8")],
    ["empty signature line", `${RFC_NOTE}\n`],
    ["too many signature lines", RFC_NOTE + sigLine.repeat(64)],
    ["empty string", ""],
  ])("%s → malformed_note", (_, note) => {
    expect(failure(() => openCheckpoint(note, [RFC_VKEY]))).toBe("malformed_note");
  });

  // Correctly signed, but the text is not a checkpoint: the signature is valid, the content is not.
  it.each([
    ["two lines", `${NAME}\n8\n`],
    ["size with a leading zero", `${NAME}\n08\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n`],
    ["negative size", `${NAME}\n-1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n`],
    ["size in exponent form", `${NAME}\n1e3\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n`],
    ["size of 2^64", `${NAME}\n18446744073709551616\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n`],
    ["size with a space", `${NAME}\n 8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n`],
    ["31-byte root", `${NAME}\n8\n${Buffer.alloc(31).toString("base64")}\n`],
    ["non-canonical base64 root", `${NAME}\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyh=\n`],
    ["hex root", `${NAME}\n8\n${CT_ROOT_8.toString("hex")}\n`],
    ["empty extension line", `${NAME}\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\next\n`],
    ["empty origin", `\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n`],
  ])("%s → malformed_checkpoint", (_, text) => {
    const note = signNote(text, rfcSigner);
    expect(openNote(note, [parseVerifierKey(RFC_VKEY)]).text).toBe(text);
    expect(failure(() => openCheckpoint(note, [RFC_VKEY]))).toBe("malformed_checkpoint");
    expect(failure(() => parseCheckpoint(text))).toBe("malformed_checkpoint");
  });

  it("never accepts a note with any single character changed, and fails only with CheckpointError", () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.string({ unit: "grapheme", minLength: 1, maxLength: 2 }),
        (at, replacement) => {
          const i = at % RFC_NOTE.length;
          const mutated = RFC_NOTE.slice(0, i) + replacement + RFC_NOTE.slice(i + 1);
          fc.pre(mutated !== RFC_NOTE);
          const outcome = failure(() => openCheckpoint(mutated, [RFC_VKEY]));
          expect(outcome).not.toBe("no error");
          expect(outcome).not.toBe("other error");
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("turns arbitrary input into CheckpointError, never another exception", () => {
    const pieces = fc.constantFrom("\n", "\n\n", "— ", NAME, " ", "+", "=", sigB64, "8", "AAAA", "\u2014");
    const noteish = fc.array(fc.oneof(pieces, fc.string()), { maxLength: 12 }).map((p) => p.join(""));
    fc.assert(
      fc.property(fc.oneof(noteish, fc.string(), fc.uint8Array()), (input) => {
        const outcome = failure(() => openCheckpoint(input, [RFC_VKEY, SUMDB_VKEY]));
        expect(outcome).not.toBe("other error");
        expect(outcome).not.toBe("no error");
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.constantFrom(RFC_VKEY, SUMDB_VKEY).map((v) => `${v}x`),
        ),
        (vkey) => {
          expect(failure(() => parseVerifierKey(vkey))).toBe("invalid_verifier_key");
        },
      ),
      { numRuns: 1000 },
    );
  });
});
