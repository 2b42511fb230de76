import { randomBytes } from "node:crypto";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type pino from "pino";
import type { AccountsDeps, AccountsOverrides } from "../../src/accounts/deps.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { buildContainer, TOKENS } from "../../src/container.ts";
import type { AppEnv } from "../../src/http/types.ts";
import { generateKeys, type ResolvedKeys } from "../../src/keys.ts";
import { createLogger } from "../../src/telemetry/logger.ts";
import { type TestDatabase, useTestDatabase } from "../harness/db.ts";
import { TEST_PASSWORD_PARAMS } from "../harness/factories.ts";

export interface AccountsTestApp {
  app: OpenAPIHono<AppEnv>;
  database: TestDatabase;
  config: Config;
  keys: ResolvedKeys;
  accounts: AccountsDeps;
  logs: () => string;
  /** `bearer` is an API key or access token; `ip` goes out as X-Forwarded-For (the app trusts the proxy). */
  request(
    path: string,
    init?: RequestInit & { bearer?: string; apiKey?: string; json?: unknown; ip?: string; cookie?: string },
  ): Promise<Response>;
}

/**
 * The real app from the real composition root, with account policies chosen by the test: limits high
 * enough not to interfere unless a test lowers them, cheap scrypt, and X-Forwarded-For trusted so each
 * test can speak from its own address.
 */
export async function useAccountsApp(
  overrides: AccountsOverrides = {},
  keys: ResolvedKeys = generateKeys(),
): Promise<AccountsTestApp> {
  const database = await useTestDatabase();
  const config = loadConfig({
    NODE_ENV: "test",
    DATABASE_URL: database.url,
    LOG_LEVEL: "debug",
    CAUSEWAY_TRUST_PROXY: "true",
  });
  const lines: string[] = [];
  const logger = createLogger(config.logLevel, {
    write: (s: string) => void lines.push(s),
  } as pino.DestinationStream);
  const container = buildContainer({
    config,
    logger,
    db: database.db,
    databaseUrl: database.url,
    sentryEnabled: false,
    keys,
    accounts: {
      passwordParams: TEST_PASSWORD_PARAMS,
      ...overrides,
      rateLimits: {
        auth: { limit: 10_000 },
        standard: { limit: 10_000 },
        ai: { limit: 10_000 },
        export: { limit: 10_000 },
        ...overrides.rateLimits,
      },
    },
  });
  const app = container.resolve<OpenAPIHono<AppEnv>>(TOKENS.App);
  const defaultIp = randomIp();
  return {
    app,
    database,
    config,
    keys,
    accounts: container.resolve<AccountsDeps>(TOKENS.Accounts),
    logs: () => lines.join(""),
    request(path, init = {}) {
      const { bearer, apiKey, json, ip, cookie, ...rest } = init;
      const headers = new Headers(rest.headers);
      const credential = bearer ?? apiKey;
      if (credential) headers.set("authorization", `Bearer ${credential}`);
      if (!headers.has("x-forwarded-for")) headers.set("x-forwarded-for", ip ?? defaultIp);
      if (cookie) headers.set("cookie", cookie);
      let body = rest.body;
      if (json !== undefined) {
        headers.set("content-type", "application/json");
        body = JSON.stringify(json);
      }
      return Promise.resolve(app.request(path, { ...rest, headers, body }));
    },
  };
}

/** A documentation-range address (RFC 5737) unique enough that tests never share a rate-limit counter. */
export function randomIp(): string {
  const [a, b] = randomBytes(2);
  return `198.51.${a}.${b}`;
}

export const refreshCookieHeader = (token: string) => `__Secure-causeway_refresh=${token}`;
