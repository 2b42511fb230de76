import { and, asc, eq, sql } from "drizzle-orm";
import type { Logger } from "pino";
import { type Database, type OrgTx, withOrg } from "../../db/client.ts";
import { deliveries } from "../../db/schema/deliveries.ts";
import { signals as signalRows } from "../../db/schema/incidents.ts";
import { integrations } from "../../db/schema/integrations.ts";
import type { NormalizeResult, Provider, ProviderId, Signal } from "../../integrations/core/types.ts";
import { type AppliedSignal, applyAlertSignal } from "../incidents/correlate.ts";

const MAX_ATTEMPTS = 5;
const ALERT_KINDS = new Set<Signal["kind"]>(["error", "metric", "log"]);

export interface ProcessOutcome {
  deliveryId: string;
  status: "processed" | "ignored" | "dead" | "skipped";
  applied: AppliedSignal[];
}

export interface ProcessDeps {
  db: Database;
  providers: Readonly<Record<ProviderId, Provider>>;
  logger: Logger;
  /** Called after the transaction that created anomalies commits (the attribution stage hooks in here). */
  onCommitted?: (orgId: string, outcome: ProcessOutcome) => Promise<void>;
}

function parseBody(provider: ProviderId, body: Buffer, contentType: string | null): unknown {
  if (provider === "slack" || (contentType ?? "").startsWith("application/x-www-form-urlencoded")) {
    return Object.fromEntries(new URLSearchParams(body.toString("utf8")));
  }
  return JSON.parse(body.toString("utf8"));
}

function normalizeSafely(provider: Provider, input: Parameters<Provider["normalize"]>[0]): NormalizeResult {
  try {
    return provider.normalize(input);
  } catch (error) {
    // normalize is specified never to throw; if one does, the payload is kept as a dead letter.
    return { ok: false, reason: `normalizer error: ${error instanceof Error ? error.name : "unknown"}` };
  }
}

/**
 * Several deliveries of one org, in order, in one transaction with a savepoint each: what one delivery
 * does is undone alone if it fails (reported in `failed`), and the others commit together — one commit
 * for a burst instead of one per delivery. The hooks run after the commit, in order.
 */
export async function processDeliveryBatch(
  deps: ProcessDeps,
  orgId: string,
  deliveryIds: readonly string[],
): Promise<{ outcomes: ProcessOutcome[]; failed: { deliveryId: string; error: unknown }[] }> {
  const failed: { deliveryId: string; error: unknown }[] = [];
  const outcomes = await withOrg(deps.db, orgId, async (tx) => {
    const done: ProcessOutcome[] = [];
    for (const deliveryId of deliveryIds) {
      try {
        done.push(await tx.transaction((sp) => processInTx(deps, sp, orgId, deliveryId)));
      } catch (error) {
        failed.push({ deliveryId, error });
      }
    }
    return done;
  });
  for (const outcome of outcomes) {
    if (outcome.status !== "skipped") await deps.onCommitted?.(orgId, outcome);
  }
  return { outcomes, failed };
}

/**
 * Turns one stored delivery into signals, anomalies and incidents, inside the caller's transaction (a savepoint of
 * processDeliveryBatch). The row
 * is locked with SKIP LOCKED and must still be "received", so two workers never process it twice and a
 * crash mid-way leaves it "received" for the next attempt.
 */
