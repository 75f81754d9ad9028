import type { Dataset } from '../contract/records.js';
import { sqlString } from './duckdb.js';

/**
 * Raw records as one SQL relation, whichever form their parts are in: gzip JSON Lines as exported
 * (`raw/<dataset>/dt=D/part-….jsonl.gz`) or Parquet written by compaction (`part-….parquet`). Every
 * row carries the object key and line number it came from (`_key`, `_line`; a compacted row keeps
 * those of its JSON line), so de-duplication ties and damage reports read the same in both forms.
 *
 * Column rules (the same for both forms, documented in docs/store-layout.md):
 * - scalar fields are text: a JSON value of another type is read as its JSON text (`42` → `"42"`),
 *   a missing field or JSON null is NULL;
 * - bags (`properties`, `attributes`, `consent`) stay JSON text, so a property whose type drifts
 *   across days never breaks a read: rules look inside with JSON functions (a JSON null bag is NULL);
 * - a column missing from some parts (older Parquet, new fields) reads as NULL (union by name).
 *
 * JSON lines are checked here: a line that is not JSON, or JSON but not an object, becomes a
 * `_malformed` reason; empty lines are counted and skipped. Rows with `_malformed` set carry no
 * fields.
 */

export const SCALAR_FIELDS: Record<Dataset, readonly string[]> = {
  events: ['id', 'customer_id', 'anonymous_id', 'email', 'name', 'raw_name', 'ts', 'received_at', 'source'],
  messages: [
    'id',
    'customer_id',
    'email',
    'cio_id',
    'channel',
    'metric',
    'delivery_id',
    'campaign_id',
    'broadcast_id',
    'newsletter_id',
    'journey_id',
    'action_id',
    'transactional_message_id',
    'href',
    'ts',
    'received_at',
    'source',
  ],
  people: [
    'customer_id',
    'email',
    'phone',
    'first_name',
    'last_name',
    'city',
    'region',
    'postal_code',
    'country',
    'maid',
    'cio_id',
    'unsubscribed',
    'deleted',
    'ts',
    'merged_from',
  ],
};

export const BAG_FIELDS: Record<Dataset, readonly string[]> = {
  events: ['properties'],
  messages: [],
  people: ['consent', 'attributes'],
};

/** Every data column of a dataset's relation, in order (without `_key`, `_line`, `_malformed`). */
export function dataColumns(dataset: Dataset): string[] {
  return [...SCALAR_FIELDS[dataset], ...BAG_FIELDS[dataset]];
}

export interface RawFile {
  /** The object key (what reports name). */
  key: string;
  /** The local file DuckDB reads. */
  path: string;
}

/** One JSON Lines file, one row per line (empty lines included, as NULL), in file order. */
function jsonLines(file: RawFile): string {
  // A delimiter that cannot occur in JSON text and no quoting: each line is one value, unchanged.
  // `row_number() over ()` without partition or order is computed as the rows stream, in file order.
  return `SELECT ${sqlString(file.key)} AS _key, row_number() OVER () AS _line, line
    FROM read_csv(${sqlString(file.path)}, columns = {'line': 'VARCHAR'}, delim = E'\\x01', quote = '',
      escape = '', header = false, auto_detect = false, strict_mode = false, compression = 'auto')`;
}

/**
 * Many JSON Lines files in one scan, one row per line, without line numbers (`_line` is NULL).
 * Reading each file on its own costs a planned scan per file (about 20 ms): this is the fast form
 * for many small parts, when line numbers are needed only for a few rows (see build's session).
 */
function jsonLinesUnnumbered(files: readonly RawFile[]): string {
  const names = files.map((f) => `(${sqlString(f.path)}, ${sqlString(f.key)})`).join(', ');
  return `SELECT k._key, CAST(NULL AS BIGINT) AS _line, r.line
    FROM read_csv([${files.map((f) => sqlString(f.path)).join(', ')}], columns = {'line': 'VARCHAR'}, delim = E'\\x01',
      quote = '', escape = '', header = false, auto_detect = false, strict_mode = false, compression = 'auto',
      filename = true) r
    JOIN (VALUES ${names}) k(filename, _key) ON k.filename = r.filename`;
}

