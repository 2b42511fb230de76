import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BundleSyntaxError, readBundleHead, readBundleRows } from "./bundle-reader.ts";

const dir = await mkdtemp(path.join(tmpdir(), "causeway-bundle-reader-"));
let n = 0;
async function file(text: string | Buffer): Promise<string> {
  const p = path.join(dir, `${n++}.json`);
  await writeFile(p, text);
  return p;
}

async function readAll(p: string) {
  const head = await readBundleHead(p);
  const rows: unknown[] = [];
  const again = await readBundleRows(p, (text) => rows.push(JSON.parse(text)));
  expect(again).toBe(head.fileHash);
  return { ...head.members, ...(head.rowsIsArray ? { rows } : {}) };
}

describe("bundle reader", () => {
  it("gives back what JSON.parse gives, whatever the layout", async () => {
    const member = fc.oneof(fc.jsonValue(), fc.string());
    const bundle = fc.record({
      format: fc.string(),
      checkpoint: member,
      rows: fc.array(fc.jsonValue(), { maxLength: 20 }),
      manifest: member,
      'we"ird\\key': member,
    });
    await fc.assert(
      fc.asyncProperty(bundle, fc.constantFrom(undefined, 1, "\t"), async (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        expect(await readAll(await file(text))).toEqual(JSON.parse(text));
      }),
      { numRuns: 60 },
    );
  });

  it("hands out rows split across read chunks (multi-byte characters included)", async () => {
    const big = "é".repeat(700_000); // 1.4 MB of UTF-8: crosses the 1 MiB read size mid-character
    const text = `{"rows":[{"a":"${big}"} , "x\\"]y" ,\n42,true,null],"manifest":{"b":[1,{"c":"}"}]}}`;
    const out = await readAll(await file(text));
    expect(out).toEqual(JSON.parse(text));
  });

  it("reports a rows member that is not an array", async () => {
    const head = await readBundleHead(await file(`{"rows":{"0":1},"x":2}`));
    expect(head.rowsIsArray).toBe(false);
    expect(head.members).toEqual({ rows: { "0": 1 }, x: 2 });
  });

  it.each([
    ["", "ends before"],
    ["[]", "not a JSON object"],
    [`{"a":1,"a":2,"rows":[]}`, "duplicate member"],
    [`{"rows":[1,2]`, "ends before"],
    [`{"rows":[1,,2]}`, "expected a row"],
    [`{"rows":[1 2]}`, "after a row"],
    [`{"a" 1}`, "expected `:`"],
    [`{"a":tru}`, "not valid JSON"],
    [`{"a":1} x`, "text after"],
    [`{"a":1,}`, "member name"],
  ])("refuses %j", async (text, message) => {
    const p = await file(text);
    const error = await readBundleHead(p).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BundleSyntaxError);
    expect((error as Error).message).toContain(message);
  });
});
