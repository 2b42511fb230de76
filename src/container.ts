import "reflect-metadata";
import Docker from "dockerode";
import type { Logger } from "pino";
import { type DependencyContainer, instanceCachingFactory, container as rootContainer } from "tsyringe";
import type { Database } from "../db/client.ts";
import { createAnthropicCompletion } from "../integrations/anthropic/client.ts";
import { PROVIDERS } from "../integrations/core/registry.ts";
import { createDatadogClient } from "../integrations/datadog/client.ts";
import { createGrafanaClient } from "../integrations/grafana/client.ts";
import { createSignozClient } from "../integrations/signoz/client.ts";
import { createSlackClient } from "../integrations/slack/client.ts";
import { DockerSandboxDriver } from "../sandbox/docker-driver.ts";
import type { SandboxDriver } from "../sandbox/driver.ts";
import { LocalSandboxDriver } from "../sandbox/local-driver.ts";
import { AccessTokens, DEFAULT_ACCESS_TOKEN_OPTIONS, parseSessionKeys } from "./accounts/access-token.ts";
import {
  type AccountsDeps,
  type AccountsOverrides,
  DEFAULT_LOCKOUT,
  DEFAULT_SESSION_POLICY,
} from "./accounts/deps.ts";
import { PasswordHasher } from "./accounts/password.ts";
import { RateLimiter, rateLimitPolicy } from "./accounts/rate-limiter.ts";
import { type AppDeps, buildApp } from "./app.ts";
import { attributionJob } from "./attribution/job.ts";
import { sharedPatchCache } from "./attribution/patch-cache.ts";
import type { AttributionDeps } from "./attribution/pipeline.ts";
import { attributionOnCommitted, type EnqueueAttribution } from "./attribution/service.ts";
import type { ChangesDeps } from "./changes/deps.ts";
import { GitRunner } from "./changes/git.ts";
import { GitHubAppTokens } from "./changes/github-app.ts";
import { changesJobs, followUpJob } from "./changes/jobs.ts";
import { MirrorStore } from "./changes/mirrors.ts";
import { changesOnCommitted } from "./changes/signals.ts";
import type { Config } from "./config.ts";
import { IntegrationService } from "./credentials/integrations.ts";
import { parseMasterKeys } from "./credentials/keyring.ts";
import { QueryProxy } from "./credentials/proxy.ts";
import { CredentialStore } from "./credentials/store.ts";
import { GitCheckpointPublisher } from "./evidence/checkpoint-git.ts";
import type { EvidenceDeps } from "./evidence/checkpoints.ts";
import { parseCheckpointKey } from "./evidence/signer.ts";
import type { ReadinessCheck } from "./http/health-routes.ts";
import { DeliveryWriter } from "./ingest/delivery-writer.ts";
import type { IngestDeps } from "./ingest/deps.ts";
import { IngestPressure } from "./ingest/pressure.ts";
import { DeliveryProcessor, type ProcessDeps } from "./ingest/process-deliveries.ts";
import { recordRejectedWebhook } from "./ingest/rejections.ts";
import { cachedWebhookTargets } from "./ingest/webhook-target.ts";
import { allJobs } from "./jobs/registry.ts";
import { createBoss, JobRunner } from "./jobs/runner.ts";
import type { ResolvedKeys } from "./keys.ts";
import type { ReportsDeps } from "./reports/deps.ts";
import { reportsOnCommitted } from "./reports/hooks.ts";
import { REPORT_RETRY, reportsJobs } from "./reports/jobs.ts";
import { captureException } from "./telemetry/sentry.ts";

/**
 * The composition root: the only file that knows concrete classes. Tokens are explicit strings/symbols
 * and every registration is a factory, so nothing depends on decorator metadata (tsx and vitest emit none).
 */
export const TOKENS = {
  Config: Symbol("Config"),
  Keys: Symbol("Keys"),
  Logger: Symbol("Logger"),
  Database: Symbol("Database"),
  JobRunner: Symbol("JobRunner"),
  App: Symbol("App"),
  Credentials: Symbol("Credentials"),
  Accounts: Symbol("Accounts"),
  CredentialStore: Symbol("CredentialStore"),
  Ingest: Symbol("Ingest"),
  Changes: Symbol("Changes"),
  Sandbox: Symbol("Sandbox"),
  Attribution: Symbol("Attribution"),
  EnqueueAttribution: Symbol("EnqueueAttribution"),
  Reports: Symbol("Reports"),
  Evidence: Symbol("Evidence"),
} as const;

