import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const here = path.dirname(fileURLToPath(import.meta.url));
const START = "# --- sandbox user steps";
const END = "# --- end of sandbox user steps ---";

function userSteps(file: string): string {
  const text = readFileSync(path.join(here, file), "utf8");
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  expect(start, `${file} marks its user steps`).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  // The marker line itself names the other file; compare from the next line on.
  return text.slice(text.indexOf("\n", start) + 1, end);
}

describe("sandbox image Dockerfiles", () => {
  it("the offline build runs the same user steps as the registry build", () => {
    expect(userSteps("Dockerfile.offline")).toBe(userSteps("Dockerfile"));
  });

  it("runs as the non-root sandbox user with sleep as the keep-alive", () => {
    const steps = userSteps("Dockerfile");
    expect(steps).toMatch(/^USER 10001:10001$/m);
    expect(steps).toMatch(/useradd --uid 10001 --gid 10001/);
    expect(steps).toMatch(/^CMD \["sleep", "infinity"\]$/m);
  });
});
