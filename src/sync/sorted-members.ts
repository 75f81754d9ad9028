import {
  cacheOptionsFromEnv,
  engineEnvFrom,
  engineSettingsFromEnv,
  withMemoryCap,
} from '../compaction/engine-settings.js';
import type { MemberRecord } from '../contract/records.js';
import { Engine, sqlString } from '../engine/duckdb.js';
import { localFiles } from '../engine/local-files.js';
import { keys } from '../storage/keys.js';
import { type ObjectStore, statObject } from '../storage/object-store.js';

/**
 * An audience's members in `customer_id` order, for the sync's merge with the people snapshot and
 * the ledger. The build writes members in rank order (the documented contract); the SQL engine
 * sorts them here, spilling to disk beyond its memory limit, so a 10-million-member audience costs
 * the sync no memory of its own.
 */
export interface SortedMembers {
  /** Everyone in the snapshot, both groups. */
  total: number;
  rows: AsyncGenerator<MemberRecord>;
  close(): Promise<void>;
}

/**
 * The sort streams rows to JavaScript, where the merge runs: the engine needs little memory, and a
 * small limit keeps its share of the sync process small (an explicit lower DUCKDB_MEMORY_LIMIT wins).
 */
const SYNC_ENGINE_MEMORY = '256MB';

const COLUMNS = `{customer_id: 'VARCHAR', "group": 'VARCHAR', score: 'DOUBLE', rank: 'BIGINT', entered: 'VARCHAR'}`;

export async function sortedMembers(
  store: ObjectStore,
  audienceId: string,
  day: string,
): Promise<SortedMembers> {
  const env = engineEnvFrom();
  const files = localFiles(store, cacheOptionsFromEnv(env));
  // Stat first: a missing snapshot is an ObjectNotFoundError naming the key, as when it was read directly.
  const [path] = await files.paths([await statObject(store, keys.members(audienceId, day))]);
  const engine = await Engine.open(withMemoryCap(engineSettingsFromEnv(env), SYNC_ENGINE_MEMORY));
  const source = `read_json(${sqlString(path!)}, format = 'newline_delimited', columns = ${COLUMNS})`;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    engine.close();
    await files.trim();
  };
  try {
    // Loaded into a temporary table, then sorted as it streams out: a sort fed straight by read_json
    // ran out of memory (10M members under the 256 MB limit), where sorting a table spills to disk.
    await engine.run(
      `CREATE TEMP TABLE sorted_members AS SELECT customer_id, "group", score, rank, entered FROM ${source}`,
    );
    const [count] = await engine.all<{ n: number }>('SELECT count(*)::BIGINT AS n FROM sorted_members');
    async function* rows(): AsyncGenerator<MemberRecord> {
      try {
        for await (const chunk of engine.stream<MemberRecord>(
          'SELECT customer_id, "group", score, rank, entered FROM sorted_members ORDER BY customer_id',
        )) {
          yield* chunk;
        }
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
