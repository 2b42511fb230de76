import PgBoss from "pg-boss";
import type { Logger } from "pino";
import { AppError } from "../errors.ts";
import { deadLetterQueueOf, type JobDefinition } from "./define-job.ts";

export interface DeadJob {
  id: string;
  queue: string;
  payload: unknown;
  reason: string;
  failedAt: string;
}

/** pg-boss on the same database, in its own schema. */
export function createBoss(url: string, options: { max?: number; schema?: string } = {}): PgBoss {
  return new PgBoss({
    connectionString: url,
    schema: options.schema ?? "pgboss",
    max: options.max ?? 4,
    application_name: "causeway-jobs",
  });
}

const DEADLOCK_DETECTED = "40P01";

/**
 * pg-boss creates a queue (a row plus its own partition table) without a lock of its own, so processes
 * starting together on a fresh database (`serve` and `worker`, or several workers) deadlock each other
 * there and Postgres aborts one of them. Creating a queue is idempotent, so the loser waits a moment and
 * tries again; by then the winner has committed and the retry finds the queue made.
 */
async function createQueueRetrying(boss: PgBoss, name: string, options: PgBoss.Queue): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await boss.createQueue(name, options);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== DEADLOCK_DETECTED || attempt >= 8) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25 * attempt + Math.random() * 100));
    }
  }
}

export class JobRunner {
  private readonly definitions = new Map<string, JobDefinition>();
  private readonly aborts = new Set<AbortController>();
  private started = false;
  private working = false;
  private stopping = false;

  constructor(
    private readonly boss: PgBoss,
    private readonly logger: Logger,
  ) {
    boss.on("error", (error) => {
      // Connections closing under a shutdown are expected, not errors worth an alert.
      if (this.stopping) this.logger.debug({ err: error }, "job queue error while stopping");
      else this.logger.error({ err: error }, "job queue error");
    });
  }

  register(definitions: JobDefinition[]): void {
    for (const def of definitions) {
      if (this.definitions.has(def.name)) throw new Error(`job ${def.name} registered twice`);
      this.definitions.set(def.name, def);
    }
  }

  /** Connects, installs pg-boss's schema when needed and creates every queue with its dead-letter queue. */
  async start(): Promise<void> {
    if (this.started) return;
    await this.boss.start();
    for (const def of this.definitions.values()) {
      const dead = deadLetterQueueOf(def.name);
      await createQueueRetrying(this.boss, dead, { name: dead, retentionDays: 30 } as PgBoss.Queue);
      await createQueueRetrying(this.boss, def.name, {
        name: def.name,
        retryLimit: def.retry.limit,
        retryDelay: def.retry.delaySeconds,
        retryBackoff: def.retry.backoff,
        expireInSeconds: def.expireInSeconds,
        deadLetter: dead,
      } as PgBoss.Queue);
      // A schedule a job no longer declares is dropped, so it does not keep firing after an upgrade.
      if (def.cron) await this.boss.schedule(def.name, def.cron, {}, { tz: "UTC" });
      else await this.boss.unschedule(def.name);
    }
    this.started = true;
  }

  /** Starts pulling jobs (pg-boss fetches with SKIP LOCKED, so any number of workers can share a queue). */
  async work(): Promise<void> {
    await this.start();
    this.working = true;
    for (const def of this.definitions.values()) {
      await this.boss.work(
        def.name,
        { batchSize: 1, pollingIntervalSeconds: 1, includeMetadata: true },
        async ([job]) => {
          if (job) await this.runOne(def, job);
        },
      );
    }
  }

