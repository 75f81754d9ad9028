import {
  type AudienceDefinition,
  type Condition,
  DEFAULT_LOOKBACK_DAYS,
  type Filters,
  isTraitOperand,
  type Operators,
  type TraitDefinition,
  type Traits,
  type WhereFilters,
  type WhereOperators,
  whereTraits,
} from './config.js';
import { neverSendLookback } from './lookback.js';
import { exprRefs, exprType, literalFits, literalType, type TraitType } from './traits.js';

/**
 * Load-time checks of traits (docs/traits.md): every name a trait, condition, score term or
 * write-back reads exists; traits do not depend on themselves; every value has one type and every
 * test, bound, default and tier fits it. `fail` throws naming the YAML path.
 */

type Path = (string | number)[];
type Fail = (path: Path, message: string) => never;

/** Declared column types of the score tables: table → column → type. */
export type ScoreTableTypes = Record<string, Record<string, TraitType>>;

/**
 * Trait names a definition reads directly (expressions, bucket input, case conditions, and the
 * trait operands of an aggregate's `where`).
 */
export function traitDependencies(t: TraitDefinition): Set<string> {
  if (t.kind === 'expr' || t.kind === 'bucket') return exprRefs(t.parsed);
  const out = new Set<string>();
  if (t.kind === 'case') for (const b of t.branches) conditionTraits(b.when, out);
  if (t.kind === 'aggregate') whereTraits(t.source.where, out);
  return out;
}

/** Trait names a condition reads: those it tests, and the trait operands of its records' `where`. */
export function conditionTraits(c: Condition, out: Set<string> = new Set()): Set<string> {
  if ('all' in c) for (const x of c.all) conditionTraits(x, out);
  else if ('any' in c) for (const x of c.any) conditionTraits(x, out);
  else if ('not' in c) conditionTraits(c.not, out);
  else if ('trait' in c) for (const name of Object.keys(c.trait)) out.add(name);
  else if ('event' in c || 'message' in c) whereTraits(c.where, out);
  return out;
}

/** Every trait's type, checking each definition on the way. */
export function traitTypes(traits: Traits, tables: ScoreTableTypes, fail: Fail): Map<string, TraitType> {
  const types = new Map<string, TraitType>();
  const visiting: string[] = [];
  const typeOf = (name: string, from: Path): TraitType => {
    const known = types.get(name);
    if (known) return known;
    const t = traits[name];
    if (!t) fail(from, `unknown trait "${name}" (defined: ${Object.keys(traits).join(', ') || 'none'})`);
    if (visiting.includes(name))
      fail(
        ['traits', name],
        `traits depend on each other in a cycle: ${[...visiting.slice(visiting.indexOf(name)), name].join(' → ')}`,
      );
    visiting.push(name);
    const type = check(name, t!);
    visiting.pop();
    types.set(name, type);
    return type;
  };
  const check = (name: string, t: TraitDefinition): TraitType => {
    const at: Path = ['traits', name];
    let type: TraitType;
    switch (t.kind) {
      case 'aggregate':
        checkWhere(
          t.source.where,
          (ref, path) => typeOf(ref, path ?? [...at, t.aggregate, 'where']),
          [...at, t.aggregate, 'where'],
          fail,
          numericProperty(t),
        );
        if (t.aggregate === 'first' || t.aggregate === 'last') {
          if (t.source.property === undefined) {
            if (t.type && t.type !== 'date')
              fail([...at, 'type'], `${t.aggregate} without a property is the day of that record: a date`);
            type = 'date';
          } else {
            if (t.type === 'date')
              fail([...at, 'type'], `${t.aggregate} of a property is a number or a string`);
            type = t.type ?? 'number';
          }
        } else type = 'number';
        break;
      case 'expr':
      case 'bucket': {
        const key = t.kind === 'expr' ? [...at, 'expr'] : [...at, 'bucket', 'of'];
        const r = exprType(t.parsed, (ref) => typeOf(ref, key));
        if (r !== 'number' && r !== 'string' && r !== 'date') fail(key, r);
        if (t.kind === 'expr') {
          type = r as TraitType;
          break;
        }
        if (r !== 'number') fail(key, `bucket tiers a number, and "${t.of}" is a ${r}`);
        type = literalsType(
          [...t.tiers.map((x) => x.value), ...(t.missing !== undefined ? [t.missing] : [])],
          t.type,
          [...at, 'bucket', 'tiers'],
          fail,
        );
        break;
      }
      case 'case':
        t.branches.forEach((b, i) => {
          checkCondition(
            b.when,
            (ref, path) => typeOf(ref, path ?? [...at, 'case', i, 'when']),
            [...at, 'case', i, 'when'],
            fail,
          );
        });
        type = literalsType(
          [
            ...t.branches.map((b) => b.value).filter((v): v is string | number => v !== null),
            ...(t.otherwise !== undefined ? [t.otherwise] : []),
          ],
          t.type,
          [...at, 'case'],
          fail,
        );
        break;
      case 'score_table': {
        const table = tables[t.table];
        if (!table)
          fail(
            [...at, 'score_table'],
            `unknown score table "${t.table}" (defined under score_tables: ${Object.keys(tables).join(', ') || 'none'})`,
          );
        const column = table![t.column];
        if (!column)
          fail(
            [...at, 'column'],
            `score table "${t.table}" declares no column "${t.column}" (declared: ${Object.keys(table!).join(', ')})`,
          );
        type = column!;
        break;
      }
    }
    if (t.type && t.type !== type && t.kind !== 'bucket' && t.kind !== 'case')
      fail([...at, 'type'], `declared ${t.type}, but the value is a ${type}`);
    if (t.default !== undefined && !literalFits(t.default, type))
      fail(
        [...at, 'default'],
        `default ${JSON.stringify(t.default)} is not a ${type} (the trait is a ${type})`,
      );
    return type;
  };
  for (const name of Object.keys(traits)) typeOf(name, ['traits', name]);
  return types;
}

