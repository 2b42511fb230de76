import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { AppError } from "../errors.ts";
import { Fernet, generateFernetKey, InvalidTokenError } from "./fernet.ts";
import { generateDataKey, KeyringError, MASTER_KEYS_ENV, MasterKeyring, parseMasterKeys } from "./keyring.ts";

const OLD = generateFernetKey();
const NEW = generateFernetKey();

/** Everything about an error that could reach a log line. */
function everythingShown(err: unknown): string {
  const e = err as KeyringError;
  return [e.message, e.detail, JSON.stringify(e.errors), inspect(e, { depth: 10 }), String(e.stack)].join(
    "\n",
  );
}

function parseError(value: string): KeyringError {
  try {
    parseMasterKeys(value);
  } catch (err) {
    expect(err).toBeInstanceOf(KeyringError);
    return err as KeyringError;
  }
  throw new Error("expected parseMasterKeys to throw");
}

describe("parseMasterKeys", () => {
  it("makes the first key current and keeps the rest for unwrapping", () => {
    const keyring = parseMasterKeys(`k2025:${NEW},k2024:${OLD}`);
    expect(keyring.current).toBe("k2025");
    expect(keyring.ids).toEqual(["k2025", "k2024"]);
    expect(keyring.has("k2024")).toBe(true);
    expect(keyring.has("k2023")).toBe(false);
  });

  it("tolerates whitespace around entries and unpadded keys", () => {
    const keyring = parseMasterKeys(` a:${NEW} ,\n b-2:${OLD.replace(/=$/, "")}\n`);
    expect(keyring.ids).toEqual(["a", "b-2"]);
  });

  it("accepts a 32-character id and rejects a 33-character one", () => {
    expect(parseMasterKeys(`${"a".repeat(32)}:${NEW}`).current).toBe("a".repeat(32));
    expect(parseError(`${"a".repeat(33)}:${NEW}`).errors).toEqual([
      { path: `${MASTER_KEYS_ENV}[1]`, message: "entry 1: key id must match [a-z0-9-]{1,32}" },
    ]);
  });

  it.each([
    ["an empty value", "", `${MASTER_KEYS_ENV} is empty`],
    ["only whitespace", "  \n", `${MASTER_KEYS_ENV} is empty`],
    ["a trailing comma", `a:${NEW},`, "entry 2: is empty"],
    ["a bare key without id", NEW, "entry 1: is not of the form id:fernetKey"],
    ["an upper-case id", `Prod:${NEW}`, "entry 1: key id must match [a-z0-9-]{1,32}"],
    ["an empty id", `:${NEW}`, "entry 1: key id must match [a-z0-9-]{1,32}"],
    ["an id with an underscore", `a_b:${NEW}`, "entry 1: key id must match [a-z0-9-]{1,32}"],
    ["a duplicate id", `a:${NEW},a:${OLD}`, 'entry 2: key id "a" is listed more than once'],
    ["a short key", `a:${NEW.slice(0, 20)}`, 'entry 1: key "a" is not a Fernet key'],
    [
      "a standard-base64 key",
      "a:cw/0x689RpI+jtRR7oE8h/eQsKImvJapLeSbXpwF4e4=",
      'entry 1: key "a" is not a Fernet key',
    ],
    ["an empty key", "a:", 'entry 1: key "a" is not a Fernet key'],
  ])("rejects %s", (_desc, value, expected) => {
    const err = parseError(value);
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe("internal");
    expect(err.detail).toContain(expected);
  });

  it("reports every bad entry at once", () => {
    const err = parseError(`a:${NEW},,B:${OLD},a:${OLD}`);
    expect(err.errors?.map((e) => e.path)).toEqual([
      `${MASTER_KEYS_ENV}[2]`,
      `${MASTER_KEYS_ENV}[3]`,
      `${MASTER_KEYS_ENV}[4]`,
    ]);
  });

  it.each([
    ["a key whose id is invalid", `Prod:${NEW}`, NEW],
    ["a duplicated key", `a:${NEW},a:${OLD}`, OLD],
    ["a truncated key", `a:${NEW.slice(0, 30)}`, NEW.slice(0, 30)],
    ["a key pasted without id", `a:${NEW},${OLD}`, OLD],
    ["a key pasted as the id", `${OLD.slice(0, 20)}:${NEW}`, OLD.slice(0, 20)],
  ])("never echoes key material for %s", (_desc, value, secret) => {
    const shown = everythingShown(parseError(value));
    expect(shown).not.toContain(secret);
    expect(shown).not.toContain(NEW);
    expect(shown).not.toContain(NEW.slice(0, 16));
  });

  it("keeps keys out of the keyring's own inspect and JSON output", () => {
    const keyring = parseMasterKeys(`a:${NEW}`);
    const shown = inspect(keyring, { depth: 10, showHidden: true }) + JSON.stringify(keyring);
    expect(shown).not.toContain(NEW.slice(0, 16));
  });
});

