import { addDays } from '../../contract/days.js';
import { writeBackTraits } from '../../contract/write-back.js';
import { SCALAR_FIELDS } from '../../engine/raw.js';
import {
  type AudienceDefinition,
  type Condition,
  DEFAULT_LOOKBACK_DAYS,
  FEATURE_KINDS,
  type FeatureKind,
  type FeatureSource,
  type Filters,
  holdoutSalt,
  type Operators,
  type TraitDefinition,
  type TraitLiteral,
  type Traits,
  type WhereFilters,
  whereTraits,
} from '../config.js';
import { audienceLookback } from '../lookback.js';
import { type ScoreTables, scoreTableTypes } from '../score-tables.js';
import { type ScoreTableTypes, traitTypes } from '../trait-check.js';
import { type Expr, exprType, type TraitType } from '../traits.js';
import { compileFilters, pathGetter } from '../values.js';
import { type Dialect, duckdb } from './dialect.js';
import {
  filtersSql,
  flagValue,
  jsonValue,
  numberOf,
  ORDER_OPERATORS,
  type TraitRef,
  textValue,
  type ValueRef,
} from './values.js';

/**
 * The audience language compiled to SQL: one list of statements that computes, for day D, every
 * audience's members from the raw records and the people snapshot. DuckDB runs it in the build;
 * `audience-sync sql` prints it for a warehouse. Semantics (docs/audiences.md) are those of the
 * language, exactly:
 *
 * 1. Identity: a record's `customer_id` counts for its own person, or for the person it was
 *    aliased into (`merged_ids`, first alias in snapshot order wins); a record without one counts
 *    for the first snapshot person holding its email (lowercased), else its `cio_id`; else it is
 *    unresolved. A `customer_id` the snapshot lacks is a person of its own.
 * 2. De-duplication per dataset, among the records matching some rule's selector in the partitions
 *    read: one record per `id`, the first by `received_at`, then object key, then line.
 * 3. Per person and *source* (an event name or message selector, with one window and one `where`):
 *    count, latest day, and sum / max / min of numeric properties, over records with
 *    `fromDay <= day(ts) <= D` that pass `where`.
 * 4. Per audience: universe (snapshot people plus people with a record in one of its own
 *    sources) → `when` → minus members of `exclude` audiences and `never_send` people → score (terms
 *    added in order, IEEE doubles) → the first ceil(f × eligible) by score desc, customer_id asc →
 *    holdout by `unitHash(salt:customer_id) < fraction` → `entered` carried from the previous day.
 *
 * Input relations the statements read (the engine binds them to files; a warehouse to external
 * tables, see sql/warehouse.ts): `raw_events`, `raw_messages` (raw columns plus `_key`, `_line`,
 * `_malformed`), `people_snapshot` (`customer_id`, `email`, `cio_id`, `merged_ids`, `person`: the
 * whole snapshot line as JSON text) and `previous_<audience table>` (`customer_id`, `entered`).
 */

export type RecordDataset = 'events' | 'messages';

/** One source (see above): a column group in the `features` table. */
export interface SqlSource {
  /** Column prefix: `e0`, `m3`. */
  id: string;
  dataset: RecordDataset;
  event?: string;
  message?: Filters;
  where?: WhereFilters;
  windowDays: number;
  /**
   * 0: aggregated with the other sources, before the traits (`features`). k >= 1: its `where`
   * reads traits, so it is aggregated after them, in stage k (`features_<k>`, alias `f<k>`): one
   * more than the latest stage of the traits it reads.
   */
  stage: number;
  fromDay: string;
  /** Whether a rule reads the latest day (days_since). */
  latest: boolean;
  /** Whether a trait reads the earliest day (first without a property). */
  earliest: boolean;
  /** Whether a trait reads the median gap between consecutive records (median_gap_days). */
  gaps: boolean;
  /** Property aggregates read by rules and traits: path → kinds. */
  props: Map<string, Set<PropKind>>;
}

/** Aggregates of a property: numeric ones, and first / last of its text. */
export type PropKind = 'sum' | 'max' | 'min' | 'avg' | 'first' | 'last' | 'first_text' | 'last_text';

/** One compiled trait: a column `t_<name>` of the `traits` table. */
export interface TraitSql {
  name: string;
  column: string;
  type: TraitType;
  definition: TraitDefinition;
  /** Its value over `features f` (other traits inlined): what the `traits` statement selects. */
  sql: string;
  /** Sources it reads (not part of any audience's universe). */
  sources: SqlSource[];
  /** Score tables it reads. */
  tables: string[];
  /** The latest stage of the sources it reads (0: none reads a trait in its `where`). */
  stage: number;
}

/** A person condition: a boolean column `p<k>` of `features`. */
export interface PersonAtom {
  column: string;
  filters: Filters;
  /** Its value for people the snapshot does not have (no profile at all). */
  onEmpty: boolean;
}

/** A condition tree node with the SQL that evaluates it over `features` (for explain). */
export type ConditionNode =
  | { kind: 'all' | 'any'; sql: string; parts: ConditionNode[] }
  | { kind: 'not'; sql: string; part: ConditionNode }
  | { kind: 'person'; sql: string; atom: PersonAtom }
  | { kind: 'trait'; sql: string; trait: string; test: Filters[string]; type: TraitType }
  | { kind: 'records'; sql: string; source: SqlSource; minCount: number; condition: Condition };

export interface ScoreTermSql {
  weight: number;
  kind: FeatureKind | 'trait';
  /** The feature's source; absent for a trait term. */
  source?: SqlSource;
  /** A trait term's trait (a missing value counts 0). */
  trait?: string;
  /** The feature value as a double. */
  sql: string;
  property?: string;
}

export interface AudienceSql {
  definition: AudienceDefinition;
  /** Table-name-safe name: `a<index>`. */
  table: string;
  lookbackDays: number;
  condition: ConditionNode;
  universe: string;
  score: string;
  terms: ScoreTermSql[];
  /** Its own sources (never_send's are shared by all audiences and listed on the plan). */
  sources: SqlSource[];
  /** Window start per dataset for what this audience reads (own sources and never_send's). */
  fromDay: Partial<Record<RecordDataset, string>>;
  holdout: { fraction: number; salt: string };
  /** top_fraction in parts per million (segments: 1,000,000). */
  ppm: number;
  /**
   * Traits its `when` and `score` read (joined from `traits` as `tr`), and those the `where`s of
   * their sources compare records with (`withWhereTraits`): all of them decide its members
   * (definition hash; explain shows their values).
   */
  traits: string[];
  /** Traits it writes back: carried to its members table (and members file) as their columns. */
  writeBack: TraitSql[];
}

export interface Statement {
  /** The table it creates. */
  name: string;
  select: string;
  /** Read once, by the next statement: an engine may keep it as a view instead of a table. */
  view?: boolean;
  /**
   * Reads raw records only (and earlier such statements), never the people snapshot: an engine
   * may run it while the snapshot is still being brought up to date.
   */
  records?: boolean;
  /**
   * Keeps or drops each record of `raw_<dataset>` on its own (a filter and a projection, nothing
   * across records): its rows from one raw file depend on that file alone, so an engine may keep
   * them per file and read them back instead (audiences/relevant-cache.ts).
   */
  perRecord?: RecordDataset;
}

