import type { z } from "zod";

export interface RetryPolicy {
  /** Attempts after the first. */
  limit: number;
  delaySeconds: number;
  backoff: boolean;
}

export interface JobContext {
  jobId: string;
  /** 0 on the first attempt. */
  attempt: number;
  signal: AbortSignal;
}

export interface JobDefinition<S extends z.ZodType = z.ZodType> {
  name: string;
  payload: S;
  retry: RetryPolicy;
  /** A running job older than this is failed and retried. */
  expireInSeconds: number;
  /** How many jobs of this kind one process runs at once. */
  concurrency: number;
  /**
   * A cron expression (UTC): the runner schedules this job on it with an empty payload (the payload schema
   * supplies defaults). pg-boss keeps one schedule per queue, so N processes still send one job per slot.
   */
  cron?: string;
  handler: (payload: z.infer<S>, ctx: JobContext) => Promise<void>;
}

export const DEFAULT_RETRY: RetryPolicy = { limit: 5, delaySeconds: 5, backoff: true };

/**
 * The one way to declare a job: a name, a zod payload, a retry policy and a handler. The runner validates
 * payloads on send and on receipt, sends invalid payloads and non-retryable failures straight to the
 * dead-letter queue, and lets retryable failures back off.
 */
export function defineJob<S extends z.ZodType>(
  def: Pick<JobDefinition<S>, "name" | "payload" | "handler"> &
    Partial<Omit<JobDefinition<S>, "name" | "payload" | "handler">>,
): JobDefinition<S> {
  if (!/^[a-z][a-z0-9.-]{1,60}$/.test(def.name)) throw new Error(`invalid job name ${def.name}`);
  return {
    retry: DEFAULT_RETRY,
    expireInSeconds: 15 * 60,
    concurrency: 2,
    ...def,
  };
}

export function deadLetterQueueOf(name: string): string {
  return `${name}.dead`;
}
