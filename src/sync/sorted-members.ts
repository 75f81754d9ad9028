import {
  cacheOptionsFromEnv,
  engineEnvFrom,
  engineSettingsFromEnv,
  withMemoryCap,
} from '../compaction/engine-settings.js';
import type { MemberRecord } from '../contract/records.js';
import { Engine, type Row, sqlString } from '../engine/duckdb.js';
import { localFiles } from '../engine/local-files.js';
import { keys } from '../storage/keys.js';
import { type ObjectStore, statObject } from '../storage/object-store.js';

/**
 * Gzip JSON Lines objects in `customer_id` order, sorted by the SQL engine for the sync's merges:
 * an audience's members (the build writes them in rank order, the documented contract) and, once,
 * a ledger written by an earlier version. The engine spills to disk beyond its memory limit, so a
 * 10-million-member audience costs the sync no memory of its own.
 */
export interface SortedRows<T> {
  /** Rows in the object. */
  total: number;
  rows: AsyncGenerator<T>;
  close(): Promise<void>;
}

/**
 * The sort streams rows to JavaScript, where the merge runs: the engine needs little memory, and a
 * small limit keeps its share of the sync process small (an explicit lower DUCKDB_MEMORY_LIMIT wins).
 */
const SYNC_ENGINE_MEMORY = '256MB';

/**
 * The rows of `key` (read with DuckDB `read_json` `columns`) by `customer_id`. Loaded into a
 * temporary table, then sorted as they stream out: a sort fed straight by read_json ran out of
 * memory (10M members under the 256 MB limit), where sorting a table spills to disk.
 */
export async function sortedByCustomerId<T extends Row>(
  store: ObjectStore,
  key: string,
  columns: string,
): Promise<SortedRows<T>> {
  const env = engineEnvFrom();
  const files = localFiles(store, cacheOptionsFromEnv(env));
  // Stat first: a missing object is an ObjectNotFoundError naming the key, as when read directly.
  const [path] = await files.paths([await statObject(store, key)]);
  const engine = await Engine.open(withMemoryCap(engineSettingsFromEnv(env), SYNC_ENGINE_MEMORY));
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    engine.close();
    await files.trim();
  };
  try {
    await engine.run(
      `CREATE TEMP TABLE sorted_rows AS SELECT * FROM read_json(${sqlString(path!)}, format = 'newline_delimited', columns = ${columns})`,
    );
    const [count] = await engine.all<{ n: number }>('SELECT count(*)::BIGINT AS n FROM sorted_rows');
    async function* rows(): AsyncGenerator<T> {
      try {
        for await (const chunk of engine.stream<T>('SELECT * FROM sorted_rows ORDER BY customer_id'))
          yield* chunk;
      } finally {
        await close();
      }
    }
    return { total: Number(count?.n ?? 0), rows: rows(), close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** `traits` (the values an audience writes back) mix strings, numbers and nulls: read as JSON text. */
const MEMBER_COLUMNS = `{customer_id: 'VARCHAR', "group": 'VARCHAR', score: 'DOUBLE', rank: 'BIGINT', entered: 'VARCHAR', traits: 'JSON'}`;

/** An audience's members of `day` (both groups) in `customer_id` order. */
export async function sortedMembers(
  store: ObjectStore,
  audienceId: string,
  day: string,
): Promise<SortedRows<MemberRecord>> {
  const sorted = await sortedByCustomerId<MemberRecord & { traits?: unknown }>(
    store,
    keys.members(audienceId, day),
    MEMBER_COLUMNS,
  );
  async function* rows(): AsyncGenerator<MemberRecord> {
    for await (const { traits, ...member } of sorted.rows)
      yield typeof traits === 'string'
        ? { ...member, traits: JSON.parse(traits) as MemberRecord['traits'] }
        : (member as MemberRecord);
  }
  return { total: sorted.total, rows: rows(), close: () => sorted.close() };
}