/** The one type of tier / case values (a declared `date` makes day strings dates). */
function literalsType(
  values: (string | number)[],
  declared: TraitType | undefined,
  at: Path,
  fail: Fail,
): TraitType {
  const kinds = new Set(values.map(literalType));
  if (kinds.size > 1) fail(at, 'values must all be numbers or all strings');
  const kind = [...kinds][0] ?? declared ?? 'string';
  if (declared === 'date') {
    if (kind !== 'string' || values.some((v) => !literalFits(v, 'date')))
      fail(at, 'type: date needs every value to be a day written YYYY-MM-DD');
    return 'date';
  }
  if (declared && declared !== kind) fail(at, `declared ${declared}, but the values are ${kind}s`);
  return kind;
}

/**
 * The type of a trait read at YAML path `at` (failing there when it is unknown); without `at`, the
 * path of the condition being checked.
 */
type TypeOf = (name: string, at?: Path) => TraitType;

/** Trait tests and trait operands in a condition: known traits, and values of the trait's type. */
export function checkCondition(c: Condition, typeOf: TypeOf, at: Path, fail: Fail): void {
  if ('all' in c || 'any' in c) {
    const key = 'all' in c ? 'all' : 'any';
    const parts = 'all' in c ? c.all : (c as { any: Condition[] }).any;
    for (const [i, x] of parts.entries()) checkCondition(x, typeOf, [...at, key, i], fail);
  } else if ('not' in c) checkCondition(c.not, typeOf, [...at, 'not'], fail);
  else if ('trait' in c) checkTraitFilters(c.trait, (name) => typeOf(name), [...at, 'trait'], fail);
  else if ('event' in c || 'message' in c) checkWhere(c.where, typeOf, [...at, 'where'], fail);
}

/** Properties an aggregate reads as numbers (`sum`, `min`, `max`, `avg`, `first` / `last` of numbers). */
function numericProperty(t: TraitDefinition & { kind: 'aggregate' }): Map<string, string> {
  const p = t.source.property;
  const numeric =
    p !== undefined &&
    (['sum', 'min', 'max', 'avg'].includes(t.aggregate) ||
      ((t.aggregate === 'first' || t.aggregate === 'last') && t.type !== 'string'));
  return numeric ? new Map([[p, t.aggregate]]) : new Map();
}

/**
 * Trait operands of a `where` (docs/traits.md#traits-in-where): each names a known trait, and the
 * tests of one field compare it with one kind of value: a number trait with number bounds, a string
 * or date trait with string bounds, and a property the aggregate reads as a number (`numeric`: path
 * → aggregate) only with number traits.
 */
