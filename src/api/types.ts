import type { Redis } from 'ioredis';
import type { Env } from '../config/env.js';
import type { Dataset } from '../contract/records.js';
import type { IngestBuffer } from '../ingest/buffer.js';
import type { ItemStatus } from '../ingest/ingest.js';
import type { SuppressionCache } from '../privacy/suppression.js';
import type { ObjectStore } from '../storage/object-store.js';

/** How many of a request's items came to one outcome in one dataset. */
export interface IngestOutcomeCount {
  dataset: Dataset;
  status: ItemStatus;
  n: number;
}

/** Asks for an export of `dataset` soon (the buffer passed its size threshold). */
export type ExportTrigger = (dataset: Dataset) => Promise<void> | void;

declare module 'fastify' {
  interface FastifyInstance {
    /** The parsed environment the app was built with. */
    env: Env;
    store: ObjectStore;
    /** Ingest connection: fails fast (no offline queue) so ingest can answer 503 instead of hanging. */
    redis: Redis;
    ingestBuffer: IngestBuffer;
    requestExport: ExportTrigger;
    /** `event_aliases` from the YAML, applied when events are checked at ingest. */
    eventAliases: Readonly<Record<string, string>>;
    /** Hashed identifiers of erased people: ingest refuses their records (src/api/suppression.ts). */
    suppression: SuppressionCache;
  }
  interface FastifyRequest {
    /** Set by the webhook body parser once the Customer.io signature matched the raw bytes. */
    cioSignatureVerified: boolean;
    /**
     * What an ingest route's items came to, by dataset and outcome (`noteIngestOutcomes`); the
     * metrics plugin counts them in `ingest_records_total` once the request is answered.
     */
    ingestOutcomes: IngestOutcomeCount[] | null;
  }
}
