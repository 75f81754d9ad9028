import { addDays, dayStartMs } from '../contract/days.js';
import type { SnapshotPerson } from '../people/merge.js';
import type { Column, PersonColumns } from './columns.js';
import {
  type AudienceDefinition,
  type Condition,
  DEFAULT_LOOKBACK_DAYS,
  FEATURE_KINDS,
  type FeatureKind,
  type FeatureSource,
  type Filters,
} from './config.js';
import { compileFilters, pathGetter } from './values.js';

/**
 * Turns the audience language into compact evaluators over per-person columns.
 *
 * A *source* is one event name or message selector, with one `where` and one window. While the
 * scan streams records, each matching record bumps the source's per-person count (distinct ids:
 * duplicates are dropped before) and, when a rule needs them, its latest day and numeric
 * aggregates. Conditions and score terms then read those columns; identical sources are shared,
 * so a rule used by several audiences costs one column.
 */

export type RecordDataset = 'events' | 'messages';
export type Rec = Record<string, unknown>;

export interface PropertyAggregate {
  get: (properties: unknown) => unknown;
  /** Compensated (Neumaier) sum: `sum + comp` is the sum, nearly independent of record order. */
  sum?: Column<Float64Array>;
  comp?: Column<Float64Array>;
  max?: Column<Float64Array>;
  min?: Column<Float64Array>;
}

export interface Source {
  key: string;
  dataset: RecordDataset;
  /** Events: the normalized name. */
  event?: string;
  /** Messages: the selector as written (after lowercasing channel / metric). */
  message?: Filters;
  /** Selector key: sources differing only in window or `where` share it. */
  selectorKey: string;
  /** Event property filters (events) or record filters (messages); the scan compiles them. */
  where: Filters | undefined;
  windowDays: number;
  /** First day of the window (the window is `[fromDay, D]`). */
  fromDay: string;
  count: Column<Uint32Array>;
  /** Day number (days since 1970-01-01) of the latest occurrence; -1 when none. */
  latest: Column<Int32Array> | undefined;
  props: Map<string, PropertyAggregate>;
}

export interface PersonAtom {
  test: (person: SnapshotPerson | undefined) => boolean;
  bits: Column<Uint8Array>;
  /** The value for people who are not in the snapshot (no profile at all). */
  onEmpty: boolean;
}

export type Expr = (p: number) => boolean;
export type FeatureReader = (p: number) => number;

export interface CompiledAudience {
  definition: AudienceDefinition;
  lookbackDays: number;
  condition: Expr;
  terms: { weight: number; read: FeatureReader }[];
  /** The audience's own sources (its universe includes anyone with a record in one of them). */
  sources: Source[];
}

export const MS_PER_DAY = 86_400_000;

export function dayNumber(day: string): number {
  return Math.round(dayStartMs(day) / MS_PER_DAY);
}

/** Largest `within_days` in an audience's own `when` and `score`, or the default of 30. */
export function audienceLookback(definition: Pick<AudienceDefinition, 'when' | 'score'>): number {
  let max = 0;
  const visit = (c: Condition) => {
    if ('all' in c) c.all.forEach(visit);
    else if ('any' in c) c.any.forEach(visit);
    else if ('not' in c) visit(c.not);
    else if ('within_days' in c && c.within_days !== undefined) max = Math.max(max, c.within_days);
  };
  visit(definition.when);
  for (const term of definition.score ?? []) {
    for (const kind of FEATURE_KINDS) {
      const w = term[kind]?.within_days;
      if (w !== undefined) max = Math.max(max, w);
    }
  }
  return max > 0 ? max : DEFAULT_LOOKBACK_DAYS;
}

export class Compiler {
  readonly sources: Source[] = [];
  readonly personAtoms: PersonAtom[] = [];
  private readonly byKey = new Map<string, Source>();
  readonly dayNum: number;

  constructor(
    private readonly columns: PersonColumns,
    readonly day: string,
  ) {
    this.dayNum = dayNumber(day);
  }

  audience(definition: AudienceDefinition): CompiledAudience {
    const lookbackDays = audienceLookback(definition);
    const own = new Set<Source>();
    const condition = this.condition(definition.when, lookbackDays, own);
    const terms = (definition.score ?? []).map((term) => {
      const kind = FEATURE_KINDS.find((k) => term[k] !== undefined)!;
      return { weight: term.weight, read: this.feature(kind, term[kind]!, lookbackDays, own) };
    });
    return { definition, lookbackDays, condition, terms, sources: [...own] };
  }

  /** `never_send`: conditions without a window use 30 days. */
  neverSend(condition: Condition): Expr {
    return this.condition(condition, DEFAULT_LOOKBACK_DAYS, new Set());
  }

