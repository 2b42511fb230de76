import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.ts";

function capture() {
  const lines: string[] = [];
  const logger = createLogger("info", { write: (line: string) => void lines.push(line) });
  return { logger, entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe("logger", () => {
  it("logs an error's type, message and stack, scrubbed, and none of its other fields", () => {
    const { logger, entries } = capture();
    const error = Object.assign(new TypeError("token ghp_abcdefghijklmnopqrstuvwxyz0123456789 refused"), {
      output: "raw upstream body",
    });
    logger.warn({ err: error, orgId: "o1" }, "it failed");
    const [entry] = entries();
    expect(entry).toMatchObject({ msg: "it failed", orgId: "o1", err: { type: "TypeError" } });
    const err = entry!.err as Record<string, string>;
    expect(err.message).toBe("token [redacted] refused");
    expect(err.stack).toContain("logger.test.ts");
    expect(JSON.stringify(entry)).not.toContain("ghp_abc");
    expect(JSON.stringify(entry)).not.toContain("raw upstream body");
  });
});
