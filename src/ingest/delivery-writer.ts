import type { Sql } from "postgres";

export interface NewDelivery {
  id: string;
  orgId: string;
  integrationId: string;
  provider: string;
  deliveryKey: string;
  receivedAt: Date;
  headers: Record<string, string>;
  contentType: string | null;
  body: Buffer;
}

export interface WriteResult {
  /** The id of the stored delivery: the new one, or the original when this was a replay. */
  deliveryId: string;
  duplicate: boolean;
}

interface Pending {
  delivery: NewDelivery;
  resolve: (r: WriteResult) => void;
  reject: (e: unknown) => void;
}

export interface DeliveryWriterOptions {
  /** Rows per INSERT. */
  maxBatch: number;
  /** How long a lone delivery may wait for company before it is written alone. */
  maxDelayMs: number;
}

/**
 * Group commit for webhook deliveries: concurrent requests are written by one multi-row INSERT in one
 * transaction, and each request is answered only after that transaction commits. Under load this turns
 * N fsyncs into one; when idle a delivery waits at most `maxDelayMs`.
 *
 * Deliveries are cross-org by nature here (the integration row already named each one's org), so the
 * writer uses the owner connection and sets org_id explicitly from that lookup, never from input.
 */
export class DeliveryWriter {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private readonly maxConcurrentFlushes = 2;
  private closed = false;
  private readonly idle: Array<() => void> = [];

  constructor(
    private readonly sql: Sql,
    private readonly options: DeliveryWriterOptions = { maxBatch: 200, maxDelayMs: 2 },
  ) {}

  write(delivery: NewDelivery): Promise<WriteResult> {
    if (this.closed) return Promise.reject(new Error("delivery writer closed"));
    return new Promise<WriteResult>((resolve, reject) => {
      this.queue.push({ delivery, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.queue.length >= this.options.maxBatch) {
      this.flushSoon(0);
    } else if (!this.timer) {
      this.flushSoon(this.options.maxDelayMs);
    }
  }

  private flushSoon(delay: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.drain();
    }, delay);
  }

  private drain(): void {
    while (this.queue.length > 0 && this.inFlight < this.maxConcurrentFlushes) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.inFlight++;
      this.flush(batch).finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.drain();
        else if (this.inFlight === 0) for (const done of this.idle.splice(0)) done();
      });
    }
  }

  private async flush(batch: Pending[]): Promise<void> {
    try {
      const results = await this.insert(batch.map((p) => p.delivery));
      for (const [i, p] of batch.entries()) p.resolve(results[i]!);
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  }

  private async insert(rows: NewDelivery[]): Promise<WriteResult[]> {
    const values = rows.map((d) => ({
      id: d.id,
      org_id: d.orgId,
      integration_id: d.integrationId,
      provider: d.provider,
      delivery_key: d.deliveryKey,
      // ISO text: drizzle replaces postgres.js's Date serializer on clients it wraps.
      received_at: d.receivedAt.toISOString(),
      headers: JSON.stringify(d.headers),
      content_type: d.contentType,
      body: d.body,
    }));
    // One autocommit statement (one round trip): when it returns, the new rows are durable.
    const inserted = await this.sql<{ id: string }[]>`
      insert into deliveries ${this.sql(values)}
      on conflict (integration_id, delivery_key) do nothing
      returning id`;
    const fresh = new Set(inserted.map((r) => r.id));
    // Replays (same delivery key as a stored delivery, or twice in this batch) resolve to the original.
    // The original is committed by now: a conflicting insert waits for the row's transaction to end.
    const dupes = rows.filter((d) => !fresh.has(d.id));
    const originals = new Map<string, string>();
    if (dupes.length > 0) {
      const found = await this.sql<{ id: string; integration_id: string; delivery_key: string }[]>`
        select id, integration_id, delivery_key from deliveries
        where (integration_id, delivery_key) in (
          select * from unnest(${dupes.map((d) => d.integrationId)}::uuid[], ${dupes.map((d) => d.deliveryKey)}::text[]))`;
      for (const r of found) originals.set(`${r.integration_id}\u0000${r.delivery_key}`, r.id);
    }
    return rows.map((d) =>
      fresh.has(d.id)
        ? { deliveryId: d.id, duplicate: false }
        : {
            deliveryId: originals.get(`${d.integrationId}\u0000${d.deliveryKey}`) ?? d.id,
            duplicate: true,
          },
    );
  }

  /** Writes what is queued and refuses new work (graceful shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.drain();
    if (this.inFlight === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }
}
