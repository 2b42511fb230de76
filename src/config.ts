import { z } from "zod";

/**
 * Every setting Causeway reads from the environment, parsed once at boot. `.env.example` documents each
 * variable; a test keeps the two in sync. Secrets have no defaults: on the embedded default the boot code
 * generates the missing ones into the data folder; with DATABASE_URL set a missing one is an error.
 */
const booleanish = z
  .enum(["1", "0", "true", "false", "yes", "no"])
  .transform((v) => v === "1" || v === "true" || v === "yes");

const durationMs = z.coerce.number().int().positive();

const envSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: z.coerce.number().int().min(1).max(65535).default(8080),
  HOST: z.string().min(1).default("0.0.0.0"),
  /** Public base URL used in links (webhook URLs, Slack reports). */
  PUBLIC_URL: z.url().optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),

  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  /** Role the server's queries run as; the migrator creates it (non-owner, no BYPASSRLS). */
  DATABASE_APP_ROLE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lower-case SQL identifier")
    .default("causeway_app"),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  CAUSEWAY_DATA_DIR: z.string().min(1).default("./.causeway"),
  /** Port of the embedded Postgres (never 5432, which a system Postgres may hold). */
  CAUSEWAY_EMBEDDED_PG_PORT: z.coerce.number().int().min(1024).max(65535).default(54329),

  /** `id:fernetKey,id2:fernetKey2`: the first encrypts, all decrypt. */
  CAUSEWAY_MASTER_KEYS: z.string().min(1).optional(),
  /** `kid:base64(pkcs8 Ed25519 private key)`, comma-separated; the first signs, all verify. */
  CAUSEWAY_SESSION_KEYS: z.string().min(1).optional(),
  /** `name:base64(pkcs8 Ed25519 private key)` for signing audit checkpoints. */
  CAUSEWAY_CHECKPOINT_KEY: z.string().min(1).optional(),
  /** Directory every new audit checkpoint is also written to (`<dir>/<org id>/checkpoint`). */
  CAUSEWAY_CHECKPOINT_PUBLISH_DIR: z.string().min(1).optional(),
  /** Bare git repository every new audit checkpoint is also committed to. */
  CAUSEWAY_CHECKPOINT_PUBLISH_GIT: z.string().min(1).optional(),
  /** A remote configured on that repository, pushed to after each commit. */
  CAUSEWAY_CHECKPOINT_PUBLISH_GIT_REMOTE: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, "must be the name of a git remote")
    .optional(),

  SENTRY_DSN: z.url().optional(),
  SENTRY_ENVIRONMENT: z.string().optional(),
  ANTHROPIC_API_KEY: z.string().min(1).optional(),
  ANTHROPIC_BASE_URL: z.url().optional(),

  CAUSEWAY_SANDBOX_DRIVER: z.enum(["docker", "local"]).default("docker"),
  CAUSEWAY_SANDBOX_IMAGE: z.string().min(1).default("causeway-sandbox:latest"),
  CAUSEWAY_SANDBOX_TTL_MS: durationMs.default(24 * 60 * 60 * 1000),
  /** Memory for parsed commit patches kept between attributions (0: off). */
  CAUSEWAY_ATTRIBUTION_PATCH_CACHE_MB: z.coerce.number().int().min(0).max(4096).default(64),
  DOCKER_HOST: z.string().optional(),

  /** Deadline of one query proxy call to Datadog, Grafana or SigNoz. */
  CAUSEWAY_PROXY_TIMEOUT_MS: durationMs.max(120_000).default(15_000),
  WEBHOOK_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  /** Webhooks per second at which in-process normalization steps aside for the front door (0: never). */
  CAUSEWAY_INGEST_BUSY_PER_SECOND: z.coerce.number().int().min(0).max(1_000_000).default(100),
  /** The longest in-process normalization is put off while the front door is busy. */
  CAUSEWAY_INGEST_MAX_DEFER_MS: durationMs.max(300_000).default(15_000),
  /**
   * After that wait, while webhooks still arrive fast, the fraction of the time in-process normalization
   * may take (1: as much as it can).
   */
  CAUSEWAY_INGEST_BUSY_SHARE: z.coerce.number().gt(0).max(1).default(0.25),
  /**
   * Meanwhile, how long one normalization transaction should take (its length in deliveries follows
   * from that), so the share is taken in thin slices (0: always whole batches of 100).
   */
  CAUSEWAY_INGEST_BUSY_SLICE_MS: z.coerce.number().int().min(0).max(10_000).default(20),
  CORS_ORIGINS: z.string().optional(),
  SHUTDOWN_TIMEOUT_MS: durationMs.max(60_000).default(10_000),
  CAUSEWAY_TRUST_PROXY: booleanish.default(false),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  env: Env["NODE_ENV"];
  http: { port: number; host: string; publicUrl: string | undefined; corsOrigins: string[] };
  logLevel: Env["LOG_LEVEL"];
  database: {
    /** Undefined means: start the embedded Postgres in dataDir. */
    url: string | undefined;
    appRole: string;
    poolMax: number;
    embeddedPort: number;
  };
  dataDir: string;
  keys: {
    masterKeys: string | undefined;
    sessionKeys: string | undefined;
    checkpointKey: string | undefined;
  };
  checkpoints: {
    publishDir: string | undefined;
    /** A bare repository to commit checkpoints to, and the remote to push them to. */
    publishGit: { repo: string; remote: string | undefined } | undefined;
  };
  sentry: { dsn: string | undefined; environment: string | undefined };
  anthropic: { apiKey: string | undefined; baseUrl: string | undefined };
  sandbox: { driver: "docker" | "local"; image: string; ttlMs: number; dockerHost: string | undefined };
  attribution: { patchCacheBytes: number };
  webhooks: { maxBodyBytes: number };
  ingest: { busyPerSecond: number; maxDeferMs: number; busyShare: number; busySliceMs: number };
  proxy: { timeoutMs: number };
  shutdownTimeoutMs: number;
  trustProxy: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Parses the environment. Values are never echoed back in errors: some of them are secrets. */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  // Empty strings mean "unset", as in most .env tooling.
  const cleaned: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) {
    if (value !== undefined && value !== "") cleaned[key] = value;
  }
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join(".") || "(env)"}: ${issue.message}`),
    );
  }
  const e = parsed.data;
  if (e.DATABASE_URL === undefined && e.CAUSEWAY_EMBEDDED_PG_PORT === 5432) {
    throw new ConfigError(["CAUSEWAY_EMBEDDED_PG_PORT: must not be 5432, a system Postgres may hold it"]);
  }
  if (
    e.CAUSEWAY_CHECKPOINT_PUBLISH_GIT_REMOTE !== undefined &&
    e.CAUSEWAY_CHECKPOINT_PUBLISH_GIT === undefined
  ) {
    throw new ConfigError(["CAUSEWAY_CHECKPOINT_PUBLISH_GIT_REMOTE: needs CAUSEWAY_CHECKPOINT_PUBLISH_GIT"]);
  }
  return {
    env: e.NODE_ENV,
    http: {
      port: e.PORT,
      host: e.HOST,
      publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ""),
      corsOrigins: (e.CORS_ORIGINS ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    },
    logLevel: e.LOG_LEVEL,
    database: {
      url: e.DATABASE_URL,
      appRole: e.DATABASE_APP_ROLE,
      poolMax: e.DATABASE_POOL_MAX,
      embeddedPort: e.CAUSEWAY_EMBEDDED_PG_PORT,
    },
    dataDir: e.CAUSEWAY_DATA_DIR,
    keys: {
      masterKeys: e.CAUSEWAY_MASTER_KEYS,
      sessionKeys: e.CAUSEWAY_SESSION_KEYS,
      checkpointKey: e.CAUSEWAY_CHECKPOINT_KEY,
    },
    checkpoints: {
      publishDir: e.CAUSEWAY_CHECKPOINT_PUBLISH_DIR,
      publishGit: e.CAUSEWAY_CHECKPOINT_PUBLISH_GIT
        ? { repo: e.CAUSEWAY_CHECKPOINT_PUBLISH_GIT, remote: e.CAUSEWAY_CHECKPOINT_PUBLISH_GIT_REMOTE }
        : undefined,
    },
    sentry: { dsn: e.SENTRY_DSN, environment: e.SENTRY_ENVIRONMENT },
    anthropic: { apiKey: e.ANTHROPIC_API_KEY, baseUrl: e.ANTHROPIC_BASE_URL },
    sandbox: {
      driver: e.CAUSEWAY_SANDBOX_DRIVER,
      image: e.CAUSEWAY_SANDBOX_IMAGE,
      ttlMs: e.CAUSEWAY_SANDBOX_TTL_MS,
      dockerHost: e.DOCKER_HOST,
    },
    attribution: { patchCacheBytes: e.CAUSEWAY_ATTRIBUTION_PATCH_CACHE_MB * 1024 * 1024 },
    webhooks: { maxBodyBytes: e.WEBHOOK_MAX_BODY_BYTES },
    ingest: {
      busyPerSecond: e.CAUSEWAY_INGEST_BUSY_PER_SECOND,
      maxDeferMs: e.CAUSEWAY_INGEST_MAX_DEFER_MS,
      busyShare: e.CAUSEWAY_INGEST_BUSY_SHARE,
      busySliceMs: e.CAUSEWAY_INGEST_BUSY_SLICE_MS,
    },
    proxy: { timeoutMs: e.CAUSEWAY_PROXY_TIMEOUT_MS },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    trustProxy: e.CAUSEWAY_TRUST_PROXY,
  };
}

/** Names of every variable the schema reads, for the .env.example sync test. */
export const CONFIG_VARIABLES = Object.keys(envSchema.shape);
