import { type Rejection, rejection } from '../contract/rejection.js';
import type { SuppressionList } from './suppression.js';

/**
 * "No resurrection": the one decision ingest, the export drain and the Customer.io import make
 * about each record — does it belong to an erased person? Records that do are dropped, never
 * stored, and only counted: nothing about them (least of all the identifier that matched) is
 * answered or logged.
 *
 * Cost: nothing while the list is empty (`size === 0`); otherwise up to three SHA-256 digests and,
 * for a record carrying a phone number, one phone parse per record.
 */

/** The fields of a record that name its person (a canonical record, or a loose one before checks). */
export interface RecordSubject {
  customer_id?: unknown;
  email?: unknown;
  phone?: unknown;
  country?: unknown;
  /** An alias folds this earlier identity into `customer_id`: an erased one must not come back. */
  merged_from?: unknown;
}

/** The per-item answer for a record of an erased person (no value, no path: nothing is echoed). */
export const ERASED_PERSON: Rejection = rejection(
  'erased_person',
  '',
  'the person was erased; records about them are not accepted',
);

export function isSuppressed(list: SuppressionList, subject: RecordSubject | undefined): boolean {
  if (list.size === 0 || subject === undefined) return false;
  if (list.matches(subject)) return true;
  const earlier = subject.merged_from;
  return typeof earlier === 'string' && earlier !== '' && list.matches({ customer_id: earlier });
}

/**
 * The subject of a stored or buffered line, read from its JSON: a raw line is the record itself, a
 * quarantine line carries the record it was about as `record`. `undefined` when the line is not
 * JSON or names no record (a malformed buffer line): nothing to match.
 */
export function subjectOfLine(kind: 'r' | 'q', json: string): RecordSubject | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (kind === 'r') return isRecord(parsed) ? parsed : undefined;
  const record = isRecord(parsed) ? parsed.record : undefined;
  return isRecord(record) ? looseSubject(record) : undefined;
}

/**
 * The subject of a record as a sender wrote it (what a quarantine line keeps): the canonical
 * field names, or the spellings the ingest doors map from (Segment `userId`, `traits`,
 * `context.traits`, `previousId`; identify `attributes`).
 */
export function looseSubject(record: Record<string, unknown>): RecordSubject {
  const context = isRecord(record.context) ? record.context : undefined;
  const sources = [record, record.traits, context?.traits, record.attributes].filter(isRecord);
  const first = (field: string) => {
    for (const source of sources) if (present(source[field])) return source[field];
    return undefined;
  };
  return {
    customer_id: firstOf(record.customer_id, record.userId, record.user_id),
    email: first('email'),
    phone: first('phone'),
    country: first('country'),
    merged_from: firstOf(record.merged_from, record.previousId),
  };
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

function firstOf(...values: unknown[]): unknown {
  return values.find(present);
}

/** Any line of the group (an ingest item, say) is about an erased person. */
export function linesSuppressed(
  list: SuppressionList,
  lines: readonly { kind: 'r' | 'q'; json: string; subject?: RecordSubject }[],
): boolean {
  if (list.size === 0) return false;
  return lines.some((line) => isSuppressed(list, line.subject ?? subjectOfLine(line.kind, line.json)));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
