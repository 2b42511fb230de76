import { defineConfig } from "vitest/config";

// Three projects: pure unit tests beside the code, Docker sandbox tests, and integration tests that get a
// real Postgres (TEST_DATABASE_URL, else an embedded one) with a database per worker cloned from a
// migrated template.
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 180_000,
    pool: "forks",
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: [
            "src/**/*.test.ts",
            "integrations/**/*.test.ts",
            "sandbox/**/*.test.ts",
            "db/**/*.test.ts",
            "bench/**/*.test.ts",
          ],
        },
      },
      {
        extends: true,
        test: {
          name: "docker",
          include: ["test/sandbox/**/*.test.ts"],
          testTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          exclude: ["test/sandbox/**"],
          globalSetup: ["test/global-setup.ts"],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
