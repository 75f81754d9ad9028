import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DayParts } from '../compaction/parts.js';
import { type Engine, sqlString } from '../engine/duckdb.js';
import { isParquetPart } from '../engine/raw.js';
import type { MalformedLine } from '../storage/jsonl.js';
import { keys, partitionDay } from '../storage/keys.js';
import {
  listKeys,
  type ObjectInfo,
  type ObjectStore,
  objectVersion,
  readJsonIfExists,
  writeJson,
} from '../storage/object-store.js';
import type { RecordDataset } from './sql/plan.js';

/**
 * The relevant-record cache: for each raw file of a build's window, the rows `<x>_relevant` keeps of
 * it (the records a selector matches, with the columns the later statements read), stored as
 * `cache/relevant/<dataset>/dt=D/<file stem>-<fingerprint>.parquet`; for a JSON Lines part, also
 * `….lines.json`, its line count and malformed lines (what loading it would have reported).
 *
 * `<x>_relevant` tests each record on its own (plan.ts marks it `perRecord`), and a JSON Lines
 * part's line numbers depend on that part alone (engine/jsonl-load.ts), so the statement's rows
 * from one file depend on that file and the statement only. A build of the next day reads the
 * entries of what it shares with yesterday's window — 28 compacted days, and the open day it read
 * as JSON Lines yesterday too — instead of loading and testing those records again; it reads only
 * the files without one (the day compacted since, the parts that arrived since). Every step after
 * it — de-duplication across days, identity, windows, aggregates — runs on the union as before, so
 * the result is the same whether an entry was read or its file was.
 *
 * The fingerprint is a digest of the statement's text and of the file's key and version (ETag, or
 * size and modification time), so a changed configuration, a rewritten file (an erasure) or a new
 * format never reads an old entry. A build that writes entries also deletes the ones its window
 * will not read again: other versions or plans of its files, files that are gone (a part since
 * compacted), days before the window (never days after the build's day, which a later build may be
 * using). An erasure deletes the whole cache (privacy/erase.ts), since entries hold identifiers. An
 * entry that cannot be read is dropped and its file read instead (session.ts): the cache can cost
 * time, never a build.
 */

/**
 * Changes when what an entry holds changes in a way the statement's text does not show: how raw
 * files become `raw_<dataset>` rows (engine/jsonl-load.ts, engine/gzip-lines.ts' repairs,
 * engine/raw.ts' relations and casts), line numbering or the malformed-line rules.
 */
const ENTRY_FORMAT = 2;

/** Entries uploaded at once. */
const UPLOADS_AT_ONCE = 8;

/** What loading a JSON Lines part reported, kept beside its rows. */
export interface PartLines {
  lines: number;
  malformed: MalformedLine[];
}

export interface CacheHit {
  file: ObjectInfo;
  /** The entry's rows. */
  rows: ObjectInfo;
  /** A JSON Lines part's line count and malformed lines, read when the cache was planned. */
  lines?: PartLines;
}

export interface CacheMiss {
  file: ObjectInfo;
  rows: string;
  /** Where a JSON Lines part's `PartLines` go. */
  lines?: string;
  /** The JSON Lines parts the file holds: the `_key`s of its rows. */
  sources: readonly string[];
}

export interface RelevantCachePlan {
  dataset: RecordDataset;
  /** Files whose entries are read instead of them. */
  hits: CacheHit[];
  /** Files without an entry: read, and given one when the session writes. */
  misses: CacheMiss[];
  /** Entries no build of this window reads: deleted when the session writes. */
  stale: string[];
}

export function entryFingerprint(select: string, file: ObjectInfo): string {
  return createHash('sha256')
    .update(`${ENTRY_FORMAT}\n${select}\n${file.key}\n${objectVersion(file)}`)
    .digest('hex')
    .slice(0, 24);
}

function stemOf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1).replace(/(\.parquet|\.jsonl\.gz)$/, '');
}

function missOf(
  dataset: RecordDataset,
  select: string,
  file: ObjectInfo,
  parts: Pick<DayParts, 'parquetSources'>,
): CacheMiss {
  const entry = (kind: 'rows' | 'lines') =>
    keys.relevantCacheEntry(
      dataset,
      partitionDay(file.key)!,
      stemOf(file.key),
      entryFingerprint(select, file),
      kind,
    );
  return isParquetPart(file.key)
    ? { file, rows: entry('rows'), sources: parts.parquetSources.get(file.key) ?? [] }
    : { file, rows: entry('rows'), lines: entry('lines'), sources: [file.key] };
}

/**
 * Which of `parts`' files have an entry for `select`: one listing of the dataset's cache, and the
 * `.lines.json` of each JSON Lines hit (one that cannot be read makes its part a miss).
 */
