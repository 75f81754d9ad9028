import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DayParts } from '../compaction/parts.js';
import { type Engine, sqlString } from '../engine/duckdb.js';
import { keys, partitionDay } from '../storage/keys.js';
import type { ObjectInfo, ObjectStore } from '../storage/object-store.js';
import type { RecordDataset } from './sql/plan.js';

/**
 * The relevant-record cache: for each compacted Parquet file, the rows `<x>_relevant` keeps of it
 * (the records a selector matches, with the columns the later statements read), stored as
 * `cache/relevant/<dataset>/dt=D/<file stem>-<fingerprint>.parquet`.
 *
 * `<x>_relevant` tests each record on its own (plan.ts marks it `perRecord`), so its rows from one
 * file depend on that file and on the statement alone: a build of the next day reads the entries of
 * the 28 days it shares with yesterday's window instead of testing their millions of records again,
 * and tests only the files without one (the day compacted since, the open days' JSON Lines). Every
 * step after it — de-duplication across days, identity, windows, aggregates — runs on the union as
 * before, so the result is the same whether an entry was read or its file was.
 *
 * The fingerprint is a digest of the statement's text and of the file's key and version (ETag, or
 * size and modification time), so a changed configuration, a rewritten file (an erasure) or a new
 * format never reads an old entry. A build that writes entries also deletes the ones its window
 * will not read again: other versions or plans of its files, files that are gone, days before the
 * window (never days after the build's day, which a later build may be using). An erasure deletes
 * the whole cache (privacy/erase.ts), since entries hold identifiers. An entry the engine cannot
 * read is dropped and its file read instead (session.ts): the cache can cost time, never a build.
 */

/** Changes when what an entry holds changes in a way the statement's text does not show. */
const ENTRY_FORMAT = 1;

export interface RelevantCachePlan {
  dataset: RecordDataset;
  /** Entries to read instead of their Parquet files. */
  hits: ObjectInfo[];
  /** The Parquet files those entries stand for, in the same order. */
  hitFiles: ObjectInfo[];
  /** Parquet files without an entry: read, and given one when the session writes. */
  misses: CacheMiss[];
  /** Entries no build of this window reads: deleted when the session writes. */
  stale: string[];
}

export interface CacheMiss {
  file: ObjectInfo;
  entry: string;
  /** The JSON Lines parts the file holds: the `_key`s of its rows. */
  sources: readonly string[];
}

export function entryFingerprint(select: string, file: ObjectInfo): string {
  const version = file.etag ?? `${file.size}-${file.lastModified?.getTime() ?? ''}`;
  return createHash('sha256')
    .update(`${ENTRY_FORMAT}\n${select}\n${file.key}\n${version}`)
    .digest('hex')
    .slice(0, 24);
}

function stemOf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1).replace(/\.parquet$/, '');
}

function entryOf(dataset: RecordDataset, select: string, file: ObjectInfo): string {
  return keys.relevantCacheEntry(
    dataset,
    partitionDay(file.key)!,
    stemOf(file.key),
    entryFingerprint(select, file),
  );
}

/** Which of `parts`' Parquet files have an entry for `select` (one listing of the dataset's cache). */
export async function planRelevantCache(
  store: ObjectStore,
  dataset: RecordDataset,
  select: string,
  parts: Pick<DayParts, 'parquet' | 'parquetSources'>,
  day: string,
): Promise<RelevantCachePlan> {
  const existing = new Map<string, ObjectInfo>();
  for await (const o of store.list(keys.relevantCachePrefix(dataset))) existing.set(o.key, o);
  const plan: RelevantCachePlan = { dataset, hits: [], hitFiles: [], misses: [], stale: [] };
  const wanted = new Set<string>();
  for (const file of parts.parquet) {
    const entry = entryOf(dataset, select, file);
    wanted.add(entry);
    const found = existing.get(entry);
    if (found) {
      plan.hits.push(found);
      plan.hitFiles.push(file);
    } else plan.misses.push({ file, entry, sources: parts.parquetSources.get(file.key) ?? [] });
  }
  plan.stale = [...existing.keys()].filter((k) => !wanted.has(k) && (partitionDay(k) ?? '') <= day);
  return plan;
}

/** Turns every hit into a miss again (its entry could not be read); returns the entries dropped. */
export function forgetHits(plan: RelevantCachePlan, parts: Pick<DayParts, 'parquetSources'>): string[] {
  const dropped = plan.hits.map((h) => h.key);
  for (const [i, file] of plan.hitFiles.entries())
    plan.misses.push({ file, entry: plan.hits[i]!.key, sources: parts.parquetSources.get(file.key) ?? [] });
  plan.hits = [];
  plan.hitFiles = [];
  return dropped;
}

/**
 * Writes the entries of `plan`'s misses from `table` (the session's `<x>_relevant`, which holds
 * their rows beside the others'), in one partitioned pass, then deletes the stale entries. A file
 * none of whose records is relevant gets an empty entry, so it is not tested again either.
 * Returns the number of entries written.
 */
export async function writeRelevantCache(
  engine: Engine,
  store: ObjectStore,
  scratch: string,
  table: string,
  plan: RelevantCachePlan,
): Promise<number> {
  const dir = join(scratch, `relevant-${table}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  try {
    const pairs = plan.misses.flatMap((m, i) => m.sources.map((s) => `(${sqlString(s)}, ${i})`));
    if (pairs.length > 0)
      await engine.run(
        `COPY (SELECT r.*, m.entry AS _entry FROM ${table} r JOIN (VALUES ${pairs.join(', ')}) m(source, entry) ON r._key = m.source)
         TO ${sqlString(join(dir, 'rows'))} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, PARTITION_BY (_entry))`,
      );
    let empty: string | undefined;
    for (const [i, miss] of plan.misses.entries()) {
      const folder = join(dir, 'rows', `_entry=${i}`);
      const written = (await readdir(folder).catch(() => [] as string[])).filter((f) =>
        f.endsWith('.parquet'),
      );
      let file: string;
      if (written.length === 1) file = join(folder, written[0]!);
      else if (written.length === 0) {
        if (!empty) {
          empty = join(dir, 'empty.parquet');
          await engine.run(
            `COPY (SELECT * FROM ${table} WHERE false) TO ${sqlString(empty)} (FORMAT parquet)`,
          );
        }
        file = empty;
      } else {
        // The engine split one partition over several files: one entry is one file.
        file = join(dir, `entry-${i}.parquet`);
        await engine.run(
          `COPY (SELECT * FROM read_parquet(${sqlString(join(folder, '*.parquet'))})) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)`,
        );
      }
      await store.put(miss.entry, createReadStream(file));
    }
    if (plan.stale.length > 0) await store.delete(plan.stale);
    return plan.misses.length;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
