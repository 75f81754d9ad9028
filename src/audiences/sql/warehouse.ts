import { createHash } from 'node:crypto';
import { listRangeParts } from '../../compaction/parts.js';
import { addDays } from '../../contract/days.js';
import type { Dataset } from '../../contract/records.js';
import type { LocalFiles } from '../../engine/local-files.js';
import {
  BAG_FIELDS,
  peopleSnapshotRelation,
  previousMembersRelation,
  type RawFile,
  rawRelation,
  SCALAR_FIELDS,
} from '../../engine/raw.js';
import { keys } from '../../storage/keys.js';
import { type ObjectInfo, type ObjectStore, statObject } from '../../storage/object-store.js';
import { latestBuiltDay } from '../members.js';
import {
  resolveScoreTable,
  type ScoreTableDefinition,
  SUCCESS_MARKER,
  scoreTableRelationSql,
} from '../score-tables.js';
import { type Dialect, duckdb } from './dialect.js';
import {
  type AudienceSql,
  audienceStatements,
  type BuildPlan,
  type RecordDataset,
  scoreTableRelation,
} from './plan.js';

/**
 * The build as one SQL script, for the DuckDB CLI or a warehouse that reads the same object store:
 * the input relations (`people_snapshot`, `raw_events`, `raw_messages`, `previous_<table>`; see
 * sql/plan.ts) defined over the Hive layout, then the plan's statements in order, then one SELECT
 * of every audience's members. docs/warehouse.md explains how to run it and what differs.
 *
 * Which raw parts hold a day's records follows the compaction rule (compaction/parts.ts): a day's
 * records are in its JSON Lines parts, or in the Parquet files its `_compacted.json` lists (each
 * holding some of those parts, `_key` naming the part of each row), never both:
 * - DuckDB: the parts are listed here with `listRangeParts`, as the build does;
 * - Snowflake, BigQuery: Parquet rows only from files the manifest lists, JSON Lines rows only from
 *   parts no manifest entry holds (the manifest is read in SQL);
 * - Athena (which cannot read a subset of a folder's files): Parquet rows through a symlink table
 *   whose per-day lists are written from the manifests (docs/warehouse.md), JSON Lines rows only
 *   from parts no listed Parquet row names as its `_key`.
 *
 * Only the DuckDB script is executed (tests/audiences/sql-dialects.test.ts); the warehouse scripts
 * are golden-tested text.
 */

export interface WarehouseOptions {
  /** The store as the warehouse reads it: `s3://bucket/prefix` (Athena, Snowflake), `gs://…` (BigQuery). */
  location: string;
  /** Athena database, BigQuery dataset or Snowflake schema of the external tables (default `audience_sync`). */
  namespace?: string;
  /** Athena: where the per-day symlink lists of Parquet files are (default `<location>/athena-symlinks`). */
  symlinks?: string;
  /** Athena: first day of the `dt` partition projection (default `2020-01-01`). */
  since?: string;
  /** Snowflake: the storage integration of the stage (default `audience_sync_s3`). */
  storageIntegration?: string;
  /** BigQuery: the connection of an Omni (S3) or BigLake table, `project.region.connection`. */
  connection?: string;
}

export interface Script {
  /** Comment lines (without `-- `). */
  header: string[];
  statements: string[];
}

function renderScript(script: Script): string {
  const header = script.header.map((l) => (l ? `-- ${l}` : '--')).join('\n');
  return `${header}\n\n${script.statements.map((s) => `${s};`).join('\n\n')}\n`;
}

/** The plan's statements (shared, then each audience's) as the dialect creates tables. */
function planStatements(d: Dialect, plan: BuildPlan): string[] {
  const out = plan.shared.map((s) => d.createTable(s.name, s.select));
  const tables = new Map<string, string>();
  for (const audience of plan.audiences) {
    for (const s of audienceStatements(d, plan, audience, tables)) out.push(d.createTable(s.name, s.select));
    tables.set(audience.definition.id, audience.table);
  }
  return out;
}

/** Every audience's members (`audience`, `customer_id`, `group`, `score`, `rank`, `entered`). */
function membersSelect(d: Dialect, plan: BuildPlan): string {
  const selects = plan.audiences.map(
    (a) =>
      `SELECT ${d.str(a.definition.id)} AS audience, customer_id, ${d.ident('group')}, score, rank, entered FROM ${a.table}`,
  );
  return `${selects.join('\nUNION ALL\n')}\nORDER BY audience, rank`;
}

function describe(plan: BuildPlan): string[] {
  return [
    `day ${plan.day}; audiences in build order: ${plan.audiences.map((a) => `${a.definition.id} (${a.table})`).join(', ')}`,
    ...(plan.traits.length > 0
      ? [
          `traits (table traits, one column each): ${plan.traits.map((t) => `${t.name} ${t.type} (${t.column})`).join(', ')}`,
        ]
      : []),
    ...(['events', 'messages'] as const)
      .filter((ds) => plan.fromDay[ds] !== undefined)
      .map((ds) => `raw ${ds} read from ${plan.fromDay[ds]} to ${plan.day}`),
  ];
}

// --- DuckDB: the build's own relations, over local files -------------------------------------------