export interface ContainerInput {
  config: Config;
  logger: Logger;
  db: Database;
  /** Connection string for pg-boss (same database, its own schema, owner privileges). */
  databaseUrl: string;
  sentryEnabled: boolean;
  keys: ResolvedKeys;
  /** Rate limits, lockout, session cap and scrypt cost; production defaults when absent. */
  accounts?: AccountsOverrides;
}

export function buildContainer(input: ContainerInput): DependencyContainer {
  const c = rootContainer.createChildContainer();
  c.register(TOKENS.Config, { useValue: input.config });
  c.register(TOKENS.Keys, { useValue: input.keys });
  c.register(TOKENS.Logger, { useValue: input.logger });
  c.register(TOKENS.Database, { useValue: input.db });
  c.register(TOKENS.JobRunner, {
    useFactory: instanceCachingFactory((dc) => {
      const runner = new JobRunner(
        createBoss(input.databaseUrl),
        dc.resolve<Logger>(TOKENS.Logger).child({ component: "jobs" }),
      );
      runner.register(
        allJobs({
          db: dc.resolve<Database>(TOKENS.Database),
          logger: dc.resolve<Logger>(TOKENS.Logger),
          changes: dc.resolve<ChangesDeps>(TOKENS.Changes),
          attribution: dc.resolve<AttributionDeps>(TOKENS.Attribution),
          reports: dc.resolve<ReportsDeps>(TOKENS.Reports),
        }),
      );
      return runner;
    }),
  });
  c.register(TOKENS.Accounts, {
    useFactory: instanceCachingFactory((dc): AccountsDeps => {
      const db = dc.resolve<Database>(TOKENS.Database);
      const config = dc.resolve<Config>(TOKENS.Config);
      const overrides = input.accounts ?? {};
      return {
        db,
        hasher: new PasswordHasher(overrides.passwordParams),
        tokens: new AccessTokens(parseSessionKeys(dc.resolve<ResolvedKeys>(TOKENS.Keys).sessionKeys), {
          ...DEFAULT_ACCESS_TOKEN_OPTIONS,
          issuer: config.http.publicUrl ?? DEFAULT_ACCESS_TOKEN_OPTIONS.issuer,
        }),
        limiter: new RateLimiter(db, rateLimitPolicy(overrides.rateLimits)),
        lockout: { ...DEFAULT_LOCKOUT, ...overrides.lockout },
        sessions: { ...DEFAULT_SESSION_POLICY, ...overrides.sessions },
      };
    }),
  });
  c.register(TOKENS.CredentialStore, {
    useFactory: instanceCachingFactory(
      (dc) => new CredentialStore(parseMasterKeys(dc.resolve<ResolvedKeys>(TOKENS.Keys).masterKeys)),
    ),
  });
  c.register(TOKENS.Credentials, {
    useFactory: instanceCachingFactory((dc): AppDeps["credentials"] => {
      const db = dc.resolve<Database>(TOKENS.Database);
      const config = dc.resolve<Config>(TOKENS.Config);
      const store = dc.resolve<CredentialStore>(TOKENS.CredentialStore);
      return {
        integrations: new IntegrationService({
          db,
          store,
          publicBaseUrl: config.http.publicUrl ?? `http://localhost:${config.http.port}`,
          // A retired secret or a changed config stops applying to webhooks at once in this process.
          onChanged: (id) => dc.resolve<IngestDeps>(TOKENS.Ingest).invalidateTarget(id),
        }),
        proxy: new QueryProxy({
          db,
          store,
          clients: { datadog: createDatadogClient, grafana: createGrafanaClient, signoz: createSignozClient },
          timeoutMs: config.proxy.timeoutMs,
          maxUpstreamBytes: 8 * 1024 * 1024,
          maxResponseBytes: 1024 * 1024,
        }),
      };
    }),
  });
  c.register(TOKENS.Changes, {
    useFactory: instanceCachingFactory((dc): ChangesDeps => {
      const config = dc.resolve<Config>(TOKENS.Config);
      const logger = dc.resolve<Logger>(TOKENS.Logger).child({ component: "changes" });
      const credentials = dc.resolve<CredentialStore>(TOKENS.CredentialStore);
      return {
        db: dc.resolve<Database>(TOKENS.Database),
        logger,
        credentials,
        mirrors: new MirrorStore({ dataDir: config.dataDir, git: new GitRunner(), logger }),
        githubApps: new GitHubAppTokens(credentials),
        dataDir: config.dataDir,
        httpLimits: { timeoutMs: 15_000, maxBytes: 8 * 1024 * 1024 },
        enqueue: async (work) => {
          const { name, payload } = followUpJob(work);
          const def = changesJobs(dc.resolve<ChangesDeps>(TOKENS.Changes)).find((d) => d.name === name);
          if (def) await dc.resolve<JobRunner>(TOKENS.JobRunner).send(def, payload);
        },
      };
    }),
  });
  c.register(TOKENS.Sandbox, {
    useFactory: instanceCachingFactory((dc): SandboxDriver => {
      const config = dc.resolve<Config>(TOKENS.Config);
      return createSandboxDriver(config, dc.resolve<Logger>(TOKENS.Logger).child({ component: "sandbox" }));
    }),
  });
  c.register(TOKENS.Attribution, {
    useFactory: instanceCachingFactory((dc): AttributionDeps => {
      const config = dc.resolve<Config>(TOKENS.Config);
      const apiKey = config.anthropic.apiKey;
      sharedPatchCache.resize(config.attribution.patchCacheBytes);
      return {
        db: dc.resolve<Database>(TOKENS.Database),
        logger: dc.resolve<Logger>(TOKENS.Logger).child({ component: "attribution" }),
        changes: dc.resolve<ChangesDeps>(TOKENS.Changes),
        sandbox: dc.resolve<SandboxDriver>(TOKENS.Sandbox),
        sandboxTtlMs: config.sandbox.ttlMs,
        ...(apiKey
          ? {
              complete: createAnthropicCompletion({
                apiKey,
                ...(config.anthropic.baseUrl ? { baseUrl: config.anthropic.baseUrl } : {}),
              }),
            }
          : {}),
      };
    }),
  });
  c.register(TOKENS.EnqueueAttribution, {
    useFactory: instanceCachingFactory((dc): EnqueueAttribution => {
      return async (orgId, anomalyIds) => {
        const def = attributionJob(dc.resolve<AttributionDeps>(TOKENS.Attribution));
        await dc.resolve<JobRunner>(TOKENS.JobRunner).sendMany(
          def,
          anomalyIds.map((anomalyId) => ({ orgId, anomalyId })),
        );
      };
    }),
  });
  c.register(TOKENS.Reports, {
    useFactory: instanceCachingFactory((dc): ReportsDeps => {
      const config = dc.resolve<Config>(TOKENS.Config);
      return {
        db: dc.resolve<Database>(TOKENS.Database),
        logger: dc.resolve<Logger>(TOKENS.Logger).child({ component: "reports" }),
        credentials: dc.resolve<CredentialStore>(TOKENS.CredentialStore),
        publicBaseUrl: config.http.publicUrl ?? `http://localhost:${config.http.port}`,
        slackClient: createSlackClient,
        maxAttempts: REPORT_RETRY.limit + 1,
        enqueue: async (payload) => {
          const [def] = reportsJobs(dc.resolve<ReportsDeps>(TOKENS.Reports));
          if (def) await dc.resolve<JobRunner>(TOKENS.JobRunner).send(def, payload);
        },
      };
    }),
  });
  c.register(TOKENS.Ingest, {
    useFactory: instanceCachingFactory((dc): IngestDeps => {
      const db = dc.resolve<Database>(TOKENS.Database);
      const logger = dc.resolve<Logger>(TOKENS.Logger);
      const store = dc.resolve<CredentialStore>(TOKENS.CredentialStore);
      const { ingest } = dc.resolve<Config>(TOKENS.Config);
      const pressure = new IngestPressure(ingest.busyPerSecond);
      const processor = new DeliveryProcessor(
        {
          db,
          providers: PROVIDERS,
          logger: logger.child({ component: "ingest" }),
          onCommitted: composeOnCommitted(
            changesOnCommitted(dc.resolve<ChangesDeps>(TOKENS.Changes)),
            // After the changes stage, so a release deploy learned from the same delivery is on record.
            attributionOnCommitted(db, dc.resolve<EnqueueAttribution>(TOKENS.EnqueueAttribution), logger),
            reportsOnCommitted(dc.resolve<ReportsDeps>(TOKENS.Reports)),
          ),
        },
        {
          yieldTo: pressure,
          maxDeferMs: ingest.maxDeferMs,
          busyShare: ingest.busyShare,
          busySliceMs: ingest.busySliceMs,
        },
      );
      const findTarget = cachedWebhookTargets(async (integrationId) => {
        const found = await store.getIntegrationForWebhook(db, integrationId);
        return found
          ? {
              integrationId: found.integration.id,
              orgId: found.integration.orgId,
              provider: found.integration.provider,
              config: found.integration.config,
              secrets: found.secrets,
            }
          : null;
      });
      const writer = new DeliveryWriter(db.ownerSql);
      return {
        processor,
        writer,
        receive: {
          providers: PROVIDERS,
          findTarget,
          writer,
          onRejected: recordRejectedWebhook(db, logger),
          onStored: () => processor.nudge(),
          onArrived: () => pressure.note(),
        },
        invalidateTarget: (id) => findTarget.invalidate(id),
      };
    }),
  });
  c.register(TOKENS.Evidence, {
    useFactory: instanceCachingFactory((dc): EvidenceDeps => {
      const config = dc.resolve<Config>(TOKENS.Config);
      return {
        db: dc.resolve<Database>(TOKENS.Database),
        logger: dc.resolve<Logger>(TOKENS.Logger).child({ component: "evidence" }),
        key: parseCheckpointKey(dc.resolve<ResolvedKeys>(TOKENS.Keys).checkpointKey),
        ...checkpointPublishing(config),
        // Detection context goes through the query proxy's server-side clients (src/evidence/detection-context.ts).
        proxy: dc.resolve<AppDeps["credentials"]>(TOKENS.Credentials).proxy,
      };
    }),
  });
  c.register(TOKENS.App, {
    useFactory: instanceCachingFactory((dc) => {
      const db = dc.resolve<Database>(TOKENS.Database);
      const jobs = dc.resolve<JobRunner>(TOKENS.JobRunner);
      const readiness: ReadinessCheck[] = [
        {
          name: "database",
          check: async () => {
            await db.ownerSql`select 1`;
            return { ok: true };
          },
        },
        { name: "queue", check: async () => ({ ok: await jobs.ping() }) },
        {
          // Says which sandbox runs attribution's git work; the local driver has no isolation at all.
          name: "sandbox",
          check: async () => ({
            ok: true,
            detail:
              dc.resolve<SandboxDriver>(TOKENS.Sandbox).kind === "local"
                ? "local driver: git runs unisolated on the server (no Docker)"
                : "docker",
          }),
        },
      ];
      const deps: AppDeps = {
        config: dc.resolve<Config>(TOKENS.Config),
        db,
        logger: dc.resolve<Logger>(TOKENS.Logger),
        readiness,
        credentials: dc.resolve<AppDeps["credentials"]>(TOKENS.Credentials),
        accounts: dc.resolve<AccountsDeps>(TOKENS.Accounts),
        ingest: dc.resolve<IngestDeps>(TOKENS.Ingest),
        changes: dc.resolve<ChangesDeps>(TOKENS.Changes),
        attribution: { enqueue: dc.resolve<EnqueueAttribution>(TOKENS.EnqueueAttribution) },
        reports: dc.resolve<ReportsDeps>(TOKENS.Reports),
        evidence: dc.resolve<EvidenceDeps>(TOKENS.Evidence),
        deadJobs: (orgId, limit) => jobs.listDeadForOrg(orgId, limit),
        ...(input.sentryEnabled ? { captureException } : {}),
      };
      return buildApp(deps);
    }),
  });
  return c;
}

type OnCommitted = NonNullable<ProcessDeps["onCommitted"]>;

function composeOnCommitted(...hooks: OnCommitted[]): OnCommitted {
  return async (orgId, outcomes) => {
    for (const hook of hooks) await hook(orgId, outcomes);
  };
}

/** Where new checkpoints are published besides the database (`causeway audit checkpoint` does the same). */
function checkpointPublishing(config: Config): Pick<EvidenceDeps, "publishDir" | "publishGit"> {
  const { publishDir, publishGit } = config.checkpoints;
  return {
    ...(publishDir ? { publishDir } : {}),
    ...(publishGit ? { publishGit: new GitCheckpointPublisher(publishGit) } : {}),
  };
}

/** The configured sandbox driver (also used by `causeway sandbox list | reap`). */
export function createSandboxDriver(config: Config, logger: Logger): SandboxDriver {
  return config.sandbox.driver === "docker"
    ? new DockerSandboxDriver({ docker: new Docker(), image: config.sandbox.image, logger })
    : new LocalSandboxDriver({ logger });
}
