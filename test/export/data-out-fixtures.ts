import { readFileSync } from 'node:fs';
import { type ColumnSource, parquetWriteBuffer } from 'hyparquet-writer';
import type { ObjectStore } from '../../src/storage/object-store.js';

/**
 * Writes Customer.io Data Out Parquet files from the documented columns in
 * `fixtures/customerio/data-out/columns.json`: the Parquet fixtures are made here, not checked in.
 */

type FileType = 'deliveries' | 'metrics' | 'people';
interface ColumnDoc {
  name: string;
  type: 'STRING' | 'INT32' | 'BOOLEAN' | 'TIMESTAMP';
}

export const DATA_OUT_COLUMNS = JSON.parse(
  readFileSync(new URL('../../fixtures/customerio/data-out/columns.json', import.meta.url), 'utf8'),
) as Record<FileType, ColumnDoc[]>;

export type FixtureRow = Record<string, string | number | boolean | Date | null>;

export function dataOutParquet(
  type: FileType,
  rows: readonly FixtureRow[],
  extraColumns: readonly ColumnDoc[] = [],
  options: { omit?: readonly string[] } = {},
): Uint8Array {
  const columns = [...DATA_OUT_COLUMNS[type], ...extraColumns].filter((c) => !options.omit?.includes(c.name));
  const columnData: ColumnSource[] = columns.map((c) => ({
    name: c.name,
    type: c.type,
    data: rows.map((r) => (r[c.name] === undefined ? null : r[c.name])) as ColumnSource['data'],
  }));
  return new Uint8Array(parquetWriteBuffer({ columnData }));
}

export async function putDataOut(
  store: ObjectStore,
  key: string,
  type: FileType,
  rows: readonly FixtureRow[],
  extraColumns: readonly ColumnDoc[] = [],
  options: { omit?: readonly string[] } = {},
): Promise<void> {
  await store.put(key, dataOutParquet(type, rows, extraColumns, options));
}