  private async runOne(def: JobDefinition, job: PgBoss.JobWithMetadata<unknown>): Promise<void> {
    const log = this.logger.child({ job: def.name, jobId: job.id, attempt: job.retryCount });
    const parsed = def.payload.safeParse(job.data);
    if (!parsed.success) {
      log.error({ issues: parsed.error.issues.length }, "job payload invalid: dead-lettered without retry");
      await this.deadLetter(def, job.id, job.data, "invalid payload");
      return;
    }
    const controller = new AbortController();
    this.aborts.add(controller);
    try {
      await def.handler(parsed.data, { jobId: job.id, attempt: job.retryCount, signal: controller.signal });
    } catch (error) {
      if (error instanceof AppError && error.retryable === false) {
        log.warn({ code: error.code }, "job failed permanently: dead-lettered");
        await this.deadLetter(def, job.id, job.data, error.code);
        return;
      }
      log.warn({ err: error }, "job failed; pg-boss retries with backoff");
      throw error;
    } finally {
      this.aborts.delete(controller);
    }
  }

  private async deadLetter(def: JobDefinition, id: string, payload: unknown, reason: string): Promise<void> {
    await this.boss.send(deadLetterQueueOf(def.name), {
      originalId: id,
      payload,
      reason,
      failedAt: new Date().toISOString(),
    });
  }

  async send<D extends JobDefinition>(
    def: D,
    payload: Parameters<D["handler"]>[0],
    options: PgBoss.SendOptions = {},
  ): Promise<string | null> {
    if (!this.definitions.has(def.name)) throw new Error(`job ${def.name} is not registered`);
    const data = def.payload.parse(payload) as object;
    return this.boss.send(def.name, data, options);
  }

  /** Queues many jobs of one definition in one statement (the queue's own retry and expiry settings apply). */
  async sendMany<D extends JobDefinition>(
    def: D,
    payloads: readonly Parameters<D["handler"]>[0][],
  ): Promise<void> {
    if (!this.definitions.has(def.name)) throw new Error(`job ${def.name} is not registered`);
    if (payloads.length === 0) return;
    await this.boss.insert(payloads.map((p) => ({ name: def.name, data: def.payload.parse(p) as object })));
  }

  /** Jobs that ended in a dead-letter queue, newest first. */
  async listDead(queue: string, limit = 50): Promise<DeadJob[]> {
    return this.queryDead([queue], undefined, limit);
  }

  /**
   * One org's dead jobs across every registered queue, newest first: those whose payload names the org
   * (every tenant job carries `orgId`). What `GET /api/v1/jobs/dead` shows an admin.
   */
  async listDeadForOrg(orgId: string, limit = 50): Promise<DeadJob[]> {
    return this.queryDead([...this.definitions.keys()], orgId, limit);
  }

  /** Dead jobs of these queues (live and archived), optionally only those whose payload names the org. */
  private async queryDead(queues: string[], orgId: string | undefined, limit: number): Promise<DeadJob[]> {
    if (queues.length === 0) return [];
    const names = queues.map(deadLetterQueueOf);
    const where = `name = any($1::text[]) and ($2::text is null or data->'payload'->>'orgId' = $2)`;
    const { rows } = await this.boss.getDb().executeSql(
      `select name, id, data, created_on from pgboss.job where ${where}
       union all select name, id, data, created_on from pgboss.archive where ${where}
       order by created_on desc limit $3`,
      [names, orgId ?? null, limit],
    );
    return rows.map((row: { name: string; id: string; data: Record<string, unknown>; created_on: Date }) => ({
      id: row.id,
      queue: queues[names.indexOf(row.name)] ?? row.name,
      payload: row.data.payload,
      reason: String(row.data.reason ?? "failed after retries"),
      failedAt: String(row.data.failedAt ?? row.created_on.toISOString()),
    }));
  }

  /** Reachability probe for /health/ready. */
  async ping(): Promise<boolean> {
    if (!this.started) return false;
    const db = this.boss.getDb();
    await db.executeSql("select 1 from pgboss.version limit 1", []);
    return true;
  }

  /** Stops fetching, lets running jobs finish until the timeout, then aborts them. */
  async stop(timeoutMs: number): Promise<void> {
    if (!this.started) return;
    this.stopping = true;
    const timer = setTimeout(
      () => {
        for (const c of this.aborts) c.abort();
      },
      Math.max(0, timeoutMs - 500),
    );
    try {
      await this.boss.stop({ graceful: this.working, timeout: timeoutMs, wait: true });
    } finally {
      clearTimeout(timer);
      this.started = false;
    }
  }
}
