import { isDay } from '../contract/days.js';

/**
 * Computed traits (`traits:` in audience-sync.yaml, docs/traits.md): named per-person values over
 * the same sources and windows as conditions, arithmetic over other traits, `bucket` / `case`
 * tiers, and columns of external score tables. This module holds the language: the parsed forms,
 * the expression parser, and the type rules (number, string, date) checked when the file loads.
 * The parsing itself is in config.ts (it shares the condition parser); the SQL is sql/traits.ts.
 */

export const TRAIT_TYPES = ['number', 'string', 'date'] as const;
export type TraitType = (typeof TRAIT_TYPES)[number];

/** Aggregates over one event or message source. */
export const TRAIT_AGGREGATES = [
  'count',
  'sum',
  'min',
  'max',
  'avg',
  'first',
  'last',
  'days_since',
  'median_gap_days',
] as const;
export type TraitAggregate = (typeof TRAIT_AGGREGATES)[number];

/** A trait name: a column and a Customer.io attribute name alike; `today` is the as-of day. */
export const TRAIT_NAME = /^[a-z][a-z0-9_]{0,62}$/;
export const RESERVED_TRAIT_NAMES: readonly string[] = ['today', 'coalesce', 'round'];

export type Expr =
  | { k: 'num'; v: number }
  | { k: 'ref'; name: string }
  | { k: 'today' }
  | { k: 'neg'; e: Expr }
  | { k: 'bin'; op: '+' | '-' | '*' | '/'; l: Expr; r: Expr }
  | { k: 'call'; fn: 'coalesce' | 'round'; args: Expr[] };

export class ExprSyntaxError extends Error {}

/**
 * `expr` text → tree. Grammar: sums of products of unary minus, numbers, trait names, `today`,
 * `coalesce(a, b, …)`, `round(x)` and parentheses.
 */
export function parseExpr(text: string): Expr {
  const tokens = text.match(/\s*([0-9]+(?:\.[0-9]+)?|[A-Za-z_][A-Za-z0-9_]*|[-+*/(),]|\S)/g) ?? [];
  const list = tokens.map((t) => t.trim());
  let i = 0;
  const peek = () => list[i];
  const fail = (what: string): never => {
    throw new ExprSyntaxError(
      `${what} at ${i < list.length ? `"${list[i]}" (token ${i + 1})` : 'the end'} of "${text}"`,
    );
  };
  const expect = (t: string) => {
    if (list[i] !== t) fail(`expected "${t}"`);
    i++;
  };
  const primary = (): Expr => {
    const t = peek();
    if (t === undefined) return fail('expected a value');
    if (t === '(') {
      i++;
      const e = sum();
      expect(')');
      return e;
    }
    if (t === '-') {
      i++;
      return { k: 'neg', e: primary() };
    }
    if (/^[0-9]/.test(t)) {
      i++;
      return { k: 'num', v: Number(t) };
    }
    if (/^[A-Za-z_]/.test(t)) {
      i++;
      if (peek() === '(') {
        if (t !== 'coalesce' && t !== 'round')
          return fail(`unknown function "${t}" (known: coalesce, round)`);
        i++;
        const args = [sum()];
        while (peek() === ',') {
          i++;
          args.push(sum());
        }
        expect(')');
        if (t === 'round' && args.length !== 1) fail('round takes one argument');
        if (t === 'coalesce' && args.length < 2) fail('coalesce takes two or more arguments');
        return { k: 'call', fn: t, args };
      }
      return t === 'today' ? { k: 'today' } : { k: 'ref', name: t };
    }
    return fail('unexpected');
  };
  const product = (): Expr => {
    let e = primary();
    while (peek() === '*' || peek() === '/') {
      const op = list[i++] as '*' | '/';
      e = { k: 'bin', op, l: e, r: primary() };
    }
    return e;
  };
  const sum = (): Expr => {
    let e = product();
    while (peek() === '+' || peek() === '-') {
      const op = list[i++] as '+' | '-';
      e = { k: 'bin', op, l: e, r: product() };
    }
    return e;
  };
  if (list.length === 0) fail('empty expression');
  const e = sum();
  if (i < list.length) fail('unexpected');
  return e;
}

/** Trait names an expression reads. */
export function exprRefs(e: Expr, out: Set<string> = new Set()): Set<string> {
  if (e.k === 'ref') out.add(e.name);
  else if (e.k === 'neg') exprRefs(e.e, out);
  else if (e.k === 'bin') {
    exprRefs(e.l, out);
    exprRefs(e.r, out);
  } else if (e.k === 'call') for (const a of e.args) exprRefs(a, out);
  return out;
}

/** The type of an expression, or a message saying why it has none. */
export function exprType(e: Expr, typeOf: (name: string) => TraitType): TraitType | string {
  switch (e.k) {
    case 'num':
      return 'number';
    case 'today':
      return 'date';
    case 'ref':
      return typeOf(e.name);
    case 'neg': {
      const t = exprType(e.e, typeOf);
      return t === 'number' || !isType(t) ? t : `cannot negate a ${t}`;
    }
    case 'call': {
      const types = e.args.map((a) => exprType(a, typeOf));
      const bad = types.find((t) => !isType(t));
      if (bad) return bad;
      if (e.fn === 'round')
        return types[0] === 'number' ? 'number' : `round takes a number, not a ${types[0]}`;
      return new Set(types).size === 1
        ? types[0]!
        : `coalesce needs arguments of one type (got ${types.join(', ')})`;
    }
    case 'bin': {
      const l = exprType(e.l, typeOf);
      const r = exprType(e.r, typeOf);
      if (!isType(l)) return l;
      if (!isType(r)) return r;
      if (l === 'number' && r === 'number') return 'number';
      if (e.op === '+' && ((l === 'date' && r === 'number') || (l === 'number' && r === 'date')))
        return 'date';
      if (e.op === '-' && l === 'date' && r === 'number') return 'date';
      if (e.op === '-' && l === 'date' && r === 'date') return 'number';
      return `cannot compute ${l} ${e.op} ${r} (numbers take + - * /; a date takes + or - a number of days, and date - date is days)`;
    }
  }
}

function isType(t: string): t is TraitType {
  return (TRAIT_TYPES as readonly string[]).includes(t);
}

/** Whether a literal (a `default`, a tier or case value, a test's value) has a trait type. */
export function literalFits(value: unknown, type: TraitType): boolean {
  if (value === null) return true;
  if (type === 'number') return typeof value === 'number' && Number.isFinite(value);
  if (type === 'date') return typeof value === 'string' && isDay(value);
  return typeof value === 'string';
}

/** The type of a literal tier / case value: strings that are days count as strings (say `type: date`). */
export function literalType(value: string | number): TraitType {
  return typeof value === 'number' ? 'number' : 'string';
}
