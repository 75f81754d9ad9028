import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DATASETS, type Dataset } from '../contract/records.js';
import {
  defaultThreads,
  Engine,
  EngineError,
  type EngineSettings,
  parseBytes,
  sqlString,
} from '../engine/duckdb.js';
import { readableParts } from '../engine/gzip-lines.js';
import { type CacheOptions, localFiles } from '../engine/local-files.js';
import { faultPoint } from '../fault-point.js';
import { writeJsonl } from '../storage/jsonl.js';
import { keys, partitionDay } from '../storage/keys.js';
import { type ObjectInfo, type ObjectStore, statObject, writeJson } from '../storage/object-store.js';
import { isClosed } from './config.js';
import { DEFAULT_CACHE_MAX_MB, engineEnvFrom, engineSettingsFromEnv } from './engine-settings.js';
import { COMPACTED_NAME_RE } from './listing.js';
import {
  COMPACTION_MANIFEST_VERSION,
  type CompactedFile,
  type CompactionManifest,
  compactionManifestKey,
  readCompactionManifest,
} from './parts.js';
import { writeDayParquet } from './to-parquet.js';

/**
 * Compaction: a closed day's JSON Lines parts become one Parquet file (zstd), so the build reads a
 * few column files instead of thousands of small gzip parts. The steps are ordered so that a
 * process killed at any point leaves every record readable exactly once through `listDayParts`,
 * and a rerun finishes or undoes what was left:
 *
 * 1. the pending parts (JSON Lines no manifest entry holds) are checked and read by the SQL engine;
 *    lines that are not records go to a quarantine object;
 * 2. the Parquet file is written locally, uploaded to a deterministic key
 *    (`part-c-<first 16 hex of sha256 of the sorted source keys>.parquet`) and verified by reading
 *    the stored object back (rows per source equal to what the engine read);
 * 3. only then is the day's manifest (`_compacted.json`) written with an entry for the file;
 * 4. only then are the JSON Lines sources deleted.
 *
 * Readers ignore a Parquet file the manifest does not list (so a file uploaded by a killed run is
 * invisible; the rerun deletes it), and skip a JSON Lines part a listed file holds (so sources a
 * killed run did not delete are not read twice; the rerun deletes them).
 *
 * One compactor per dataset-day at a time: with a `locker` (Redis in the worker and the CLI when
 * Redis answers) a second one stops with an error instead of racing the first.
 */

export interface CompactionLocker {
  withLock<T>(
    name: string,
    fn: (held?: { assertHeld?: () => void }) => Promise<T>,
    /** `doing`: what the busy error says the other holder does. */
    options?: { waitMs?: number; doing?: string },
  ): Promise<T>;
}

export interface CompactionLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface CompactionRuntime {
  /** An open engine to use (left open); otherwise one is opened with `settings` and closed. */
  engine?: Engine;
  settings?: EngineSettings;
  /** `CACHE_DIR`: S3 objects are cached under `objects/`, scratch files go to `tmp/`. */
  cacheDir?: string;
  cacheMaxBytes?: number;
  locker?: CompactionLocker;
  log?: CompactionLog;
}

export interface CompactDayOptions extends CompactionRuntime {
  store: ObjectStore;
  dataset: Dataset;
  day: string;
  now?: Date;
}

export interface CompactDayReport {
  dataset: Dataset;
  day: string;
  /** `compacted`: a Parquet file was written; `nothing_to_do`: no pending JSON Lines part. */
  status: 'compacted' | 'nothing_to_do';
  /** The Parquet file written by this run. */
  parquet: string | null;
  parts_compacted: number;
  rows: number;
  malformed_lines: number;
  /** Stored size of the JSON Lines parts compacted, and of the Parquet file that replaced them. */
  bytes_before: number;
  bytes_after: number;
  /** Sources rewritten before the engine read them (gzip break, over-long lines, bad UTF-8). */
  salvaged: string[];
  /** What an earlier, interrupted run left and this run cleaned up. */
  cleanup: {
    /** Parquet and quarantine objects no manifest entry names (unfinished writes): deleted. */
    orphans_deleted: string[];
    /** JSON Lines parts a listed Parquet file holds that were still there: deleted. */
    sources_deleted: number;
    /** Manifest entries whose Parquet file was missing: removed from the manifest. */
    entries_dropped: string[];
  };
  seconds: number;
}

/** Most day-datasets compacted at once (each lane holds an engine and a day's scratch files). */
const MAX_LANES = 4;

/** Most malformed lines a manifest entry names (all of them are in the quarantine object). */
export const MAX_MANIFEST_MALFORMED = 100;

/** The deterministic name part of the file that compacts exactly these sources. */
export function compactionId(sources: readonly string[]): string {
  return createHash('sha256')
    .update([...sources].sort().join('\n'))
    .digest('hex')
    .slice(0, 16);
}

