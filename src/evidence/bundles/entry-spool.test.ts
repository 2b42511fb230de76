import { describe, expect, it } from "vitest";
import { EntrySpool } from "./entry-spool.ts";

describe("entry spool", () => {
  it("gives the lines back in order, in chunks, empty lines included", async () => {
    const spool = await EntrySpool.create();
    const lines = Array.from({ length: 2_503 }, (_, i) =>
      i % 7 === 0 ? "" : JSON.stringify({ i, é: "😀" }),
    );
    for (let i = 0; i < lines.length; i += 1_000) await spool.write(lines.slice(i, i + 1_000));
    await spool.write([]);
    const chunks: string[][] = [];
    for await (const chunk of spool.chunks(1_000)) chunks.push(chunk);
    await spool.close();
    await spool.close();
    expect(chunks.map((c) => c.length)).toEqual([1_000, 1_000, 503]);
    expect(chunks.flat()).toEqual(lines);
  });
});
