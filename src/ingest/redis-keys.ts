import type { Dataset } from '../contract/records.js';

/**
 * Redis key names of the ingest buffer and the export. One prefix per deployment (and per test),
 * so several workspaces or test runs share a Redis without seeing each other.
 */
export const DEFAULT_REDIS_PREFIX = 'audience-sync';

export interface IngestKeys {
  stream(dataset: Dataset): string;
  /** Hash: records buffered and not yet exported, by dataset (drives the early export trigger). */
  pending: string;
  seen(dedupeId: string): string;
  /** The stream range an export is writing; survives a crash so the re-run rewrites the same parts. */
  inflight(dataset: Dataset): string;
  exportLock(dataset: Dataset): string;
}

export function ingestKeys(prefix: string = DEFAULT_REDIS_PREFIX): IngestKeys {
  return {
    stream: (dataset) => `${prefix}:ingest:stream:${dataset}`,
    pending: `${prefix}:ingest:pending`,
    seen: (dedupeId) => `${prefix}:ingest:seen:${dedupeId}`,
    // Under `ingest:` too: BullMQ owns `<prefix>:<queue name>:*`, and one queue is named `export`.
    inflight: (dataset) => `${prefix}:ingest:inflight:${dataset}`,
    exportLock: (dataset) => `${prefix}:ingest:export-lock:${dataset}`,
  };
}
