import type { ProviderId } from "../../integrations/core/types.ts";

/** What a webhook URL's integration id resolves to: the org, the provider, its config and live secrets. */
export interface WebhookTarget {
  integrationId: string;
  orgId: string;
  provider: ProviderId;
  config: Record<string, unknown>;
  /** Every active secret (two during a rotation), decrypted. Never logged, never returned. */
  secrets: string[];
}

export type FindWebhookTarget = (integrationId: string) => Promise<WebhookTarget | null>;

/**
 * A small time-bounded cache in front of the lookup: webhooks arrive in bursts for the same integration,
 * and each lookup decrypts secrets. Entries live `ttlMs` (a retired secret stops working within it);
 * misses are cached briefly too, so a flood of unknown ids does not become a flood of queries.
 */
export function cachedWebhookTargets(
  find: FindWebhookTarget,
  options: { ttlMs: number; missTtlMs: number; maxEntries: number } = {
    ttlMs: 5_000,
    missTtlMs: 1_000,
    maxEntries: 10_000,
  },
): FindWebhookTarget & { invalidate(integrationId?: string): void } {
  const cache = new Map<string, { value: WebhookTarget | null; expires: number }>();
  const inflight = new Map<string, Promise<WebhookTarget | null>>();
  const lookup = async (integrationId: string) => {
    const now = Date.now();
    const hit = cache.get(integrationId);
    if (hit && hit.expires > now) return hit.value;
    const running = inflight.get(integrationId);
    if (running) return running;
    const promise = find(integrationId)
      .then((value) => {
        if (cache.size >= options.maxEntries) cache.delete(cache.keys().next().value as string);
        cache.set(integrationId, {
          value,
          expires: Date.now() + (value ? options.ttlMs : options.missTtlMs),
        });
        return value;
      })
      .finally(() => inflight.delete(integrationId));
    inflight.set(integrationId, promise);
    return promise;
  };
  return Object.assign(lookup, {
    invalidate(integrationId?: string) {
      if (integrationId) cache.delete(integrationId);
      else cache.clear();
    },
  });
}