export async function planRelevantCache(
  store: ObjectStore,
  dataset: RecordDataset,
  select: string,
  parts: Pick<DayParts, 'parquet' | 'jsonl' | 'parquetSources'>,
  day: string,
): Promise<RelevantCachePlan> {
  const existing = new Map<string, ObjectInfo>();
  for await (const o of store.list(keys.relevantCachePrefix(dataset))) existing.set(o.key, o);
  const plan: RelevantCachePlan = { dataset, hits: [], misses: [], stale: [] };
  const wanted = new Set<string>();
  const candidates = [...parts.parquet, ...parts.jsonl].map((file) => missOf(dataset, select, file, parts));
  // The parts' `.lines.json`, read together: a day's window has a few dozen.
  const lines = await Promise.all(
    candidates.map((m) =>
      m.lines && existing.has(m.rows) && existing.has(m.lines) ? readPartLines(store, m.lines) : undefined,
    ),
  );
  for (const [i, miss] of candidates.entries()) {
    wanted.add(miss.rows);
    if (miss.lines) wanted.add(miss.lines);
    const rows = existing.get(miss.rows);
    const read = lines[i];
    if (rows && (!miss.lines || read))
      plan.hits.push({ file: miss.file, rows, ...(read ? { lines: read } : {}) });
    else plan.misses.push(miss);
  }
  plan.stale = unwanted(existing.keys(), wanted, day);
  return plan;
}

/**
 * The entries a build of `day` deletes: those it does not want, of days up to its own (never
 * later days, which a later build may be using).
 */
function unwanted(entries: Iterable<string>, wanted: ReadonlySet<string>, day: string): string[] {
  return [...entries].filter((k) => !wanted.has(k) && (partitionDay(k) ?? '') <= day);
}

/** The entries of a dataset no rule reads any more: a build of `day` wants none of them. */
export async function unusedEntries(
  store: ObjectStore,
  dataset: RecordDataset,
  day: string,
): Promise<string[]> {
  return unwanted(await listKeys(store, keys.relevantCachePrefix(dataset)), new Set(), day);
}

async function readPartLines(store: ObjectStore, key: string): Promise<PartLines | undefined> {
  try {
    const v = await readJsonIfExists<PartLines>(store, key);
    return v && Number.isInteger(v.lines) && Array.isArray(v.malformed) ? v : undefined;
  } catch {
    return undefined; // not JSON: the part is read again, and the entry written again
  }
}

/** Turns every hit into a miss again (an entry could not be read); returns those new misses. */
export function forgetHits(
  plan: RelevantCachePlan,
  select: string,
  parts: Pick<DayParts, 'parquetSources'>,
): CacheMiss[] {
  const missed = plan.hits.map((hit) => missOf(plan.dataset, select, hit.file, parts));
  plan.misses.push(...missed);
  plan.hits = [];
  return missed;
}

/**
 * Writes the entries of `misses` from `table` (the session's `<x>_relevant` before the entries read
 * are added: the rows of the files read), in one partitioned pass. A file none of whose records is
 * relevant gets an empty entry, so it is not read again either. `lines` gives what loading each
 * JSON Lines part reported. Returns the number of entries written.
 */
export async function writeRelevantCache(
  engine: Engine,
  store: ObjectStore,
  scratch: string,
  table: string,
  misses: readonly CacheMiss[],
  lines: (key: string) => PartLines,
): Promise<number> {
  if (misses.length === 0) return 0;
  const dir = join(scratch, `relevant-${table}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  try {
    const pairs = misses.flatMap((m, i) => m.sources.map((s) => `(${sqlString(s)}, ${i})`));
    if (pairs.length > 0)
      await engine.run(
        `COPY (SELECT r.*, m.entry AS _entry FROM ${table} r JOIN (VALUES ${pairs.join(', ')}) m(source, entry) ON r._key = m.source)
         TO ${sqlString(join(dir, 'rows'))} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, PARTITION_BY (_entry))`,
      );
    let empty: string | undefined;
    const files: string[] = [];
    for (const i of misses.keys()) {
      const folder = join(dir, 'rows', `_entry=${i}`);
      const written = (await readdir(folder).catch(() => [] as string[])).filter((f) =>
        f.endsWith('.parquet'),
      );
      if (written.length === 1) files.push(join(folder, written[0]!));
      else if (written.length === 0) {
        if (!empty) {
          empty = join(dir, 'empty.parquet');
          await engine.run(
            `COPY (SELECT * FROM ${table} WHERE false) TO ${sqlString(empty)} (FORMAT parquet)`,
          );
        }
        files.push(empty);
      } else {
        // The engine split one partition over several files: one entry is one file.
        const file = join(dir, `entry-${i}.parquet`);
        await engine.run(
          // Without hive partitioning: the folder's `_entry=i` would come back as a column.
          `COPY (SELECT * FROM read_parquet(${sqlString(join(folder, '*.parquet'))}, hive_partitioning = false)) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)`,
        );
        files.push(file);
      }
    }
    // Several uploads at a time: each waits mostly on the store (a local store syncs every object
    // to disk; a first build at 1M x 30 writes about 200 entries, 11 s of its events one at a time
    // beside the people fold).
    const queue = [...misses.keys()];
    const upload = async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        const miss = misses[i]!;
        // The rows first: a part's entry is read only when both are there.
        await store.put(miss.rows, createReadStream(files[i]!));
        if (miss.lines) await writeJson(store, miss.lines, lines(miss.file.key));
      }
    };
    await Promise.all(Array.from({ length: Math.min(UPLOADS_AT_ONCE, misses.length) }, upload));
    return misses.length;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
