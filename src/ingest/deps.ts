import type { DeliveryWriter } from "./delivery-writer.ts";
import type { DeliveryProcessor } from "./process-deliveries.ts";
import type { ReceiveDeps } from "./receive.ts";

/** What the ingest stage needs at run time, built by the composition root. */
export interface IngestDeps {
  receive: ReceiveDeps;
  writer: DeliveryWriter;
  processor: DeliveryProcessor;
  /** Forget a cached webhook target (after its secrets or config change). */
  invalidateTarget(integrationId: string): void;
}
