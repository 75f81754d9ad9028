import { z } from 'zod';
import { addDays, daysBetween } from '../contract/days.js';
import { writeBackTraits } from '../contract/write-back.js';
import type { Engine } from '../engine/duckdb.js';
import type { LocalFiles } from '../engine/local-files.js';
import type { ObjectInfo, ObjectStore } from '../storage/object-store.js';
import type { AudienceDefinition, Condition, Traits } from './config.js';
import { conditionTraits, traitDependencies } from './trait-check.js';
import { TRAIT_TYPES, type TraitType } from './traits.js';

/**
 * External score tables (`score_tables:` in audience-sync.yaml, docs/traits.md#score-tables):
 * tables another system (a data team's churn model, next-best-product) writes to the store as
 * Parquet or CSV under `<prefix>/dt=YYYY-MM-DD/`, keyed by `customer_id`. A partition is complete
 * when its `_SUCCESS` object exists; a build of day D reads the newest complete partition dated D
 * or before, and refuses one older than `max_age_days` (the audiences that depend on it fail, and
 * the health check alerts) rather than use old scores silently.
 */

export const SCORE_TABLE_NAME = /^[a-z][a-z0-9_]{0,62}$/;
const COLUMN_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** Marks a partition as completely written (the Hadoop / Spark convention). */
export const SUCCESS_MARKER = '_SUCCESS';

export const scoreTableSchema = z.strictObject({
  /** Store key prefix of the table: partitions are `<prefix>/dt=YYYY-MM-DD/`. */
  prefix: z
    .string({ error: 'prefix must be a store key prefix' })
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9_.=-]*(\/[A-Za-z0-9_.=-]+)*\/?$/,
      'prefix must be a key prefix like scores/churn',
    )
    .transform((p) => p.replace(/\/$/, '')),
  format: z.enum(['parquet', 'csv'], { error: 'format must be parquet or csv' }),
  /** The newest complete partition may be at most this many days older than the built day. */
  max_age_days: z
    .number({ error: 'max_age_days must be a number of days' })
    .int('max_age_days must be whole days')
    .min(0, 'max_age_days must be at least 0')
    .max(365, 'max_age_days must be at most 365'),
  /** Columns read besides customer_id, with their types. */
  columns: z
    .record(
      z.string().regex(COLUMN_NAME, 'column names use letters, digits and _'),
      z.enum(TRAIT_TYPES, { error: `a column type is one of ${TRAIT_TYPES.join(', ')}` }),
    )
    .refine((c) => Object.keys(c).length > 0, 'columns needs at least one column')
    .refine((c) => !('customer_id' in c), 'customer_id is the key, not a column to declare'),
});
export type ScoreTableDefinition = z.output<typeof scoreTableSchema>;
export type ScoreTables = Record<string, ScoreTableDefinition>;

export const scoreTablesSchema = z
  .record(
    z.string().regex(SCORE_TABLE_NAME, 'score table names use lower-case letters, digits and _'),
    scoreTableSchema,
    { error: 'score_tables must be a mapping of name: table' },
  )
  .default({});

export function scoreTableTypes(tables: ScoreTables | undefined): Record<string, Record<string, TraitType>> {
  return Object.fromEntries(Object.entries(tables ?? {}).map(([name, t]) => [name, t.columns]));
}

// --- partitions ---------------------------------------------------------------------------------

export interface ScoreTablePartition {
  table: string;
  dt: string;
  age_days: number;
  files: ObjectInfo[];
}

