/**
 * How busy the webhook front door is, so background work in the same process can step aside. Under a
 * burst the 202s (durable acknowledgements) come first: normalizing the stored deliveries into anomalies
 * can wait a few seconds, a sender timing out and retrying cannot. Counts arrivals, and keeps the slowest
 * durable write, in short buckets; no timers, O(1) per request.
 */
export class IngestPressure {
  private readonly arrivals: number[];
  private readonly slowestWrite: number[];
  private bucketStart = 0;
  private index = 0;
  private readonly bucketMs: number;
  private readonly windowBuckets: number;
  private readonly now: () => number;
  private readonly writeBudgetMs: number;

  constructor(
    /** Arrivals per second at or above which the front door counts as busy (0: never busy). */
    private readonly busyPerSecond: number,
    options: {
      /**
       * A durable write (from asking for it to its commit) slower than this within the window means the
       * acknowledgements are strained: background work takes less of the time (0, the default: never).
       */
      writeBudgetMs?: number;
      bucketMs?: number;
      windowBuckets?: number;
      now?: () => number;
    } = {},
  ) {
    this.bucketMs = options.bucketMs ?? 250;
    this.windowBuckets = options.windowBuckets ?? 2;
    this.now = options.now ?? (() => performance.now());
    this.writeBudgetMs = options.writeBudgetMs ?? 0;
    this.arrivals = new Array<number>(this.windowBuckets).fill(0);
    this.slowestWrite = new Array<number>(this.windowBuckets).fill(0);
  }

  private roll(): void {
    const t = this.now();
    const elapsed = Math.floor((t - this.bucketStart) / this.bucketMs);
    if (elapsed <= 0) return;
    for (let i = 0; i < Math.min(elapsed, this.windowBuckets); i++) {
      this.index = (this.index + 1) % this.windowBuckets;
      this.arrivals[this.index] = 0;
      this.slowestWrite[this.index] = 0;
    }
    this.bucketStart += elapsed * this.bucketMs;
  }

  /** One webhook arrived (accepted or not: a flood of bad requests is load too). */
  note(): void {
    this.roll();
    this.arrivals[this.index]!++;
  }

  /** One delivery was written durably, `ms` after its write was asked for. */
  noteWrite(ms: number): void {
    this.roll();
    if (ms > this.slowestWrite[this.index]!) this.slowestWrite[this.index] = ms;
  }

  /** Arrivals per second over the last window. */
  rate(): number {
    this.roll();
    const count = this.arrivals.reduce((a, b) => a + b, 0);
    return (count * 1000) / (this.bucketMs * this.windowBuckets);
  }

  busy(): boolean {
    return this.busyPerSecond > 0 && this.rate() >= this.busyPerSecond;
  }

  /** Whether a durable write in the last window took longer than the budget. */
  strained(): boolean {
    this.roll();
    return this.writeBudgetMs > 0 && Math.max(...this.slowestWrite) > this.writeBudgetMs;
  }
}
