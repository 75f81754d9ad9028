import type { Filters, Operators, Scalar, ValueMatch } from './config.js';

/**
 * Value semantics shared by `where`, `message:` and `person:` filters and by numeric features.
 * Pure functions: the same rules apply wherever a value is compared.
 */

/** A whole string that is a finite decimal number (`"12"`, `"-0.5"`, `".5"`); no exponent, no spaces. */
const DECIMAL_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/**
 * The numeric value of a property (docs/audiences.md, "Values"): a finite JSON number, or a string that is entirely a
 * finite decimal number. Anything else (missing, empty, `"12 EUR"`, booleans) has none.
 */
export function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && DECIMAL_RE.test(value)) {
    const n = Number(value);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/**
 * Equality between a stored value and a configured one. Numbers compare numerically (so an id
 * stored as `"42"` matches `campaign_id: 42`), strings exactly, `null` matches a missing value.
 */
export function valueEquals(actual: unknown, expected: Scalar): boolean {
  if (expected === null) return actual === undefined || actual === null;
  if (typeof expected === 'number') return toNumber(actual) === expected;
  if (typeof expected === 'boolean') return actual === expected;
  if (typeof actual === 'string') return actual === expected;
  if (typeof actual === 'number' || typeof actual === 'boolean') return String(actual) === expected;
  return false;
}

function isOperators(m: ValueMatch): m is Operators {
  return typeof m === 'object' && m !== null;
}

function ordered(actual: unknown, bound: number | string, test: (c: number) => boolean): boolean {
  if (typeof bound === 'number') {
    const n = toNumber(actual);
    return n !== undefined && test(n < bound ? -1 : n > bound ? 1 : 0);
  }
  // A string bound compares strings (ISO dates, versions written with leading zeros).
  return typeof actual === 'string' && test(actual < bound ? -1 : actual > bound ? 1 : 0);
}

/**
 * Whether a stored value satisfies a value match. A missing value fails every test except
 * `ne` (it is not equal to anything) and equality with `null`.
 */
export function matchValue(actual: unknown, match: ValueMatch): boolean {
  if (!isOperators(match)) return valueEquals(actual, match);
  if (match.gt !== undefined && !ordered(actual, match.gt, (c) => c > 0)) return false;
  if (match.gte !== undefined && !ordered(actual, match.gte, (c) => c >= 0)) return false;
  if (match.lt !== undefined && !ordered(actual, match.lt, (c) => c < 0)) return false;
  if (match.lte !== undefined && !ordered(actual, match.lte, (c) => c <= 0)) return false;
  if (match.ne !== undefined && valueEquals(actual, match.ne)) return false;
  if (match.in !== undefined && !match.in.some((v) => valueEquals(actual, v))) return false;
  return true;
}

/** `a.b.c` → a getter over nested objects (arrays by index), compiled once per filter. */
export function pathGetter(path: string): (root: unknown) => unknown {
  const parts = path.split('.');
  if (parts.length === 1) {
    const key = parts[0]!;
    return (root) =>
      root !== null && typeof root === 'object' ? (root as Record<string, unknown>)[key] : undefined;
  }
  return (root) => {
    let v: unknown = root;
    for (const part of parts) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Record<string, unknown>)[part];
    }
    return v;
  };
}

/** A compiled filter set: true when every entry matches the value its getter reads. */
export function compileFilters(filters: Filters, getterFor: (field: string) => (root: unknown) => unknown) {
  const tests = Object.entries(filters).map(([field, match]) => {
    const get = getterFor(field);
    return (root: unknown) => matchValue(get(root), match);
  });
  if (tests.length === 0) return () => true;
  if (tests.length === 1) return tests[0]!;
  return (root: unknown) => {
    for (const t of tests) if (!t(root)) return false;
    return true;
  };
}
