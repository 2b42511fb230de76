/**
 * Shared shapes for every external system. Providers depend only on this folder and their own SDK:
 * no database, no env, no Hono.
 */

export const PROVIDER_IDS = [
  "sentry",
  "datadog",
  "grafana",
  "signoz",
  "mezmo",
  "alertmanager",
  "pagerduty",
  "github",
  "jira",
  "slack",
] as const;

export type ProviderId = (typeof PROVIDER_IDS)[number];

export function isProviderId(value: string): value is ProviderId {
  return (PROVIDER_IDS as readonly string[]).includes(value);
}

export type SignalKind = "error" | "metric" | "log" | "deploy" | "change" | "ticket";
export type SignalStatus = "firing" | "resolved";
export type Severity = "critical" | "high" | "medium" | "low" | "info";

export interface StackFrame {
  /** Path as the runtime reported it (filename, else abs_path). */
  file: string;
  absPath?: string;
  line?: number;
  column?: number;
  function?: string;
  module?: string;
  inApp: boolean;
}

export interface SignalLink {
  rel: string;
  url: string;
}

/** The one normalized shape every inbound payload becomes (DESIGN.md §4). */
export interface Signal {
  kind: SignalKind;
  source: ProviderId;
  /** Stable id of "the same problem" across deliveries: anomalies dedup on (org, fingerprint). */
  fingerprint: string;
  title: string;
  severity: Severity;
  status: SignalStatus;
  service?: string;
  environment?: string;
  release?: string;
  commitSha?: string;
  occurredAt: Date;
  /** Crash site first: index 0 is the frame that threw, then its callers. */
  frames: StackFrame[];
  errorType?: string;
  message?: string;
  labels: Record<string, string>;
  links: SignalLink[];
  /** Provider-specific extras that later stages read (PR data for change signals, ticket fields, ...). */
  data?: Record<string, unknown>;
}

/** What the HTTP layer hands a verifier: the exact bytes that arrived and lower-cased headers. */
export interface VerifyInput {
  rawBody: Uint8Array;
  headers: Record<string, string>;
  /** Every active secret of the integration (two during a rotation). */
  secrets: string[];
  /** The integration's validated, non-secret config. */
  config: Record<string, unknown>;
  /** Query string of the request (Mezmo can carry a token in the URL). */
  query: Record<string, string>;
  now: Date;
}

export type VerifyResult =
  | {
      ok: true;
      /** The sender's delivery id when it has one (dedup key), else a content-derived key or undefined. */
      deliveryKey?: string;
    }
  | { ok: false; reason: "bad_signature" | "stale_timestamp" };

export interface NormalizeInput {
  /** Parsed JSON body. */
  body: unknown;
  headers: Record<string, string>;
  config: Record<string, unknown>;
  receivedAt: Date;
}

export type NormalizeResult =
  | { ok: true; signals: Signal[]; eventType: string }
  /** The payload is a known-unknown event we store and acknowledge but do not turn into signals. */
  | { ok: true; signals: []; eventType: string; ignored: true }
  | { ok: false; reason: string };

export interface Provider {
  id: ProviderId;
  displayName: string;
  /** Whether the sender signs bodies with a shared secret (so we generate one on integration create). */
  signsWebhooks: boolean;
  verify(input: VerifyInput): VerifyResult;
  normalize(input: NormalizeInput): NormalizeResult;
}