export interface BuildPlan {
  day: string;
  sources: SqlSource[];
  atoms: PersonAtom[];
  neverSend: ConditionNode | undefined;
  neverSendSources: SqlSource[];
  audiences: AudienceSql[];
  /** The traits the audiences and never_send read, with the traits those read, in dependency order. */
  traits: TraitSql[];
  /** Score tables the traits read, each bound to relation `score_<name>` (by the engine / warehouse). */
  scoreTables: string[];
  /** Their definitions (prefix, format, age, columns). */
  scoreTableDefs: ScoreTables;
  /** First day read per dataset (undefined: the dataset is not read). */
  fromDay: Partial<Record<RecordDataset, string>>;
  /** Statements up to and including `features` (everything audiences share). */
  shared: Statement[];
  /** The number of stages of sources whose `where` reads traits (0: none). */
  stages: number;
}

const TS_PATTERN = '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z';

/** Message fields (raw text columns) a `message:` selector or message `where` may test. */
const MESSAGE_COLUMNS: ReadonlySet<string> = new Set(SCALAR_FIELDS.messages);

/** The `features` columns of a source's aggregate. */
export const col = {
  count: (s: SqlSource) => `${s.id}_n`,
  latest: (s: SqlSource) => `${s.id}_last`,
  prop: (s: SqlSource, property: string, kind: PropKind) =>
    `${s.id}_p${[...s.props.keys()].indexOf(property)}_${kind}`,
  earliest: (s: SqlSource) => `${s.id}_first`,
  gap: (s: SqlSource) => `${s.id}_gap`,
  trait: (name: string) => `t_${name}`,
};

/**
 * A source's column, qualified with the alias of its table: `f` (`features`) or `f<k>`
 * (`features_<k>`).
 */
function fcol(s: SqlSource, column: string): string {
  return `${s.stage === 0 ? 'f' : `f${s.stage}`}.${column}`;
}

/**
 * The stage tables joined to `features f` (`LEFT JOIN features_<k> f<k>`, up to stage `upTo`): one
 * row per `features` row each. None when no `where` reads a trait.
 */
function stageJoins(plan: Pick<BuildPlan, 'stages'>, upTo = plan.stages): string[] {
  const out: string[] = [];
  for (let k = 1; k <= upTo; k++)
    out.push(`LEFT JOIN features_${k} f${k} ON f${k}.customer_id = f.customer_id`);
  return out;
}

/** The relation a score table is bound to. */
export function scoreTableRelation(table: string): string {
  return `score_${table}`;
}

class Compiler {
  readonly sources: SqlSource[] = [];
  readonly atoms: PersonAtom[] = [];
  private readonly byKey = new Map<string, SqlSource>();
  private readonly atomsByKey = new Map<string, PersonAtom>();
  readonly traits = new Map<string, TraitSql>();
  private readonly types: Map<string, TraitType>;
  /** Inside the `traits` statement, trait tests read inlined SQL; elsewhere the `tr` columns. */
  private inlineTraits = false;
  /** Traits read by what is being compiled (an audience's `when` and `score`). */
  private reading = new Set<string>();

  constructor(
    readonly d: Dialect,
    readonly day: string,
    private readonly definitions: Traits,
    scoreTables: ScoreTableTypes,
  ) {
    this.types = traitTypes(definitions, scoreTables, (path, message) => {
      throw new Error(`${path.join('.')}: ${message}`);
    });
  }

  /** Collects the traits read while `run` compiles. */
  readingTraits<T>(run: () => T): { value: T; traits: string[] } {
    const before = this.reading;
    this.reading = new Set();
    try {
      const value = run();
      return { value, traits: [...this.reading] };
    } finally {
      this.reading = before;
    }
  }

  /** Compiles a trait (and the traits it reads, first). */
  trait(name: string): TraitSql {
    const existing = this.traits.get(name);
    if (existing) return existing;
    const definition = this.definitions[name];
    if (!definition) throw new Error(`unknown trait "${name}"`);
    const d = this.d;
    const sources = new Set<SqlSource>();
    const tables = new Set<string>();
    const wasInline = this.inlineTraits;
    this.inlineTraits = true;
    let sql: string;
    try {
      sql = this.traitBody(definition, sources, tables);
    } finally {
      this.inlineTraits = wasInline;
    }
    const type = this.types.get(name)!;
    if (definition.default !== undefined) sql = `COALESCE(${sql}, ${literal(d, definition.default)})`;
    const compiled: TraitSql = {
      name,
      column: col.trait(name),
      type,
      definition,
      sql,
      sources: [...sources],
      tables: [...tables],
      stage: Math.max(0, ...[...sources].map((s) => s.stage)),
    };
    this.traits.set(name, compiled);
    return compiled;
  }

  private traitBody(t: TraitDefinition, sources: Set<SqlSource>, tables: Set<string>): string {
    const d = this.d;
    const inline = (name: string) => {
      const inner = this.trait(name);
      for (const s of inner.sources) sources.add(s);
      for (const x of inner.tables) tables.add(x);
      return `(${inner.sql})`;
    };
    switch (t.kind) {
      case 'aggregate': {
        const s = this.source(t.source, t.source.within_days ?? DEFAULT_LOOKBACK_DAYS);
        sources.add(s);
        // The traits its `where` reads are computed first, from their own sources.
        for (const name of whereTraits(t.source.where)) inline(name);
        const property = t.source.property;
        switch (t.aggregate) {
          case 'count':
            return `CAST(${fcol(s, col.count(s))} AS ${d.double})`;
          case 'days_since':
            s.latest = true;
            return `CAST(${d.dayDiff(fcol(s, col.latest(s)), d.str(this.day))} AS ${d.double})`;
          case 'median_gap_days':
            s.gaps = true;
            return fcol(s, col.gap(s));
          case 'first':
          case 'last': {
            if (property === undefined) {
              if (t.aggregate === 'first') s.earliest = true;
              else s.latest = true;
              return fcol(s, t.aggregate === 'first' ? col.earliest(s) : col.latest(s));
            }
            const kind: PropKind = t.type === 'string' ? `${t.aggregate}_text` : t.aggregate;
            return fcol(s, this.prop(s, property, kind));
          }
          default: {
            const column = fcol(s, this.prop(s, property!, t.aggregate));
            // A sum over no value is 0, like count; min, max and avg are missing.
            return t.aggregate === 'sum' ? `COALESCE(${column}, ${d.dbl(0)})` : column;
          }
        }
      }
      case 'expr':
        return this.expr(t.parsed, inline);
      case 'bucket': {
        const x = this.expr(t.parsed, inline);
        const last = t.tiers[t.tiers.length - 1]!;
        const arms = t.tiers
          .filter((tier) => tier.below !== undefined)
          .map((tier) => `WHEN ${x} < ${d.dbl(tier.below!)} THEN ${literal(d, tier.value)}`);
        const rest = last.below === undefined ? literal(d, last.value) : 'NULL';
        const missing = t.missing !== undefined ? literal(d, t.missing) : 'NULL';
        return `CASE WHEN ${x} IS NULL THEN ${missing} ${arms.join(' ')} ELSE ${rest} END`;
      }
      case 'case': {
        const arms = t.branches.map((b) => {
          const condition = this.condition(b.when, DEFAULT_LOOKBACK_DAYS, sources, inline);
          return `WHEN ${condition.sql} THEN ${b.value === null ? 'NULL' : literal(d, b.value)}`;
        });
        return `CASE ${arms.join(' ')} ELSE ${t.otherwise !== undefined ? literal(d, t.otherwise) : 'NULL'} END`;
      }
      case 'score_table':
        tables.add(t.table);
        return `${scoreTableRelation(t.table)}.${d.ident(t.column)}`;
    }
  }

