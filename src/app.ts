import type { OpenAPIHono } from "@hono/zod-openapi";
import { Scalar } from "@scalar/hono-api-reference";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { secureHeaders } from "hono/secure-headers";
import type { Logger } from "pino";
import type { Database } from "../db/client.ts";
import type { AccountsDeps } from "./accounts/deps.ts";
import { accountsRoutes } from "./accounts/routes.ts";
import { attributionRoutes } from "./attribution/routes.ts";
import type { EnqueueAttribution } from "./attribution/service.ts";
import type { ChangesDeps } from "./changes/deps.ts";
import { changeRoutes } from "./changes/routes.ts";
import type { Config } from "./config.ts";
import { integrationRoutes } from "./credentials/integration-routes.ts";
import type { IntegrationService } from "./credentials/integrations.ts";
import type { QueryProxy } from "./credentials/proxy.ts";
import { proxyRoutes } from "./credentials/proxy-routes.ts";
import { AppError } from "./errors.ts";
import type { EvidenceDeps } from "./evidence/checkpoints.ts";
import { evidenceRoutes } from "./evidence/routes.ts";
import { healthRoutes, type ReadinessCheck } from "./http/health-routes.ts";
import { meRoutes } from "./http/me-routes.ts";
import { requestId, requestLogger, requireAuth } from "./http/middleware.ts";
import { problemFor, problemResponse, toProblem } from "./http/problem.ts";
import { declareRateLimitResponses, rateLimit } from "./http/rate-limit.ts";
import { RouteTable } from "./http/route-security.ts";
import { createRouter } from "./http/router.ts";
import type { AppEnv } from "./http/types.ts";
import { incidentRoutes } from "./incidents/routes.ts";
import { incidentActionRoutes } from "./incidents/timeline-routes.ts";
import { deliveryRoutes } from "./ingest/deliveries-routes.ts";
import type { IngestDeps } from "./ingest/deps.ts";
import { webhookRoutes } from "./ingest/webhook-routes.ts";
import { jobRoutes, type ListDeadJobs } from "./jobs/routes.ts";
import type { ReportsDeps } from "./reports/deps.ts";
import { reportsOnIncidentChanged } from "./reports/hooks.ts";

export interface AppDeps {
  config: Config;
  db: Database;
  logger: Logger;
  readiness: ReadinessCheck[];
  /** The integrations API and the query proxy. */
  credentials: { integrations: IntegrationService; proxy: QueryProxy };
  /** Password hashing, token signing, rate limiter and policies of the accounts services. */
  accounts: AccountsDeps;
  ingest: IngestDeps;
  /** Repositories, mirrors, changes, deploys and tickets. */
  changes: ChangesDeps;
  /** Queues an anomaly's attribution (the retry endpoint). */
  attribution: { enqueue: EnqueueAttribution };
  /** Slack investigation reports: incident actions update them. */
  reports?: ReportsDeps;
  /** Audit checkpoints, proofs and compliance bundles. */
  evidence: EvidenceDeps;
  /** Dead-letter listing of the job runner (GET /api/v1/jobs/dead). */
  deadJobs?: ListDeadJobs;
  /** Reports unexpected errors (Sentry when configured). */
  captureException?: (error: unknown, requestId: string | undefined) => void;
}

/** The largest request body an /api route accepts (webhooks have their own, configurable limit). */
export const API_MAX_BODY_BYTES = 1024 * 1024;

export const OPENAPI_INFO = {
  openapi: "3.1.0",
  info: {
    title: "Causeway API",
    version: "0.1.0",
    description:
      "Incident correlation: alert webhooks in; anomalies, incidents, suspect pull requests, authorizing tickets and audit evidence out.",
  },
} as const;

/**
 * Builds the HTTP app. Mount order: request id → request logger → secure headers → CORS → auth →
 * rate limit → routes; errors and unknown paths render as problem+json at the root.
 */
export function buildApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const app = createRouter();
  app.use("*", requestId());
  app.use("*", requestLogger(deps.logger));
  app.use("*", secureHeaders({ crossOriginResourcePolicy: "same-origin", referrerPolicy: "no-referrer" }));
  if (deps.config.http.corsOrigins.length > 0) {
    app.use("/api/*", cors({ origin: deps.config.http.corsOrigins, credentials: true, maxAge: 600 }));
  }
  // API bodies are small JSON documents: a larger one is refused before anything reads or parses it.
  app.use(
    "/api/*",
    bodyLimit({
      maxSize: API_MAX_BODY_BYTES,
      onError: () => {
        throw new AppError("payload_too_large", { detail: `the body exceeds ${API_MAX_BODY_BYTES} bytes` });
      },
    }),
  );
  // Both read each route's declared role and rate-limit class (src/http/route-security.ts).
  const routes = new RouteTable(app);
  app.use("/api/*", requireAuth(deps.accounts, routes));
  app.use("/api/*", rateLimit(deps.accounts.limiter, routes, { trustProxy: deps.config.trustProxy }));

  app.route("/", healthRoutes(deps.readiness));
  app.route("/", meRoutes());
  app.route("/", integrationRoutes(deps.credentials.integrations));
  app.route("/", proxyRoutes(deps.credentials.proxy));
  app.route("/", accountsRoutes(deps.accounts, { trustProxy: deps.config.trustProxy }));
  app.route("/", webhookRoutes(deps.ingest.receive, deps.config.webhooks.maxBodyBytes));
  app.route(
    "/",
    deliveryRoutes(deps.db, () => deps.ingest.processor.nudge()),
  );
  app.route("/", incidentRoutes(deps.db));
  app.route(
    "/",
    incidentActionRoutes({
      db: deps.db,
      ...(deps.reports ? { onChanged: reportsOnIncidentChanged(deps.reports) } : {}),
    }),
  );
  app.route("/", changeRoutes(deps.changes));
  app.route("/", attributionRoutes(deps.db, deps.attribution.enqueue));
  app.route("/", evidenceRoutes(deps.evidence));
  if (deps.deadJobs) app.route("/", jobRoutes(deps.deadJobs));

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "An API key (cw_…) or an access token.",
  });
  declareRateLimitResponses(app);
  app.doc31("/openapi.json", OPENAPI_INFO);
  app.get("/docs", Scalar({ url: "/openapi.json", pageTitle: "Causeway API" }));

  app.notFound((c) =>
    problemResponse(c, problemFor("not_found", { detail: "no such route", requestId: c.get("requestId") })),
  );
  app.onError((error, c) => {
    const id = c.get("requestId");
    const { problem, headers, unexpected } = toProblem(error, id);
    if (unexpected) {
      (c.get("logger") ?? deps.logger).error({ err: error }, "unhandled error");
      deps.captureException?.(error, id);
    }
    return problemResponse(c, problem, headers);
  });
  return app;
}
