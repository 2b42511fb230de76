/**
 * A scan that worker processes run on an interval (escalations, report refreshes, checkpoints…). Ticks
 * never overlap: one still running when the next is due is skipped. Any number of workers may run the
 * same scan; each scan claims its rows atomically. `stop()` waits for a running tick to finish.
 */
export abstract class IntervalScan {
  private timer: NodeJS.Timeout | undefined;
  private active: Promise<void> | undefined;

  protected constructor(private readonly intervalMs: number) {}

  /** One pass. Implementations log their own failures: a tick must not throw. */
  abstract tick(): Promise<void>;

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.active) return;
      this.active = this.tick().finally(() => {
        this.active = undefined;
      });
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.active;
  }
}