  private prop(s: SqlSource, property: string, kind: PropKind): string {
    const kinds = s.props.get(property) ?? new Set();
    kinds.add(kind);
    s.props.set(property, kinds);
    return col.prop(s, property, kind);
  }

  private expr(e: Expr, inline: (name: string) => string): string {
    const d = this.d;
    // Checked at load time (trait-check.ts): every sub-expression has a type.
    const typeOf = (x: Expr) => exprType(x, (n) => this.types.get(n)!) as TraitType;
    switch (e.k) {
      case 'num':
        return d.dbl(e.v);
      case 'today':
        return d.str(this.day);
      case 'ref':
        return inline(e.name);
      case 'neg':
        return `(- ${this.expr(e.e, inline)})`;
      case 'call':
        return e.fn === 'round'
          ? `ROUND(${this.expr(e.args[0]!, inline)})`
          : `COALESCE(${e.args.map((a) => this.expr(a, inline)).join(', ')})`;
      case 'bin': {
        const l = this.expr(e.l, inline);
        const r = this.expr(e.r, inline);
        const lt = typeOf(e.l);
        const rt = typeOf(e.r);
        if (lt === 'date' && rt === 'date') return `CAST(${d.dayDiff(r, l)} AS ${d.double})`;
        if (lt === 'date') return d.addDays(l, e.op === '-' ? `(- ${r})` : r);
        if (rt === 'date') return d.addDays(r, l);
        if (e.op === '/') return `(${l} / NULLIF(${r}, ${d.dbl(0)}))`;
        return `(${l} ${e.op} ${r})`;
      }
    }
  }

  source(
    spec: { event?: string; message?: Filters; where?: WhereFilters | undefined },
    windowDays: number,
  ): SqlSource {
    const dataset: RecordDataset = spec.event !== undefined ? 'events' : 'messages';
    const selector =
      dataset === 'events' ? ['events', spec.event] : ['messages', sortedEntries(spec.message ?? {})];
    const key = JSON.stringify([selector, windowDays, sortedEntries(spec.where ?? {})]);
    const existing = this.byKey.get(key);
    if (existing) return existing;
    const prefix = dataset === 'events' ? 'e' : 'm';
    // After the traits its `where` reads (compiled first; load-time checks rule out cycles).
    let stage = 0;
    for (const name of whereTraits(spec.where)) stage = Math.max(stage, this.trait(name).stage + 1);
    const source: SqlSource = {
      id: `${prefix}${this.sources.filter((s) => s.dataset === dataset).length}`,
      dataset,
      ...(spec.event !== undefined ? { event: spec.event } : {}),
      ...(spec.message !== undefined ? { message: spec.message } : {}),
      ...(spec.where && Object.keys(spec.where).length > 0 ? { where: spec.where } : {}),
      windowDays,
      stage,
      fromDay: addDays(this.day, 1 - windowDays),
      latest: false,
      earliest: false,
      gaps: false,
      props: new Map(),
    };
    this.byKey.set(key, source);
    this.sources.push(source);
    return source;
  }

  atom(filters: Filters): PersonAtom {
    const key = JSON.stringify(sortedEntries(filters));
    const existing = this.atomsByKey.get(key);
    if (existing) return existing;
    const test = compileFilters(filters, personGetter) as (person: unknown) => boolean;
    const atom: PersonAtom = { column: `p${this.atoms.length}`, filters, onEmpty: test(undefined) };
    this.atomsByKey.set(key, atom);
    this.atoms.push(atom);
    return atom;
  }

  condition(
    c: Condition,
    lookback: number,
    own: Set<SqlSource>,
    inline?: (name: string) => string,
  ): ConditionNode {
    if ('all' in c || 'any' in c) {
      const kind = 'all' in c ? 'all' : 'any';
      const parts = ('all' in c ? c.all : (c as { any: Condition[] }).any).map((x) =>
        this.condition(x, lookback, own, inline),
      );
      return { kind, sql: `(${parts.map((p) => p.sql).join(kind === 'all' ? ' AND ' : ' OR ')})`, parts };
    }
    if ('not' in c) {
      const part = this.condition(c.not, lookback, own, inline);
      return { kind: 'not', sql: `(NOT ${part.sql})`, part };
    }
    if ('trait' in c) {
      const nodes = Object.entries(c.trait).map(([name, test]): ConditionNode => {
        const trait = this.trait(name);
        this.reading.add(name);
        const value = inline ? inline(name) : `tr.${trait.column}`;
        return { kind: 'trait', sql: traitTestSql(this.d, value, test), trait: name, test, type: trait.type };
      });
      return nodes.length === 1
        ? nodes[0]!
        : { kind: 'all', sql: `(${nodes.map((n) => n.sql).join(' AND ')})`, parts: nodes };
    }
    if ('person' in c) {
      const atom = this.atom(c.person);
      return { kind: 'person', sql: `f.${atom.column}`, atom };
    }
    const source = this.source(c, c.within_days ?? lookback);
    own.add(source);
    // Traits its `where` reads: inside a trait, their sources become the trait's; in an audience or
    // never_send, they are traits the rule reads.
    for (const name of whereTraits(c.where)) {
      if (inline) inline(name);
      else this.reading.add(name);
    }
    return {
      kind: 'records',
      sql: `(${fcol(source, col.count(source))} >= ${c.min_count})`,
      source,
      minCount: c.min_count,
      condition: c,
    };
  }

  /** A `trait` score term: the trait's value, a missing one counting 0. */
  traitTerm(name: string): ScoreTermSql {
    const trait = this.trait(name);
    this.reading.add(name);
    return { weight: 0, kind: 'trait', trait: name, sql: `COALESCE(tr.${trait.column}, ${this.d.dbl(0)})` };
  }