export interface DuckdbInputs {
  /** Where the script's files are (for the header). */
  location: string;
  peopleSnapshot: string;
  raw: Partial<Record<RecordDataset, { jsonl: RawFile[]; parquet: RawFile[] }>>;
  /** Members file of each audience's previous built day, by audience table (absent: none). */
  previous: Map<string, { day: string; path: string }>;
  /** The partition each score table is read from (score-tables.ts picks it as the build does). */
  scoreTables: Map<string, { dt: string; paths: string[] }>;
}

/**
 * The local files a DuckDB script reads for `plan` (an S3 store's objects go through the engine's
 * read-through cache, so the script reads local copies): the people snapshot of the day, the raw
 * parts of each window as the build lists them, the previous members of each audience.
 */
export async function resolveDuckdbInputs(
  store: ObjectStore,
  plan: BuildPlan,
  files: LocalFiles,
): Promise<DuckdbInputs> {
  const snapshotKey = keys.peopleSnapshot(plan.day);
  const [snapshot] = await files.paths([await statObject(store, snapshotKey)]);
  const raw: DuckdbInputs['raw'] = {};
  for (const dataset of ['events', 'messages'] as const) {
    const from = plan.fromDay[dataset];
    if (from === undefined) continue;
    const parts = await listRangeParts(store, dataset, from, plan.day);
    const withPaths = async (objects: ObjectInfo[]): Promise<RawFile[]> =>
      (await files.paths(objects)).map((path, i) => ({ key: objects[i]!.key, path }));
    raw[dataset] = { jsonl: await withPaths(parts.jsonl), parquet: await withPaths(parts.parquet) };
  }
  const previous: DuckdbInputs['previous'] = new Map();
  for (const audience of plan.audiences) {
    const day = await latestBuiltDay(store, audience.definition.id, { before: plan.day });
    if (!day) continue;
    const [path] = await files.paths([await statObject(store, keys.members(audience.definition.id, day))]);
    previous.set(audience.table, { day, path: path! });
  }
  const scoreTables: DuckdbInputs['scoreTables'] = new Map();
  for (const name of plan.scoreTables) {
    const partition = await resolveScoreTable(store, name, plan.scoreTableDefs[name]!, plan.day);
    scoreTables.set(name, { dt: partition.dt, paths: await files.paths(partition.files) });
  }
  return { location: store.location, peopleSnapshot: snapshot!, raw, previous, scoreTables };
}

/**
 * The DuckDB script: runs as is in the `duckdb` CLI (or `Engine`), and computes what the build
 * computes for the same files. Unlike the build it does not salvage a truncated gzip part (the
 * read fails instead) and reports no counts.
 */
export function duckdbScript(plan: BuildPlan, inputs: DuckdbInputs): string {
  const view = (name: string, select: string) => `CREATE OR REPLACE TEMP VIEW ${name} AS\n${select}`;
  const statements = [view('people_snapshot', peopleSnapshotRelation(inputs.peopleSnapshot))];
  for (const dataset of ['events', 'messages'] as const) {
    const files = inputs.raw[dataset];
    if (files) statements.push(view(`raw_${dataset}`, rawRelation(dataset, files)));
  }
  for (const audience of plan.audiences) {
    statements.push(
      view(`previous_${audience.table}`, previousMembersRelation(inputs.previous.get(audience.table)?.path)),
    );
  }
  for (const [name, partition] of inputs.scoreTables)
    statements.push(
      view(scoreTableRelation(name), scoreTableRelationSql(plan.scoreTableDefs[name]!, partition.paths)),
    );
  statements.push(...planStatements(duckdb, plan), membersSelect(duckdb, plan));
  return renderScript({
    header: [
      'audience-sync sql --dialect duckdb: the build for one day, over local copies of the store',
      `store ${inputs.location}`,
      ...describe(plan),
      ...[...inputs.previous].map(([t, p]) => `previous_${t}: members of ${p.day}`),
      ...[...inputs.scoreTables].map(([t, p]) => `${scoreTableRelation(t)}: partition dt=${p.dt}`),
      'Runs as is: duckdb < this-file.sql (the last statement lists the members).',
    ],
    statements,
  });
}

// --- warehouses --------------------------------------------------------------------------------------

const DEFAULT_NAMESPACE = 'audience_sync';

interface Ctx {
  d: Dialect;
  plan: BuildPlan;
  /** Location without a trailing slash. */
  loc: string;
  ns: string;
  options: WarehouseOptions;
}

/** A warehouse's external tables (DDL) and the input relations over them. */
interface WarehouseInputs {
  ddl(ctx: Ctx): string[];
  peopleSnapshot(ctx: Ctx): string;
  raw(ctx: Ctx, dataset: RecordDataset, from: string): string;
  previous(ctx: Ctx, audience: AudienceSql): string;
  /** External table(s) over a score table's `dt=` partitions, and the relation reading one of them. */
  scoreTable: ScoreTableInputs;
  /** Header lines: how to run the script. */
  notes(ctx: Ctx): string[];
}

/** A table-name-safe, stable name for an audience's external tables (ids may hold `.` and `-`). */
export function audienceTableName(id: string): string {
  const safe = id.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (safe === id) return `audience_${safe}`;
  return `audience_${safe}_${createHash('sha256').update(id).digest('hex').slice(0, 8)}`;
}

/** The store key of a raw row's part, from the file path the engine reports. */
function keyPattern(dataset: Dataset): string {
  return `raw/${dataset}/dt=[^/]+/[^/]+$`;
}

