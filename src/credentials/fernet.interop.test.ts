import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { decodeBase64Url, encodeBase64Url, Fernet, generateFernetKey, MultiFernet } from "./fernet.ts";

// Python's `cryptography` is the reference implementation most Fernet users run, and our tokens must be
// readable by operators' Python tooling. CI installs python3-cryptography, so its absence is a failure.
const MISSING =
  "python3 with the `cryptography` module is required for the Fernet interop tests; " +
  "install python3-cryptography (apt) or `pip install cryptography`";

// One script, driven by a JSON request on stdin, so each test states its inputs and expected outputs here.
const SCRIPT = `
import base64, json, sys
from cryptography.fernet import Fernet, MultiFernet, InvalidToken

req = json.load(sys.stdin)
op = req["op"]
b64 = lambda b: base64.b64encode(b).decode()
unb64 = lambda s: base64.b64decode(s)

if op == "decrypt":
    f = Fernet(req["key"])
    out = []
    for t in req["tokens"]:
        try:
            if req.get("ttl") is None:
                out.append({"ok": b64(f.decrypt(t))})
            else:
                out.append({"ok": b64(f.decrypt_at_time(t, req["ttl"], req["now"]))})
        except InvalidToken:
            out.append({"invalid": True})
    print(json.dumps(out))
elif op == "encrypt":
    f = Fernet(req["key"])
    print(json.dumps([f.encrypt_at_time(unb64(p), req["now"]).decode() for p in req["payloads"]]))
elif op == "timestamps":
    f = Fernet(req["key"])
    print(json.dumps([f.extract_timestamp(t) for t in req["tokens"]]))
elif op == "generate_key":
    print(json.dumps(Fernet.generate_key().decode()))
elif op == "rotate":
    m = MultiFernet([Fernet(k) for k in req["keys"]])
    print(json.dumps(m.rotate(req["token"]).decode()))
`;

let pythonChecked = false;

/** Fails (never skips) the calling test when python3 or its cryptography module is missing. */
function requirePython(): void {
  if (pythonChecked) return;
  try {
    execFileSync("python3", ["-c", "import cryptography.fernet"], { stdio: "pipe", timeout: 20_000 });
  } catch (err) {
    throw new Error(MISSING, { cause: err });
  }
  pythonChecked = true;
}

function python<T>(request: Record<string, unknown>): T {
  requirePython();
  const stdout = execFileSync("python3", ["-c", SCRIPT], {
    input: JSON.stringify(request),
    encoding: "utf8",
    timeout: 20_000,
  });
  return JSON.parse(stdout) as T;
}

type PyDecrypt = Array<{ ok: string } | { invalid: true }>;

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const NOW = new Date("2024-05-01T12:00:00Z");
const NOW_S = NOW.getTime() / 1000;

const payloads: Array<[string, Uint8Array]> = [
  ["ascii", Buffer.from("hello, causeway")],
  ["unicode", Buffer.from("clé → 鍵 🔑", "utf8")],
  ["empty", new Uint8Array(0)],
  ["exactly one block", Buffer.alloc(16, 0x41)],
  ["every byte value", Uint8Array.from({ length: 256 }, (_, i) => i)],
  ["random binary", Uint8Array.from({ length: 1000 }, (_, i) => (i * 131 + 7) % 256)],
];

describe("interop with Python cryptography.fernet", () => {
  it("finds python3 with the cryptography module", () => {
    expect(requirePython).not.toThrow();
  });

  it("Python decrypts the tokens we make, binary payloads included", () => {
    const key = generateFernetKey();
    const fernet = new Fernet(key);
    const tokens = payloads.map(([, data]) => fernet.encrypt(data, { now: NOW }));
    const results = python<PyDecrypt>({ op: "decrypt", key, tokens, ttl: 60, now: NOW_S + 30 });
    expect(results).toEqual(payloads.map(([, data]) => ({ ok: b64(data) })));
  });

  it("Python reads our timestamp and applies the same TTL boundaries", () => {
    const key = generateFernetKey();
    const token = new Fernet(key).encrypt("x", { now: NOW });
    expect(python<number[]>({ op: "timestamps", key, tokens: [token] })).toEqual([NOW_S]);
    const at = (now: number) => python<PyDecrypt>({ op: "decrypt", key, tokens: [token], ttl: 60, now })[0];
    expect(at(NOW_S + 60)).toEqual({ ok: b64(Buffer.from("x")) });
    expect(at(NOW_S + 61)).toEqual({ invalid: true });
    expect(at(NOW_S - 60)).toEqual({ ok: b64(Buffer.from("x")) });
    expect(at(NOW_S - 61)).toEqual({ invalid: true });
  });

  it("Python rejects our tokens after tampering", () => {
    const key = generateFernetKey();
    const bytes = decodeBase64Url(new Fernet(key).encrypt("tamper me"))!;
    bytes[30]! ^= 0x01;
    const results = python<PyDecrypt>({ op: "decrypt", key, tokens: [encodeBase64Url(bytes)] });
    expect(results).toEqual([{ invalid: true }]);
  });

  it("we decrypt the tokens Python makes, binary payloads included", () => {
    const key = generateFernetKey();
    const tokens = python<string[]>({
      op: "encrypt",
      key,
      now: NOW_S,
      payloads: payloads.map(([, data]) => b64(data)),
    });
    const fernet = new Fernet(key);
    tokens.forEach((token, i) => {
      expect(fernet.decrypt(token, { ttlSeconds: 60, now: NOW })).toEqual(Buffer.from(payloads[i]![1]));
      expect(decodeBase64Url(token)!.readBigUInt64BE(1)).toBe(BigInt(NOW_S));
    });
  });

  it("keys generated on either side work on the other", () => {
    const pythonKey = python<string>({ op: "generate_key" });
    const ours = new Fernet(pythonKey).encrypt("from node");
    expect(python<PyDecrypt>({ op: "decrypt", key: pythonKey, tokens: [ours] })).toEqual([
      { ok: b64(Buffer.from("from node")) },
    ]);
    const nodeKey = generateFernetKey();
    const [theirs] = python<string[]>({
      op: "encrypt",
      key: nodeKey,
      now: NOW_S,
      payloads: [b64(Buffer.from("py"))],
    });
    expect(new Fernet(nodeKey).decryptString(theirs!)).toBe("py");
  });

  it("tokens rotated by Python's MultiFernet decrypt here, and ours there", () => {
    const oldKey = generateFernetKey();
    const newKey = generateFernetKey();
    const binary = Uint8Array.from([0, 1, 0xfe, 0xff]);
    const rotatedByPython = python<string>({
      op: "rotate",
      keys: [newKey, oldKey],
      token: new Fernet(oldKey).encrypt(binary),
    });
    expect(new Fernet(newKey).decrypt(rotatedByPython)).toEqual(Buffer.from(binary));

    const rotatedByUs = new MultiFernet([newKey, oldKey]).rotate(new Fernet(oldKey).encrypt(binary));
    expect(python<PyDecrypt>({ op: "decrypt", key: newKey, tokens: [rotatedByUs] })).toEqual([
      { ok: b64(binary) },
    ]);
  });
});
