import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { type Engine, EngineError, sqlString } from '../engine/duckdb.js';
import { type LocalFiles, pathsOf } from '../engine/local-files.js';
import { peopleSnapshotRelation } from '../engine/raw.js';
import { type PeopleSnapshotManifest, peopleManifestKey, type SnapshotChanges } from '../people/snapshot.js';
import { keys, partitionDay } from '../storage/keys.js';
import {
  listKeys,
  type ObjectInfo,
  type ObjectStore,
  objectVersion,
  readJsonIfExists,
  statObject,
} from '../storage/object-store.js';
import { entryFingerprint } from './relevant-cache.js';
import { duckdb } from './sql/dialect.js';

/**
 * The people cache: the build's `people` table (identity columns and person conditions, one row
 * per snapshot line: plan.ts `identityStatements`) of one day's snapshot under one plan, stored as
 * `cache/people/dt=D/people-<fingerprint>.parquet`. Each row depends on its snapshot line alone, and
 * a daily fold changes a few percent of the lines and says which (its manifest's `changes`,
 * people/snapshot.ts), so the next day's table is yesterday's entry without the people the fold
 * changed or removed, plus the rows of their new lines: at 1M people, instead of extracting fields from 332 MB of JSON (2.6–2.8 s of the
 * daily build's critical path, 2026-12-07) the engine reads a 7 MB entry and 40,000 lines.
 *
 * The fingerprint is a digest of the statement, of how the snapshot becomes `people_snapshot`, and
 * of the snapshot object's key and version: a rewritten snapshot (an erasure, a forced rebuild) or
 * another plan's person conditions never read an old entry. An erasure deletes the whole cache
 * (privacy/erase.ts): entries hold email addresses. An entry that cannot be read is given up and
 * the table built from the snapshot: the cache can cost time, never a build.
 */

/** Changes when an entry's rows change in a way the statement's text does not show. */
const ENTRY_FORMAT = 1;

/** How the session got `people`: an entry of its day, the base's entry and the fold's delta, or the snapshot. */
export type PeopleSource = 'entry' | 'delta' | 'snapshot';

export interface PeopleCacheResult {
  source: PeopleSource;
  /** Whether an entry for the day was written. */
  written: boolean;
  /** Why the cache could not be used or written, when it could not (the build went on). */
  warning?: string;
}

export function peopleEntryKey(select: string, snapshot: ObjectInfo): string {
  const fingerprint = entryFingerprint(
    `people-cache ${ENTRY_FORMAT}\n${peopleSnapshotRelation('')}\n${select}`,
    snapshot,
  );
  return keys.peopleCacheEntry(partitionDay(snapshot.key)!, fingerprint);
}

/**
 * Whether the snapshot of `day` has a people cache entry, under some plan. When a fold's base has
 * one, the new snapshot will likely be read through the cache, and the build has the fold skip the
 * uncompressed copy that only a read of the whole snapshot needs (1,000,000 people: 1.7–1.9 s of
 * the fold, 2026-12-07). When the entry turns out not to fit the plan, the session reads the stored
 * snapshot instead, a little slower.
 */
export async function hasPeopleCacheEntry(store: ObjectStore, day: string): Promise<boolean> {
  for await (const _ of store.list(keys.peopleCachePrefix(day))) return true;
  return false;
}

export interface CreatePeopleOptions {
  engine: Engine;
  store: ObjectStore;
  files: LocalFiles;
  inUse: Map<string, string>;
  scratch: string;
  day: string;
  /** The day's stored snapshot (the entry's fingerprint holds its version). */
  snapshot: ObjectInfo;
  /** The `people` statement (it reads `people_snapshot`). */
  select: string;
  /** Binds `people_snapshot` to a local gzip JSON Lines file of snapshot lines, or to the day's snapshot. */
  bindSnapshot: (lines?: string) => Promise<void>;
  /** `read` uses entries; `add` also writes the day's; `write` also deletes the others. */
  mode: 'read' | 'add' | 'write';
}

