import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_VARIABLES, ConfigError, loadConfig } from "./config.ts";

describe("loadConfig", () => {
  it("applies defaults on an empty environment", () => {
    const config = loadConfig({});
    expect(config.http.port).toBe(8080);
    expect(config.database.url).toBeUndefined();
    expect(config.dataDir).toBe("./.causeway");
    expect(config.keys.masterKeys).toBeUndefined();
    expect(config.database.embeddedPort).not.toBe(5432);
  });

  it("names the variable that is wrong, without echoing its value", () => {
    const attempt = () => loadConfig({ PORT: "eighty", DATABASE_URL: "mysql://user:hunter2@db/x" });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toMatch(/PORT/);
      expect(message).toMatch(/DATABASE_URL/);
      expect(message).not.toContain("hunter2");
    }
  });

  it("refuses the embedded Postgres on 5432", () => {
    expect(() => loadConfig({ CAUSEWAY_EMBEDDED_PG_PORT: "5432" })).toThrow(/CAUSEWAY_EMBEDDED_PG_PORT/);
  });

  it("treats empty strings as unset", () => {
    expect(loadConfig({ DATABASE_URL: "", SENTRY_DSN: "" }).database.url).toBeUndefined();
  });

  it("reads checkpoint publishing targets; a git remote needs the repository and must be a remote name", () => {
    expect(loadConfig({}).checkpoints).toEqual({ publishDir: undefined, publishGit: undefined });
    expect(
      loadConfig({
        CAUSEWAY_CHECKPOINT_PUBLISH_DIR: "/srv/cp",
        CAUSEWAY_CHECKPOINT_PUBLISH_GIT: "/srv/cp.git",
        CAUSEWAY_CHECKPOINT_PUBLISH_GIT_REMOTE: "origin",
      }).checkpoints,
    ).toEqual({ publishDir: "/srv/cp", publishGit: { repo: "/srv/cp.git", remote: "origin" } });
    expect(() => loadConfig({ CAUSEWAY_CHECKPOINT_PUBLISH_GIT_REMOTE: "origin" })).toThrow(
      /CAUSEWAY_CHECKPOINT_PUBLISH_GIT_REMOTE: needs CAUSEWAY_CHECKPOINT_PUBLISH_GIT/,
    );
    expect(() =>
      loadConfig({
        CAUSEWAY_CHECKPOINT_PUBLISH_GIT: "/srv/cp.git",
        CAUSEWAY_CHECKPOINT_PUBLISH_GIT_REMOTE: "--upload-pack=sh",
      }),
    ).toThrow(/CAUSEWAY_CHECKPOINT_PUBLISH_GIT_REMOTE: must be the name of a git remote/);
  });

  it("is documented variable by variable in .env.example", () => {
    const documented = readFileSync(new URL("../.env.example", import.meta.url), "utf8")
      .split("\n")
      .map((line) => /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
      .filter((name): name is string => Boolean(name));
    expect([...documented].sort()).toEqual([...CONFIG_VARIABLES].sort());
  });
});
