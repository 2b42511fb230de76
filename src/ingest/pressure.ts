/**
 * How busy the webhook front door is, so background work in the same process can step aside. Under a
 * burst the 202s (durable acknowledgements) come first: normalizing the stored deliveries into anomalies
 * can wait a few seconds, a sender timing out and retrying cannot. Counts arrivals in short buckets; no
 * timers, O(1) per request.
 */
export class IngestPressure {
  private readonly buckets: number[];
  private bucketStart = 0;
  private index = 0;

  constructor(
    /** Arrivals per second at or above which the front door counts as busy. */
    private readonly busyPerSecond: number,
    private readonly bucketMs = 250,
    private readonly windowBuckets = 2,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.buckets = new Array<number>(windowBuckets).fill(0);
  }

  private roll(): void {
    const t = this.now();
    const elapsed = Math.floor((t - this.bucketStart) / this.bucketMs);
    if (elapsed <= 0) return;
    for (let i = 0; i < Math.min(elapsed, this.windowBuckets); i++) {
      this.index = (this.index + 1) % this.windowBuckets;
      this.buckets[this.index] = 0;
    }
    this.bucketStart += elapsed * this.bucketMs;
  }

  /** One webhook arrived (accepted or not: a flood of bad requests is load too). */
  note(): void {
    this.roll();
    this.buckets[this.index]!++;
  }

  /** Arrivals per second over the last window. */
  rate(): number {
    this.roll();
    const count = this.buckets.reduce((a, b) => a + b, 0);
    return (count * 1000) / (this.bucketMs * this.windowBuckets);
  }

  busy(): boolean {
    return this.busyPerSecond > 0 && this.rate() >= this.busyPerSecond;
  }
}
