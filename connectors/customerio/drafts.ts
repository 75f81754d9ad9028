import { accepted, skipped } from '../core/batching.js';
import type { DraftBatch, DraftRequest, Drafts, JsonValue, PushInput, RowResult } from '../core/types.js';
import { CIO_MAX_REQUEST_BYTES, type CioOptions, cioOptionsSchema } from './config.js';

/**
 * Customer.io Track API v2 batch identify bodies, pure:
 * `{batch: [{type: "person", identifiers: {id}, action: "identify", attributes}]}`.
 * A removal sends the same attribute names cleared. Requests are split to stay under 500 KB.
 */

export interface CioEntry {
  type: 'person';
  identifiers: { id: string };
  action: 'identify';
  attributes: Record<string, JsonValue>;
}

export interface DraftedBatch extends DraftBatch {
  /** For each request, the input row index of each `batch` entry (Customer.io reports `batch_index`). */
  entryRows: number[][];
}

export function batchDraft(options: CioOptions, input: PushInput): DraftedBatch {
  const clear: JsonValue = options.clear_with === 'null' ? null : '';
  const rows: RowResult[] = [];
  const requests: DraftRequest[] = [];
  const entryRows: number[][] = [];
  let entries: CioEntry[] = [];
  let indexes: number[] = [];
  let bytes = 12;
  const flush = () => {
    if (entries.length === 0) return;
    requests.push({
      method: 'POST',
      path: '/api/v2/batch',
      body: { batch: entries as unknown as JsonValue },
    });
    entryRows.push(indexes);
    entries = [];
    indexes = [];
    bytes = 12;
  };
  for (const [index, row] of input.rows.entries()) {
    const names = Object.keys(row.attributes ?? {});
    if (names.length === 0) {
      rows.push(skipped(row.key, 'no_attributes', 'no write-back attributes for this person'));
      continue;
    }
    const attributes: Record<string, JsonValue> = {};
    for (const name of names)
      attributes[name] = input.op === 'remove' ? clear : (row.attributes![name] ?? clear);
    const entry: CioEntry = { type: 'person', identifiers: { id: row.key }, action: 'identify', attributes };
    const size = Buffer.byteLength(JSON.stringify(entry)) + 1;
    if (bytes + size > CIO_MAX_REQUEST_BYTES) flush();
    entries.push(entry);
    indexes.push(index);
    bytes += size;
    rows.push(accepted(row.key));
  }
  flush();
  return { requests, rows, entryRows, ...(input.session ? { session: input.session } : {}) };
}

export const cioDrafts: Drafts<CioOptions> = {
  optionsSchema: cioOptionsSchema,
  // Customer.io has no audience object: attributes live on people.
  ensureAudience: () => [],
  push: (options, input) => batchDraft(options, input),
};