function dataColumns(dataset: Dataset): { scalars: readonly string[]; bags: readonly string[] } {
  return { scalars: SCALAR_FIELDS[dataset], bags: BAG_FIELDS[dataset] };
}

function indent(lines: readonly string[], by = '  '): string {
  return lines.map((l) => `${by}${l}`).join(',\n');
}

// Score tables ---------------------------------------------------------------------------------------

/**
 * How a warehouse reads a score table (docs/warehouse.md#score-tables): `ddl` creates the external
 * table(s) over `<location>/<prefix>/dt=…/`; `data` is the rows of the data files (the key and the
 * declared columns by name, as the warehouse holds them, and `dt`); `fail(message)` is an
 * expression of type text that stops the query with `message` when it is evaluated.
 */
interface ScoreTableInputs {
  ddl(ctx: Ctx, name: string, def: ScoreTableDefinition): string[];
  data(ctx: Ctx, name: string, def: ScoreTableDefinition): string;
  fail(message: string): string;
}

/** The external table of a score table (Athena and Snowflake; BigQuery adds a suffix per format). */
function scoreTableName(name: string): string {
  return `score_table_${name}`;
}

/** Data files of a partition, by their path: not `_` or `.` files (`_SUCCESS`), of the format. */
function scoreDataFile(def: ScoreTableDefinition): string {
  return `/dt=[^/]+/[^_./][^/]*[.]${def.format === 'parquet' ? 'parquet' : 'csv([.]gz)?'}`;
}

/**
 * The relation `score_<name>`, as the build's (score-tables.ts `scoreTableRelationSql`): one row per
 * customer_id that appears on exactly one row of the partition, declared columns typed (a value not
 * of the type is NULL). The partition is the newest `dt` on or before D that has rows; when there
 * is none, or it is older than `max_age_days`, the query fails naming the table (the build fails
 * the audiences that read it; a script can only stop).
 */
export function scoreTableSelect(options: {
  d: Dialect;
  day: string;
  name: string;
  def: ScoreTableDefinition;
  /** The rows of the table's data files: `dt`, `customer_id` and the declared columns. */
  data: string;
  /** An expression of type text that stops the query with `message` when it is evaluated. */
  fail: (message: string) => string;
}): string {
  const { d, day, name, def, data, fail } = options;
  const text = (column: string) => `NULLIF(CAST(s.${d.ident(column)} AS ${d.text}), '')`;
  const typed = Object.entries(def.columns).map(([c, type]) => {
    const v = text(c);
    const value =
      type === 'string'
        ? v
        : type === 'number'
          ? `CASE WHEN ${d.isFinite(d.tryDouble(v))} THEN ${d.tryDouble(v)} END`
          : `CASE WHEN ${d.fullMatch(v, '[0-9]{4}-[0-9]{2}-[0-9]{2}')} THEN ${d.addDays(v, d.dbl(0))} END`;
    return `${value} AS ${d.ident(c)}`;
  });
  const oldest = addDays(day, -def.max_age_days);
  const message = `${d.str(`score table "${name}": `)} || CASE WHEN n.dt IS NULL THEN ${d.str(
    `no partition with rows on or before ${day} under ${def.prefix}/`,
  )} ELSE ${d.str('stale: its newest partition is dt=')} || n.dt || ${d.str(
    `, before ${oldest} (max_age_days ${def.max_age_days})`,
  )} END`;
  return `SELECT customer_id, ${Object.keys(def.columns)
    .map((c) => d.ident(c))
    .join(', ')}
FROM (
  SELECT ${text('customer_id')} AS customer_id, ${typed.join(', ')},
    count(*) OVER (PARTITION BY ${text('customer_id')}) AS _rows
  FROM (${data}) s
  JOIN (
    SELECT CASE WHEN n.dt IS NULL OR n.dt < ${d.str(oldest)} THEN ${fail(message)} ELSE n.dt END AS dt
    FROM (SELECT max(dt) AS dt FROM (${data}) x WHERE dt <= ${d.str(day)}) n
  ) p ON p.dt = s.dt
) t
WHERE customer_id IS NOT NULL AND _rows = 1`;
}

/** Header lines about the score tables a warehouse script reads. */
function scoreTableNotes(ctx: Ctx): string[] {
  return ctx.plan.scoreTables.map((t) => {
    const def = ctx.plan.scoreTableDefs[t]!;
    return `${scoreTableRelation(t)}: the newest dt= partition on or before ${ctx.plan.day} with rows under ${ctx.loc}/${def.prefix}/ (${def.format}); the query fails if there is none or it is before ${addDays(ctx.plan.day, -def.max_age_days)}. ${SUCCESS_MARKER} is not checked (docs/warehouse.md#score-tables)`;
  });
}

// Athena ---------------------------------------------------------------------------------------------

function athenaProjection(ctx: Ctx, template: string, extra: readonly string[] = []): string {
  const since = ctx.options.since ?? '2020-01-01';
  return `TBLPROPERTIES (${extra.map((p) => `\n  ${p},`).join('')}
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '${since},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '${template}dt=\${dt}/'
)`;
}

function athenaLines(ctx: Ctx, table: string, folder: string): string[] {
  return [
    `DROP TABLE IF EXISTS ${ctx.ns}.${table}`,
    `CREATE EXTERNAL TABLE ${ctx.ns}.${table} (line string)
PARTITIONED BY (dt string)
ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\001'
STORED AS TEXTFILE
LOCATION '${folder}'
${athenaProjection(ctx, folder)}`,
  ];
}