/** Compacts the pending JSON Lines parts of one day (closed or not: the caller decides). */
export async function compactDay(options: CompactDayOptions): Promise<CompactDayReport> {
  const { locker, dataset, day } = options;
  if (!locker) return compactDayLocked(options, undefined);
  return locker.withLock(`compaction-${dataset}-${day}`, (held) => compactDayLocked(options, held), {
    doing: `compacting ${dataset} of ${day}`,
  });
}

async function compactDayLocked(
  options: CompactDayOptions,
  held: { assertHeld?: () => void } | undefined,
): Promise<CompactDayReport> {
  const { store, dataset, day } = options;
  const started = process.hrtime.bigint();
  const prefix = keys.rawPrefix(dataset, day);
  const report: CompactDayReport = {
    dataset,
    day,
    status: 'nothing_to_do',
    parquet: null,
    parts_compacted: 0,
    rows: 0,
    malformed_lines: 0,
    bytes_before: 0,
    bytes_after: 0,
    salvaged: [],
    cleanup: { orphans_deleted: [], sources_deleted: 0, entries_dropped: [] },
    seconds: 0,
  };
  const finish = () => {
    report.seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return report;
  };

  // --- what an interrupted run left -----------------------------------------------------------
  const listing: ObjectInfo[] = [];
  for await (const info of store.list(prefix)) listing.push(info);
  const present = new Map(listing.map((o) => [o.key, o]));
  let manifest: CompactionManifest = (await readCompactionManifest(store, dataset, day)) ?? {
    version: COMPACTION_MANIFEST_VERSION,
    dataset,
    day,
    files: [],
  };
  const missing = manifest.files.filter((f) => !present.has(f.key));
  if (missing.length > 0) {
    // A listed file that is gone (deleted by hand?) would hide its sources from every reader.
    manifest = { ...manifest, files: manifest.files.filter((f) => present.has(f.key)) };
    await writeJson(store, compactionManifestKey(dataset, day), manifest);
    report.cleanup.entries_dropped = missing.map((f) => f.key);
    options.log?.warn(
      { dataset, day, files: report.cleanup.entries_dropped },
      'compaction manifest named missing Parquet files; their entries were removed',
    );
  }
  const listedIds = new Set<string>();
  const compactedSources = new Set<string>();
  for (const f of manifest.files) {
    const id = COMPACTED_NAME_RE.exec(f.key)?.[1];
    if (id) listedIds.add(id);
    for (const s of f.sources) compactedSources.add(s);
  }
  const listedKeys = new Set(manifest.files.map((f) => f.key));
  const orphans = listing
    .filter((o) => COMPACTED_NAME_RE.test(o.key) && o.key.endsWith('.parquet') && !listedKeys.has(o.key))
    .map((o) => o.key);
  for await (const q of store.list(keys.quarantinePrefix(dataset, day))) {
    const id = COMPACTED_NAME_RE.exec(q.key)?.[1];
    if (id && !listedIds.has(id)) orphans.push(q.key);
  }
  if (orphans.length > 0) {
    await store.delete(orphans);
    report.cleanup.orphans_deleted = orphans;
  }
  const leftover = listing.filter((o) => o.key.endsWith('.jsonl.gz') && compactedSources.has(o.key));
  if (leftover.length > 0) {
    await store.delete(leftover.map((o) => o.key));
    report.cleanup.sources_deleted = leftover.length;
  }

  // --- the pending parts ----------------------------------------------------------------------
  const pending = listing.filter((o) => o.key.endsWith('.jsonl.gz') && !compactedSources.has(o.key));
  if (pending.length === 0) return finish();
  const sources = pending.map((o) => o.key).sort();
  const id = compactionId(sources);
  const parquetKey = `${prefix}part-c-${id}.parquet`;
  const quarantineKey = keys.quarantinePart(dataset, day, `c-${id}`);

  const cacheDir = options.cacheDir ?? join(tmpdir(), 'audience-sync-cache');
  const cache: CacheOptions = {
    dir: cacheDir,
    maxBytes: options.cacheMaxBytes ?? DEFAULT_CACHE_MAX_MB * 1024 * 1024,
  };
  const files = localFiles(store, cache);
  await mkdir(join(cacheDir, 'tmp'), { recursive: true });
  const scratch = await mkdtemp(join(cacheDir, 'tmp', `compact-${dataset}-${day}-`));
  const engine =
    options.engine ?? (await Engine.open(options.settings ?? engineSettingsFromEnv(engineEnvFrom())));
  try {
    const paths = await files.paths(pending);

    // 1. Parts the engine cannot read as they are get a readable copy (same line numbers).
    const readable = await readableParts(
      pending.map((info, i) => ({ key: info.key, path: paths[i]! })),
      scratch,
      { inflate: true },
    );
    for (const part of readable) {
      if (part.repaired === undefined) continue;
      report.salvaged.push(part.key);
      options.log?.warn(
        { dataset, day, part: part.key, reason: part.repaired, lines_lost: part.problems.length },
        'raw part repaired before compaction',
      );
    }
    report.salvaged.sort();

    // 2-3. The Parquet file (rows per source, and the lines that are not records), written
    // locally, then uploaded and verified as stored.
    const local = join(scratch, 'part.parquet');
    const { expected, rows, problems } = await writeDayParquet(engine, dataset, readable, local).catch(
      (error: unknown) => {
        throw error instanceof EngineError
          ? error
          : new Error(`compaction of ${prefix}: ${(error as Error).message}`);
      },
    );
    const localSize = (await stat(local)).size;
    await store.put(parquetKey, createReadStream(local), { contentType: 'application/vnd.apache.parquet' });
    faultPoint('compaction:after-parquet-upload');
    const stored = await statObject(store, parquetKey);
    if (stored.size !== localSize)
      throw new Error(
        `compaction of ${prefix}: ${parquetKey} is ${stored.size} bytes as stored, ${localSize} written`,
      );
    const [storedPath] = await files.paths([stored]);
    const readBack = await engine.all<{ _key: string; n: number }>(
      `SELECT _key, count(*) AS n FROM read_parquet(${sqlString(storedPath!)}) GROUP BY _key`,
    );
    const mismatch =
      readBack.length !== expected.size || readBack.some((r) => expected.get(r._key) !== Number(r.n));
    if (mismatch) {
      await store.delete([parquetKey]);
      throw new Error(`compaction of ${prefix}: ${parquetKey} does not hold the rows read; deleted it`);
    }

    // 4. Quarantine, then the manifest entry (the commit point), then the sources.
    if (problems.length > 0) {
      await writeJsonl(
        store,
        quarantineKey,
        problems.map((p) => ({
          dataset,
          rejected: true,
          reasons: [{ code: 'malformed_line', path: '', message: p.reason }],
          key: p.key,
          line: p.line,
          reason: p.reason,
          text: p.text,
        })),
      );
    }
    const entry: CompactedFile = {
      key: parquetKey,
      sources,
      rows,
      malformed_lines: problems.length,
      malformed: problems
        .slice(0, MAX_MANIFEST_MALFORMED)
        .map(({ key, line, reason }) => ({ key, line, reason })),
      created_at: (options.now ?? new Date()).toISOString(),
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
    };
    held?.assertHeld?.();
    await writeJson(store, compactionManifestKey(dataset, day), {
      ...manifest,
      files: [...manifest.files, entry],
    } satisfies CompactionManifest);
    faultPoint('compaction:after-manifest-write');

    held?.assertHeld?.();
    // The first source alone, so a crash test can stop between deletions.
    await store.delete(sources.slice(0, 1));
    faultPoint('compaction:mid-delete');
    if (sources.length > 1) await store.delete(sources.slice(1));

    report.status = 'compacted';
    report.parquet = parquetKey;
    report.parts_compacted = sources.length;
    report.rows = rows;
    report.malformed_lines = problems.length;
    report.bytes_before = pending.reduce((n, o) => n + o.size, 0);
    report.bytes_after = stored.size;
    options.log?.info(
      {
        dataset,
        day,
        parquet: parquetKey,
        parts: sources.length,
        rows,
        malformed_lines: problems.length,
        bytes_before: report.bytes_before,
        bytes_after: report.bytes_after,
      },
      'day compacted',
    );
    await files.trim();
    return finish();
  } finally {
    if (!options.engine) engine.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

export interface CompactClosedDaysOptions extends CompactionRuntime {
  store: ObjectStore;
  now: Date;
  graceHours: number;
  datasets?: readonly Dataset[];
  /** Called after each day, for progress output. */
  onDay?: (report: CompactDayReport) => void;
  /**
   * Start no new day after this many seconds (the refresh bounds a first run over a long
   * history this way; the days left are compacted by later runs or by `audience-sync compact`).
   */
  budgetSeconds?: number;
}

export interface CompactionReport {
  now: string;
  grace_hours: number;
  /** Days with work done (a Parquet file written or leftovers cleaned up). */
  days: CompactDayReport[];
  parts_compacted: number;
  rows: number;
  malformed_lines: number;
  bytes_before: number;
  bytes_after: number;
  /** Closed days with parts to compact that were left for a later run (`budgetSeconds`). */
  deferred_days: number;
  seconds: number;
}

/**
 * Every closed day of the datasets that has JSON Lines parts (pending, or compacted but not yet
 * deleted), or Parquet files without a manifest: one listing per dataset decides which. Newest
 * days first (datasets in turn), so the day that just closed is compacted even while a long
 * history is still being worked through under a time budget.
 */
export async function compactClosedDays(options: CompactClosedDaysOptions): Promise<CompactionReport> {
  const started = process.hrtime.bigint();
  const report: CompactionReport = {
    now: options.now.toISOString(),
    grace_hours: options.graceHours,
    days: [],
    parts_compacted: 0,
    rows: 0,
    malformed_lines: 0,
    bytes_before: 0,
    bytes_after: 0,
    deferred_days: 0,
    seconds: 0,
  };
  const work: { dataset: Dataset; day: string }[] = [];
  for (const dataset of options.datasets ?? DATASETS)
    for (const day of await daysToCompact(options.store, dataset, options.now, options.graceHours))
      work.push({ dataset, day });
  work.sort((a, b) => (a.day !== b.day ? (a.day < b.day ? 1 : -1) : 0));
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
  const done: CompactDayReport[] = [];
  let next = 0;
  // One engine per lane (up to MAX_LANES), the threads and the memory limit shared out between
  // them. A gzip part is read by one thread whatever the engine has, so small engines each on its
  // own day keep the cores busier than one engine with all of them, and each lane's JavaScript
  // check of its parts runs while the other lanes' engines work.
  const lane = async (engine: Engine) => {
    while (next < work.length) {
      if (options.budgetSeconds !== undefined && elapsed() >= options.budgetSeconds) return;
      const { dataset, day } = work[next++]!;
      const d = await compactDay({ ...options, dataset, day, engine });
      options.onDay?.(d);
      done.push(d);
    }
  };
  if (options.engine) await lane(options.engine);
  else {
    const settings = options.settings ?? engineSettingsFromEnv(engineEnvFrom());
    const threads = settings.threads ?? defaultThreads();
    const lanes = Math.max(1, Math.min(work.length, threads, MAX_LANES));
    const limit = settings.memoryLimit ? parseBytes(settings.memoryLimit) : undefined;
    const engines: Engine[] = [];
    try {
      for (let i = 0; i < lanes; i++)
        engines.push(
          await Engine.open({
            ...settings,
            threads: Math.max(1, Math.floor(threads / lanes)),
            ...(limit ? { memoryLimit: `${Math.max(64, Math.floor(limit / lanes / 2 ** 20))}MB` } : {}),
          }),
        );
      await Promise.all(engines.map(lane));
    } finally {
      for (const e of engines) e.close();
    }
  }
  if (next < work.length) {
    report.deferred_days = work.length - next;
    options.log?.warn(
      { deferred_days: report.deferred_days, budget_seconds: options.budgetSeconds },
      'compaction time budget used up; the remaining closed days are left for the next run',
    );
  }
  // In the order the work was listed (lanes finish in any order).
  const order = new Map(work.map((w, i) => [`${w.dataset}/${w.day}`, i]));
  done.sort((a, b) => order.get(`${a.dataset}/${a.day}`)! - order.get(`${b.dataset}/${b.day}`)!);
  for (const d of done) {
    const cleaned =
      d.cleanup.orphans_deleted.length > 0 ||
      d.cleanup.sources_deleted > 0 ||
      d.cleanup.entries_dropped.length > 0;
    if (d.status === 'nothing_to_do' && !cleaned) continue;
    report.days.push(d);
    report.parts_compacted += d.parts_compacted;
    report.rows += d.rows;
    report.malformed_lines += d.malformed_lines;
    report.bytes_before += d.bytes_before;
    report.bytes_after += d.bytes_after;
  }
  report.seconds = elapsed();
  return report;
}

/** Closed days of a dataset that may have something to compact or clean up, in day order. */
export async function daysToCompact(
  store: ObjectStore,
  dataset: Dataset,
  now: Date,
  graceHours: number,
): Promise<string[]> {
  const days = new Map<string, { jsonl: boolean; parquet: boolean; manifest: boolean }>();
  for await (const info of store.list(keys.rawPrefix(dataset))) {
    const day = partitionDay(info.key);
    if (!day || !isClosed(day, now, graceHours)) continue;
    const d = days.get(day) ?? { jsonl: false, parquet: false, manifest: false };
    if (info.key.endsWith('.jsonl.gz')) d.jsonl = true;
    else if (info.key.endsWith('.parquet')) d.parquet = true;
    else if (info.key === compactionManifestKey(dataset, day)) d.manifest = true;
    days.set(day, d);
  }
  return [...days.entries()]
    .filter(([, d]) => d.jsonl || (d.parquet && !d.manifest))
    .map(([day]) => day)
    .sort();
}
