import type { Dataset } from '../contract/records.js';
import { Engine, type EngineSettings, sqlString, sqlStringList } from '../engine/duckdb.js';
import { type CacheOptions, type LocalFiles, localFiles } from '../engine/local-files.js';
import { BAG_FIELDS, dataColumns, isParquetPart, quoteIdent, SCALAR_FIELDS } from '../engine/raw.js';
import { JsonlLineError, readLines } from '../storage/jsonl.js';
import { type ObjectInfo, type ObjectStore, statObject } from '../storage/object-store.js';
import {
  cacheOptionsFromEnv,
  engineEnvFrom,
  engineSettingsFromEnv,
  withMemoryCap,
} from './engine-settings.js';

/**
 * Raw records for JavaScript readers (the people snapshot, lift outcomes, health profiles),
 * whichever form their part is in. A JSON Lines part is parsed line by line; a Parquet part
 * written by compaction is streamed through the SQL engine and each row is turned back into the
 * record it was: scalar columns as strings (`unsubscribed` / `deleted` back to booleans), bags
 * (`properties`, `attributes`, `consent`) parsed from their JSON text, NULL columns left out. Each
 * record comes with the JSON Lines key and line it was written to, in both forms.
 *
 * Which parts to read is decided by `listDayParts` / `listDatasetParts` (compaction/parts.ts).
 */

export interface RawRecord {
  /** The JSON Lines part the record was exported to (for a compacted row: its source). */
  key: string;
  /** 1-based line number in that part. */
  line: number;
  record: Record<string, unknown>;
}

export interface RawReadOptions {
  /** A JSON line that is not a JSON object; without it, the first such line throws. */
  onCorrupt?: (error: JsonlLineError) => void;
  /** Parquet: only rows that came from these JSON Lines parts (each part is read in full otherwise). */
  sources?: readonly string[];
  /** Only records whose scalar field equals the value (filtered in the engine for Parquet parts). */
  where?: Readonly<Record<string, string>>;
}

/** Scalar fields stored as JSON booleans, read back from their text. */
export const BOOLEAN_FIELDS: ReadonlySet<string> = new Set(['unsubscribed', 'deleted']);

/** A Parquet row (columns of `dataColumns`) back to the record it was compacted from. */
export function recordFromRow(dataset: Dataset, row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of SCALAR_FIELDS[dataset]) {
    const v = row[field];
    if (v === null || v === undefined) continue;
    out[field] = BOOLEAN_FIELDS.has(field) && (v === 'true' || v === 'false') ? v === 'true' : v;
  }
  for (const field of BAG_FIELDS[dataset]) {
    const v = row[field];
    if (typeof v === 'string') out[field] = JSON.parse(v);
  }
  return out;
}

/**
 * Reads raw parts of any form. The SQL engine is opened on the first Parquet part (readers of
 * stores that were never compacted never start it) and kept for the next ones; `close()` ends it.
 */
export class RawPartReader {
  private engine: Engine | undefined;
  private readonly ownsEngine: boolean;
  private files: LocalFiles | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly options: { engine?: Engine; settings?: EngineSettings; cache?: CacheOptions } = {},
  ) {
    this.engine = options.engine;
    this.ownsEngine = !options.engine;
  }

  async *read(
    dataset: Dataset,
    part: ObjectInfo | string,
    options: RawReadOptions = {},
  ): AsyncGenerator<RawRecord> {
    const key = typeof part === 'string' ? part : part.key;
    if (isParquetPart(key)) yield* this.readParquet(dataset, part, options);
    else if (!options.sources || options.sources.includes(key))
      yield* readJsonlPart(this.store, key, options);
  }

  private async *readParquet(
    dataset: Dataset,
    part: ObjectInfo | string,
    options: RawReadOptions,
  ): AsyncGenerator<RawRecord> {
    const info = typeof part === 'string' ? await statObject(this.store, part) : part;
    this.engine ??= await Engine.open(
      this.options.settings ?? streamingSettings(engineSettingsFromEnv(engineEnvFrom())),
    );
    this.files ??= localFiles(this.store, this.options.cache ?? cacheOptionsFromEnv(engineEnvFrom()));
    const [path] = await this.files.paths([info]);
    const engine = this.engine;
    const present = new Set(
      (
        await engine.all<{ column_name: string }>(`DESCRIBE SELECT * FROM read_parquet(${sqlString(path!)})`)
      ).map((r) => r.column_name),
    );
    // A file written before a column existed reads it as NULL.
    const columns = ['_key', '_line', ...dataColumns(dataset)].map((c) =>
      present.has(c) ? quoteIdent(c) : `CAST(NULL AS VARCHAR) AS ${quoteIdent(c)}`,
    );
    const conditions: string[] = [];
    if (options.sources) conditions.push(`list_contains(${sqlStringList(options.sources)}, _key)`);
    const params: Record<string, string> = {};
    for (const [i, [field, value]] of Object.entries(options.where ?? {}).entries()) {
      if (!present.has(field)) {
        if (!dataColumns(dataset).includes(field)) throw new Error(`${dataset} has no column ${field}`);
        return; // NULL everywhere: nothing equals the value
      }
      conditions.push(`${quoteIdent(field)} = $w${i}`);
      params[`w${i}`] = value;
    }
    // In the order the JSON lines were written (files are sorted for the build's scans).
    const sql = `SELECT ${columns.join(', ')} FROM read_parquet(${sqlString(path!)})${
      conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : ''
    } ORDER BY _key, _line`;
    for await (const rows of engine.stream(sql, params)) {
      for (const row of rows)
        yield { key: String(row._key), line: Number(row._line), record: recordFromRow(dataset, row) };
    }
  }

  close(): void {
    if (this.ownsEngine) this.engine?.close();
    this.engine = undefined;
  }
}

/** The records of one raw part (JSON Lines or Parquet). */
export async function* readRawRecords(
  store: ObjectStore,
  dataset: Dataset,
  part: ObjectInfo | string,
  options: RawReadOptions & { engine?: Engine; settings?: EngineSettings; cache?: CacheOptions } = {},
): AsyncGenerator<RawRecord> {
  const reader = new RawPartReader(store, options);
  try {
    yield* reader.read(dataset, part, options);
  } finally {
    reader.close();
  }
}

async function* readJsonlPart(
  store: ObjectStore,
  key: string,
  options: RawReadOptions,
): AsyncGenerator<RawRecord> {
  const where = Object.entries(options.where ?? {});
  for await (const { text, line } of readLines(store, key)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      const error = new JsonlLineError(key, line, 'not valid JSON');
      if (!options.onCorrupt) throw error;
      options.onCorrupt(error);
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      const error = new JsonlLineError(key, line, 'not a JSON object');
      if (!options.onCorrupt) throw error;
      options.onCorrupt(error);
      continue;
    }
    const record = value as Record<string, unknown>;
    if (where.length > 0 && !where.every(([f, v]) => record[f] === v)) continue;
    yield { key, line, record };
  }
}

/**
 * Rows streamed to JavaScript need little engine memory, while the reader's caller (the people
 * snapshot) holds a lot of its own: a small limit keeps the two from adding up.
 */
const STREAMING_MEMORY_LIMIT = '256MB';

function streamingSettings(settings: EngineSettings): EngineSettings {
  return withMemoryCap(settings, STREAMING_MEMORY_LIMIT);
}