const athenaScoreTable: ScoreTableInputs = {
  // Parquet columns are read by name with the declared types (numbers double, the rest string);
  // CSV through OpenCSVSerde, every column a string, by position after the header line.
  ddl: (ctx, name, def) => {
    const folder = `${ctx.loc}/${def.prefix}/`;
    const parquet = def.format === 'parquet';
    const columns = [
      '`customer_id` string',
      ...Object.entries(def.columns).map(
        ([c, type]) => `\`${c}\` ${parquet && type === 'number' ? 'double' : 'string'}`,
      ),
    ];
    return [
      `DROP TABLE IF EXISTS ${ctx.ns}.${scoreTableName(name)}`,
      `CREATE EXTERNAL TABLE ${ctx.ns}.${scoreTableName(name)} (
${indent(columns)}
)
PARTITIONED BY (dt string)
${parquet ? 'STORED AS PARQUET' : "ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'\nSTORED AS TEXTFILE"}
LOCATION '${folder}'
${athenaProjection(ctx, folder, parquet ? [] : ["'skip.header.line.count' = '1'"])}`,
    ];
  },
  data: (ctx, name, def) =>
    `SELECT * FROM ${ctx.ns}.${scoreTableName(name)} WHERE regexp_like("$path", ${ctx.d.str(`${scoreDataFile(def)}$`)})`,
  fail: (message) => `CAST(CAST(${message} AS bigint) AS varchar)`,
};

const athenaInputs: WarehouseInputs = {
  scoreTable: athenaScoreTable,
  notes: (ctx) => [
    `Athena (engine version 3). Run the statements one at a time, in order, with ${ctx.ns} as the`,
    'database of the query context (the views are created there).',
    `Parquet parts are read through symlink lists under ${symlinkRoot(ctx)}/raw/<dataset>/dt=D/:`,
    "write them from each day's _compacted.json after every compaction (docs/warehouse.md).",
  ],
  ddl: (ctx) => {
    const out = [
      `CREATE DATABASE IF NOT EXISTS ${ctx.ns}`,
      ...athenaLines(ctx, 'people_lines', `${ctx.loc}/people/`),
    ];
    for (const dataset of ['events', 'messages'] as const) {
      if (ctx.plan.fromDay[dataset] === undefined) continue;
      const { scalars, bags } = dataColumns(dataset);
      const columns = [
        '`_key` string',
        '`_line` bigint',
        ...[...scalars, ...bags].map((c) => `\`${c}\` string`),
      ];
      const symlinks = `${symlinkRoot(ctx)}/raw/${dataset}/`;
      out.push(
        ...athenaLines(ctx, `raw_${dataset}_lines`, `${ctx.loc}/raw/${dataset}/`),
        `DROP TABLE IF EXISTS ${ctx.ns}.raw_${dataset}_parquet`,
        `CREATE EXTERNAL TABLE ${ctx.ns}.raw_${dataset}_parquet (
${indent(columns)}
)
PARTITIONED BY (dt string)
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '${symlinks}'
${athenaProjection(ctx, symlinks)}`,
      );
    }
    for (const audience of ctx.plan.audiences) {
      const id = audience.definition.id;
      out.push(...athenaLines(ctx, `${audienceTableName(id)}_lines`, `${ctx.loc}/audiences/${id}/`));
    }
    return out;
  },
  peopleSnapshot: (ctx) => `SELECT json_extract_scalar(j, '$.customer_id') AS customer_id,
  json_extract_scalar(j, '$.email') AS email,
  json_extract_scalar(j, '$.cio_id') AS cio_id,
  TRY_CAST(json_extract(j, '$.merged_ids') AS array(varchar)) AS merged_ids,
  line AS person
FROM (
  SELECT line, try(json_parse(line)) AS j
  FROM ${ctx.ns}.people_lines
  WHERE dt = ${ctx.d.str(ctx.plan.day)} AND "$path" LIKE '%/people.jsonl.gz' AND line <> ''
) s
WHERE j IS NOT NULL AND json_extract_scalar(j, '$.customer_id') IS NOT NULL`,
  raw: (ctx, dataset, from) => {
    const { d, ns, plan } = ctx;
    const { scalars, bags } = dataColumns(dataset);
    const window = `dt BETWEEN ${d.str(from)} AND ${d.str(plan.day)}`;
    const all = [...scalars, ...bags].map((c) => d.ident(c));
    const parsed = [
      ...scalars.map((c) => `json_extract_scalar(l.j, ${d.str(`$.${c}`)}) AS ${d.ident(c)}`),
      ...bags.map((c) => `json_format(json_extract(l.j, ${d.str(`$.${c}`)})) AS ${d.ident(c)}`),
    ];
    return `WITH parquet AS (
  SELECT * FROM ${ns}.raw_${dataset}_parquet WHERE ${window}
),
lines AS (
  SELECT regexp_extract("$path", ${d.str(keyPattern(dataset))}) AS "_key",
    from_big_endian_64(xxhash64(to_utf8(line))) AS "_line",
    line, try(json_parse(line)) AS j
  FROM ${ns}.raw_${dataset}_lines
  WHERE ${window} AND "$path" LIKE '%.jsonl.gz' AND line <> ''
)
SELECT "_key", "_line", CAST(NULL AS varchar) AS "_malformed", ${all.join(', ')}
FROM parquet
UNION ALL
SELECT l."_key", l."_line",
  CASE WHEN l.j IS NULL THEN 'not valid JSON' WHEN substr(ltrim(l.line), 1, 1) <> '{' THEN 'not a JSON object' END AS "_malformed",
${indent(parsed)}
FROM lines l
LEFT JOIN (SELECT DISTINCT "_key" FROM parquet) c ON c."_key" = l."_key"
WHERE c."_key" IS NULL`;
  },
  previous: (ctx, audience) => {
    const { d, ns } = ctx;
    const table = `${ns}.${audienceTableName(audience.definition.id)}_lines`;
    return `SELECT json_extract_scalar(line, '$.customer_id') AS customer_id,
  json_extract_scalar(line, '$.entered') AS entered
FROM ${table}
WHERE "$path" LIKE '%/members.jsonl.gz' AND line <> ''
  AND dt = (SELECT max(dt) FROM ${table} WHERE dt < ${d.str(ctx.plan.day)} AND "$path" LIKE '%/manifest.json')`;
  },
};

