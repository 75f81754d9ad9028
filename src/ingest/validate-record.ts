import { today } from '../contract/days.js';
import type { Dataset } from '../contract/records.js';
import type { Rejection } from '../contract/rejection.js';
import { canonicalTimestamp, utcDay } from '../contract/timestamp.js';
import { type Checked, checkEvent, checkMessage, checkPerson } from '../contract/validate.js';
import { looseSubject, type RecordSubject } from '../privacy/suppression-check.js';
import type { BufferedLine } from './items.js';

/**
 * The data contract applied to one loose record, producing the lines that go to `raw/` and to
 * `quarantine/`. Shared by ingest (webhook, track, identify) and the Customer.io import, so every
 * path into the store decides the same way.
 */

export interface CheckContext {
  /** Event-name normalizer with the configured `event_aliases` (cached: it is on the hot path). */
  normalizeName?: (raw: string) => string;
  /** Stamped as `received_at` where the record has none. */
  receivedAt?: string;
  source?: string;
}

export type RecordCheck = (loose: unknown) => Checked<{ ts: string }>;

export function checkerFor(dataset: Dataset, context: CheckContext = {}): RecordCheck {
  switch (dataset) {
    case 'events':
      return (loose) => checkEvent(loose, context);
    case 'messages':
      return (loose) => checkMessage(loose, context);
    case 'people':
      return (loose) => checkPerson(loose);
  }
}

/** Where a quarantined record came from: a received-at time and source, a file and row, ... */
export type Origin = Record<string, string | number>;

export interface QuarantineLine extends Record<string, unknown> {
  dataset: Dataset;
  /** `true`: the record was not stored; `false`: it was stored without the fields named in `reasons`. */
  rejected: boolean;
  reasons: Rejection[];
  record: unknown;
}

export interface ValidatedRecord<T> {
  /** The canonical record, or `null` when it was rejected. */
  record: T | null;
  problems: Rejection[];
  lines: BufferedLine[];
}

export function validateRecord<T extends { ts: string }>(
  dataset: Dataset,
  check: (loose: unknown) => Checked<T>,
  loose: unknown,
  origin: Origin,
): ValidatedRecord<T> {
  const { record, problems } = check(loose);
  const lines: BufferedLine[] = [];
  if (record)
    lines.push({
      dataset,
      kind: 'r',
      day: utcDay(record.ts),
      json: JSON.stringify(record),
      subject: record as RecordSubject,
    });
  if (problems.length > 0) {
    const line: QuarantineLine = { dataset, rejected: !record, reasons: problems, record: loose, ...origin };
    const q: BufferedLine = {
      dataset,
      kind: 'q',
      day: record ? utcDay(record.ts) : dayOf(loose),
      json: JSON.stringify(line),
    };
    if (isObject(loose)) q.subject = looseSubject(loose);
    lines.push(q);
  }
  return { record, problems, lines };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The day a rejected record is filed under: its own time if usable, else when it arrived, else today. */
export function dayOf(loose: unknown): string {
  if (typeof loose === 'object' && loose !== null) {
    const l = loose as Record<string, unknown>;
    for (const field of ['ts', 'received_at']) {
      const ts = canonicalTimestamp(l[field], field);
      if (ts.ok) return utcDay(ts.value);
    }
  }
  return today();
}
