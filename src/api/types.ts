import type { Redis } from 'ioredis';
import type { Env } from '../config/env.js';
import type { Dataset } from '../contract/records.js';
import type { IngestBuffer } from '../ingest/buffer.js';
import type { SuppressionCache } from '../privacy/suppression.js';
import type { ObjectStore } from '../storage/object-store.js';

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
  }
}