function symlinkRoot(ctx: Ctx): string {
  return (ctx.options.symlinks ?? `${ctx.loc}/athena-symlinks`).replace(/\/+$/, '');
}

// BigQuery -------------------------------------------------------------------------------------------

function bigqueryTable(
  ctx: Ctx,
  table: string,
  columns: string[] | undefined,
  folder: string,
  pattern: string,
  format: 'lines' | 'lines-gzip' | 'parquet' | 'csv' | 'csv-gzip',
): string {
  const csv = format === 'csv' || format === 'csv-gzip';
  const options = [
    `format = ${format === 'parquet' ? "'PARQUET'" : "'CSV'"}`,
    `uris = [${ctx.d.str(`${folder}/${pattern}`)}]`,
    `hive_partition_uri_prefix = ${ctx.d.str(folder)}`,
    ...(format === 'parquet'
      ? []
      : csv
        ? // A header line; columns by position, quoted as RFC 4180.
          [`skip_leading_rows = 1`, ...(format === 'csv-gzip' ? [`compression = 'GZIP'`] : [])]
        : [
            // One column per line: a delimiter JSON text never holds, no quoting.
            `field_delimiter = ${ctx.d.str('\u0001')}`,
            `quote = ''`,
            `skip_leading_rows = 0`,
            ...(format === 'lines-gzip' ? [`compression = 'GZIP'`] : []),
          ]),
  ];
  const connection = ctx.options.connection ? `\nWITH CONNECTION \`${ctx.options.connection}\`` : '';
  return `CREATE OR REPLACE EXTERNAL TABLE ${ctx.ns}.${table}${columns ? ` (\n${indent(columns)}\n)` : ''}${connection}
WITH PARTITION COLUMNS (dt STRING)
OPTIONS (
${indent(options)}
)`;
}

const bigqueryScoreTable: ScoreTableInputs = {
  // Parquet: the columns and their types come from the files (read by name). CSV: every column a
  // string, by position after the header line; compressed and plain files are two tables.
  ddl: (ctx, name, def) => {
    const folder = `${ctx.loc}/${def.prefix}`;
    const table = scoreTableName(name);
    if (def.format === 'parquet')
      return [bigqueryTable(ctx, table, undefined, folder, '*.parquet', 'parquet')];
    const columns = ['customer_id STRING', ...Object.keys(def.columns).map((c) => `${c} STRING`)];
    return [
      bigqueryTable(ctx, `${table}_csv`, columns, folder, '*.csv', 'csv'),
      bigqueryTable(ctx, `${table}_csv_gz`, columns, folder, '*.csv.gz', 'csv-gzip'),
    ];
  },
  data: (ctx, name, def) => {
    const table = `${ctx.ns}.${scoreTableName(name)}`;
    const files = `REGEXP_CONTAINS(_FILE_NAME, ${ctx.d.str(`${scoreDataFile(def)}$`)})`;
    return def.format === 'parquet'
      ? `SELECT * FROM ${table} WHERE ${files}`
      : `SELECT * FROM ${table}_csv WHERE ${files} UNION ALL SELECT * FROM ${table}_csv_gz WHERE ${files}`;
  },
  fail: (message) => `ERROR(${message})`,
};

