import { scrubMessage } from '../../src/contract/scrub.js';
import type { RowResult, UnattributedFailure } from './types.js';

/** Marks a row rejected with a platform code and a scrubbed reason. */
export function rejected(key: string, code: string, reason: string): RowResult {
  return { key, status: 'rejected', code, reason: scrubMessage(reason) };
}

export function unattributed(count: number, code: string, message: string): UnattributedFailure[] {
  return count > 0 ? [{ count, code, message: scrubMessage(message) }] : [];
}