  condition(c: Condition, lookback: number, own: Set<Source>): Expr {
    if ('all' in c) {
      const parts = c.all.map((x) => this.condition(x, lookback, own));
      return (p) => {
        for (const part of parts) if (!part(p)) return false;
        return true;
      };
    }
    if ('any' in c) {
      const parts = c.any.map((x) => this.condition(x, lookback, own));
      return (p) => {
        for (const part of parts) if (part(p)) return true;
        return false;
      };
    }
    if ('not' in c) {
      const inner = this.condition(c.not, lookback, own);
      return (p) => !inner(p);
    }
    if ('person' in c) {
      const atom = this.personAtom(c.person);
      return (p) => atom.bits.data[p] === 1;
    }
    const source = this.source(c, c.within_days ?? lookback);
    own.add(source);
    const min = c.min_count;
    return (p) => source.count.data[p]! >= min;
  }

  feature(kind: FeatureKind, f: FeatureSource, lookback: number, own: Set<Source>): FeatureReader {
    const source = this.source(f, f.within_days ?? lookback);
    own.add(source);
    if (kind === 'count') return (p) => source.count.data[p]!;
    if (kind === 'days_since') {
      source.latest ??= this.columns.i32(-1);
      const latest = source.latest;
      const today = this.dayNum;
      // DESIGN: a missing days_since is the audience lookback + 1.
      const missing = lookback + 1;
      return (p) => {
        const d = latest.data[p]!;
        return d < 0 ? missing : today - d;
      };
    }
    const property = f.property!;
    let agg = source.props.get(property);
    if (!agg) {
      const get = pathGetter(property);
      agg = { get };
      source.props.set(property, agg);
    }
    if (kind === 'sum') {
      agg.sum ??= this.columns.f64(0);
      agg.comp ??= this.columns.f64(0);
      const { sum, comp } = agg;
      return (p) => sum.data[p]! + comp!.data[p]!;
    }
    if (kind === 'max') {
      agg.max ??= this.columns.f64(Number.NEGATIVE_INFINITY);
      const max = agg.max;
      return (p) => {
        const v = max.data[p]!;
        return v === Number.NEGATIVE_INFINITY ? 0 : v;
      };
    }
    agg.min ??= this.columns.f64(Number.POSITIVE_INFINITY);
    const min = agg.min;
    return (p) => {
      const v = min.data[p]!;
      return v === Number.POSITIVE_INFINITY ? 0 : v;
    };
  }

  private source(
    spec: { event?: string; message?: Filters; where?: Filters | undefined },
    windowDays: number,
  ): Source {
    const dataset: RecordDataset = spec.event !== undefined ? 'events' : 'messages';
    const selectorKey = JSON.stringify(
      dataset === 'events' ? ['events', spec.event] : ['messages', sortedEntries(spec.message ?? {})],
    );
    const key = JSON.stringify([selectorKey, windowDays, sortedEntries(spec.where ?? {})]);
    const existing = this.byKey.get(key);
    if (existing) return existing;
    const source: Source = {
      key,
      dataset,
      ...(spec.event !== undefined ? { event: spec.event } : {}),
      ...(spec.message !== undefined ? { message: spec.message } : {}),
      selectorKey,
      where: spec.where && Object.keys(spec.where).length > 0 ? spec.where : undefined,
      windowDays,
      fromDay: addDays(this.day, 1 - windowDays),
      count: this.columns.u32(),
      latest: undefined,
      props: new Map(),
    };
    this.byKey.set(key, source);
    this.sources.push(source);
    return source;
  }

  private personAtom(filters: Filters): PersonAtom {
    const test = compileFilters(filters, personGetter) as (person: SnapshotPerson | undefined) => boolean;
    const atom: PersonAtom = { test, bits: this.columns.u8(), onEmpty: test(undefined) };
    this.personAtoms.push(atom);
    return atom;
  }
}

/**
 * Reads a person field for `person:` conditions. The `unsubscribed` and `deleted` flags default to
 * false (a person never unsubscribed is not unsubscribed); every other missing field is missing.
 */
function personGetter(field: string): (root: unknown) => unknown {
  if (field === 'unsubscribed' || field === 'deleted') {
    return (root) => (root as SnapshotPerson | undefined)?.[field] === true;
  }
  return pathGetter(field);
}

function sortedEntries(filters: Filters): [string, unknown][] {
  return Object.entries(filters).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Empties the sources' columns (before a repeated scan pass); person and snapshot columns stay. */
export function resetSources(sources: readonly Source[]): void {
  for (const s of sources) {
    s.count.data.fill(0);
    s.latest?.data.fill(-1);
    for (const agg of s.props.values()) {
      agg.sum?.data.fill(0);
      agg.comp?.data.fill(0);
      agg.max?.data.fill(Number.NEGATIVE_INFINITY);
      agg.min?.data.fill(Number.POSITIVE_INFINITY);
    }
  }
}