async function processInTx(
  deps: ProcessDeps,
  tx: OrgTx,
  orgId: string,
  deliveryId: string,
): Promise<ProcessOutcome> {
  const [row] = await tx
    .select()
    .from(deliveries)
    .where(and(eq(deliveries.id, deliveryId), eq(deliveries.status, "received")))
    .for("update", { skipLocked: true });
  if (!row) return { deliveryId, status: "skipped" as const, applied: [] };
  const provider = deps.providers[row.provider as ProviderId];
  const [integration] = await tx
    .select({ config: integrations.config })
    .from(integrations)
    .where(eq(integrations.id, row.integrationId));
  const finish = async (
    status: "processed" | "ignored" | "dead",
    fields: { eventType?: string; reason?: string; signalCount?: number },
  ) => {
    await tx
      .update(deliveries)
      .set({
        status,
        eventType: fields.eventType ?? null,
        reason: fields.reason ?? null,
        signalCount: fields.signalCount ?? 0,
        attempts: sql`${deliveries.attempts} + 1`,
        processedAt: new Date(),
      })
      .where(eq(deliveries.id, row.id));
  };
  if (!provider || !integration) {
    await finish("dead", { reason: "the integration or provider no longer exists" });
    return { deliveryId, status: "dead" as const, applied: [] };
  }
  let body: unknown;
  try {
    body = parseBody(row.provider as ProviderId, row.body, row.contentType);
  } catch {
    await finish("dead", { reason: "body is not parseable" });
    return { deliveryId, status: "dead" as const, applied: [] };
  }
  const result = normalizeSafely(provider, {
    body,
    headers: row.headers,
    config: integration.config,
    receivedAt: row.receivedAt,
  });
  if (!result.ok) {
    await finish("dead", { reason: result.reason.slice(0, 500) });
    return { deliveryId, status: "dead" as const, applied: [] };
  }
  if ("ignored" in result && result.ignored) {
    await finish("ignored", { eventType: result.eventType });
    return { deliveryId, status: "ignored" as const, applied: [] };
  }
  const applied: AppliedSignal[] = [];
  for (const signal of result.signals) {
    const change = ALERT_KINDS.has(signal.kind)
      ? await applyAlertSignal(tx, orgId, signal, row.receivedAt)
      : undefined;
    if (change) applied.push(change);
    await tx.insert(signalRows).values({
      orgId,
      deliveryId: row.id,
      anomalyId: change?.anomaly.id ?? null,
      kind: signal.kind,
      source: signal.source,
      fingerprint: signal.fingerprint,
      title: signal.title.slice(0, 500),
      severity: signal.severity,
      status: signal.status,
      service: signal.service ?? null,
      environment: signal.environment ?? null,
      release: signal.release ?? null,
      occurredAt: signal.occurredAt,
      receivedAt: row.receivedAt,
      payload: JSON.parse(JSON.stringify(signal)) as Record<string, unknown>,
    });
  }
  await finish("processed", { eventType: result.eventType, signalCount: result.signals.length });
  return { deliveryId, status: "processed" as const, applied };
}

/**
 * Drains deliveries in status "received", oldest first. Every worker process runs one; they share the
 * table safely (row locks with SKIP LOCKED). `nudge()` is the in-process fast path after a write; polling
 * covers deliveries written by other replicas and anything left by a crash.
 */
export interface DeliveryProcessorOptions {
  pollMs: number;
  batch: number;
  /** Deliveries of one org processed in one transaction (a savepoint each). */
  perTransaction: number;
  /**
   * When given, the background drain steps aside while the webhook front door is busy, and resumes when
   * it calms down or when the oldest waiting delivery has waited `maxDeferMs` (so a sustained flood
   * delays anomalies by at most that, never indefinitely).
   */
  yieldTo?: { busy(): boolean };
  maxDeferMs?: number;
  /** How often a deferred drain looks again. */
  deferCheckMs?: number;
}

export class DeliveryProcessor {
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private active: Promise<void> | undefined;
  private again = false;
  private deferred = false;
  private readonly options: Required<Omit<DeliveryProcessorOptions, "yieldTo">> &
    Pick<DeliveryProcessorOptions, "yieldTo">;

  constructor(
    private readonly deps: ProcessDeps,
    options: Partial<DeliveryProcessorOptions> = {},
  ) {
    this.options = {
      pollMs: 500,
      batch: 100,
      perTransaction: 25,
      maxDeferMs: 15_000,
      deferCheckMs: 200,
      ...options,
    };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.nudge();
  }

