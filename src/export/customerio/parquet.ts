import * as zlib from 'node:zlib';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import {
  type Compressors,
  type FileMetaData,
  parquetMetadata,
  parquetReadObjects,
  parquetSchema,
} from 'hyparquet';

/**
 * Parquet reading with hyparquet. Snappy and uncompressed pages are built in; gzip and brotli come
 * from node:zlib, zstd too where the Node version has it (Customer.io's codec is not documented).
 */

const zstd = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array) => Buffer }).zstdDecompressSync;

const COMPRESSORS: Compressors = {
  GZIP: (input) => new Uint8Array(gunzipSync(input)),
  BROTLI: (input) => new Uint8Array(brotliDecompressSync(input)),
  ...(zstd ? { ZSTD: (input: Uint8Array) => new Uint8Array(zstd(input)) } : {}),
};

export interface ParquetFile {
  columns: string[];
  rows: number;
  /** Rows `[start, end)` as objects keyed by column name. */
  read(start: number, end: number): Promise<Record<string, unknown>[]>;
}

export function openParquet(bytes: Buffer): ParquetFile {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const metadata: FileMetaData = parquetMetadata(file);
  const columns = parquetSchema(metadata).children.map((child) => child.element.name);
  return {
    columns,
    rows: Number(metadata.num_rows),
    read: (rowStart, rowEnd) =>
      parquetReadObjects({ file, metadata, rowStart, rowEnd, compressors: COMPRESSORS }) as Promise<
        Record<string, unknown>[]
      >,
  };
}