describe("MasterKeyring", () => {
  it("wraps under the current key and unwraps to the same data key", () => {
    const keyring = parseMasterKeys(`new:${NEW},old:${OLD}`);
    const dataKey = generateDataKey();
    const { keyId, wrapped } = keyring.wrapDataKey(dataKey);
    expect(keyId).toBe("new");
    expect(wrapped).not.toContain(dataKey);
    expect(new Fernet(NEW).decryptString(wrapped)).toBe(dataKey);
    expect(keyring.unwrapDataKey(keyId, wrapped)).toBe(dataKey);
  });

  it("unwraps data keys wrapped under an older master key after rotation", () => {
    const before = parseMasterKeys(`old:${OLD}`);
    const dataKey = generateDataKey();
    const stored = before.wrapDataKey(dataKey);

    const after = parseMasterKeys(`new:${NEW},old:${OLD}`);
    expect(after.unwrapDataKey(stored.keyId, stored.wrapped)).toBe(dataKey);

    const rewrapped = after.rewrapDataKey(stored.keyId, stored.wrapped);
    expect(rewrapped.keyId).toBe("new");
    const retired = parseMasterKeys(`new:${NEW}`);
    expect(retired.unwrapDataKey(rewrapped.keyId, rewrapped.wrapped)).toBe(dataKey);
  });

  it("names the missing key id, and only the id, when it is not configured", () => {
    const stored = parseMasterKeys(`old:${OLD}`).wrapDataKey(generateDataKey());
    const keyring = parseMasterKeys(`new:${NEW}`);
    let caught: unknown;
    try {
      keyring.unwrapDataKey(stored.keyId, stored.wrapped);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(KeyringError);
    expect((caught as KeyringError).detail).toContain(
      'master key "old" is not configured in CAUSEWAY_MASTER_KEYS',
    );
    const shown = everythingShown(caught);
    expect(shown).not.toContain(NEW.slice(0, 16));
    expect(shown).not.toContain(OLD.slice(0, 16));
    expect(shown).not.toContain(stored.wrapped);
  });

  it("does not echo a malformed key id read back from storage", () => {
    const keyring = parseMasterKeys(`new:${NEW}`);
    expect(() => keyring.unwrapDataKey(OLD, "x")).toThrow(
      "a master key with a malformed id is not configured",
    );
    expect(everythingShown(captured(() => keyring.unwrapDataKey(OLD, "x")))).not.toContain(OLD);
  });

  it("rejects a wrapped key claimed by the wrong master key or tampered with", () => {
    const keyring = parseMasterKeys(`new:${NEW},old:${OLD}`);
    const { wrapped } = keyring.wrapDataKey(generateDataKey());
    const wrongId = captured(() => keyring.unwrapDataKey("old", wrapped));
    expect(wrongId).toBeInstanceOf(InvalidTokenError);
    expect((wrongId as InvalidTokenError).reason).toBe("bad_signature");
    const tampered = `${wrapped.slice(0, 10)}${wrapped[10] === "A" ? "B" : "A"}${wrapped.slice(11)}`;
    expect(captured(() => keyring.unwrapDataKey("new", tampered))).toBeInstanceOf(InvalidTokenError);
  });

  it("refuses to wrap something that is not a data key, without echoing it", () => {
    const keyring = parseMasterKeys(`new:${NEW}`);
    const notAKey = "hunter2-hunter2-hunter2";
    const err = captured(() => keyring.wrapDataKey(notAKey));
    expect(err).toBeInstanceOf(KeyringError);
    expect(everythingShown(err)).not.toContain(notAKey);
  });

  it("rejects an unwrapped value that is not a data key", () => {
    const keyring = parseMasterKeys(`new:${NEW}`);
    const wrapped = new Fernet(NEW).encrypt("not a key");
    expect(captured(() => keyring.unwrapDataKey("new", wrapped))).toBeInstanceOf(KeyringError);
  });

  it("stores data keys in one canonical form", () => {
    const keyring = parseMasterKeys(`new:${NEW}`);
    const dataKey = generateDataKey();
    const { keyId, wrapped } = keyring.wrapDataKey(dataKey.replace(/=$/, ""));
    expect(keyring.unwrapDataKey(keyId, wrapped)).toBe(dataKey);
  });

  it("cannot be built empty or with an invalid id", () => {
    expect(() => new MasterKeyring(new Map())).toThrow(KeyringError);
    expect(() => new MasterKeyring(new Map([["Bad Id", new Fernet(NEW)]]))).toThrow(KeyringError);
  });
});

describe("generateDataKey", () => {
  it("returns distinct, usable Fernet keys", () => {
    const a = generateDataKey();
    const b = generateDataKey();
    expect(a).not.toBe(b);
    expect(new Fernet(a).decryptString(new Fernet(a).encrypt("secret"))).toBe("secret");
  });
});

function captured(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}
