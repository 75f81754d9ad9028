import { InvalidPayloadError } from './errors.js';
import type { Capabilities, RowResult, SyncRow } from './types.js';

/** Rows per `push` for a destination: its `batch_size` setting, never above the platform's maximum. */
export function batchSizeFor(capabilities: Pick<Capabilities, 'maxBatchSize'>, config: unknown): number {
  const configured = (config as { batch_size?: unknown } | null)?.batch_size;
  return typeof configured === 'number' && configured > 0
    ? Math.min(configured, capabilities.maxBatchSize)
    : capabilities.maxBatchSize;
}

/** Splits rows into batches of at most `size`. */
export function* chunk<T>(rows: Iterable<T>, size: number): Generator<T[]> {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`batch size must be a positive integer, got ${size}`);
  let batch: T[] = [];
  for (const row of rows) {
    batch.push(row);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** Refuses an oversized batch before anything is sent, naming the limit. */
export function assertBatchSize(connector: string, rows: readonly SyncRow[], limit: number): void {
  if (rows.length > limit) {
    throw new InvalidPayloadError(
      `${connector}: a batch holds at most ${limit} rows, got ${rows.length} (split with batchSizeFor)`,
      { connector },
    );
  }
}

/** The results for rows that were not sent because they had nothing usable. */
export function skipped(key: string, code: string, reason: string): RowResult {
  return { key, status: 'skipped', code, reason };
}

export function accepted(key: string): RowResult {
  return { key, status: 'accepted' };
}

/** True when a row has at least one key. */
export function hasKeys(row: SyncRow): boolean {
  for (const value of Object.values(row.keys)) if (value) return true;
  return false;
}
