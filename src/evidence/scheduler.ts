import { IntervalScan } from "../jobs/interval-scan.ts";
import { type EvidenceDeps, orgsNeedingCheckpoint, refreshCheckpoint } from "./checkpoints.ts";
import { detectionContextDue } from "./detection-context.ts";

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
 * The evidence schedule in worker processes: checkpoints for orgs whose log grew, then due detection
 * context fetches. Any number of workers may run it: a checkpoint of a size that is already stored is
 * never signed twice (checkpointInTx keeps the first), and a context fetch is claimed per anomaly.
 */
export class CheckpointScheduler extends IntervalScan {
  constructor(
    private readonly deps: EvidenceDeps,
    intervalMs = 60_000,
  ) {
    super(intervalMs);
  }

  async tick(): Promise<void> {
    try {
      await checkpointDue(this.deps);
    } catch (error) {
      this.deps.logger.error({ err: error }, "checkpoint scan failed");
    }
    if (!this.deps.proxy) return;
    try {
      await detectionContextDue({ ...this.deps, proxy: this.deps.proxy });
    } catch (error) {
      this.deps.logger.error({ err: error }, "detection context scan failed");
    }
  }
}
