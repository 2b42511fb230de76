/**
 * Decides whether the Docker sandbox tests run. With no engine (or no sandbox image) they are skipped
 * and say why — unless CAUSEWAY_REQUIRE_DOCKER=1 (set by .ci/run when .ci/docker-setup.sh brought an
 * engine up), where the same situation makes every test of the suite FAIL instead.
 *
 *   const docker = await probeDocker();
 *   describe.skipIf(docker.skip)(docker.title("docker sandbox"), () => {
 *     beforeEach(() => docker.assertAvailable()); // each test FAILS when required and missing
 */
import Docker from "dockerode";
import { DEFAULT_SANDBOX_IMAGE } from "../../sandbox/docker-driver.ts";

export interface DockerProbe {
  /** A client for the engine the tests use (DOCKER_HOST or the default socket). */
  docker: Docker;
  image: string;
  available: boolean;
  required: boolean;
  /** Why the engine is unusable; undefined when available. */
  reason: string | undefined;
  /** True when the suite must be skipped: unavailable and not required. */
  skip: boolean;
  /** Suite title that carries the skip reason, so the reporter shows it. */
  title(name: string): string;
  /** Throws (failing the suite) when Docker is required but unusable. */
  assertAvailable(): void;
}

const PROBE_TIMEOUT_MS = 5_000;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function probeDocker(image = DEFAULT_SANDBOX_IMAGE): Promise<DockerProbe> {
  const required = process.env.CAUSEWAY_REQUIRE_DOCKER === "1";
  const docker = new Docker();
  let reason: string | undefined;
  try {
    await withTimeout(docker.ping(), PROBE_TIMEOUT_MS, "the Docker engine");
  } catch (error) {
    reason = `no Docker engine answers (${messageOf(error)})`;
  }
  if (reason === undefined) {
    try {
      await withTimeout(docker.getImage(image).inspect(), PROBE_TIMEOUT_MS, "the Docker engine");
    } catch (error) {
      reason = `the sandbox image ${image} is missing; build it with sandbox/image/build-offline.sh (${messageOf(error)})`;
    }
  }
  const available = reason === undefined;
  if (!available) {
    const verdict = required
      ? "CAUSEWAY_REQUIRE_DOCKER=1, so the Docker sandbox tests FAIL"
      : "the Docker sandbox tests are SKIPPED (set CAUSEWAY_REQUIRE_DOCKER=1 to make this a failure)";
    console.warn(`\n!!! ${reason}: ${verdict}\n`);
  }
  return {
    docker,
    image,
    available,
    required,
    reason,
    skip: !available && !required,
    title: (name) => (available ? name : `${name} [${required ? "REQUIRED, " : "SKIPPED: "}${reason}]`),
    assertAvailable: () => {
      if (!available) throw new Error(`Docker is required (CAUSEWAY_REQUIRE_DOCKER=1) but ${reason}`);
    },
  };
}
