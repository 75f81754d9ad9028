import type { Dataset } from '../contract/records.js';

/**
 * What ingest hands to the buffer: one accepted input (a webhook, a track event, an identify) is
 * one item, de-duplicated as a whole, and may produce records in several datasets (a Customer.io
 * `customer.unsubscribed` webhook is both a message and a person update).
 *
 * Records are *loose*: mapped to canonical field names but not yet canonical. The export validates
 * them with `src/contract/validate.ts`, so one code path decides what lands in `raw/` and what goes
 * to `quarantine/`.
 */
export type LooseRecord = Record<string, unknown>;

export interface BufferedRecord {
  dataset: Dataset;
  record: LooseRecord;
}

export interface BufferItem {
  /** Namespaced id (`m:<event_id>`, `e:<event id>`, `p:<digest>`); absent when none can be known. */
  dedupeId?: string;
  records: BufferedRecord[];
}

export type Loose = Record<string, unknown>;

export function isObject(v: unknown): v is Loose {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

/** The first value that is present, for fields senders spell in several ways. */
export function firstPresent(...values: unknown[]): unknown {
  for (const v of values) if (present(v)) return v;
  return undefined;
}

/** Copies only the fields that carry a value, so loose records stay small in Redis. */
export function compact(record: Loose): Loose {
  const out: Loose = {};
  for (const key in record) {
    const v = record[key];
    if (v !== undefined && v !== null && v !== '') out[key] = v;
  }
  return out;
}

/** Dedupe ids become Redis keys: bound their length and keep them printable. */
export const MAX_DEDUPE_ID = 300;