const bigqueryInputs: WarehouseInputs = {
  scoreTable: bigqueryScoreTable,
  notes: (ctx) => [
    'BigQuery (GoogleSQL). Run the whole script as one multi-statement query (the temporary tables',
    `live for that query); the external tables are created in the dataset ${ctx.ns}.`,
  ],
  ddl: (ctx) => {
    const out = [
      `CREATE SCHEMA IF NOT EXISTS ${ctx.ns}`,
      bigqueryTable(
        ctx,
        'people_lines',
        ['line STRING'],
        `${ctx.loc}/people`,
        '*people.jsonl.gz',
        'lines-gzip',
      ),
    ];
    for (const dataset of ['events', 'messages'] as const) {
      if (ctx.plan.fromDay[dataset] === undefined) continue;
      const { scalars, bags } = dataColumns(dataset);
      const folder = `${ctx.loc}/raw/${dataset}`;
      out.push(
        bigqueryTable(ctx, `raw_${dataset}_lines`, ['line STRING'], folder, '*.jsonl.gz', 'lines-gzip'),
        bigqueryTable(
          ctx,
          `raw_${dataset}_parquet`,
          ['_key STRING', '_line INT64', ...[...scalars, ...bags].map((c) => `${c} STRING`)],
          folder,
          '*.parquet',
          'parquet',
        ),
        bigqueryTable(ctx, `raw_${dataset}_manifests`, ['line STRING'], folder, '*_compacted.json', 'lines'),
      );
    }
    for (const audience of ctx.plan.audiences) {
      const id = audience.definition.id;
      const name = audienceTableName(id);
      const folder = `${ctx.loc}/audiences/${id}`;
      out.push(
        bigqueryTable(ctx, `${name}_members`, ['line STRING'], folder, '*members.jsonl.gz', 'lines-gzip'),
        bigqueryTable(ctx, `${name}_manifests`, ['line STRING'], folder, '*manifest.json', 'lines'),
      );
    }
    return out;
  },
  peopleSnapshot: (ctx) => `SELECT JSON_VALUE(j, '$.customer_id') AS customer_id,
  JSON_VALUE(j, '$.email') AS email,
  JSON_VALUE(j, '$.cio_id') AS cio_id,
  JSON_VALUE_ARRAY(j, '$.merged_ids') AS merged_ids,
  line AS person
FROM (
  SELECT line, SAFE.PARSE_JSON(line, wide_number_mode => 'round') AS j
  FROM ${ctx.ns}.people_lines
  WHERE dt = ${ctx.d.str(ctx.plan.day)} AND line <> ''
)
WHERE j IS NOT NULL AND JSON_VALUE(j, '$.customer_id') IS NOT NULL`,
  raw: (ctx, dataset, from) => {
    const { d, ns, plan } = ctx;
    const { scalars, bags } = dataColumns(dataset);
    const window = `dt BETWEEN ${d.str(from)} AND ${d.str(plan.day)}`;
    const parsed = [
      ...scalars.map((c) => `JSON_VALUE(l.j, ${d.str(`$.${c}`)}) AS ${c}`),
      ...bags.map((c) => `TO_JSON_STRING(JSON_QUERY(l.j, ${d.str(`$.${c}`)})) AS ${c}`),
    ];
    // The manifest is pretty-printed JSON (one value per line): listed Parquet files are its
    // `"key": "….parquet"` lines, the JSON Lines parts they hold its lines that are a bare string.
    return `WITH manifests AS (
  SELECT REGEXP_EXTRACT(line, ${d.str('^\\s*"key": "([^"]+[.]parquet)",?$')}) AS parquet_key,
    REGEXP_EXTRACT(line, ${d.str('^\\s*"([^"]+[.]jsonl[.]gz)",?$')}) AS source_key
  FROM ${ns}.raw_${dataset}_manifests
  WHERE ${window}
),
parquet AS (
  SELECT * FROM ${ns}.raw_${dataset}_parquet
  WHERE ${window}
    AND REGEXP_EXTRACT(_FILE_NAME, ${d.str(keyPattern(dataset))}) IN (SELECT parquet_key FROM manifests WHERE parquet_key IS NOT NULL)
),
lines AS (
  SELECT REGEXP_EXTRACT(_FILE_NAME, ${d.str(keyPattern(dataset))}) AS _key,
    FARM_FINGERPRINT(line) AS _line,
    line, SAFE.PARSE_JSON(line, wide_number_mode => 'round') AS j
  FROM ${ns}.raw_${dataset}_lines
  WHERE ${window} AND line IS NOT NULL AND line <> ''
)
SELECT _key, _line, CAST(NULL AS STRING) AS _malformed, ${[...scalars, ...bags].join(', ')}
FROM parquet
UNION ALL
SELECT l._key, l._line,
  CASE WHEN l.j IS NULL THEN 'not valid JSON' WHEN JSON_TYPE(l.j) <> 'object' THEN 'not a JSON object' END AS _malformed,
${indent(parsed)}
FROM lines l
WHERE l._key NOT IN (SELECT source_key FROM manifests WHERE source_key IS NOT NULL)`;
  },
  previous: (ctx, audience) => {
    const { d, ns } = ctx;
    const name = `${ns}.${audienceTableName(audience.definition.id)}`;
    return `SELECT JSON_VALUE(line, '$.customer_id') AS customer_id,
  JSON_VALUE(line, '$.entered') AS entered
FROM ${name}_members
WHERE line <> ''
  AND dt = (SELECT MAX(dt) FROM ${name}_manifests WHERE dt < ${d.str(ctx.plan.day)})`;
  },
};

// Snowflake ------------------------------------------------------------------------------------------

const SNOWFLAKE_DT = `SPLIT_PART(SPLIT_PART(METADATA$FILENAME, 'dt=', 2), '/', 1)`;

function snowflakeTable(
  table: string,
  columns: string[],
  folder: string,
  pattern: string,
  format: 'lines' | 'json' | 'parquet' | 'score_csv',
): string[] {
  return [
    `CREATE OR REPLACE EXTERNAL TABLE ${table} (
${indent([`dt VARCHAR AS (${SNOWFLAKE_DT})`, ...columns])}
)
PARTITION BY (dt)
LOCATION = @audience_sync_store/${folder}
PATTERN = '${pattern}'
FILE_FORMAT = (FORMAT_NAME = 'audience_sync_${format}')
AUTO_REFRESH = FALSE`,
    `ALTER EXTERNAL TABLE ${table} REFRESH`,
  ];
}