  feature(kind: FeatureKind, f: FeatureSource, lookback: number, own: Set<SqlSource>): ScoreTermSql {
    const source = this.source(f, f.within_days ?? lookback);
    own.add(source);
    const d = this.d;
    if (kind === 'count')
      return { weight: 0, kind, source, sql: `CAST(${fcol(source, col.count(source))} AS ${d.double})` };
    if (kind === 'days_since') {
      source.latest = true;
      // A missing days_since is the audience lookback + 1.
      return {
        weight: 0,
        kind,
        source,
        sql: `COALESCE(CAST(${d.dayDiff(fcol(source, col.latest(source)), d.str(this.day))} AS ${d.double}), ${d.dbl(lookback + 1)})`,
      };
    }
    const property = f.property!;
    this.prop(source, property, kind);
    return {
      weight: 0,
      kind,
      source,
      property,
      sql: `COALESCE(${fcol(source, col.prop(source, property, kind))}, ${d.dbl(0)})`,
    };
  }
}

/**
 * `names` and the traits the `where`s of their sources read, transitively: a trait counted by
 * comparing records with another trait depends on that one's definition too (definition hash).
 */
function withWhereTraits(c: Compiler, names: readonly string[]): string[] {
  const out = [...names];
  for (let i = 0; i < out.length; i++)
    for (const s of c.traits.get(out[i]!)?.sources ?? [])
      for (const name of whereTraits(s.where)) if (!out.includes(name)) out.push(name);
  return out;
}

/** A tier, case or default value as SQL. */
function literal(d: Dialect, v: TraitLiteral): string {
  return typeof v === 'number' ? d.dbl(v) : d.str(v);
}

/**
 * A test of a trait value (never NULL): equality, `gt` / `gte` / `lt` / `lte` (numbers numerically,
 * strings and dates as text), `ne`, `in`; a missing value fails every test but `ne` and `null`.
 */
export function traitTestSql(d: Dialect, value: string, test: Filters[string]): string {
  const eq = (v: unknown) =>
    v === null ? `(${value} IS NULL)` : `COALESCE(${value} = ${literal(d, v as TraitLiteral)}, false)`;
  if (typeof test !== 'object' || test === null) return eq(test);
  const o = test as Operators;
  const parts: string[] = [];
  for (const [op, sym] of ORDER_OPERATORS) {
    const bound = o[op];
    if (bound !== undefined) parts.push(`COALESCE(${value} ${sym} ${literal(d, bound)}, false)`);
  }
  if (o.ne !== undefined) parts.push(`(NOT ${eq(o.ne)})`);
  if (o.in !== undefined) parts.push(`(${o.in.map(eq).join(' OR ')})`);
  return `(${parts.join(' AND ')})`;
}

/** Person fields: the flags default to false, every other missing field is missing (compile.ts). */
export function personGetter(field: string): (root: unknown) => unknown {
  if (field === 'unsubscribed' || field === 'deleted') {
    return (root) => (root as Record<string, unknown> | undefined)?.[field] === true;
  }
  return pathGetter(field);
}