/** Why a score table cannot be used for a day. */
export class ScoreTableError extends Error {
  override readonly name = 'ScoreTableError';
  constructor(
    readonly table: string,
    readonly reason: 'missing' | 'stale' | 'schema',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The partition of `table` a build of `day` reads: the newest complete one dated `day` or before
 * with data files. Throws a `ScoreTableError` when there is none, or it is older than allowed.
 */
export async function resolveScoreTable(
  store: ObjectStore,
  table: string,
  def: ScoreTableDefinition,
  day: string,
): Promise<ScoreTablePartition> {
  const partitions = new Map<string, { complete: boolean; files: ObjectInfo[] }>();
  const root = `${def.prefix}/dt=`;
  for await (const o of store.list(root)) {
    const m = /^(\d{4}-\d{2}-\d{2})\/(.+)$/.exec(o.key.slice(root.length));
    if (!m) continue;
    const [, dt, rest] = m as unknown as [string, string, string];
    const p = partitions.get(dt) ?? { complete: false, files: [] };
    partitions.set(dt, p);
    const base = rest.split('/').pop()!;
    if (rest === SUCCESS_MARKER) p.complete = true;
    else if (!base.startsWith('_') && !base.startsWith('.') && isDataFile(base, def.format)) p.files.push(o);
  }
  const usable = [...partitions]
    .filter(([dt, p]) => dt <= day && p.complete && p.files.length > 0)
    .sort(([a], [b]) => (a < b ? 1 : -1));
  const newest = usable[0];
  if (!newest)
    throw new ScoreTableError(
      table,
      'missing',
      `score table "${table}" has no complete partition on or before ${day} under ${def.prefix}/ (a partition is complete when ${def.prefix}/dt=YYYY-MM-DD/${SUCCESS_MARKER} exists next to its ${def.format} files)`,
    );
  const [dt, p] = newest;
  const age = daysBetween(dt, day);
  if (age > def.max_age_days)
    throw new ScoreTableError(
      table,
      'stale',
      `score table "${table}" is stale: its newest complete partition is dt=${dt}, ${age} days before ${day} (max_age_days ${def.max_age_days}; the oldest accepted is ${addDays(day, -def.max_age_days)})`,
    );
  return { table, dt, age_days: age, files: p.files.sort((a, b) => (a.key < b.key ? -1 : 1)) };
}

function isDataFile(name: string, format: ScoreTableDefinition['format']): boolean {
  return format === 'parquet' ? name.endsWith('.parquet') : /\.csv(\.gz)?$/.test(name);
}

// --- who depends on what ------------------------------------------------------------------------

/** Score tables a trait reads, through the traits it reads. */
export function traitScoreTables(traits: Traits, name: string, seen = new Set<string>()): Set<string> {
  const out = new Set<string>();
  if (seen.has(name)) return out;
  seen.add(name);
  const t = traits[name];
  if (!t) return out;
  if (t.kind === 'score_table') out.add(t.table);
  for (const dep of traitDependencies(t)) for (const x of traitScoreTables(traits, dep, seen)) out.add(x);
  return out;
}

/** Traits an audience reads: in `when`, `score` and `write_back`. */
export function audienceTraits(a: AudienceDefinition): Set<string> {
  const out = conditionTraits(a.when);
  for (const term of a.score ?? []) if (term.trait !== undefined) out.add(term.trait);
  for (const name of writeBackTraits(a.write_back?.attributes)) out.add(name);
  return out;
}

/** Score tables an audience depends on: its traits', never_send's, and those of the audiences it excludes. */
export function audienceScoreTables(
  config: {
    audiences: readonly AudienceDefinition[];
    traits?: Traits | undefined;
    never_send?: Condition | undefined;
  },
  id: string,
): Set<string> {
  const traits = config.traits ?? {};
  const byId = new Map(config.audiences.map((a) => [a.id, a]));
  const out = new Set<string>();
  const names = new Set<string>(config.never_send ? conditionTraits(config.never_send) : []);
  const seen = new Set<string>();
  const visit = (audienceId: string) => {
    if (seen.has(audienceId)) return;
    seen.add(audienceId);
    const a = byId.get(audienceId);
    if (!a) return;
    for (const n of audienceTraits(a)) names.add(n);
    for (const x of a.exclude) visit(x);
  };
  visit(id);
  for (const n of names) for (const t of traitScoreTables(traits, n)) out.add(t);
  return out;
}

export interface ScoreTableFailure {
  audience: string;
  table: string;
  reason: ScoreTableError['reason'];
  message: string;
}

// --- binding ------------------------------------------------------------------------------------

/** Counts of what a score table partition held (no values). */
export interface ScoreTableReport {
  table: string;
  partition: string;
  age_days: number;
  files: number;
  rows: number;
  /** Rows without a customer_id (NULL or empty): not used. */
  missing_keys: number;
  /** customer_ids on more than one row: none of their rows is used. */
  duplicate_keys: number;
  /** Rows of those keys. */
  duplicate_rows: number;
  /** Per column: values present that are not of the declared type (used as missing). */
  type_errors: Record<string, number>;
  /** Rows used: one per customer_id. */
  used_rows: number;
}

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function lit(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** The raw rows of the files (every column as read; CSV as text). */
export function scoreTableReadSql(def: ScoreTableDefinition, paths: readonly string[]): string {
  const list = `[${paths.map(lit).join(', ')}]`;
  return def.format === 'parquet'
    ? `read_parquet(${list}, union_by_name = true)`
    : `read_csv(${list}, header = true, all_varchar = true, union_by_name = true)`;
}

/** A declared column read as its type: NULL when missing, empty (CSV) or not of the type. */
function typedColumn(name: string, type: TraitType): string {
  const text = `NULLIF(CAST(${quote(name)} AS VARCHAR), '')`;
  if (type === 'string') return text;
  if (type === 'date')
    return `CASE WHEN regexp_full_match(${text}, '[0-9]{4}-[0-9]{2}-[0-9]{2}') THEN strftime(TRY_CAST(${text} AS DATE), '%Y-%m-%d') END`;
  return `CASE WHEN isfinite(TRY_CAST(${text} AS DOUBLE)) THEN TRY_CAST(${text} AS DOUBLE) END`;
}

/**
 * The relation `score_<name>` (DuckDB): one row per customer_id that appears on exactly one row,
 * with the declared columns typed.
 */
export function scoreTableRelationSql(def: ScoreTableDefinition, paths: readonly string[]): string {
  const columns = Object.entries(def.columns).map(([c, type]) => `${typedColumn(c, type)} AS ${quote(c)}`);
  return `SELECT customer_id, ${Object.keys(def.columns).map(quote).join(', ')}
FROM (
  SELECT NULLIF(CAST(customer_id AS VARCHAR), '') AS customer_id, ${columns.join(', ')},
    count(*) OVER (PARTITION BY NULLIF(CAST(customer_id AS VARCHAR), '')) AS _rows
  FROM ${scoreTableReadSql(def, paths)}
) s
WHERE customer_id IS NOT NULL AND _rows = 1`;
}

/** Fails with a `schema` error naming the declared columns the partition's files lack. */
export async function checkScoreTableColumns(
  engine: Engine,
  name: string,
  def: ScoreTableDefinition,
  partition: ScoreTablePartition,
  paths: readonly string[],
): Promise<void> {
  const present = new Set(
    (
      await engine.all<{ column_name: string }>(`DESCRIBE SELECT * FROM ${scoreTableReadSql(def, paths)}`)
    ).map((r) => r.column_name),
  );
  const absent = ['customer_id', ...Object.keys(def.columns)].filter((c) => !present.has(c));
  if (absent.length > 0)
    throw new ScoreTableError(
      name,
      'schema',
      `score table "${name}" partition dt=${partition.dt} has no column ${absent.join(', ')} (declared: customer_id, ${Object.keys(def.columns).join(', ')})`,
    );
}

/**
 * Partitions by table name that the build's gate (score-table-gate.ts) already resolved for the
 * day and whose columns it checked: binding reads them as they are, without listing or
 * describing them again.
 */
export type CheckedScoreTables = ReadonlyMap<string, ScoreTablePartition>;

/**
 * Binds `score_<name>` for every score table the plan reads (the newest complete partition, as
 * `resolveScoreTable` picks it, or the one in `checked`) and counts what the partition held.
 * `inUse` records the local paths of the objects read, as the session does for its other inputs.
 */
export async function bindScoreTables(options: {
  engine: Engine;
  store: ObjectStore;
  files: LocalFiles;
  day: string;
  names: readonly string[];
  tables: ScoreTables;
  inUse: Map<string, string>;
  checked?: CheckedScoreTables | undefined;
}): Promise<ScoreTableReport[]> {
  const reports: ScoreTableReport[] = [];
  for (const name of options.names) {
    const def = options.tables[name];
    if (!def) throw new ScoreTableError(name, 'missing', `score table "${name}" is not configured`);
    const checked = options.checked?.get(name);
    const partition = checked ?? (await resolveScoreTable(options.store, name, def, options.day));
    const paths = await options.files.paths(partition.files);
    for (const [i, p] of paths.entries()) options.inUse.set(p, partition.files[i]!.key);
    const read = scoreTableReadSql(def, paths);
    if (!checked) await checkScoreTableColumns(options.engine, name, def, partition, paths);
    const key = `NULLIF(CAST(customer_id AS VARCHAR), '')`;
    const typeErrors = Object.entries(def.columns).map(
      ([c, type]) =>
        `count(*) FILTER (WHERE NULLIF(CAST(${quote(c)} AS VARCHAR), '') IS NOT NULL AND (${typedColumn(c, type)}) IS NULL) AS ${quote(`e_${c}`)}`,
    );
    const [counts] = await options.engine.all<Record<string, number | bigint>>(
      `SELECT count(*) AS rows, count(*) FILTER (WHERE ${key} IS NULL) AS missing_keys, ${typeErrors.join(', ')}
       FROM ${read}`,
    );
    const [dups] = await options.engine.all<Record<string, number | bigint | null>>(
      `SELECT count(*) AS keys, sum(n) AS rows FROM (
         SELECT ${key} AS k, count(*) AS n FROM ${read} WHERE ${key} IS NOT NULL GROUP BY 1 HAVING count(*) > 1)`,
    );
    await options.engine.run(
      `CREATE OR REPLACE TEMP TABLE score_${name} AS\n${scoreTableRelationSql(def, paths)}`,
    );
    const [used] = await options.engine.all<{ n: number | bigint }>(
      `SELECT count(*) AS n FROM score_${name}`,
    );
    reports.push({
      table: name,
      partition: partition.dt,
      age_days: partition.age_days,
      files: partition.files.length,
      rows: Number(counts!.rows),
      missing_keys: Number(counts!.missing_keys),
      duplicate_keys: Number(dups?.keys ?? 0),
      duplicate_rows: Number(dups?.rows ?? 0),
      type_errors: Object.fromEntries(Object.keys(def.columns).map((c) => [c, Number(counts![`e_${c}`])])),
      used_rows: Number(used!.n),
    });
  }
  return reports;
}