/** A scalar field of a VARIANT object as text (JSON null as NULL, as the other engines read it). */
function snowflakeText(d: Dialect, value: string): string {
  return `IFF(IS_NULL_VALUE(${value}), NULL, ${d.jsonText(value)})`;
}

const LINE = 'line VARCHAR AS (VALUE:c1::VARCHAR)';

const snowflakeScoreTable: ScoreTableInputs = {
  // Parquet columns by name (VALUE:"name"), CSV columns by position (c1 the key, then the declared
  // ones in order) after the header line; every column as text.
  ddl: (ctx, name, def) => {
    const { d } = ctx;
    const parquet = def.format === 'parquet';
    const columns = ['customer_id', ...Object.keys(def.columns)].map(
      (c, i) => `${d.ident(c)} VARCHAR AS (VALUE:${parquet ? `"${c}"` : `c${i + 1}`}::VARCHAR)`,
    );
    return [
      ...(parquet
        ? []
        : [
            `CREATE OR REPLACE FILE FORMAT audience_sync_score_csv
  TYPE = CSV SKIP_HEADER = 1 FIELD_OPTIONALLY_ENCLOSED_BY = '"' COMPRESSION = AUTO`,
          ]),
      ...snowflakeTable(
        scoreTableName(name),
        columns,
        `${def.prefix}/`,
        `.*${scoreDataFile(def)}`,
        parquet ? 'parquet' : 'score_csv',
      ),
    ];
  },
  data: (_ctx, name) => `SELECT * FROM ${scoreTableName(name)}`,
  fail: (message) => `CAST(CAST(${message} AS NUMBER) AS VARCHAR)`,
};

const snowflakeInputs: WarehouseInputs = {
  scoreTable: snowflakeScoreTable,
  notes: (ctx) => [
    `Snowflake. Run the statements in order in one session (temporary tables); the stage, file`,
    `formats and external tables are created in the schema ${ctx.ns} of the current database.`,
  ],
  ddl: (ctx) => {
    const out = [
      `CREATE SCHEMA IF NOT EXISTS ${ctx.ns}`,
      `USE SCHEMA ${ctx.ns}`,
      `CREATE STAGE IF NOT EXISTS audience_sync_store
  URL = ${ctx.d.str(`${ctx.loc}/`)}
  STORAGE_INTEGRATION = ${ctx.options.storageIntegration ?? 'audience_sync_s3'}`,
      // One column per line: no field delimiter, no quoting or escapes (the line is JSON text).
      `CREATE OR REPLACE FILE FORMAT audience_sync_lines
  TYPE = CSV FIELD_DELIMITER = NONE RECORD_DELIMITER = '\\n' FIELD_OPTIONALLY_ENCLOSED_BY = NONE
  ESCAPE = NONE ESCAPE_UNENCLOSED_FIELD = NONE SKIP_BLANK_LINES = TRUE COMPRESSION = AUTO`,
      `CREATE OR REPLACE FILE FORMAT audience_sync_json TYPE = JSON`,
      `CREATE OR REPLACE FILE FORMAT audience_sync_parquet TYPE = PARQUET`,
      ...snowflakeTable('people_lines', [LINE], 'people/', '.*/people[.]jsonl[.]gz', 'lines'),
    ];
    for (const dataset of ['events', 'messages'] as const) {
      if (ctx.plan.fromDay[dataset] === undefined) continue;
      const { scalars, bags } = dataColumns(dataset);
      const folder = `raw/${dataset}/`;
      out.push(
        ...snowflakeTable(`raw_${dataset}_lines`, [LINE], folder, '.*[.]jsonl[.]gz', 'lines'),
        ...snowflakeTable(
          `raw_${dataset}_parquet`,
          [
            `_key VARCHAR AS (VALUE:"_key"::VARCHAR)`,
            `_line NUMBER AS (VALUE:"_line"::NUMBER)`,
            ...[...scalars, ...bags].map((c) => `${c} VARCHAR AS (VALUE:"${c}"::VARCHAR)`),
          ],
          folder,
          '.*[.]parquet',
          'parquet',
        ),
        ...snowflakeTable(`raw_${dataset}_manifests`, [], folder, '.*/_compacted[.]json', 'json'),
      );
    }
    for (const audience of ctx.plan.audiences) {
      const id = audience.definition.id;
      const name = audienceTableName(id);
      const folder = `audiences/${id}/`;
      out.push(
        ...snowflakeTable(`${name}_members`, [LINE], folder, '.*/members[.]jsonl[.]gz', 'lines'),
        ...snowflakeTable(`${name}_manifests`, [], folder, '.*/manifest[.]json', 'json'),
      );
    }
    return out;
  },
  // The person stays a VARIANT (the dialect reads JSON bags as VARIANT).
  peopleSnapshot: (ctx) => {
    const { d } = ctx;
    return `SELECT ${snowflakeText(d, 'j:"customer_id"')} AS customer_id,
  ${snowflakeText(d, 'j:"email"')} AS email,
  ${snowflakeText(d, 'j:"cio_id"')} AS cio_id,
  IFF(IS_ARRAY(j:"merged_ids"), j:"merged_ids", NULL) AS merged_ids,
  j AS person
FROM (SELECT TRY_PARSE_JSON(line) AS j FROM people_lines WHERE dt = ${d.str(ctx.plan.day)} AND line <> '') s
WHERE IS_OBJECT(j) AND ${snowflakeText(d, 'j:"customer_id"')} IS NOT NULL`;
  },
  raw: (ctx, dataset, from) => {
    const { d, plan } = ctx;
    const { scalars, bags } = dataColumns(dataset);
    const window = `dt BETWEEN ${d.str(from)} AND ${d.str(plan.day)}`;
    const parsed = [
      ...scalars.map((c) => `${snowflakeText(d, `l.j:"${c}"`)} AS ${c}`),
      ...bags.map((c) => `l.j:"${c}" AS ${c}`),
    ];
    const fromParquet = [...scalars, ...bags.map((c) => `TRY_PARSE_JSON(${c}) AS ${c}`)];
    return `WITH files AS (
  SELECT m.dt, f.value:"key"::VARCHAR AS parquet_key, f.value:"sources" AS sources
  FROM raw_${dataset}_manifests m, LATERAL FLATTEN(input => m.VALUE:"files") f
  WHERE m.${window}
),
sources AS (
  SELECT s.value::VARCHAR AS source_key FROM files, LATERAL FLATTEN(input => files.sources) s
  WHERE s.value IS NOT NULL
),
parquet AS (
  SELECT * FROM raw_${dataset}_parquet
  WHERE ${window}
    AND REGEXP_SUBSTR(METADATA$FILENAME, ${d.str(keyPattern(dataset))}) IN (SELECT parquet_key FROM files WHERE parquet_key IS NOT NULL)
),
lines AS (
  SELECT REGEXP_SUBSTR(METADATA$FILENAME, ${d.str(keyPattern(dataset))}) AS _key,
    METADATA$FILE_ROW_NUMBER AS _line,
    line, TRY_PARSE_JSON(line) AS j
  FROM raw_${dataset}_lines
  WHERE ${window} AND line IS NOT NULL AND line <> ''
)
SELECT _key, _line, CAST(NULL AS VARCHAR) AS _malformed, ${fromParquet.join(', ')}
FROM parquet
UNION ALL
SELECT l._key, l._line,
  CASE WHEN l.j IS NULL THEN 'not valid JSON' WHEN NOT IS_OBJECT(l.j) THEN 'not a JSON object' END AS _malformed,
${indent(parsed)}
FROM lines l
WHERE l._key NOT IN (SELECT source_key FROM sources)`;
  },
  previous: (ctx, audience) => {
    const { d } = ctx;
    const name = audienceTableName(audience.definition.id);
    return `SELECT j:"customer_id"::VARCHAR AS customer_id, j:"entered"::VARCHAR AS entered
FROM (
  SELECT TRY_PARSE_JSON(line) AS j FROM ${name}_members
  WHERE line <> '' AND dt = (SELECT MAX(dt) FROM ${name}_manifests WHERE dt < ${d.str(ctx.plan.day)})
) m`;
  },
};

