/**
 * The few places where SQL engines disagree, behind one interface, so the audience language
 * compiles once and prints for DuckDB (which the build runs) and for warehouses (which a data team
 * runs over the same Hive-partitioned files). Everything else the compiler writes is ANSI SQL.
 *
 * JSON values are passed around as the engine's JSON representation; `jsonKind` normalizes type
 * names to `STRING`, `NUMBER`, `BOOLEAN`, `NULL` (JSON null) or `OTHER` (object, array), and NULL
 * for a missing value.
 */
export type DialectName = 'duckdb' | 'athena' | 'bigquery' | 'snowflake';

export interface Dialect {
  readonly name: DialectName;
  /** A string literal. */
  str(value: string): string;
  /** A double literal that reads back as exactly `value`. */
  dbl(value: number): string;
  /** The JSON value at `path` (object keys or array indexes) inside JSON text `json`; NULL when missing. */
  jsonAt(json: string, path: readonly string[]): string;
  /** Normalized JSON type name of a JSON value (see above). */
  jsonKind(value: string): string;
  /** The text of a scalar JSON value (a string unquoted, a number or boolean as written). */
  jsonText(value: string): string;
  /** Whether `text` matches `pattern` entirely (RE2 syntax). */
  fullMatch(text: string, pattern: string): string;
  /** `text` as a double, NULL when it is not a number. */
  tryDouble(text: string): string;
  /** Whether a double is finite. */
  isFinite(value: string): string;
  /** An orderable instant from a canonical UTC timestamp text; NULL when unreadable. */
  instant(text: string): string;
  /** Whole days from day text `from` to day text `to` (`YYYY-MM-DD`); NULL when either is invalid. */
  dayDiff(from: string, to: string): string;
  /** The aggregate function of a compensated sum of doubles (nearly order-insensitive), for `sum` features. */
  readonly preciseSum: string;
  /** `parseInt(sha256hex(text).slice(0, 13), 16) / 2^52`: the holdout draw in [0, 1). */
  unitHash(text: string): string;
  /** Aggregate filter: `count(*)` etc. restricted to rows where `condition` holds. */
  filtered(aggregate: string, argument: string, condition: string): string;
  /** The string type name. */
  readonly text: string;
  /** `CREATE [TEMP] TABLE name AS select`. */
  createTable(name: string, select: string): string;
  /** A quoted identifier (a column named like a keyword, or a raw field). */
  ident(name: string): string;
  /** The double type name (for `CAST(x AS …)`). */
  readonly double: string;
  /** `UNION` that removes duplicates. */
  readonly unionDistinct: string;
  /** The rows of `table` that come first in `order` within each `key` (all columns of `table`). */
  firstPerKey(table: string, key: string, order: string): string;
  /** `SELECT <element> AS alias, columns FROM table`: one row per element of array column `array`. */
  explode(table: string, array: string, alias: string, columns: string): string;
  /** Integer division of non-negative integers (rounded down). */
  intDiv(a: string, b: string): string;
  /**
   * Aggregate: `value` of the row with the largest (`max`) or smallest (`min`) `order` among rows
   * where `condition` holds and `value` is not NULL (first / last traits).
   */
  valueBy(which: 'max' | 'min', value: string, order: string, condition: string): string;
  /** Aggregate: the exact median of a double (for an even count, the mean of the two middle values). */
  median(value: string): string;
  /** Day text `day` plus `days` (a double, rounded half away from zero) as day text. */
  addDays(day: string, days: string): string;
}

const DOUBLE_TYPES = "('BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT')";

export const duckdb: Dialect = {
  name: 'duckdb',
  str: (value) => `'${value.replaceAll("'", "''")}'`,
  // Through a string: a decimal literal would be a DECIMAL first, and lose digits on the way.
  dbl: (value) => `CAST('${String(value)}' AS DOUBLE)`,
  jsonAt: (json, path) =>
    `json_extract(${json}, ${duckdb.str(`/${path.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`)})`,
  jsonKind: (value) =>
    `CASE json_type(${value}) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL' THEN 'NULL' ` +
    `WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN json_type(${value}) IN ${DOUBLE_TYPES} THEN 'NUMBER' END END`,
  jsonText: (value) => `json_extract_string(${value}, '$')`,
  fullMatch: (text, pattern) => `regexp_full_match(${text}, ${duckdb.str(pattern)})`,
  tryDouble: (text) => `TRY_CAST(${text} AS DOUBLE)`,
  isFinite: (value) => `isfinite(${value})`,
  instant: (text) => `TRY_CAST(${text} AS TIMESTAMPTZ)`,
  dayDiff: (from, to) => `date_diff('day', TRY_CAST(${from} AS DATE), TRY_CAST(${to} AS DATE))`,
  preciseSum: 'fsum',
  unitHash: (text) =>
    `(CAST(('0x' || substr(sha256(${text}), 1, 13)) AS BIGINT) / CAST(4503599627370496 AS DOUBLE))`,
  filtered: (aggregate, argument, condition) => `${aggregate}(${argument}) FILTER (WHERE ${condition})`,
  text: 'VARCHAR',
  createTable: (name, select) => `CREATE OR REPLACE TEMP TABLE ${name} AS\n${select}`,
  ident: (name) => `"${name.replaceAll('"', '""')}"`,
  double: 'DOUBLE',
  unionDistinct: 'UNION',
  firstPerKey: (table, key, order) =>
    `SELECT * FROM ${table}\nQUALIFY row_number() OVER (PARTITION BY ${key} ORDER BY ${order}) = 1`,
  explode: (table, array, alias, columns) => `SELECT unnest(${array}) AS ${alias}, ${columns} FROM ${table}`,
  intDiv: (a, b) => `${a} // ${b}`,
  valueBy: (which, value, order, condition) =>
    `arg_${which}(${value}, ${order}) FILTER (WHERE ${condition} AND ${value} IS NOT NULL)`,
  median: (value) => `median(${value})`,
  addDays: (day, days) => `strftime(TRY_CAST(${day} AS DATE) + CAST(round(${days}) AS INTEGER), '%Y-%m-%d')`,
};
