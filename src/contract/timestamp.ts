import { type Rejection, rejection } from './rejection.js';

/** Unix seconds below this are taken as seconds, above as milliseconds (2286-11-20 in seconds). */
const SECONDS_LIMIT = 1e10;
/** Earliest and latest instants we accept: anything outside is a bug upstream, not data. */
const MIN_MS = Date.UTC(2000, 0, 1);
const MAX_MS = Date.UTC(2100, 0, 1);
/** ISO-8601 date-time with an explicit zone, or a bare date. */
const ISO_RE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/;

export type TimestampResult = { ok: true; value: string } | { ok: false; error: Rejection };

/**
 * Canonical timestamp: unix seconds, unix milliseconds (numbers or digit strings) or ISO-8601
 * → `Date.prototype.toISOString()` form, which compares correctly as a string.
 */
export function canonicalTimestamp(input: unknown, path = 'ts'): TimestampResult {
  let ms: number;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return fail(path, 'is not a finite number');
    ms = Math.abs(input) < SECONDS_LIMIT ? input * 1000 : input;
  } else if (typeof input === 'string') {
    const s = input.trim();
    if (/^\d+(?:\.\d+)?$/.test(s)) {
      const n = Number(s);
      ms = n < SECONDS_LIMIT ? n * 1000 : n;
    } else if (s.length <= 40 && ISO_RE.test(s)) {
      ms = Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s);
    } else {
      return fail(path, 'is not a unix time or an ISO-8601 date-time with a zone');
    }
  } else if (input instanceof Date) {
    ms = input.getTime();
  } else {
    return fail(path, input === undefined || input === null ? 'is missing' : 'has the wrong type');
  }
  if (!Number.isFinite(ms)) return fail(path, 'is not a valid date');
  if (ms < MIN_MS || ms >= MAX_MS) return fail(path, 'is outside 2000-01-01..2100-01-01');
  return { ok: true, value: new Date(Math.floor(ms)).toISOString() };
}

/** The UTC day (`YYYY-MM-DD`) of a canonical timestamp: the `dt` partition it belongs to. */
export function utcDay(ts: string): string {
  return ts.slice(0, 10);
}

function fail(path: string, what: string): TimestampResult {
  return { ok: false, error: rejection('bad_timestamp', path, `${path} ${what}`) };
}