  nudge(): void {
    if (!this.running) return;
    if (this.active) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.active = this.drain({ yieldToIngest: true })
      .then(() => undefined)
      .catch((error: unknown) => this.deps.logger.error({ err: error }, "delivery processing failed"))
      .finally(() => {
        this.active = undefined;
        if (!this.running) return;
        if (this.deferred) {
          // Stepped aside for the front door: look again soon (a nudge meanwhile changes nothing).
          this.deferred = false;
          this.again = false;
          this.timer = setTimeout(() => this.nudge(), this.options.deferCheckMs);
        } else if (this.again) {
          this.again = false;
          this.nudge();
        } else {
          this.timer = setTimeout(() => this.nudge(), this.options.pollMs);
        }
      });
  }

  /**
   * Processes everything pending now; returns how many deliveries it handled. Used by tests and replay
   * as is; the background loop passes `yieldToIngest` and may stop early (see `yieldTo`).
   */
  async drain(options: { yieldToIngest?: boolean } = {}): Promise<number> {
    let handled = 0;
    for (;;) {
      const pending = await this.deps.db.owner
        .select({ id: deliveries.id, orgId: deliveries.orgId, receivedAt: deliveries.receivedAt })
        .from(deliveries)
        .where(eq(deliveries.status, "received"))
        .orderBy(asc(deliveries.receivedAt))
        .limit(this.options.batch);
      if (pending.length === 0) return handled;
      let progressed = 0;
      // Consecutive deliveries of one org go through in one transaction (oldest first overall).
      for (let i = 0; i < pending.length; ) {
        if (options.yieldToIngest && this.shouldDefer(pending[i]!.receivedAt)) {
          this.deferred = true;
          return handled;
        }
        const orgId = pending[i]!.orgId;
        const run: string[] = [];
        while (
          i < pending.length &&
          pending[i]!.orgId === orgId &&
          run.length < this.options.perTransaction
        ) {
          run.push(pending[i]!.id);
          i++;
        }
        try {
          const { outcomes, failed } = await processDeliveryBatch(this.deps, orgId, run);
          progressed += outcomes.filter((o) => o.status !== "skipped").length;
          for (const f of failed) {
            this.deps.logger.error({ err: f.error, deliveryId: f.deliveryId }, "delivery processing error");
            await this.recordFailure(f.deliveryId);
          }
        } catch (error) {
          // The transaction itself failed (connection lost): every delivery of the run counts a try.
          this.deps.logger.error({ err: error, orgId }, "delivery processing error");
          for (const id of run) await this.recordFailure(id);
        }
        handled += run.length;
      }
      // Everything we saw was locked by someone else or failed: let the poll come back later.
      if (progressed === 0) return handled;
    }
  }

  private shouldDefer(oldestWaiting: Date): boolean {
    const gauge = this.options.yieldTo;
    if (!gauge || !this.running) return false;
    return Date.now() - oldestWaiting.getTime() < this.options.maxDeferMs && gauge.busy();
  }

  /** A delivery that keeps failing (not a normalize failure: a bug or an outage) is dead-lettered after a few tries. */
  private async recordFailure(deliveryId: string): Promise<void> {
    await this.deps.db.owner
      .update(deliveries)
      .set({
        attempts: sql`${deliveries.attempts} + 1`,
        status: sql`case when ${deliveries.attempts} + 1 >= ${MAX_ATTEMPTS} then 'dead'::delivery_status else ${deliveries.status} end`,
        reason: sql`case when ${deliveries.attempts} + 1 >= ${MAX_ATTEMPTS} then 'processing failed repeatedly' else ${deliveries.reason} end`,
      })
      .where(and(eq(deliveries.id, deliveryId), eq(deliveries.status, "received")))
      .catch((error: unknown) =>
        this.deps.logger.error({ err: error }, "could not record a delivery failure"),
      );
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.active;
  }
}