/**
 * Creates table `people` from the cache where it can (see above), from the snapshot otherwise, and
 * writes the day's entry when `mode` allows. `people_snapshot` is left bound to the day's snapshot.
 */
export async function createPeople(options: CreatePeopleOptions): Promise<PeopleCacheResult> {
  const { engine, store, day, select, snapshot } = options;
  const notes: string[] = [];
  const todayKey = peopleEntryKey(select, snapshot);
  const entries = await listKeys(store, keys.peopleCachePrefix()).catch((error: unknown) => {
    notes.push(reason(error));
    return [] as string[];
  });

  let source: PeopleSource = 'snapshot';
  if (entries.includes(todayKey)) {
    if (await fromEntry(options, todayKey, undefined, notes)) source = 'entry';
  } else {
    // The fold's changes, relative to the base as it still is.
    const changes = (await readJsonIfExists<PeopleSnapshotManifest>(store, peopleManifestKey(day)))?.changes;
    const base =
      changes && (await statObject(store, keys.peopleSnapshot(changes.base_day)).catch(() => undefined));
    const baseKey = base && objectVersion(base) === changes!.base_version && peopleEntryKey(select, base);
    if (baseKey && entries.includes(baseKey) && (await fromEntry(options, baseKey, changes, notes)))
      source = 'delta';
  }
  if (source === 'snapshot') await engine.run(duckdb.createTable('people', select));

  let written = false;
  if (options.mode !== 'read' && source !== 'entry') {
    try {
      const local = join(options.scratch, 'people-entry.parquet');
      await engine.run(
        `COPY people TO ${sqlString(local)} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)`,
      );
      await store.put(todayKey, createReadStream(local));
      written = true;
    } catch (error) {
      notes.push(reason(error));
    }
  }
  if (options.mode === 'write') {
    // Other plans' and snapshots' entries up to this day: no later build of this plan reads them
    // (a later day's may be another build's, running after this one's day).
    const stale = entries.filter((k) => k !== todayKey && (partitionDay(k) ?? '') <= day);
    await store.delete(stale).catch((error: unknown) => notes.push(reason(error)));
  }
  return { source, written, ...(notes.length > 0 ? { warning: notes.join('; ') } : {}) };
}

/**
 * `people` from the entry `key`, with the fold's `changes` when given. False (and a note) when the
 * entry cannot be fetched or read: the caller builds the table from the snapshot instead.
 */
async function fromEntry(
  options: CreatePeopleOptions,
  key: string,
  changes: SnapshotChanges | undefined,
  notes: string[],
): Promise<boolean> {
  const { engine, store, files, inUse, select } = options;
  try {
    const [path] = await pathsOf(files, [await statObject(store, key)], inUse);
    // Without hive partitioning: a local store's path holds `dt=D`, which would come back as a column.
    const entry = `SELECT * FROM read_parquet(${sqlString(path!)}, hive_partitioning = false)`;
    if (!changes) {
      await engine.run(duckdb.createTable('people', entry));
      return true;
    }
    // The changed people's rows, by the same statement over their new lines.
    const [lines] = await pathsOf(files, [await statObject(store, changes.key)], inUse);
    await options.bindSnapshot(lines);
    try {
      await engine.run(duckdb.createTable('people_changed', select));
    } finally {
      await options.bindSnapshot();
    }
    const gone = changes.removed.map((id) => `(${sqlString(id)})`);
    const goneIds = gone.length > 0 ? `\n  UNION ALL SELECT id FROM (VALUES ${gone.join(', ')}) g(id)` : '';
    await engine.run(
      duckdb.createTable(
        'people',
        `SELECT * FROM (${entry})
WHERE customer_id NOT IN (SELECT customer_id FROM people_changed${goneIds})
UNION ALL BY NAME
SELECT * FROM people_changed`,
      ),
    );
    await engine.run('DROP TABLE people_changed');
    return true;
  } catch (error) {
    // A lack of memory is not the entry's: the statement over the snapshot would fail the same way.
    if (error instanceof EngineError && error.kind === 'out_of_memory') throw error;
    notes.push(`people cache entry ${key} not read: ${reason(error)}`);
    return false;
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