const WAREHOUSES: Record<Exclude<Dialect['name'], 'duckdb'>, WarehouseInputs> = {
  athena: athenaInputs,
  bigquery: bigqueryInputs,
  snowflake: snowflakeInputs,
};

/**
 * The script for a warehouse: external tables over the store at `options.location`, the input
 * relations for the plan's day, the plan's statements, the members of every audience.
 */
export function warehouseScript(d: Dialect, plan: BuildPlan, options: WarehouseOptions): string {
  if (d.name === 'duckdb') throw new Error('the DuckDB script reads local files: use duckdbScript');
  const inputs = WAREHOUSES[d.name];
  const ctx: Ctx = {
    d,
    plan,
    loc: options.location.replace(/\/+$/, ''),
    ns: options.namespace ?? DEFAULT_NAMESPACE,
    options,
  };
  const statements = [
    ...inputs.ddl(ctx),
    ...plan.scoreTables.flatMap((t) => inputs.scoreTable.ddl(ctx, t, plan.scoreTableDefs[t]!)),
    d.createTable('people_snapshot', inputs.peopleSnapshot(ctx)),
  ];
  for (const dataset of ['events', 'messages'] as const) {
    const from = plan.fromDay[dataset];
    if (from !== undefined) statements.push(d.createTable(`raw_${dataset}`, inputs.raw(ctx, dataset, from)));
  }
  for (const audience of plan.audiences) {
    statements.push(d.createTable(`previous_${audience.table}`, inputs.previous(ctx, audience)));
  }
  for (const t of plan.scoreTables)
    statements.push(
      d.createTable(
        scoreTableRelation(t),
        scoreTableSelect({
          d,
          day: plan.day,
          name: t,
          def: plan.scoreTableDefs[t]!,
          data: inputs.scoreTable.data(ctx, t, plan.scoreTableDefs[t]!),
          fail: inputs.scoreTable.fail,
        }),
      ),
    );
  statements.push(...planStatements(d, plan), membersSelect(d, plan));
  return renderScript({
    header: [
      `audience-sync sql --dialect ${d.name}: the build for one day, over the store at ${ctx.loc}`,
      ...describe(plan),
      ...inputs.notes(ctx),
      ...scoreTableNotes(ctx),
      'Written from the engine documentation and golden-tested; not run against the engine.',
      'See docs/warehouse.md for what differs from the build (DuckDB).',
    ],
    statements,
  });
}