function sortedEntries(filters: Record<string, unknown>): [string, unknown][] {
  return Object.entries(filters).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Compiles the rules of `audiences` (in build order) and `never_send` for day `day`. */
export function compileBuildPlan(options: {
  dialect: Dialect;
  day: string;
  audiences: readonly AudienceDefinition[];
  neverSend: Condition | undefined;
  /** The file's traits; those the audiences and never_send read are compiled. */
  traits?: Traits | undefined;
  /** The file's score tables (what traits of `score_table:` read). */
  scoreTables?: ScoreTables | undefined;
  /** Traits to compile although no rule reads them (e.g. to list every trait). */
  extraTraits?: readonly string[] | undefined;
}): BuildPlan {
  const { dialect: d, day } = options;
  const c = new Compiler(d, day, options.traits ?? {}, scoreTableTypes(options.scoreTables));
  const neverSendOwn = new Set<SqlSource>();
  const neverSendRead = c.readingTraits(() =>
    options.neverSend ? c.condition(options.neverSend, DEFAULT_LOOKBACK_DAYS, neverSendOwn) : undefined,
  );
  const neverSend = neverSendRead.value;
  for (const name of options.extraTraits ?? []) c.trait(name);
  const traitSources = (names: readonly string[]) => names.flatMap((n) => c.traits.get(n)!.sources);
  const audiences = options.audiences.map((definition, index): AudienceSql => {
    const lookbackDays = audienceLookback(definition);
    const own = new Set<SqlSource>();
    const read = c.readingTraits(() => ({
      condition: c.condition(definition.when, lookbackDays, own),
      terms: (definition.score ?? []).map((term) => {
        if (term.trait !== undefined) return { ...c.traitTerm(term.trait), weight: term.weight };
        const kind = FEATURE_KINDS.find((k) => term[k] !== undefined)!;
        return { ...c.feature(kind, term[kind]!, lookbackDays, own), weight: term.weight };
      }),
    }));
    const { condition, terms } = read.value;
    const writeBack = writeBackTraits(definition.write_back?.attributes).map((name) => c.trait(name));
    const isTop = definition.type === 'top_fraction';
    // Term by term, in order, from 0: the same double arithmetic as a loop `score += w × f`.
    const score = isTop
      ? terms.reduce((acc, t) => `(${acc} + ${d.dbl(t.weight)} * ${t.sql})`, d.dbl(0))
      : d.dbl(0);
    const sources = [...own];
    const universe = `(f.in_snapshot${sources.map((s) => ` OR ${fcol(s, col.count(s))} > 0`).join('')})`;
    const fromDay: Partial<Record<RecordDataset, string>> = {};
    // What it reads: its own sources, never_send's, and those of the traits both read.
    const read_ = [
      ...sources,
      ...neverSendOwn,
      ...traitSources([...read.traits, ...neverSendRead.traits, ...writeBack.map((t) => t.name)]),
    ];
    for (const s of read_) {
      const f = fromDay[s.dataset];
      if (f === undefined || s.fromDay < f) fromDay[s.dataset] = s.fromDay;
    }
    return {
      definition,
      table: `a${index}`,
      lookbackDays,
      condition,
      universe,
      score,
      terms,
      sources,
      fromDay,
      holdout: { fraction: isTop ? (definition.holdout?.fraction ?? 0) : 0, salt: holdoutSalt(definition) },
      ppm: isTop ? Math.round(definition.top_fraction! * 1_000_000) : 1_000_000,
      traits: withWhereTraits(c, read.traits),
      writeBack,
    };
  });

  const fromDay: Partial<Record<RecordDataset, string>> = {};
  for (const s of c.sources) {
    const f = fromDay[s.dataset];
    if (f === undefined || s.fromDay < f) fromDay[s.dataset] = s.fromDay;
  }
  const plan: BuildPlan = {
    day,
    sources: c.sources,
    atoms: c.atoms,
    neverSend,
    neverSendSources: [...neverSendOwn],
    audiences,
    traits: [...c.traits.values()],
    scoreTables: [...new Set([...c.traits.values()].flatMap((t) => t.tables))].sort(),
    scoreTableDefs: options.scoreTables ?? {},
    fromDay,
    shared: [],
    stages: Math.max(0, ...c.sources.map((s) => s.stage)),
  };
  plan.shared = sharedStatements(d, plan);
  return plan;
}

// --- shared statements -------------------------------------------------------------------------

function recordValue(d: Dialect, dataset: RecordDataset, alias: string) {
  return (field: string): ValueRef => {
    if (dataset === 'events') return jsonValue(d, `${alias}.properties`, field.split('.'));
    // Message selectors and `where` test the record's own fields, which are text columns.
    return MESSAGE_COLUMNS.has(field)
      ? textValue(`${alias}.${d.ident(field)}`)
      : { kind: 'NULL', text: 'NULL' };
  };
}

/** A person field in SQL over the snapshot line `p.person`: the flags default to false. */
export function personValue(d: Dialect) {
  return (field: string): ValueRef => {
    if (field === 'unsubscribed' || field === 'deleted') {
      const v = jsonValue(d, 'p.person', [field]);
      return flagValue(`COALESCE(${v.kind} = 'BOOLEAN' AND ${v.text} = 'true', false)`);
    }
    return jsonValue(d, 'p.person', field.split('.'));
  };
}

/**
 * What every selector of a dataset requires of one column, as `col IN (…)`: the event name, or a
 * message `channel` / `metric` that each message selector names as a plain value. It is implied by
 * the selectors (it changes no result), and unlike them an engine can push it into its scan and
 * skip what its column statistics rule out (row groups, files, warehouse partitions).
 */
function impliedScanFilters(d: Dialect, sources: readonly SqlSource[], alias: string): string[] {
  const values = (pick: (s: SqlSource) => unknown) => {
    const out = new Set<string>();
    for (const s of sources) {
      const v = pick(s);
      if (typeof v !== 'string') return undefined;
      out.add(v);
    }
    return [...out].sort();
  };
  const filters: string[] = [];
  const add = (column: string, list: string[] | undefined) => {
    if (list && list.length > 0)
      filters.push(`${alias}.${d.ident(column)} IN (${list.map((v) => d.str(v)).join(', ')})`);
  };
  if (sources.every((s) => s.dataset === 'events'))
    add(
      'name',
      values((s) => s.event),
    );
  else
    for (const column of ['channel', 'metric'])
      add(
        column,
        values((s) => s.message?.[column]),
      );
  return filters;
}

/** Whether a record matches a source's selector (its event name or message filters). */
function selectorSql(d: Dialect, s: SqlSource, alias: string): string {
  if (s.dataset === 'events') return `${alias}.name = ${d.str(s.event!)}`;
  return filtersSql(d, s.message ?? {}, recordValue(d, 'messages', alias));
}

/** What the statements after `<x>_relevant` read of a record: identity, and what selectors and `where` test. */
function carriedColumns(sources: readonly SqlSource[], dataset: RecordDataset): Set<string> {
  const needed = new Set<string>(['customer_id', 'email']);
  if (dataset === 'events') {
    needed.add('name');
    if (sources.some((s) => s.where || s.props.size > 0)) needed.add('properties');
    // first / last values and gaps order records by event time, then id.
    if (sources.some((s) => s.gaps || [...s.props.values()].some((k) => [...k].some(isOrdered))))
      needed.add('ts');
  } else {
    if (sources.some((s) => s.gaps)) needed.add('ts');
    needed.add('cio_id');
    for (const s of sources)
      for (const f of [...Object.keys(s.message ?? {}), ...Object.keys(s.where ?? {})])
        if (MESSAGE_COLUMNS.has(f)) needed.add(f);
  }
  needed.delete('id');
  return needed;
}

/**
 * The columns of `raw_<dataset>` the plan reads (besides `_key`, `_line` and `_malformed`): an
 * engine that loads records (the build's open days of JSON Lines) need not hold the others.
 */
export function rawColumnsRead(plan: BuildPlan, dataset: RecordDataset): string[] {
  const sources = plan.sources.filter((s) => s.dataset === dataset);
  const valid = dataset === 'events' ? ['name'] : ['channel', 'metric'];
  return [...new Set(['id', 'received_at', 'ts', ...valid, ...carriedColumns(sources, dataset)])];
}

function datasetStatements(d: Dialect, plan: BuildPlan, dataset: RecordDataset): Statement[] {
  const sources = plan.sources.filter((s) => s.dataset === dataset);
  if (sources.length === 0) return [];
  const x = dataset === 'events' ? 'ev' : 'msg';
  const raw = dataset === 'events' ? 'raw_events' : 'raw_messages';
  const valid =
    dataset === 'events'
      ? `r.name IS NOT NULL AND r.name <> ''`
      : `r.channel IS NOT NULL AND r.metric IS NOT NULL`;
  // Selectors are deduplicated: sources that differ only in window or `where` share one test.
  const selectors = [...new Set(sources.map((s) => selectorSql(d, s, 'r')))];
  const needed = carriedColumns(sources, dataset);
  const carried = [...needed].map((f) => `r.${d.ident(f)}`).join(', ');

  // Relevant: well-formed records matching a selector, anywhere in the partitions read.
  // One scan in every dialect: the IN lists go into the engine's Parquet scan, and the columns
  // they test are dictionary-encoded, so the rows they rule out cost little to pass over.
  const scan = impliedScanFilters(d, sources, 'r');
  const relevant = `SELECT r._key, r._line, r.id, ${d.instant('r.received_at')} AS received, substr(r.ts, 1, 10) AS day, ${carried}
FROM ${raw} r
WHERE ${[...scan, 'r._malformed IS NULL'].join(' AND ')} AND r.id IS NOT NULL AND r.id <> '' AND r.ts IS NOT NULL
  AND ${d.fullMatch('r.ts', TS_PATTERN)} AND ${valid}
  AND (${selectors.join('\n    OR ')})`;

  // One record per id: the first received (unreadable received_at last), then key, then line.
  // Most ids are unique: only the rows of ids seen more than once are ranked. Key and line decide
  // nothing after that: the winners leave them out, so an engine reading `<x>_relevant` in place
  // (a view over stored rows, audiences/relevant-cache.ts) never reads them for most rows.
  const columns = ['id', 'received', 'day', ...needed].map((c) => d.ident(c)).join(', ');
  const dups = `SELECT id FROM ${x}_relevant GROUP BY id HAVING count(*) > 1`;
  const dupFirst = d.firstPerKey(
    `(SELECT * FROM ${x}_relevant WHERE id IN (SELECT id FROM ${x}_dups)) r`,
    'id',
    'received ASC NULLS LAST, _key, _line',
  );
  const winners = `SELECT ${columns} FROM ${x}_relevant WHERE id NOT IN (SELECT id FROM ${x}_dups)
UNION ALL
SELECT ${columns} FROM ${x}_dup_first`;

  // The entries of email_map and cio_map that records without a customer id name (from the
  // relevant records: a superset of the winners' is as good): the resolution joins these, not the
  // whole maps, which are as large as the snapshot. At 10M people, joining both whole maps in one
  // statement ran out of the engine's 1GB limit.
  const withCio = dataset === 'messages';
  const contacts = `${x}_relevant r WHERE ${contactOnlySql('r')}`;
  const maps: ContactMaps = { email: `${x}_email_owners`, cio: `${x}_cio_owners` };
  const emailOwners = `SELECT email, owner FROM email_map WHERE email IN (SELECT lower(r.email) FROM ${contacts})`;
  const cioOwners = `SELECT cio_id, owner FROM cio_map WHERE cio_id IN (SELECT r.cio_id FROM ${contacts})`;
  const resolved = `SELECT w.*, ${ownerSql('w', withCio)} AS owner
FROM ${x}_winners w
${ownerJoins('w', withCio, maps)}`;

  const base = sources.filter((s) => s.stage === 0);
  // One row per owner; the row of owner NULL counts the unresolved records.
  const aggregates = sourceAggregates(d, plan, base);
  const aggregate = `SELECT owner, count(*) AS records${aggregates.length > 0 ? `, ${aggregates.join(',\n  ')}` : ''}
FROM ${x}_resolved w
GROUP BY owner`;

  const gaps = base.filter((s) => s.gaps).map((s) => gapStatement(d, plan, x, s));

  // Winners and resolved records are views: the aggregate reads them as one stream (gap
  // statements, and the aggregates of sources whose `where` reads traits, read them again).
  const again = gaps.length > 0 || sources.some((s) => s.stage > 0);
  return [
    { name: `${x}_relevant`, select: relevant, records: true, perRecord: dataset },
    { name: `${x}_dups`, select: dups, records: true },
    { name: `${x}_dup_first`, select: dupFirst, records: true },
    { name: `${x}_winners`, select: winners, view: !again, records: true },
    { name: maps.email, select: emailOwners },
    ...(withCio ? [{ name: maps.cio, select: cioOwners }] : []),
    { name: `${x}_resolved`, select: resolved, view: true },
    { name: `${x}_agg`, select: aggregate },
    ...gaps,
  ];
}

/** Per-person aggregates of `sources` over resolved records `w` (`trait`: what `where` reads). */
function sourceAggregates(
  d: Dialect,
  plan: BuildPlan,
  sources: readonly SqlSource[],
  trait?: TraitRef,
): string[] {
  const aggregates: string[] = [];
  const order = `w.ts || w.id`;
  for (const s of sources) {
    const when = sourceCondition(d, plan, s, 'w', trait);
    aggregates.push(`${d.filtered('count', '*', when)} AS ${col.count(s)}`);
    if (s.latest) aggregates.push(`${d.filtered('max', 'w.day', when)} AS ${col.latest(s)}`);
    if (s.earliest) aggregates.push(`${d.filtered('min', 'w.day', when)} AS ${col.earliest(s)}`);
    for (const [property, kinds] of s.props) {
      const json = jsonValue(d, 'w.properties', property.split('.'));
      const value = numberOf(d, json);
      const text = `(CASE WHEN ${json.kind} IN ('STRING', 'NUMBER', 'BOOLEAN') THEN ${json.text} END)`;
      for (const kind of PROP_KINDS) {
        if (!kinds.has(kind)) continue;
        const name = col.prop(s, property, kind);
        if (isOrdered(kind)) {
          const which = kind.startsWith('first') ? 'min' : 'max';
          aggregates.push(
            `${d.valueBy(which, kind.endsWith('_text') ? text : value, order, when)} AS ${name}`,
          );
        } else {
          const fn = kind === 'sum' ? d.preciseSum : kind;
          aggregates.push(`${d.filtered(fn, value, when)} AS ${name}`);
        }
      }
    }
  }
  return aggregates;
}

/**
 * Median gap in days between a person's consecutive records of a source (median_gap_days).
 * `traits`: the table of the traits its `where` reads (stage k: `where_traits_<k>`, alias `tw`).
 *
 * The records are in event time order, then id (docs/traits.md). A record's `day` is the first ten
 * characters of its canonical `ts`, so in that order the days never decrease, and records on one
 * day make gaps of 0 whichever comes first: ordering by `day` alone gives the same gaps. The
 * window then sorts a date per record, not its `ts` and `id` text as well (at 10M people, the
 * larger sort ran out of the engine's 1GB limit).
 */
function gapStatement(d: Dialect, plan: BuildPlan, x: string, s: SqlSource, traits?: string): Statement {
  const trait = traits ? whereTraitRef(plan) : undefined;
  return {
    name: `${s.id}_gaps`,
    select: `SELECT owner, ${d.median('gap')} AS gap
FROM (
  SELECT w.owner, CAST(${d.dayDiff(`lag(w.day) OVER (PARTITION BY w.owner ORDER BY w.day)`, 'w.day')} AS ${d.double}) AS gap
  FROM ${x}_resolved w${traits ? `\n  JOIN ${traits} tw ON tw.customer_id = w.owner` : ''}
  WHERE w.owner IS NOT NULL AND ${sourceCondition(d, plan, s, 'w', trait)}
) g
WHERE gap IS NOT NULL
GROUP BY owner`,
  };
}

/** Trait operands of a stage's `where`s: the columns of `where_traits_<k>` (alias `tw`). */
function whereTraitRef(plan: BuildPlan): TraitRef {
  return (name) => {
    const t = plan.traits.find((x) => x.name === name);
    if (!t) throw new Error(`trait "${name}" was not compiled`);
    return { sql: `tw.${t.column}`, type: t.type };
  };
}

const PROP_KINDS: readonly PropKind[] = [
  'sum',
  'max',
  'min',
  'avg',
  'first',
  'last',
  'first_text',
  'last_text',
];

function isOrdered(kind: PropKind): boolean {
  return kind.startsWith('first') || kind.startsWith('last');
}

/** Whether a resolved record `alias` counts for source `s`: selector, window, `where`. */
function sourceCondition(d: Dialect, plan: BuildPlan, s: SqlSource, alias: string, trait?: TraitRef): string {
  const noTraits: TraitRef = (name) => {
    throw new Error(`source ${s.id} reads trait "${name}" outside its stage`);
  };
  return [
    selectorSql(d, s, alias),
    `${alias}.day >= ${d.str(s.fromDay)}`,
    `${alias}.day <= ${d.str(plan.day)}`,
    ...(s.where ? [filtersSql(d, s.where, recordValue(d, s.dataset, alias), trait ?? noTraits)] : []),
  ].join(' AND ');
}

/**
 * The owner of a record or reference aliased `alias` (rule 1): needs `ownerJoins` in the FROM clause.
 */
export function ownerSql(alias: string, withCio: boolean): string {
  return `CASE WHEN ${alias}.customer_id IS NOT NULL AND ${alias}.customer_id <> '' THEN COALESCE(idm.owner, ${alias}.customer_id)
       ELSE ${withCio ? 'COALESCE(em.owner, cio.owner)' : 'em.owner'} END`;
}

/** The tables `ownerJoins` reads emails and cio ids from (the whole maps, or subsets of them). */
export interface ContactMaps {
  email: string;
  cio: string;
}

const WHOLE_MAPS: ContactMaps = { email: 'email_map', cio: 'cio_map' };

/** Whether a record aliased `alias` names its person by contact only (no customer id). */
function contactOnlySql(alias: string): string {
  return `${alias}.customer_id IS NULL OR ${alias}.customer_id = ''`;
}

export function ownerJoins(alias: string, withCio: boolean, maps: ContactMaps = WHOLE_MAPS): string {
  // Equality on one computed key per map, so the engine hash-joins (an OR in the condition would not).
  const contactOnly = contactOnlySql(alias);
  return [
    `LEFT JOIN id_map idm ON idm.id = ${alias}.customer_id`,
    `LEFT JOIN ${maps.email} em ON em.email = (CASE WHEN ${contactOnly} THEN lower(${alias}.email) END)`,
    ...(withCio
      ? [`LEFT JOIN ${maps.cio} cio ON cio.cio_id = (CASE WHEN ${contactOnly} THEN ${alias}.cio_id END)`]
      : []),
  ].join('\n');
}

/**
 * Identity resolution over `people_snapshot` (rule 1 above): `people`, and `id_map` (merged id → owner),
 * `email_map` (email → owner), `cio_map` (cio_id → owner). Owners are customer ids of snapshot
 * people; "first" means first in snapshot order, which is customer_id order.
 */
export function identityStatements(d: Dialect = duckdb, personColumns: readonly string[] = []): Statement[] {
  // Person conditions are evaluated here, once per person, so the profile JSON is not kept.
  const people = `SELECT customer_id, email, cio_id, merged_ids${personColumns.map((c) => `,\n  ${c}`).join('')}
FROM people_snapshot p`;
  // The merged ids only: an id not here is its own owner (`COALESCE(idm.owner, customer_id)`), so
  // an alias beats an own id. Among aliases, the first person in snapshot (customer_id) order.
  // Mapping every person to itself as well added nothing but a hash table as large as the
  // snapshot to every resolution join (at 10M people, one of three held at once).
  const idMap = `SELECT m.id, min(m.owner) AS owner
FROM (${d.explode('people', 'merged_ids', 'id', 'customer_id AS owner')}) m
GROUP BY m.id`;
  const emailMap = `SELECT email, min(customer_id) AS owner FROM people WHERE email IS NOT NULL AND email <> '' GROUP BY email`;
  const cioMap = `SELECT cio_id, min(customer_id) AS owner FROM people WHERE cio_id IS NOT NULL AND cio_id <> '' GROUP BY cio_id`;
  return [
    { name: 'people', select: people },
    { name: 'id_map', select: idMap },
    { name: 'email_map', select: emailMap },
    { name: 'cio_map', select: cioMap },
  ];
}

function sharedStatements(d: Dialect, plan: BuildPlan): Statement[] {
  const pv = personValue(d);
  const statements: Statement[] = identityStatements(
    d,
    plan.atoms.map((atom) => `${filtersSql(d, atom.filters, pv)} AS ${atom.column}`),
  );

  statements.push(...datasetStatements(d, plan, 'events'), ...datasetStatements(d, plan, 'messages'));

  // Everyone the audiences can see: the snapshot, plus owners of counted records.
  const aggs = (['events', 'messages'] as const)
    .filter((ds) => plan.sources.some((s) => s.dataset === ds))
    .map((ds) => (ds === 'events' ? 'ev_agg' : 'msg_agg'));
  const ids = [
    `SELECT customer_id AS id FROM people`,
    ...aggs.map((a) => `SELECT owner AS id FROM ${a} WHERE owner IS NOT NULL`),
  ].join(`\n${d.unionDistinct}\n`);
  const columns: string[] = [`k.id AS customer_id`, `p.customer_id IS NOT NULL AS in_snapshot`];
  for (const atom of plan.atoms) {
    columns.push(
      `CASE WHEN p.customer_id IS NULL THEN ${atom.onEmpty ? 'true' : 'false'} ELSE p.${atom.column} END AS ${atom.column}`,
    );
  }
  const base = plan.sources.filter((s) => s.stage === 0);
  for (const s of base) columns.push(...sourceColumns(s));
  const joins = aggs.map(
    (a) => `LEFT JOIN ${a} ${a === 'ev_agg' ? 'ev' : 'msg'} ON ${a === 'ev_agg' ? 'ev' : 'msg'}.owner = k.id`,
  );
  for (const s of base) if (s.gaps) joins.push(`LEFT JOIN ${s.id}_gaps g_${s.id} ON g_${s.id}.owner = k.id`);
  const features = `SELECT ${columns.join(',\n  ')}
FROM (${ids}) k
LEFT JOIN people p ON p.customer_id = k.id
${joins.join('\n')}`;
  statements.push({ name: 'features', select: features });
  for (let k = 1; k <= plan.stages; k++) statements.push(...stageStatements(d, plan, k));
  if (plan.traits.length > 0) statements.push({ name: 'traits', select: traitsSelect(plan) });
  if (plan.neverSend) {
    const read = readJoins(plan);
    statements.push({
      name: 'blocked',
      select: `SELECT f.customer_id FROM features f${read.length > 0 ? `\n${read.join('\n')}\n` : ' '}WHERE ${plan.neverSend.sql}`,
    });
  } else {
    statements.push({ name: 'blocked', select: `SELECT customer_id FROM features WHERE false` });
  }
  return statements;
}

/** A source's columns of `features` (or `features_<k>`), from its aggregate aliased `ev` / `msg`. */
function sourceColumns(s: SqlSource): string[] {
  const a = s.dataset === 'events' ? 'ev' : 'msg';
  const columns = [`COALESCE(${a}.${col.count(s)}, 0) AS ${col.count(s)}`];
  if (s.latest) columns.push(`${a}.${col.latest(s)} AS ${col.latest(s)}`);
  if (s.earliest) columns.push(`${a}.${col.earliest(s)} AS ${col.earliest(s)}`);
  if (s.gaps) columns.push(`g_${s.id}.gap AS ${col.gap(s)}`);
  for (const [property, kinds] of s.props)
    for (const kind of kinds)
      columns.push(`${a}.${col.prop(s, property, kind)} AS ${col.prop(s, property, kind)}`);
  return columns;
}

/**
 * Stage k of the sources whose `where` reads traits (docs/traits.md#traits-in-where):
 * `where_traits_<k>` (the traits they read, per person of `features`, computed as in `traits` from
 * `features` and the earlier stages), their aggregates over the resolved records of their owners
 * (`ev_agg_<k>`, `msg_agg_<k>`, `<source>_gaps`), and `features_<k>`: one row per `features` row
 * with their columns, as `features` has those of the other sources.
 */
function stageStatements(d: Dialect, plan: BuildPlan, k: number): Statement[] {
  const sources = plan.sources.filter((s) => s.stage === k);
  const names = new Set<string>();
  for (const s of sources) whereTraits(s.where, names);
  const read = plan.traits.filter((t) => names.has(t.name));
  const tables = [...new Set(read.flatMap((t) => t.tables))].sort();
  const traitsTable = `where_traits_${k}`;
  const out: Statement[] = [
    {
      name: traitsTable,
      select: `SELECT ${['f.customer_id', ...read.map((t) => `${t.sql} AS ${t.column}`)].join(',\n  ')}
FROM features f${[...tables.map(scoreTableJoin), ...stageJoins(plan, k - 1)].map((j) => `\n${j}`).join('')}`,
    },
  ];
  const joins: string[] = [];
  for (const dataset of ['events', 'messages'] as const) {
    const own = sources.filter((s) => s.dataset === dataset);
    if (own.length === 0) continue;
    const x = dataset === 'events' ? 'ev' : 'msg';
    out.push({
      name: `${x}_agg_${k}`,
      select: `SELECT w.owner, ${sourceAggregates(d, plan, own, whereTraitRef(plan)).join(',\n  ')}
FROM ${x}_resolved w
JOIN ${traitsTable} tw ON tw.customer_id = w.owner
GROUP BY w.owner`,
    });
    joins.push(`LEFT JOIN ${x}_agg_${k} ${x} ON ${x}.owner = f.customer_id`);
    for (const s of own.filter((s) => s.gaps)) {
      out.push(gapStatement(d, plan, x, s, traitsTable));
      joins.push(`LEFT JOIN ${s.id}_gaps g_${s.id} ON g_${s.id}.owner = f.customer_id`);
    }
  }
  out.push({
    name: `features_${k}`,
    select: `SELECT ${['f.customer_id', ...sources.flatMap(sourceColumns)].join(',\n  ')}
FROM features f
${joins.join('\n')}`,
  });
  return out;
}

/** Joins a person's traits (`tr`) to their `features` row (`f`). */
const TRAITS_JOIN = 'LEFT JOIN traits tr ON tr.customer_id = f.customer_id';

/**
 * What a rule (never_send, an audience's condition or score, explain's) may read besides
 * `features f`: the traits, and the stage tables.
 */
export function readJoins(plan: BuildPlan): string[] {
  return [...(plan.traits.length > 0 ? [TRAITS_JOIN] : []), ...stageJoins(plan)];
}

function scoreTableJoin(table: string): string {
  return `LEFT JOIN ${scoreTableRelation(table)} ON ${scoreTableRelation(table)}.customer_id = f.customer_id`;
}

/**
 * `traits`: one row per person of `features`, one column per trait (`t_<name>`): numbers as
 * doubles, strings as text, dates as `YYYY-MM-DD` text. Score tables are joined by customer_id.
 */
function traitsSelect(plan: BuildPlan): string {
  const columns = ['f.customer_id', ...plan.traits.map((t) => `${t.sql} AS ${t.column}`)];
  const joins = [...plan.scoreTables.map(scoreTableJoin), ...stageJoins(plan)];
  return `SELECT ${columns.join(',\n  ')}\nFROM features f${joins.map((j) => `\n${j}`).join('')}`;
}

// --- per audience ------------------------------------------------------------------------------

/**
 * The statements of one audience: `<table>_scored` (universe with match, exclusion flags and
 * score) and `<table>` (members: customer_id, group, score, rank, entered). `excluded` maps each
 * excluded audience id to its members table, built earlier in the same run.
 */
export function audienceStatements(
  d: Dialect,
  plan: BuildPlan,
  audience: AudienceSql,
  excluded: ReadonlyMap<string, string>,
): Statement[] {
  const t = audience.table;
  const excludes = audience.definition.exclude.map((id, j) => ({
    id,
    table: excluded.get(id)!,
    column: `x${j}`,
    alias: `ex${j}`,
  }));
  // Membership through LEFT JOINs (every engine plans them; an IN subquery in the select list is
  // not portable): customer ids are unique in features, in blocked and in members tables, and
  // never NULL, so this is `customer_id IN (SELECT customer_id FROM …)` exactly.
  const scored = `SELECT f.customer_id,
  ${audience.condition.sql} AS matched,
  ${excludes.map((e) => `${e.alias}.customer_id IS NOT NULL AS ${e.column},`).join('\n  ')}
  nb.customer_id IS NOT NULL AS blocked,
  ${audience.score} AS score${audience.writeBack.map((t) => `,\n  tr.${t.column}`).join('')}
FROM features f
${audience.traits.length + audience.writeBack.length > 0 ? `${TRAITS_JOIN}\n` : ''}${stageJoins(plan)
  .map((j) => `${j}\n`)
  .join(
    '',
  )}${excludes.map((e) => `LEFT JOIN ${e.table} ${e.alias} ON ${e.alias}.customer_id = f.customer_id\n`).join('')}LEFT JOIN blocked nb ON nb.customer_id = f.customer_id
WHERE ${audience.universe}`;
  const removed = ['blocked', ...excludes.map((e) => e.column)].join(' OR ');
  const salt = d.str(`${audience.holdout.salt}:`);
  const group =
    audience.holdout.fraction > 0
      ? `CASE WHEN ${d.unitHash(`${salt} || s.customer_id`)} < ${d.dbl(audience.holdout.fraction)} THEN 'holdout' ELSE 'treatment' END`
      : `'treatment'`;
  // k = ceil(ppm × eligible / 10^6) in integers (select.ts topFractionCount).
  const members = `SELECT s.customer_id, ${group} AS ${d.ident('group')}, s.score, s.rank,
  COALESCE(prev.entered, ${d.str(plan.day)}) AS entered, prev.customer_id IS NOT NULL AS carried${audience.writeBack.map((t) => `, s.${t.column}`).join('')}
FROM (
  SELECT customer_id, score${audience.writeBack.map((t) => `, ${t.column}`).join('')},
    row_number() OVER (ORDER BY score DESC, customer_id ASC) AS rank,
    count(*) OVER () AS eligible
  FROM ${t}_scored
  WHERE matched AND NOT (${removed})
) s
LEFT JOIN previous_${t} prev ON prev.customer_id = s.customer_id
WHERE s.rank <= ${d.intDiv(`(${audience.ppm} * s.eligible + 999999)`, '1000000')}`;
  return [
    { name: `${t}_scored`, select: scored },
    { name: t, select: members },
  ];
}

/** Counts for the manifest of an audience (one row; see manifest.ts `counts`). */
export function audienceCountsSql(audience: AudienceSql): string {
  const t = audience.table;
  const excludes = audience.definition.exclude.map((_, j) => `x${j}`);
  const removed = ['blocked', ...excludes].join(' OR ');
  return `SELECT count(*) AS universe,
  count(*) FILTER (WHERE matched) AS matched,
  ${excludes.map((x) => `count(*) FILTER (WHERE matched AND ${x}) AS ${x},`).join('\n  ')}
  count(*) FILTER (WHERE matched AND blocked) AS never_send,
  count(*) FILTER (WHERE matched AND (${removed})) AS removed,
  count(*) FILTER (WHERE matched AND NOT (${removed})) AS eligible,
  min(score) FILTER (WHERE matched AND NOT (${removed})) AS min_score,
  (SELECT count(*) FROM ${t}) AS selected,
  (SELECT count(*) FROM ${t} WHERE "group" = 'holdout') AS holdout,
  (SELECT count(*) FROM ${t} WHERE carried) AS carried,
  (SELECT max(score) FROM ${t}) AS max_score,
  (SELECT min(score) FROM ${t}) AS cutoff
FROM ${t}_scored`;
}