function checkWhere(
  where: WhereFilters | undefined,
  typeOf: TypeOf,
  at: Path,
  fail: Fail,
  numeric: ReadonlyMap<string, string> = new Map(),
): void {
  for (const [field, match] of Object.entries(where ?? {})) {
    const operands: [Path, unknown][] =
      isTraitOperand(match) || typeof match !== 'object' || match === null
        ? [[[], match]]
        : Object.entries(match as WhereOperators).flatMap(([op, v]): [Path, unknown][] =>
            op === 'in' ? (v as unknown[]).map((x, i): [Path, unknown] => [[op, i], x]) : [[[op], v]],
          );
    if (!operands.some(([, v]) => isTraitOperand(v))) continue;
    // The kind of each operand: a number, or text (strings, and string and date traits).
    const kinds = operands.map(([key, v]): [Path, string, 'number' | 'text' | undefined] => {
      if (isTraitOperand(v)) {
        const type = typeOf(v.trait, [...at, field, ...key, 'trait']);
        return [key, `trait "${v.trait}" is a ${type}`, type === 'number' ? 'number' : 'text'];
      }
      if (typeof v === 'number') return [key, `${JSON.stringify(v)} is a number`, 'number'];
      if (typeof v === 'string') return [key, `${JSON.stringify(v)} is a string`, 'text'];
      return [key, '', undefined];
    });
    const traitKinds = kinds.filter((_, i) => isTraitOperand(operands[i]![1]));
    for (const [key, what, kind] of traitKinds) {
      const other = kinds.find(([, , k]) => k !== undefined && k !== kind);
      if (other)
        fail(
          [...at, field, ...key],
          `${what}; ${field} is compared with ${other[2] === 'number' ? 'a number' : 'text'} here (${[field, ...other[0]].join('.')}: ${other[1]})`,
        );
      const aggregate = numeric.get(field);
      if (aggregate && kind !== 'number')
        fail(
          [...at, field, ...key],
          `${what}; ${field} is a number property here (the trait's ${aggregate} reads it as a number)`,
        );
    }
  }
}

function checkTraitFilters(
  filters: Filters,
  typeOf: (name: string) => TraitType,
  at: Path,
  fail: Fail,
): void {
  for (const [name, match] of Object.entries(filters)) {
    const type = typeOf(name);
    const wrong = (key: Path, value: unknown): never =>
      fail(
        [...at, name, ...key],
        `trait "${name}" is a ${type}; ${JSON.stringify(value)} is not${type === 'date' ? ' a day (YYYY-MM-DD)' : ` a ${type}`}`,
      );
    if (typeof match !== 'object' || match === null) {
      if (!literalFits(match, type)) wrong([], match);
      continue;
    }
    const ops = match as Operators;
    for (const op of ['gt', 'gte', 'lt', 'lte', 'ne'] as const) {
      const v = ops[op];
      if (v !== undefined && !literalFits(v, type)) wrong([op], v);
    }
    ops.in?.forEach((v, i) => {
      if (!literalFits(v, type)) wrong(['in', i], v);
    });
  }
}

/**
 * Checks every trait reference of the file: `traits` themselves, trait conditions in `when` and
 * `never_send`, trait score terms (numbers), and trait write-backs.
 */
export function refineTraits(
  config: {
    traits?: Traits | undefined;
    never_send?: Condition | undefined;
    audiences: readonly AudienceDefinition[];
  },
  tables: ScoreTableTypes,
  fail: Fail,
): Map<string, TraitType> {
  const traits = config.traits ?? {};
  const types = traitTypes(traits, tables, fail);
  const typeAt =
    (root: Path): TypeOf =>
    (name, at = root) =>
      types.get(name) ??
      fail(at, `unknown trait "${name}" (defined: ${Object.keys(traits).join(', ') || 'none'})`);
  if (config.never_send) checkCondition(config.never_send, typeAt(['never_send']), ['never_send'], fail);
  config.audiences.forEach((a, i) => {
    const at: Path = ['audiences', i];
    checkCondition(a.when, typeAt([...at, 'when']), [...at, 'when'], fail);
    // Trait write-backs: the trait exists; its type (a date is sent as a timestamp) is recorded on
    // the mapping for the sync, which reads the mapping alone.
    for (const [attribute, source] of Object.entries(a.write_back?.attributes ?? {})) {
      if (typeof source !== 'object') continue;
      const path = [...at, 'write_back', 'attributes', attribute, 'trait'];
      const type = typeAt(path)(source.trait);
      if (source.type !== undefined && source.type !== type)
        fail(
          [...at, 'write_back', 'attributes', attribute, 'type'],
          `trait "${source.trait}" is a ${type}, not a ${source.type}`,
        );
      source.type = type;
    }
    a.score?.forEach((term, j) => {
      if (term.trait === undefined) return;
      const type = typeAt([...at, 'score', j, 'trait'])(term.trait);
      if (type !== 'number')
        fail([...at, 'score', j, 'trait'], `trait "${term.trait}" is a ${type}; a score term needs a number`);
    });
  });
  return types;
}

/** Days of raw data the traits read: their longest window (aggregates without one read 30). */
export function traitsLookback(traits: Traits | undefined): number {
  let max = 0;
  for (const t of Object.values(traits ?? {})) {
    if (t.kind === 'aggregate') max = Math.max(max, t.source.within_days ?? DEFAULT_LOOKBACK_DAYS);
    if (t.kind === 'case') for (const b of t.branches) max = Math.max(max, neverSendLookback(b.when));
  }
  return max;
}