/**
 * The parsed relation of JSON Lines files (all columns text or JSON text). With `keepEmpty`, empty
 * lines stay as rows with `_malformed = 'empty'` (they count as lines of their part). Without
 * `lineNumbers`, all files are read in one scan and `_line` is NULL.
 */
export function jsonlRelation(
  dataset: Dataset,
  files: readonly RawFile[],
  keepEmpty = false,
  lineNumbers = true,
): string {
  if (files.length === 0) return emptyRelation(dataset);
  const scalars = SCALAR_FIELDS[dataset];
  const bags = BAG_FIELDS[dataset];
  const paths = scalars.map((f) => sqlString(`$.${f}`)).join(', ');
  const lines = lineNumbers ? files.map(jsonLines).join('\n  UNION ALL\n  ') : jsonLinesUnnumbered(files);
  const ok = `_malformed IS NULL`;
  return `SELECT _key, _line, _malformed,
      ${scalars.map((f, i) => `CASE WHEN ${ok} THEN _f[${i + 1}] END AS ${quoteIdent(f)}`).join(',\n      ')}${bags.length > 0 ? ',' : ''}
      ${bags.map((f) => `CASE WHEN ${ok} THEN NULLIF(CAST(json_extract(line, ${sqlString(`$.${f}`)}) AS VARCHAR), 'null') END AS ${quoteIdent(f)}`).join(',\n      ')}
    FROM (
      SELECT *, CASE WHEN _malformed IS NULL THEN json_extract_string(line, [${paths}]) END AS _f
      FROM (
        SELECT _key, _line, line,
          CASE
            WHEN line IS NULL THEN 'empty'
            WHEN NOT json_valid(line) THEN 'not valid JSON'
            WHEN left(ltrim(line), 1) <> '{' THEN 'not a JSON object'
          END AS _malformed
        FROM (
  ${lines}
        )
      )
    )
    ${keepEmpty ? '' : `WHERE _malformed IS DISTINCT FROM 'empty'`}`;
}

/**
 * JSON Lines parts parsed by the engine's own JSON reader, one scan per part numbered in file
 * order: several times faster than `jsonlRelation`, which reads each line as text and parses it
 * with JSON functions. It is exact only for a part whose every line is a JSON object: the reader
 * skips empty and blank lines (shifting the numbers), reads a `null` line as a row of NULLs, and
 * stops the whole query at a line that is not JSON. `loadJsonlTable` (jsonl-load.ts) checks that
 * and reads any other part with `jsonlRelation`. Bags read as JSON text, a JSON null bag as NULL.
 * Without `numbered`, `_line` is NULL: numbering a part's rows holds all of them in a window before
 * the first comes out, which is about half the cost of the read. `kept` (in `dataColumns` order)
 * limits the data columns to those a reader needs.
 */
export function jsonlFastRelation(
  dataset: Dataset,
  files: readonly RawFile[],
  numbered = true,
  kept: readonly string[] = dataColumns(dataset),
): string {
  if (files.length === 0) return emptyRelation(dataset);
  const bag = (f: string) => BAG_FIELDS[dataset].includes(f);
  // The reader parses only the keys it is given: the others are skipped, not built into vectors.
  const columns = kept.map((f) => `${quoteIdent(f)}: '${bag(f) ? 'JSON' : 'VARCHAR'}'`).join(', ');
  const select = kept
    .map((f) => (bag(f) ? `CAST(${quoteIdent(f)} AS VARCHAR) AS ${quoteIdent(f)}` : quoteIdent(f)))
    .join(', ');
  return files
    .map(
      (
        f,
      ) => `SELECT ${sqlString(f.key)} AS _key, ${numbered ? 'row_number() OVER ()' : 'CAST(NULL AS BIGINT)'} AS _line, CAST(NULL AS VARCHAR) AS _malformed, ${select}
    FROM read_json(${sqlString(f.path)}, format = 'newline_delimited', columns = {${columns}})`,
    )
    .join('\n  UNION ALL\n  ');
}

