import { alertmanagerProvider } from "../alertmanager/index.ts";
import { datadogProvider } from "../datadog/index.ts";
import { githubProvider } from "../github/index.ts";
import { grafanaProvider } from "../grafana/index.ts";
import { jiraProvider } from "../jira/index.ts";
import { mezmoProvider } from "../mezmo/index.ts";
import { pagerdutyProvider } from "../pagerduty/index.ts";
import { sentryProvider } from "../sentry/index.ts";
import { signozProvider } from "../signoz/index.ts";
import { slackProvider } from "../slack/index.ts";
import type { Provider, ProviderId } from "./types.ts";

/**
 * Every provider, explicitly. `satisfies` makes a provider id without an implementation (or the reverse) a
 * compile error; nothing is discovered from file names at run time.
 */
export const PROVIDERS = {
  sentry: sentryProvider,
  datadog: datadogProvider,
  grafana: grafanaProvider,
  signoz: signozProvider,
  mezmo: mezmoProvider,
  alertmanager: alertmanagerProvider,
  pagerduty: pagerdutyProvider,
  github: githubProvider,
  jira: jiraProvider,
  slack: slackProvider,
} as const satisfies Record<ProviderId, Provider>;
