import { and, asc, eq, inArray, sql } from "drizzle-orm";
import type { Logger } from "pino";
import { type Database, type OrgTx, withOrg } from "../../db/client.ts";
import { deliveries } from "../../db/schema/deliveries.ts";
import { integrations } from "../../db/schema/integrations.ts";
import type { NormalizeResult, Provider, ProviderId, Signal } from "../../integrations/core/types.ts";
import { type AppliedSignal, SignalFolder } from "../incidents/correlate.ts";
import { clipText, makeStorable, storableString } from "../storable-text.ts";

const MAX_ATTEMPTS = 5;
const ALERT_KINDS = new Set<Signal["kind"]>(["error", "metric", "log"]);

export interface ProcessOutcome {
  deliveryId: string;
  status: "processed" | "ignored" | "dead" | "skipped";
  applied: AppliedSignal[];
  /** The kind of each signal the delivery stored (hooks skip reading back what is not there). */
  signalKinds: Signal["kind"][];
}

export interface ProcessDeps {
  db: Database;
  providers: Readonly<Record<ProviderId, Provider>>;
  logger: Logger;
  /**
   * Called after a run's transaction commits, with the outcomes of its deliveries in order (skipped ones
   * left out): the changes, attribution and reports stages hook in here.
   */
  onCommitted?: (orgId: string, outcomes: readonly ProcessOutcome[]) => Promise<void>;
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
 * Several deliveries of one org, in order, in one transaction: one commit for a burst instead of one per
 * delivery. The run is first applied together (its deliveries read at once, firing signals of one
 * anomaly folded into one update, signals and statuses written in one statement each). If that fails,
 * the transaction is rolled back and the run goes again one delivery at a time, each in its own
 * savepoint, so what one delivery does is undone alone if it fails (reported in `failed`) and the others
 * still commit. The hooks run once after the commit, with every outcome in order.
 */
export async function processDeliveryBatch(
  deps: ProcessDeps,
  orgId: string,
  deliveryIds: readonly string[],
): Promise<{ outcomes: ProcessOutcome[]; failed: { deliveryId: string; error: unknown }[] }> {
  const failed: { deliveryId: string; error: unknown }[] = [];
  let outcomes: ProcessOutcome[];
  try {
    outcomes = await withOrg(deps.db, orgId, (tx) => processTogether(deps, tx, orgId, deliveryIds));
  } catch (error) {
    if (deliveryIds.length === 1) {
      outcomes = [];
      failed.push({ deliveryId: deliveryIds[0]!, error });
    } else {
      deps.logger.warn({ err: error, orgId }, "a run of deliveries failed together; retrying one by one");
      outcomes = await withOrg(deps.db, orgId, async (tx) => {
        const done: ProcessOutcome[] = [];
        for (const deliveryId of deliveryIds) {
          try {
            // The same path as a run of one, in a savepoint: what fails is undone alone.
            done.push(...(await tx.transaction((sp) => processTogether(deps, sp, orgId, [deliveryId]))));
          } catch (error) {
            failed.push({ deliveryId, error });
          }
        }
        return done;
      });
    }
  }
  const done = outcomes.filter((o) => o.status !== "skipped");
  if (done.length > 0) await deps.onCommitted?.(orgId, done);
  return { outcomes, failed };
}

type Delivery = typeof deliveries.$inferSelect;

/** What a stored delivery turns into, decided without touching the database. */
type Decision =
  | { status: "dead"; reason: string }
  | { status: "ignored"; eventType: string }
  | { status: "processed"; eventType: string; signals: Signal[] };

function decide(
  deps: ProcessDeps,
  row: Delivery,
  integration: { config: Record<string, unknown> } | undefined,
): Decision {
  const provider = deps.providers[row.provider as ProviderId];
  if (!provider || !integration)
    return { status: "dead", reason: "the integration or provider no longer exists" };
  let body: unknown;
  try {
    body = parseBody(row.provider as ProviderId, row.body, row.contentType);
  } catch {
    return { status: "dead", reason: "body is not parseable" };
  }
  const result = normalizeSafely(provider, {
    body,
    headers: row.headers,
    config: integration.config,
    receivedAt: row.receivedAt,
  });
  if (!result.ok) return { status: "dead", reason: storableString(clipText(result.reason, 500)) };
  if ("ignored" in result && result.ignored) {
    return { status: "ignored", eventType: storableString(result.eventType) };
  }
  // Strings Postgres cannot store (NUL, unpaired surrogates) would fail every attempt: replaced here.
  return {
    status: "processed",
    eventType: storableString(result.eventType),
    signals: result.signals.map((signal) => makeStorable(signal)),
  };
}

/**
 * The signal's row as the JSON record the bulk insert reads: the delivery it came in, the anomaly it
 * folded into (alerts), and the Signal itself as the payload (dates become ISO strings, as in JSON).
 */
function signalRowOf(orgId: string, row: Delivery, signal: Signal, anomalyId: string | null): SignalRecord {
  return {
    org_id: orgId,
    delivery_id: row.id,
    anomaly_id: anomalyId,
    kind: signal.kind,
    source: signal.source,
    fingerprint: signal.fingerprint,
    title: clipText(signal.title, 500),
    severity: signal.severity,
    status: signal.status,
    service: signal.service ?? null,
    environment: signal.environment ?? null,
    release: signal.release ?? null,
    occurred_at: signal.occurredAt,
    received_at: row.receivedAt,
    payload: signal,
  };
}

interface SignalRecord {
  org_id: string;
  delivery_id: string;
  anomaly_id: string | null;
  kind: Signal["kind"];
  source: string;
  fingerprint: string;
  title: string;
  severity: Signal["severity"];
  status: Signal["status"];
  service: string | null;
  environment: string | null;
  release: string | null;
  occurred_at: Date;
  received_at: Date;
  payload: Signal;
}

/**
 * Inserts signal rows in one statement per chunk with a single JSON parameter: a multi-row VALUES list
 * would bind 15 parameters per row, and building and binding those cost more than the insert itself.
 * The record's columns are listed in the insert's order (`select *` relies on it).
 */
async function insertSignals(tx: OrgTx, records: readonly SignalRecord[]): Promise<void> {
  for (let i = 0; i < records.length; i += SIGNAL_INSERT_CHUNK) {
    const chunk = JSON.stringify(records.slice(i, i + SIGNAL_INSERT_CHUNK));
    await tx.execute(sql`
      insert into signals (org_id, delivery_id, anomaly_id, kind, source, fingerprint, title, severity, status,
        service, environment, release, occurred_at, received_at, payload)
      select * from json_to_recordset(${chunk}::json) as r(org_id uuid, delivery_id uuid, anomaly_id uuid, kind text,
        source text, fingerprint text, title text, severity text, status text, service text, environment text,
        release text, occurred_at timestamptz, received_at timestamptz, payload jsonb)`);
  }
}

function outcomeOf(deliveryId: string, decision: Decision, applied: AppliedSignal[]): ProcessOutcome {
  return {
    deliveryId,
    status: decision.status,
    applied,
    signalKinds: decision.status === "processed" ? decision.signals.map((s) => s.kind) : [],
  };
}

const SIGNAL_INSERT_CHUNK = 200;
/** Deliveries decided between two yields to the event loop. */
const DECIDE_SLICE = 8;

/**
 * The run applied together (see processDeliveryBatch): rows locked with SKIP LOCKED and still
 * "received" (so two workers never process one twice, and a crash leaves them for the next attempt),
 * every alert signal through one SignalFolder, then the signals and the final statuses written in bulk.
 */
async function processTogether(
  deps: ProcessDeps,
  tx: OrgTx,
  orgId: string,
  deliveryIds: readonly string[],
): Promise<ProcessOutcome[]> {
  const rows = await tx
    .select()
    .from(deliveries)
    .where(and(inArray(deliveries.id, [...deliveryIds]), eq(deliveries.status, "received")))
    .for("update", { skipLocked: true });
  const byId = new Map(rows.map((r) => [r.id, r]));
  const integrationIds = [...new Set(rows.map((r) => r.integrationId))];
  const configs = new Map(
    integrationIds.length === 0
      ? []
      : (
          await tx
            .select({ id: integrations.id, config: integrations.config })
            .from(integrations)
            .where(inArray(integrations.id, integrationIds))
        ).map((i) => [i.id, i] as const),
  );
  const decided: { deliveryId: string; row: Delivery | undefined; decision: Decision | undefined }[] = [];
  for (const deliveryId of deliveryIds) {
    const row = byId.get(deliveryId);
    decided.push({
      deliveryId,
      row,
      decision: row ? decide(deps, row, configs.get(row.integrationId)) : undefined,
    });
    // Parsing and normalizing is the CPU-heavy part: let waiting webhook requests in between deliveries.
    if (decided.length % DECIDE_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const folder = new SignalFolder(tx, orgId);
  await folder.prefetch(
    decided.flatMap(({ decision }) =>
      decision?.status === "processed"
        ? decision.signals.filter((s) => ALERT_KINDS.has(s.kind)).map((s) => s.fingerprint)
        : [],
    ),
  );
  const outcomes: ProcessOutcome[] = [];
  const signalValues: SignalRecord[] = [];
  const finished: FinishedRow[] = [];
  for (const { deliveryId, row, decision } of decided) {
    if (!row || !decision) {
      outcomes.push({ deliveryId, status: "skipped", applied: [], signalKinds: [] });
      continue;
    }
    const applied: AppliedSignal[] = [];
    if (decision.status === "processed") {
      for (const signal of decision.signals) {
        const change = ALERT_KINDS.has(signal.kind) ? await folder.apply(signal, row.receivedAt) : undefined;
        if (change) applied.push(change);
        signalValues.push(signalRowOf(orgId, row, signal, change?.anomaly.id ?? null));
      }
    }
    finished.push(finishedRowOf(row.id, decision));
    outcomes.push(outcomeOf(deliveryId, decision, applied));
  }
  await folder.flush();
  await insertSignals(tx, signalValues);
  if (finished.length > 0) {
    await tx.execute(sql`
      update deliveries d set status = f.status::delivery_status, event_type = f.event_type, reason = f.reason,
        signal_count = f.signal_count, attempts = d.attempts + 1, processed_at = now()
      from json_to_recordset(${JSON.stringify(finished)}::json)
        as f(id uuid, status text, event_type text, reason text, signal_count int)
      where d.id = f.id`);
  }
  return outcomes;
}

interface FinishedRow {
  id: string;
  status: Decision["status"];
  event_type: string | null;
  reason: string | null;
  signal_count: number;
}

function finishedRowOf(id: string, decision: Decision): FinishedRow {
  return {
    id,
    status: decision.status,
    event_type: decision.status === "dead" ? null : decision.eventType,
    reason: decision.status === "dead" ? decision.reason : null,
    signal_count: decision.status === "processed" ? decision.signals.length : 0,
  };
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
   * never stops normalization, it slows it: see `busyShare`).
   */
  yieldTo?: { busy(): boolean };
  maxDeferMs?: number;
  /**
   * Once a delivery has waited `maxDeferMs` and the front door is still busy, the fraction of the time
   * the drain may spend processing (0 < share ≤ 1): after each run it pauses for as long as the run took
   * × (1 − share) / share. Normalization keeps going, the acknowledgements keep the rest of the process
   * and of the database. 1 turns the pacing off.
   */
  busyShare?: number;
  /**
   * While the front door is busy, how long one run (one transaction) should take, ms: the run's length
   * in deliveries is this over the time a delivery has been taking (at least one, at most
   * `perTransaction`). Short runs spread the drain's share thinly instead of taking the process and the
   * database for a third of a second at a time, which queues every webhook that arrives meanwhile.
   * 0 turns it off (runs are always `perTransaction` long).
   */
  busySliceMs?: number;
  /** How often a deferred drain looks again. */
  deferCheckMs?: number;
}

export class DeliveryProcessor {
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private active: Promise<void> | undefined;
  private again = false;
  private deferred = false;
  private waitingOutBurst = false;
  private pausedMs = 0;
  /** Moving average of a run's time per delivery, ms (undefined until the first run). */
  private msPerDelivery: number | undefined;
  private runCount = 0;
  private readonly options: Required<Omit<DeliveryProcessorOptions, "yieldTo">> &
    Pick<DeliveryProcessorOptions, "yieldTo">;

  constructor(
    private readonly deps: ProcessDeps,
    options: Partial<DeliveryProcessorOptions> = {},
  ) {
    this.options = {
      pollMs: 500,
      batch: 100,
      perTransaction: 100,
      maxDeferMs: 15_000,
      deferCheckMs: 200,
      busyShare: 0.25,
      busySliceMs: 20,
      ...options,
    };
    if (!(this.options.busyShare > 0 && this.options.busyShare <= 1)) {
      throw new RangeError("busyShare must be in (0, 1]");
    }
  }

  /** How long, in total, the drain has paused to leave the front door its share (`busyShare`). */
  get pausedForIngestMs(): number {
    return this.pausedMs;
  }

  /** How many runs (transactions of one org's deliveries) the drain has made. */
  get runs(): number {
    return this.runCount;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.nudge();
  }

  nudge(): void {
    // While stepped aside for the front door, a nudge (one per stored delivery) changes nothing: the
    // deferral timer looks again. Without this, every flush during a burst re-ran the pending query.
    if (!this.running || this.waitingOutBurst) return;
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
          this.waitingOutBurst = true;
          this.timer = setTimeout(() => {
            this.waitingOutBurst = false;
            this.nudge();
          }, this.options.deferCheckMs);
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
        const runLimit = this.runLimit(options.yieldToIngest === true);
        while (i < pending.length && pending[i]!.orgId === orgId && run.length < runLimit) {
          run.push(pending[i]!.id);
          i++;
        }
        const runStarted = performance.now();
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
        this.runCount++;
        const runMs = performance.now() - runStarted;
        const perDelivery = runMs / run.length;
        this.msPerDelivery =
          this.msPerDelivery === undefined ? perDelivery : 0.8 * this.msPerDelivery + 0.2 * perDelivery;
        if (options.yieldToIngest) await this.paceWhileBusy(runMs);
      }
      // Everything we saw was locked by someone else or failed: let the poll come back later.
      if (progressed === 0) return handled;
    }
  }

  /** How many deliveries the next run may take: `perTransaction`, or fewer under a busy front door. */
  private runLimit(yieldToIngest: boolean): number {
    const { perTransaction, busySliceMs, yieldTo } = this.options;
    if (!yieldToIngest || busySliceMs <= 0 || !yieldTo?.busy()) return perTransaction;
    // Before any run has been timed, start with one delivery and learn.
    if (this.msPerDelivery === undefined) return 1;
    return Math.min(perTransaction, Math.max(1, Math.floor(busySliceMs / this.msPerDelivery)));
  }

  /** Past the deferral, under a busy front door: pause so the drain takes at most `busyShare` of the time. */
  private async paceWhileBusy(runMs: number): Promise<void> {
    const { busyShare, yieldTo } = this.options;
    if (busyShare >= 1 || !yieldTo || !this.running || !yieldTo.busy()) return;
    const pause = (runMs * (1 - busyShare)) / busyShare;
    this.pausedMs += pause;
    await new Promise((resolve) => setTimeout(resolve, pause));
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
    this.waitingOutBurst = false;
    await this.active;
  }
}
