import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AppError, ERROR_CODES } from "../errors.ts";
import { problemFor, STATUS_BY_CODE, toProblem } from "./problem.ts";

describe("problem+json", () => {
  it("maps every code to one status", () => {
    expect(Object.keys(STATUS_BY_CODE).sort()).toEqual([...ERROR_CODES].sort());
  });

  it("never carries internal detail on a 500", () => {
    const { problem, unexpected } = toProblem(
      new Error("connection to 10.0.0.3 refused: password=hunter2"),
      "rid",
    );
    expect(unexpected).toBe(true);
    expect(problem.status).toBe(500);
    expect(JSON.stringify(problem)).not.toMatch(/hunter2|10\.0\.0\.3/);
    expect(problem.requestId).toBe("rid");
  });

  it("keeps the detail of a client error and the retryable flag", () => {
    const { problem } = toProblem(
      new AppError("upstream_timeout", { detail: "Datadog timed out", retryable: true }),
      "r",
    );
    expect(problem).toMatchObject({
      status: 504,
      code: "upstream_timeout",
      detail: "Datadog timed out",
      retryable: true,
    });
    expect(problemFor("forbidden").status).toBe(403);
    expect(problemFor("unauthenticated").status).toBe(401);
  });

  it("is documented code by code in docs/errors.md", () => {
    const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
    for (const code of ERROR_CODES) {
      expect(doc).toContain(`| \`${code}\` | ${STATUS_BY_CODE[code]} |`);
    }
  });
});
