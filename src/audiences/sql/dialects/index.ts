import { type Dialect, type DialectName, duckdb } from '../dialect.js';
import { athena } from './athena.js';
import { bigquery } from './bigquery.js';
import { snowflake } from './snowflake.js';

export { athena, bigquery, snowflake };

/** Every dialect by name. Only `duckdb` is executed (by the build and in tests). */
export const DIALECTS: Record<DialectName, Dialect> = { duckdb, athena, bigquery, snowflake };

export const DIALECT_NAMES = Object.keys(DIALECTS) as DialectName[];

export function dialectByName(name: string): Dialect | undefined {
  return (DIALECTS as Record<string, Dialect>)[name];
}
