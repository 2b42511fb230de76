import type { UpstreamError } from "../../integrations/core/upstream.ts";
import { IntegrationError } from "../errors.ts";

/** A vendor failure as our IntegrationError: what happened and whether retrying helps, nothing of the request. */
export function integrationErrorOf(vendor: "GitHub" | "Jira", error: UpstreamError): IntegrationError {
  const http = error.status === undefined ? "" : ` (HTTP ${error.status})`;
  const retryable = error.retryable;
  const detail: Record<UpstreamError["failure"], string> = {
    unauthorized: `${vendor} refused the stored credentials${http}; check that they are valid and can read`,
    rejected: `${vendor} refused the request${http}`,
    not_found: `${vendor} has no such resource${http}, or the credentials cannot see it`,
    rate_limited: `${vendor} is rate limiting these credentials${http}; retry later`,
    server_error: `${vendor} failed to answer${http}`,
    timeout: `${vendor} did not answer in time`,
    network: `could not reach ${vendor} at the configured base URL`,
    too_large: `${vendor}'s answer was too large`,
    invalid_response: `${vendor} sent an answer that could not be read${http}`,
  };
  return new IntegrationError(detail[error.failure], {
    retryable,
    timeout: error.failure === "timeout",
    cause: error,
  });
}
