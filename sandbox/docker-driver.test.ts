import Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../src/errors.ts";
import { DockerSandboxDriver, sandboxContainerName } from "./docker-driver.ts";

describe("DockerSandboxDriver construction", () => {
  // Constructing a client opens no connection.
  const docker = new Docker({ socketPath: "/nonexistent.sock" });

  it("refuses to run sandboxes as root and refuses non-positive limits", () => {
    for (const user of ["0", "0:0", "root", "root:root", "00:10001"]) {
      expect(() => new DockerSandboxDriver({ docker, user })).toThrow(ValidationError);
    }
    expect(() => new DockerSandboxDriver({ docker, limits: { memoryBytes: 0 } })).toThrow(ValidationError);
    expect(() => new DockerSandboxDriver({ docker, user: "10001:10001" })).not.toThrow();
  });

  it("derives one stable, distinct, name-safe container name per (org, repository)", () => {
    const a = sandboxContainerName("org-1", "repo-1");
    expect(a).toBe(sandboxContainerName("org-1", "repo-1"));
    expect(a).toMatch(/^causeway-sandbox-[0-9a-f]{32}$/);
    expect(sandboxContainerName("org-1", "repo-2")).not.toBe(a);
    // The separator keeps ("ab", "c") and ("a", "bc") apart.
    expect(sandboxContainerName("ab", "c")).not.toBe(sandboxContainerName("a", "bc"));
  });

  it("reports an unreachable engine as a retryable sandbox error", async () => {
    const driver = new DockerSandboxDriver({ docker });
    await expect(driver.list()).rejects.toMatchObject({ name: "SandboxError", retryable: true });
  });
});
