import type { Dataset } from '../contract/records.js';
import type { RecordSubject } from '../privacy/suppression-check.js';
import { setOwn } from './json-limits.js';

/**
 * What ingest hands to the buffer. One accepted input (a webhook, a track event, an identify) is
 * one item, de-duplicated as a whole; it may produce lines in several datasets (a Customer.io
 * `customer.unsubscribed` webhook is both a message and a person update).
 *
 * Lines are already checked against the data contract: validation runs once, at ingest, where the
 * sender gets a per-item answer. The export then only routes lines to their day's part, which is
 * what lets it keep up with ingest (see DESIGN "Data flow").
 */
export interface BufferedLine {
  dataset: Dataset;
  /** `r`: a canonical record for `raw/`; `q`: a quarantine entry (record plus reasons). */
  kind: 'r' | 'q';
  /** The `dt` partition (UTC day of the event time). */
  day: string;
  /** The JSON text of the line, without a newline. */
  json: string;
  /**
   * The record the line is about (the canonical record, or for quarantine the record as received),
   * kept in memory only, so the erased-people check needs no second parse. Never buffered.
   */
  subject?: RecordSubject;
}

export interface BufferItem {
  /** Namespaced id (`m:<event_id>`, `e:<event id>`, `p:<digest>`); absent when none can be known. */
  dedupeId?: string;
  lines: BufferedLine[];
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

/** Copies only the fields that carry a value. */
export function compact(record: Loose): Loose {
  const out: Loose = {};
  // Own keys only, copied as own properties (a `__proto__` key stays data, never a prototype).
  for (const key of Object.keys(record)) {
    const v = record[key];
    if (v !== undefined && v !== null && v !== '') setOwn(out, key, v);
  }
  return out;
}

/** Dedupe ids become Redis keys: bound their length. */
export const MAX_DEDUPE_ID = 300;
