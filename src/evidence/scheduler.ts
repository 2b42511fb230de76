import { type EvidenceDeps, orgsNeedingCheckpoint, refreshCheckpoint } from "./checkpoints.ts";

/** Signs (and publishes) a checkpoint for every org whose log grew since its last one. */
export async function checkpointDue(deps: EvidenceDeps): Promise<string[]> {
  const signed: string[] = [];
  for (const orgId of await orgsNeedingCheckpoint(deps.db)) {
    try {
      await refreshCheckpoint(deps, orgId);
      signed.push(orgId);
    } catch (error) {
      // One org's failure must not starve the others; the next tick retries it.
      deps.logger.error({ err: error, orgId }, "scheduled checkpoint failed");
    }
  }
  return signed;
}

/**
 * The checkpoint schedule in worker processes. Any number of workers may run it: a checkpoint of a size
 * that is already stored is never signed twice (checkpointInTx keeps the first).
 */
export class CheckpointScheduler {
  private timer: NodeJS.Timeout | undefined;
  private active: Promise<void> | undefined;

  constructor(
    private readonly deps: EvidenceDeps,
    private readonly intervalMs = 5 * 60_000,
  ) {}

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

  async tick(): Promise<void> {
    try {
      await checkpointDue(this.deps);
    } catch (error) {
      this.deps.logger.error({ err: error }, "checkpoint scan failed");
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.active;
  }
}
