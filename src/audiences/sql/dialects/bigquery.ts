import type { Dialect } from '../dialect.js';
import { backslashString, chainPath, kindFromText } from './common.js';

/**
 * Google BigQuery (GoogleSQL). Written from the BigQuery documentation and golden-tested only: it
 * has not been run against BigQuery (see docs/warehouse.md).
 *
 * - JSON held as STRING: `JSON_QUERY` (JSON text of the value; NULL when the path is missing), the
 *   kind from the first character of that text, the text with `JSON_VALUE`;
 * - whole-string regular expressions: `REGEXP_CONTAINS` with `^(?:…)$` (RE2, as the language);
 * - the holdout hash: `CAST(CONCAT('0x', SUBSTR(TO_HEX(SHA256(x)), 1, 13)) AS INT64)`;
 * - no compensated sum: `SUM` (plain double addition, in the engine's order);
 * - filtered aggregates: `COUNTIF(cond)`, and `agg(IF(cond, x, NULL))`;
 * - identifiers in backticks, `UNION DISTINCT`, `DIV`, temporary tables of a multi-statement query.
 */

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function str(value: string): string {
  return backslashString(value, 'escaped');
}

/** A JSONPath of the standard extractors: `$.a."b c"`. */
function keyPath(keys: readonly string[]): string {
  return `$${keys.map((k) => (IDENTIFIER.test(k) ? `.${k}` : `."${k.replaceAll('"', '\\"')}"`)).join('')}`;
}

export const bigquery: Dialect = {
  name: 'bigquery',
  str,
  dbl: (value) => `CAST('${String(value)}' AS FLOAT64)`,
  jsonAt: (json, path) =>
    chainPath(
      json,
      path,
      (j, keys) => `JSON_QUERY(${j}, ${str(keyPath(keys))})`,
      (j, index) =>
        `COALESCE(JSON_QUERY(${j}, ${str(`$[${index}]`)}), JSON_QUERY(${j}, ${str(`$."${index}"`)}))`,
    ),
  jsonKind: (value) => kindFromText(value, (v) => `SUBSTR(${v}, 1, 1)`),
  jsonText: (value) => `JSON_VALUE(${value})`,
  fullMatch: (text, pattern) => `REGEXP_CONTAINS(${text}, ${str(`^(?:${pattern})$`)})`,
  tryDouble: (text) => `SAFE_CAST(${text} AS FLOAT64)`,
  isFinite: (value) => `(NOT IS_INF(${value}) AND NOT IS_NAN(${value}))`,
  instant: (text) => `SAFE_CAST(${text} AS TIMESTAMP)`,
  dayDiff: (from, to) => `DATE_DIFF(SAFE_CAST(${to} AS DATE), SAFE_CAST(${from} AS DATE), DAY)`,
  preciseSum: 'SUM',
  unitHash: (text) =>
    `(CAST(CONCAT('0x', SUBSTR(TO_HEX(SHA256(${text})), 1, 13)) AS INT64) / CAST(4503599627370496 AS FLOAT64))`,
  filtered: (aggregate, argument, condition) =>
    aggregate === 'count' && argument === '*'
      ? `COUNTIF(${condition})`
      : `${aggregate}(IF(${condition}, ${argument}, NULL))`,
  text: 'STRING',
  createTable: (name, select) => `CREATE OR REPLACE TEMP TABLE ${name} AS\n${select}`,
  ident: (name) => `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``,
  double: 'FLOAT64',
  unionDistinct: 'UNION DISTINCT',
  // `WHERE true`: QUALIFY wants a WHERE, GROUP BY or HAVING clause next to it in some releases.
  firstPerKey: (table, key, order) =>
    `SELECT * FROM ${table}\nWHERE true\nQUALIFY row_number() OVER (PARTITION BY ${key} ORDER BY ${order}) = 1`,
  explode: (table, array, alias, columns) =>
    `SELECT ${alias}, ${columns} FROM ${table} CROSS JOIN UNNEST(${table}.${array}) AS ${alias}`,
  intDiv: (a, b) => `DIV(${a}, ${b})`,
  valueBy: (which, value, order, condition) =>
    `ARRAY_AGG(IF(${condition}, ${value}, NULL) IGNORE NULLS ORDER BY IF(${condition} AND ${value} IS NOT NULL, ${order}, NULL) ${which === 'max' ? 'DESC' : 'ASC'} NULLS LAST LIMIT 1)[SAFE_OFFSET(0)]`,
  // BigQuery's exact PERCENTILE_CONT is analytic only (APPROX_QUANTILES is approximate): the
  // sorted values' middle one, or the mean of the middle two for an even count, as DuckDB's median.
  median: (value) => {
    const sorted = `ARRAY_AGG(${value} IGNORE NULLS ORDER BY ${value})`;
    const n = `COUNT(${value})`;
    return `((${sorted}[OFFSET(DIV(${n} - 1, 2))] + ${sorted}[OFFSET(DIV(${n}, 2))]) / 2)`;
  },
  addDays: (day, days) =>
    `FORMAT_DATE('%F', DATE_ADD(SAFE_CAST(${day} AS DATE), INTERVAL CAST(ROUND(${days}) AS INT64) DAY))`,
};
