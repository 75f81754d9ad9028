import {
  isTraitOperand,
  type Scalar,
  type TraitOperand,
  type WhereFilters,
  type WhereMatch,
  type WhereOperators,
} from '../config.js';
import type { TraitType } from '../traits.js';
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

/** The order operators and their SQL. */
export const ORDER_OPERATORS = [
  ['gt', '>'],
  ['gte', '>='],
  ['lt', '<'],
  ['lte', '<='],
] as const;

/** A trait operand's value as SQL (NULL when the person's trait is missing) and the trait's type. */
export type TraitRef = (name: string) => { sql: string; type: TraitType };

const noTraits: TraitRef = (name) => {
  throw new Error(`trait operand "${name}" where no trait is read`);
};

/**
 * values.ts `matchValue`. In a `where` (docs/traits.md#traits-in-where), the value, the bounds and
 * `ne` may be trait operands, read through `trait`: a test against a trait compares like a literal
 * of the trait's type (a number trait numerically, a string or date trait with string values as
 * text) and fails when the trait is missing, `ne` included.
 */
export function matches(d: Dialect, v: ValueRef, match: WhereMatch, trait: TraitRef = noTraits): string {
  if (isTraitOperand(match)) return compareTrait(d, v, match, '=', trait);
  if (typeof match !== 'object' || match === null) return equals(d, v, match);
  const o = match as WhereOperators;
  const parts: string[] = [];
  for (const [op, sym] of ORDER_OPERATORS) {
    const bound = o[op];
    if (bound === undefined) continue;
    parts.push(isTraitOperand(bound) ? compareTrait(d, v, bound, sym, trait) : ordered(d, v, bound, sym));
  }
  if (o.ne !== undefined) {
    if (isTraitOperand(o.ne)) {
      const t = trait(o.ne.trait);
      parts.push(`(${t.sql} IS NOT NULL AND NOT ${compareTrait(d, v, o.ne, '=', trait)})`);
    } else parts.push(`NOT ${equals(d, v, o.ne)}`);
  }
  if (o.in !== undefined) parts.push(`(${o.in.map((x) => equals(d, v, x)).join(' OR ')})`);
  return parts.length === 0 ? 'true' : `(${parts.join(' AND ')})`;
}

/** Every entry of a filter set (or `where`), each against the value `read(field)` gives. */
export function filtersSql(
  d: Dialect,
  filters: WhereFilters,
  read: (field: string) => ValueRef,
  trait?: TraitRef,
): string {
  const entries = Object.entries(filters);
  if (entries.length === 0) return 'true';
  return `(${entries.map(([field, match]) => matches(d, read(field), match, trait)).join(' AND ')})`;
}

/** A value against a trait: numbers numerically, strings and dates (day text) as strings. */
function compareTrait(d: Dialect, v: ValueRef, operand: TraitOperand, op: string, trait: TraitRef): string {
  const t = trait(operand.trait);
  if (t.type === 'number') return orFalse(`${numberOf(d, v)} ${op} ${t.sql}`);
  if (v.column) return orFalse(`${v.text} ${op} ${t.sql}`);
  return orFalse(`(${v.kind} = 'STRING' AND ${v.text} ${op} ${t.sql})`);
}
