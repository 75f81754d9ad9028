import type { Dialect } from '../dialect.js';
import { backslashString, chainPath, posixGroups } from './common.js';

/**
 * Snowflake. Written from the Snowflake documentation and golden-tested only: it has not been run
 * against Snowflake (see docs/warehouse.md).
 *
 * - JSON bags (`properties`, the person) are VARIANT columns here (parsed once, when the input
 *   relations are built; see sql/warehouse.ts), read with `GET`, typed with `TYPEOF`, and turned to
 *   text with `::VARCHAR` (a string without its quotes);
 * - whole-string regular expressions: `REGEXP_LIKE`, which anchors at both ends (POSIX extended
 *   syntax: `(?:…)` groups are written as plain groups);
 * - the holdout hash: `TO_NUMBER(UPPER(SUBSTR(SHA2(x, 256), 1, 13)), 'XXXXXXXXXXXXX')`;
 * - no compensated sum: `SUM` (plain double addition, in the engine's order);
 * - filtered aggregates: `COUNT_IF(cond)`, and `agg(IFF(cond, x, NULL))`;
 * - identifiers: unquoted names are stored upper case, so a quoted one is written upper case too.
 */

function str(value: string): string {
  return backslashString(value, 'doubled');
}

const NUMBER_TYPES = "('INTEGER', 'DECIMAL', 'DOUBLE')";

export const snowflake: Dialect = {
  name: 'snowflake',
  str,
  dbl: (value) => `CAST('${String(value)}' AS DOUBLE)`,
  jsonAt: (json, path) =>
    chainPath(
      json,
      path,
      (j, keys) => keys.reduce((acc, k) => `GET(${acc}, ${str(k)})`, j),
      (j, index) => `IFF(IS_ARRAY(${j}), GET(${j}, ${index}), GET(${j}, ${str(index)}))`,
    ),
  jsonKind: (value) =>
    `CASE TYPEOF(${value}) WHEN 'VARCHAR' THEN 'STRING' WHEN 'BOOLEAN' THEN 'BOOLEAN' WHEN 'NULL_VALUE' THEN 'NULL' ` +
    `WHEN 'OBJECT' THEN 'OTHER' WHEN 'ARRAY' THEN 'OTHER' ELSE CASE WHEN TYPEOF(${value}) IN ${NUMBER_TYPES} THEN 'NUMBER' END END`,
  jsonText: (value) => `${value}::VARCHAR`,
  fullMatch: (text, pattern) => `REGEXP_LIKE(${text}, ${str(posixGroups(pattern))})`,
  tryDouble: (text) => `TRY_TO_DOUBLE(${text})`,
  isFinite: (value) => `(${value} NOT IN ('inf'::DOUBLE, '-inf'::DOUBLE, 'NaN'::DOUBLE))`,
  instant: (text) => `TRY_TO_TIMESTAMP_TZ(${text})`,
  dayDiff: (from, to) => `DATEDIFF(day, TRY_TO_DATE(${from}), TRY_TO_DATE(${to}))`,
  preciseSum: 'SUM',
  unitHash: (text) =>
    `(TO_DOUBLE(TO_NUMBER(UPPER(SUBSTR(SHA2(${text}, 256), 1, 13)), 'XXXXXXXXXXXXX')) / CAST(4503599627370496 AS DOUBLE))`,
  filtered: (aggregate, argument, condition) =>
    aggregate === 'count' && argument === '*'
      ? `COUNT_IF(${condition})`
      : `${aggregate}(IFF(${condition}, ${argument}, NULL))`,
  text: 'VARCHAR',
  createTable: (name, select) => `CREATE OR REPLACE TEMPORARY TABLE ${name} AS\n${select}`,
  ident: (name) => `"${name.toUpperCase().replaceAll('"', '""')}"`,
  double: 'DOUBLE',
  unionDistinct: 'UNION',
  firstPerKey: (table, key, order) =>
    `SELECT * FROM ${table}\nQUALIFY row_number() OVER (PARTITION BY ${key} ORDER BY ${order}) = 1`,
  explode: (table, array, alias, columns) =>
    `SELECT u.value::VARCHAR AS ${alias}, ${columns} FROM ${table}, LATERAL FLATTEN(input => ${table}.${array}) u`,
  intDiv: (a, b) => `FLOOR(${a} / ${b})`,
  // MAX_BY / MIN_BY ignore rows whose ordering value is NULL.
  valueBy: (which, value, order, condition) =>
    `${which.toUpperCase()}_BY(IFF(${condition}, ${value}, NULL), IFF(${condition} AND ${value} IS NOT NULL, ${order}, NULL))`,
  median: (value) => `MEDIAN(${value})`,
  addDays: (day, days) => `TO_VARCHAR(DATEADD(day, ROUND(${days}), TRY_TO_DATE(${day})), 'YYYY-MM-DD')`,
};
