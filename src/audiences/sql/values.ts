import type { Filters, Operators, Scalar, ValueMatch } from '../config.js';
import type { Dialect } from './dialect.js';

/**
 * The value semantics of `where`, `message:` and `person:` filters (src/audiences/values.ts holds
 * the same rules as plain functions) written as SQL. Every expression is NOT NULL: a missing
 * value makes a test false (never unknown), so `not:` means what it says.
 */

/** A value as SQL: its normalized kind (STRING / NUMBER / BOOLEAN / NULL / OTHER, NULL when missing) and its text. */
export interface ValueRef {
  kind: string;
  text: string;
  /** A text column: always a string when present (lets tests skip the kind checks). */
  column?: boolean;
}

/** A JSON value (a property, a person field). */
export function jsonValue(d: Dialect, json: string, path: readonly string[]): ValueRef {
  const v = d.jsonAt(json, path);
  return { kind: d.jsonKind(v), text: d.jsonText(v) };
}

/** A text column (raw message fields are text): a string, or missing when NULL. */
export function textValue(column: string): ValueRef {
  return { kind: `CASE WHEN ${column} IS NULL THEN NULL ELSE 'STRING' END`, text: column, column: true };
}

/** A boolean that is always present (the `unsubscribed` / `deleted` flags default to false). */
export function flagValue(condition: string): ValueRef {
  return { kind: `'BOOLEAN'`, text: `CASE WHEN ${condition} THEN 'true' ELSE 'false' END` };
}

/** A whole string that is a finite decimal number; no exponent, no spaces (values.ts DECIMAL_RE). */
const DECIMAL = '[+-]?(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)';

/** The numeric value (values.ts `toNumber`): a finite JSON number, or a decimal string; else NULL. */
export function numberOf(d: Dialect, v: ValueRef): string {
  // A text column is a string or missing: the cheap cast first, the pattern only where it succeeded.
  if (v.column) {
    const cast = d.tryDouble(v.text);
    return `(CASE WHEN ${d.isFinite(cast)} AND ${d.fullMatch(v.text, DECIMAL)} THEN ${cast} END)`;
  }
  const raw = `CASE WHEN ${v.kind} = 'NUMBER' THEN ${d.tryDouble(v.text)} WHEN ${v.kind} = 'STRING' AND ${d.fullMatch(v.text, DECIMAL)} THEN ${d.tryDouble(v.text)} END`;
  return `(CASE WHEN ${d.isFinite(raw)} THEN ${raw} END)`;
}

function orFalse(expr: string): string {
  return `COALESCE(${expr}, false)`;
}

/** values.ts `valueEquals`. */
export function equals(d: Dialect, v: ValueRef, expected: Scalar): string {
  if (expected === null) return `(${v.kind} IS NULL OR ${v.kind} = 'NULL')`;
  if (typeof expected === 'number') {
    if (v.column)
      return `(CASE WHEN ${d.tryDouble(v.text)} = ${d.dbl(expected)} THEN ${d.fullMatch(v.text, DECIMAL)} ELSE false END)`;
    return orFalse(`${numberOf(d, v)} = ${d.dbl(expected)}`);
  }
  if (v.column && typeof expected === 'string') {
    // A text column holds no numbers or booleans: plain string equality.
    return orFalse(`${v.text} = ${d.str(expected)}`);
  }
  if (typeof expected === 'boolean')
    return orFalse(`(${v.kind} = 'BOOLEAN' AND ${v.text} = ${d.str(String(expected))})`);
  const tests = [`(${v.kind} = 'STRING' AND ${v.text} = ${d.str(expected)})`];
  // A stored number or boolean equals a string that is how JavaScript writes it (`String(42)`).
  const n = Number(expected);
  if (expected.trim() !== '' && Number.isFinite(n) && String(n) === expected)
    tests.push(`(${v.kind} = 'NUMBER' AND ${numberOf(d, v)} = ${d.dbl(n)})`);
  if (expected === 'true' || expected === 'false')
    tests.push(`(${v.kind} = 'BOOLEAN' AND ${v.text} = ${d.str(expected)})`);
  return orFalse(`(${tests.join(' OR ')})`);
}

function ordered(d: Dialect, v: ValueRef, bound: number | string, op: string): string {
  if (typeof bound === 'number') return orFalse(`${numberOf(d, v)} ${op} ${d.dbl(bound)}`);
  // A string bound compares strings (ISO dates, versions written with leading zeros).
  return orFalse(`(${v.kind} = 'STRING' AND ${v.text} ${op} ${d.str(bound)})`);
}

function isOperators(m: ValueMatch): m is Operators {
  return typeof m === 'object' && m !== null;
}

/** values.ts `matchValue`. */
export function matches(d: Dialect, v: ValueRef, match: ValueMatch): string {
  if (!isOperators(match)) return equals(d, v, match);
  const parts: string[] = [];
  if (match.gt !== undefined) parts.push(ordered(d, v, match.gt, '>'));
  if (match.gte !== undefined) parts.push(ordered(d, v, match.gte, '>='));
  if (match.lt !== undefined) parts.push(ordered(d, v, match.lt, '<'));
  if (match.lte !== undefined) parts.push(ordered(d, v, match.lte, '<='));
  if (match.ne !== undefined) parts.push(`NOT ${equals(d, v, match.ne)}`);
  if (match.in !== undefined) parts.push(`(${match.in.map((x) => equals(d, v, x)).join(' OR ')})`);
  return parts.length === 0 ? 'true' : `(${parts.join(' AND ')})`;
}

/** Every entry of a filter set, each against the value `read(field)` gives. */
export function filtersSql(d: Dialect, filters: Filters, read: (field: string) => ValueRef): string {
  const entries = Object.entries(filters);
  if (entries.length === 0) return 'true';
  return `(${entries.map(([field, match]) => matches(d, read(field), match)).join(' AND ')})`;
}
