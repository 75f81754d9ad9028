import type { Dialect } from '../dialect.js';
import { chainPath, kindFromText } from './common.js';

/**
 * Amazon Athena (engine version 3, Trino SQL). Written from the Trino and Athena documentation and
 * golden-tested only: it has not been run against Athena (see docs/warehouse.md).
 *
 * - JSON: `json_extract` (a JSON value; SQL NULL when the path is missing), the kind from the first
 *   character of `json_format`, the text with `json_extract_scalar`;
 * - whole-string regular expressions: `regexp_like` with `^(?:…)$` (Java syntax: `$` also matches
 *   before one final line terminator, so a value ending in a newline can match);
 * - the holdout hash: `from_base(substr(to_hex(sha256(to_utf8(x))), 1, 13), 16)`;
 * - no compensated sum: `sum` (plain double addition, in the engine's order);
 * - filtered aggregates: `FILTER (WHERE …)`, as DuckDB;
 * - tables: views (`CREATE OR REPLACE VIEW`); Athena has no temporary tables.
 */

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function str(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** A legacy JSON path (`$.a["b c"]`) over object keys. */
function keyPath(keys: readonly string[]): string {
  return `$${keys
    .map((k) => (IDENTIFIER.test(k) ? `.${k}` : `["${k.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"]`))
    .join('')}`;
}

export const athena: Dialect = {
  name: 'athena',
  str,
  dbl: (value) => `CAST('${String(value)}' AS double)`,
  jsonAt: (json, path) =>
    chainPath(
      json,
      path,
      (j, keys) => `json_extract(${j}, ${str(keyPath(keys))})`,
      (j, index) =>
        `COALESCE(json_extract(${j}, ${str(`$[${index}]`)}), json_extract(${j}, ${str(`$["${index}"]`)}))`,
    ),
  jsonKind: (value) => kindFromText(value, (v) => `substr(json_format(${v}), 1, 1)`),
  jsonText: (value) => `json_extract_scalar(${value}, '$')`,
  fullMatch: (text, pattern) => `regexp_like(${text}, ${str(`^(?:${pattern})$`)})`,
  tryDouble: (text) => `TRY_CAST(${text} AS double)`,
  isFinite: (value) => `is_finite(${value})`,
  instant: (text) => `try(from_iso8601_timestamp(${text}))`,
  dayDiff: (from, to) => `date_diff('day', TRY_CAST(${from} AS date), TRY_CAST(${to} AS date))`,
  preciseSum: 'sum',
  unitHash: (text) =>
    `(CAST(from_base(substr(to_hex(sha256(to_utf8(${text}))), 1, 13), 16) AS double) / CAST(4503599627370496 AS double))`,
  filtered: (aggregate, argument, condition) => `${aggregate}(${argument}) FILTER (WHERE ${condition})`,
  text: 'varchar',
  createTable: (name, select) => `CREATE OR REPLACE VIEW ${name} AS\n${select}`,
  ident: (name) => `"${name.replaceAll('"', '""')}"`,
  double: 'double',
  unionDistinct: 'UNION',
  firstPerKey: (table, key, order) =>
    `SELECT * FROM (\n  SELECT *, row_number() OVER (PARTITION BY ${key} ORDER BY ${order}) AS _first FROM ${table}\n) t\nWHERE _first = 1`,
  explode: (table, array, alias, columns) =>
    `SELECT u.${alias} AS ${alias}, ${columns} FROM ${table} CROSS JOIN UNNEST(${array}) AS u(${alias})`,
  intDiv: (a, b) => `${a} / ${b}`,
  valueBy: (which, value, order, condition) =>
    `${which}_by(${value}, ${order}) FILTER (WHERE ${condition} AND ${value} IS NOT NULL)`,
  // Trino has no exact median aggregate (approx_percentile is approximate): the sorted values'
  // middle one, or the mean of the middle two for an even count, as DuckDB's median (array_sort
  // puts NULLs last, so the first count(value) elements are the values; bigint division rounds down).
  median: (value) => {
    const sorted = `array_sort(array_agg(${value}))`;
    const n = `count(${value})`;
    return `((element_at(${sorted}, (${n} + 1) / 2) + element_at(${sorted}, ${n} / 2 + 1)) / 2)`;
  },
  addDays: (day, days) =>
    `date_format(date_add('day', CAST(round(${days}) AS bigint), TRY_CAST(${day} AS date)), '%Y-%m-%d')`,
};