/**
 * The relation of Parquet files written by compaction (union by name: older files may lack
 * columns). `present` names the columns at least one of the files has (see `parquetColumns`): the
 * others read as NULL, since DuckDB cannot select a column that no file in the set has.
 */
export function parquetRelation(
  dataset: Dataset,
  files: readonly RawFile[],
  present?: ReadonlySet<string>,
): string {
  if (files.length === 0) return emptyRelation(dataset);
  const list = `[${files.map((f) => sqlString(f.path)).join(', ')}]`;
  const columns = ['_key', '_line', ...dataColumns(dataset)].map((c) =>
    !present || present.has(c)
      ? quoteIdent(c)
      : `CAST(NULL AS ${c === '_line' ? 'BIGINT' : 'VARCHAR'}) AS ${quoteIdent(c)}`,
  );
  return `SELECT ${columns.join(', ')}, CAST(NULL AS VARCHAR) AS _malformed
    FROM read_parquet(${list}, union_by_name = true)`;
}

/** SQL listing the column names the Parquet files have (their footers only). */
export function parquetColumnsSql(files: readonly RawFile[]): string {
  return `SELECT DISTINCT name FROM parquet_schema([${files.map((f) => sqlString(f.path)).join(', ')}])`;
}

/** Both forms together, in one relation with the same columns. */
export function rawRelation(
  dataset: Dataset,
  files: { jsonl: readonly RawFile[]; parquet: readonly RawFile[] },
): string {
  const columns = ['_key', '_line', '_malformed', ...dataColumns(dataset)].map(quoteIdent).join(', ');
  const parts: string[] = [];
  if (files.jsonl.length > 0) parts.push(`SELECT ${columns} FROM (${jsonlRelation(dataset, files.jsonl)})`);
  if (files.parquet.length > 0)
    parts.push(`SELECT ${columns} FROM (${parquetRelation(dataset, files.parquet)})`);
  if (parts.length === 0) return emptyRelation(dataset);
  return parts.join('\nUNION ALL\n');
}

function emptyRelation(dataset: Dataset): string {
  const cols = dataColumns(dataset).map((c) => `CAST(NULL AS VARCHAR) AS ${quoteIdent(c)}`);
  return `SELECT CAST(NULL AS VARCHAR) AS _key, CAST(NULL AS BIGINT) AS _line, CAST(NULL AS VARCHAR) AS _malformed, ${cols.join(', ')} WHERE false`;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Whether a raw part key is in the compacted (Parquet) form. */
export function isParquetPart(key: string): boolean {
  return key.endsWith('.parquet');
}

/**
 * The people snapshot: identity columns plus the whole line as JSON text for `person:` rules. Each
 * line is parsed once for its identity fields (one multi-path extract); `merged_ids`, rare, comes
 * out as JSON text and is cast to a list only where present.
 */
export function peopleSnapshotRelation(path: string, compression: 'gzip' | 'none' = 'gzip'): string {
  return `SELECT id[1] AS customer_id, id[2] AS email, id[3] AS cio_id,
    CASE WHEN id[4] IS NOT NULL THEN CAST(CAST(id[4] AS JSON) AS VARCHAR[]) END AS merged_ids,
    line AS person
  FROM (
    SELECT line, json_extract_string(line, ['$.customer_id', '$.email', '$.cio_id', '$.merged_ids']) AS id
    FROM read_csv(${sqlString(path)}, columns = {'line': 'VARCHAR'}, delim = E'\\x01', quote = '', escape = '',
      header = false, auto_detect = false, strict_mode = false, compression = '${compression}')
    WHERE line IS NOT NULL AND json_valid(line)
  )
  WHERE id[1] IS NOT NULL`;
}

/** The members of an audience's previous snapshot (`customer_id`, `entered`); empty without one. */
export function previousMembersRelation(path: string | undefined): string {
  if (path === undefined)
    return `SELECT CAST(NULL AS VARCHAR) AS customer_id, CAST(NULL AS VARCHAR) AS entered WHERE false`;
  return `SELECT customer_id, entered FROM read_json(${sqlString(path)},
  format = 'newline_delimited', columns = {customer_id: 'VARCHAR', entered: 'VARCHAR'}, compression = 'gzip')`;
}
