import type { Dataset } from '../contract/records.js';
import type { Rejection } from '../contract/rejection.js';
import type { SuppressionList } from '../privacy/suppression.js';
import { ERASED_PERSON, linesSuppressed } from '../privacy/suppression-check.js';
import type { AddResult, IngestBuffer } from './buffer.js';
import type { BufferItem } from './items.js';
import type { ItemChecker } from './track.js';

/**
 * One code path for a single item and for a batch: check every item, buffer the valid ones in one
 * call, answer per item. Invalid items never block valid ones in the same batch.
 *
 * An item about an erased person (any of its records matches the suppression list) is answered
 * `rejected` with the single problem `erased_person` and never buffered; the rest of the batch is
 * not affected (docs/sending-data.md "Erased people").
 */

export type ItemStatus = 'accepted' | 'duplicate' | 'rejected';

export interface ItemResult {
  index: number;
  status: ItemStatus;
  /** The event id that was stored (the sender's, or derived from the content). */
  id?: string;
  /** Rejection reasons, or fields that were dropped from an accepted item. No values, only paths. */
  problems?: Rejection[];
}

export interface IngestSummary {
  accepted: number;
  duplicates: number;
  /** Every rejected item, those of erased people included. */
  rejected: number;
  /** Rejected items that were about an erased person (`erased_person`). */
  suppressed: number;
  results: ItemResult[];
  /** What the buffer reported: drives the early export trigger. */
  buffer: Pick<AddResult, 'pending' | 'added'>;
}

export interface IngestOptions {
  /** The erased people (the app's SuppressionCache): their items are refused, not buffered. */
  suppression: SuppressionList;
  /** Stamped as `received_at`; defaults to now. */
  receivedAt?: string;
}

export async function ingestItems(
  inputs: readonly unknown[],
  check: ItemChecker,
  buffer: IngestBuffer,
  options: IngestOptions,
): Promise<IngestSummary> {
  const { suppression } = options;
  const receivedAt = options.receivedAt ?? new Date().toISOString();
  const results: ItemResult[] = new Array(inputs.length);
  const toBuffer: BufferItem[] = [];
  const bufferedIndex: number[] = [];
  for (let index = 0; index < inputs.length; index++) {
    const outcome = check(inputs[index], receivedAt);
    if (!outcome.ok) {
      results[index] = { index, status: 'rejected', problems: outcome.problems };
      continue;
    }
    if (linesSuppressed(suppression, outcome.item.lines)) {
      results[index] = { index, status: 'rejected', problems: [ERASED_PERSON] };
      continue;
    }
    const result: ItemResult = { index, status: 'accepted' };
    if (outcome.id !== undefined) result.id = outcome.id;
    if (outcome.problems.length > 0) result.problems = outcome.problems;
    results[index] = result;
    toBuffer.push(outcome.item);
    bufferedIndex.push(index);
  }
  // Throws BufferUnavailableError before any result is claimed as accepted.
  const added = await buffer.add(toBuffer);
  added.statuses.forEach((status, i) => {
    const result = results[bufferedIndex[i]!]!;
    if (status === 'duplicate') result.status = 'duplicate';
  });
  let accepted = 0;
  let duplicates = 0;
  let rejected = 0;
  let suppressed = 0;
  for (const r of results) {
    if (r.status === 'accepted') accepted += 1;
    else if (r.status === 'duplicate') duplicates += 1;
    else {
      rejected += 1;
      if (r.problems?.some((p) => p.code === ERASED_PERSON.code)) suppressed += 1;
    }
  }
  return {
    accepted,
    duplicates,
    rejected,
    suppressed,
    results,
    buffer: { pending: added.pending, added: added.added },
  };
}

/** Datasets whose buffer crossed a multiple of `threshold` with this call: time for an early export. */
export function crossedThreshold(buffer: Pick<AddResult, 'pending' | 'added'>, threshold: number): Dataset[] {
  const out: Dataset[] = [];
  for (const [dataset, after] of Object.entries(buffer.pending) as [Dataset, number][]) {
    const before = after - (buffer.added[dataset] ?? 0);
    if (Math.floor(before / threshold) < Math.floor(after / threshold)) out.push(dataset);
  }
  return out;
}
