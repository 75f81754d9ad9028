import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheOptionsFromEnv, engineEnvFrom, engineSettingsFromEnv } from '../compaction/engine-settings.js';
import { type DayParts, listRangeParts } from '../compaction/parts.js';
import { Engine, EngineError, type EngineSettings, parseBytes, sqlString } from '../engine/duckdb.js';
import { readableParts } from '../engine/gzip-lines.js';
import { loadJsonlTable } from '../engine/jsonl-load.js';
import {
  type CacheOptions,
  type LocalFiles,
  localFiles,
  namingObjects,
  pathsOf,
} from '../engine/local-files.js';
import {
  parquetColumnsSql,
  parquetRelation,
  peopleSnapshotRelation,
  previousMembersRelation,
  type RawFile,
} from '../engine/raw.js';
import { log } from '../log.js';
import { type MalformedLine, putGzipLinesFile } from '../storage/jsonl.js';
import { keys } from '../storage/keys.js';
import { type ObjectInfo, type ObjectStore, statObject } from '../storage/object-store.js';
import { type AudienceRules, buildOrder, withDependencies } from './config.js';
import { latestBuiltDay } from './members.js';
import { createPeople, type PeopleCacheResult } from './people-cache.js';
import {
  forgetHits,
  planRelevantCache,
  type RelevantCachePlan,
  unusedEntries,
  writeRelevantCache,
} from './relevant-cache.js';
import { bindScoreTables, type CheckedScoreTables, type ScoreTableReport } from './score-tables.js';
import { duckdb } from './sql/dialect.js';
import {
  type AudienceSql,
  audienceStatements,
  type BuildPlan,
  compileBuildPlan,
  type RecordDataset,
  rawColumnsRead,
  type Statement,
} from './sql/plan.js';

/**
 * An engine bound to one day's inputs: `people_snapshot`, and `raw_events` / `raw_messages` over the
 * parts of the plan's windows (Parquet for compacted days, gzip JSON Lines for the rest), with the
 * plan's shared statements run (identity, de-duplication, per-person aggregates, `features`). The
 * build, `explain` and the SQL tests all start here, so they see exactly the same data.
 */

/** Engine limits and the object cache from the environment (DUCKDB_*, CACHE_*), unless given. */
export function engineDefaults(options: {
  engine?: EngineSettings | undefined;
  cache?: CacheOptions | undefined;
}) {
  const env = options.engine && options.cache ? undefined : engineEnvFrom();
  return {
    engine: options.engine ?? engineSettingsFromEnv(env!),
    cache: options.cache ?? cacheOptionsFromEnv(env!),
  };
}

/**
 * While the build folds the people snapshot beside its session, the two engines share the memory
 * limit, 40% each, so the process stays near one limit's worth, not two. The fifth left over is
 * for what the fold holds in JavaScript meanwhile (at 1,000,000 people × 30 days, half each took
 * the first build's peak to 1,552–1,591 MiB with the default 1GB limit). Once the snapshot is
 * done the session's engine gets 80% of the limit, not all of it: the fold's garbage stays in the
 * JavaScript heap until V8 collects it, and with the whole limit on top of it the first build
 * peaked at 1,392–1,526 MiB, against 1,310 / 1,332 MiB at 80% (2026-12-06, the engine no slower).
 * A share is at least 64MB but never more than the limit itself. Undefined for a limit that is
 * not a size (DuckDB's own default, a percentage): no sharing.
 */
const FOLDING_SHARE = 0.4;
const AFTER_FOLDING_SHARE = 0.8;

export function foldingShare(settings: EngineSettings, fraction = FOLDING_SHARE): string | undefined {
  const limit = settings.memoryLimit === undefined ? undefined : parseBytes(settings.memoryLimit);
  if (limit === undefined) return undefined;
  const share = Math.max(64 * 2 ** 20, limit * fraction);
  return share >= limit ? settings.memoryLimit : `${Math.floor(share / 2 ** 20)}MB`;
}

export interface DatasetInput {
  parts: DayParts;
  /** Lines per part key (JSON Lines: counted; Parquet: from the compaction manifest). */
  lines: Map<string, number>;
  malformed: MalformedLine[];
  stats: { relevant: number; duplicates: number; unresolved: number };
  /** The relevant-record cache of the dataset's files, when the session uses it. */
  relevantCache?: RelevantCacheUse;
}

export interface RelevantCacheUse {
  plan: RelevantCachePlan;
  /** The statement the entries hold the rows of. */
  select: string;
  /** Entries read instead of their files, and entries written, by the session. */
  read: number;
  written: number;
  /** The local paths of the entries read (an engine error naming one is the cache's). */
  paths?: string[];
  /** Why entries could not be written, when they could not (the build went on without them). */
  writeError?: string;
}

/** The cache's upkeep failing costs later builds time, never this one: a warning. Returns the reason. */
function cacheWarning(dataset: RecordDataset, what: string, error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error);
  log.warn({ dataset, error: reason }, what);
  return reason;
}

/** The entries listed could not be fetched (deleted since, by a concurrent build or an erasure). */
class EntriesUnavailable extends Error {
  constructor(
    readonly dataset: RecordDataset,
    cause: unknown,
  ) {
    super(`relevant-record cache entries of ${dataset} could not be fetched`, { cause });
  }
}

export interface BuildSession {
  engine: Engine;
  store: ObjectStore;
  plan: BuildPlan;
  inputs: Partial<Record<RecordDataset, DatasetInput>>;
  /** Seconds the binding and the shared statements took. */
  sharedSeconds: number;
  /** What each score table the plan reads held (score-tables.ts). */
  scoreTables: ScoreTableReport[];
  /** Seconds per step: `bind` (inputs), then each shared statement by the table it creates. */
  steps: Record<string, number>;
  /** Where `people` came from, with the session's caches (people-cache.ts). */
  peopleCache?: PeopleCacheResult;
  /**
   * What `people_snapshot` was bound to: the fold's uncompressed local copy, or the stored object
   * (undefined until the statements that read people ran).
   */
  snapshotBound: 'copy' | 'object' | undefined;
  /**
   * Creates `previous_<table>` from the audience's latest snapshot before the day, then its
   * tables (`<table>_scored`, `<table>`); returns that previous day. `tables` maps ids of audiences
   * built earlier in this session to their members tables (for `exclude`).
   */
  runAudience(audience: AudienceSql, tables: ReadonlyMap<string, string>): Promise<string | undefined>;
  /**
   * Writes the rows of `select` to a scratch file as JSON Lines, one object per row, with the
   * engine's own JSON writer (no row passes through JavaScript). `upload` then gzips that file to
   * an object and removes it: it needs no engine, so the engine can go on with the next statements
   * meanwhile (the build evaluates the next audience while one's members are uploaded).
   */
  exportJsonLines(select: string): Promise<ExportedLines>;
  close(): Promise<void>;
}

export interface ExportedLines {
  /** Gzips the rows to `key` in the session's store; the scratch file is removed either way. */
  upload(key: string): Promise<void>;
}

export interface SessionOptions {
  store: ObjectStore;
  plan: BuildPlan;
  engine?: EngineSettings;
  cache?: CacheOptions;
  /** Called when the inputs are bound, before the shared statements run. */
  onReady?: () => void;
  /**
   * Settles when the people snapshot of the plan's day is up to date (the build folds it while
   * this session starts): until then, the statements that read only raw records run, so the
   * snapshot's fold and the engine's reading of the window overlap. Without it, the snapshot must
   * already be there.
   */
  snapshotReady?: Promise<unknown>;
  /**
   * Where the fold writes an uncompressed copy of the snapshot it rewrites: read instead of the
   * stored object when it is there once `snapshotReady` settles (it is not when the stored
   * snapshot was already up to date, nor when the build expects the people cache to serve it).
   */
  snapshotCopy?: string | undefined;
  /** Score table partitions the build's gate resolved and checked (bound without a second look). */
  checkedScoreTables?: CheckedScoreTables | undefined;
  /**
   * The relevant-record cache (relevant-cache.ts): `read` reads the entries of the plan's raw files;
   * `add` also writes the missing ones; `write` also deletes those its window will not read again
   * (the daily build, whose plan is every audience's: a build of some audiences must not delete the
   * entries the next daily build reads). Without it, every record is read from its raw file.
   * The people cache (people-cache.ts) is used the same way.
   */
  relevantCache?: 'read' | 'add' | 'write' | undefined;
}

export async function openBuildSession(options: SessionOptions): Promise<BuildSession> {
  const { store, plan } = options;
  const defaults = engineDefaults(options);
  const files = localFiles(store, defaults.cache);
  const share = options.snapshotReady ? foldingShare(defaults.engine) : undefined;
  const engine = await Engine.open(share ? { ...defaults.engine, memoryLimit: share } : defaults.engine);
  const scratch = await mkdtemp(join(tmpdir(), 'audience-sync-build-'));
  const inUse = new Map<string, string>();
  const close = async () => {
    engine.close();
    await rm(scratch, { recursive: true, force: true });
    await files.trim([...inUse.keys()]);
  };
  try {
    const started = process.hrtime.bigint();
    const steps: Record<string, number> = {};
    let mark = started;
    const lap = (name: string) => {
      const now = process.hrtime.bigint();
      steps[name] = Number(now - mark) / 1e9;
      mark = now;
    };
    const inputs: Partial<Record<RecordDataset, DatasetInput>> = {};
    for (const dataset of ['events', 'messages'] as const) {
      const from = plan.fromDay[dataset];
      if (from === undefined) {
        // No rule reads the dataset any more: its entries hold identifiers nobody will read.
        if (options.relevantCache === 'write')
          await unusedEntries(store, dataset, plan.day)
            .then((unused) => store.delete(unused))
            .catch((error: unknown) =>
              cacheWarning(dataset, 'relevant-record cache entries of an unused dataset not deleted', error),
            );
        continue;
      }
      const columns = rawColumnsRead(plan, dataset);
      const relevant = options.relevantCache ? plan.shared.find((st) => st.perRecord === dataset) : undefined;
      const parts = await listRangeParts(store, dataset, from, plan.day);
      const cache = relevant && {
        select: relevant.select,
        plan: await planRelevantCache(store, dataset, relevant.select, parts, plan.day),
        read: 0,
        written: 0,
      };
      inputs[dataset] = await bindDataset(engine, files, scratch, dataset, parts, inUse, columns, cache);
    }
    const { scoreTables: names, scoreTableDefs: tables, day } = plan;
    const scoreTables = await bindScoreTables({
      engine,
      store,
      files,
      day,
      names,
      tables,
      inUse,
      checked: options.checkedScoreTables,
    });
    lap('bind');
    options.onReady?.();
    let peopleCache: PeopleCacheResult | undefined;
    const runShared = async (statements: readonly Statement[]) => {
      for (const s of statements) {
        const cache = s.perRecord ? inputs[s.perRecord]?.relevantCache : undefined;
        if (cache) await runCachedRelevant(s, cache);
        else if (s.name === 'people' && options.relevantCache) peopleCache = await runCachedPeople(s);
        else
          await engine
            .run(
              s.view
                ? `CREATE OR REPLACE TEMP VIEW ${s.name} AS\n${s.select}`
                : duckdb.createTable(s.name, s.select),
            )
            .catch((error: unknown) => {
              throw blamingSnapshot(error, s);
            });
        lap(s.name);
      }
    };
    /**
     * The engine reports a damaged JSON file without its name ("Malformed JSON at byte 26"): in a
     * statement over `people_snapshot`, the one JSON file it reads, such an error is the snapshot's.
     */
    const blamingSnapshot = (error: unknown, s: Statement) => {
      if (!(error instanceof EngineError) || error.kind === 'out_of_memory' || error.object) return error;
      if (!/\bpeople_snapshot\b/.test(s.select)) return error;
      if ([...inUse.keys()].some((path) => error.message.includes(path))) return error;
      const key = keys.peopleSnapshot(plan.day);
      return new EngineError(error.kind, `${error.message} (in ${key})`, key);
    };
    /**
     * `<x>_relevant` as a view: the rows of the files read (a table, whose entries are written from
     * it) and the entries, read in place. The statements after it read only the columns they need
     * of the entries, instead of a table that copies all of them (2026-12-07, the daily build at
     * 1M × 30, two runs each: `ev_relevant` to `msg_dup_first` took 5.24 / 4.91 s, against
     * 7.33 / 7.26 s inserting the entries' rows into the table).
     *
     * With entries, the view is one Parquet scan: the table's rows are written to a scratch file
     * read beside the entries. A `UNION ALL` of the table and a Parquet scan feeding `GROUP BY id`
     * does not stay within the engine's memory limit (DuckDB 1.5.6: at 2M people × 14 days,
     * `msg_dups` failed at a 152.5 MiB share; the same rows as one scan of all the files grouped
     * within 57 MiB), and at 10M people the daily build ran out of its 1GB limit in `ev_dups`.
     */
    const runCachedRelevant = async (s: Statement, cache: RelevantCacheUse) => {
      const dataset = s.perRecord!;
      const { plan: cached } = cache;
      const read = `${s.name}_read`;
      await engine.run(duckdb.createTable(read, s.select));
      if (options.relevantCache === 'add' || options.relevantCache === 'write') {
        const { lines, malformed } = inputs[dataset]!;
        try {
          cache.written += await writeRelevantCache(engine, store, scratch, read, cached.misses, (key) => ({
            lines: lines.get(key) ?? 0,
            malformed: malformed.filter((m) => m.key === key),
          }));
          if (options.relevantCache === 'write' && cached.stale.length > 0) await store.delete(cached.stale);
        } catch (error) {
          // A store that refuses them (no permission under `cache/`, a full disk) costs the next
          // build time, not this one its audiences: the rows are in `read` already.
          cache.writeError = cacheWarning(
            dataset,
            'relevant-record cache entries not written; the build goes on without them',
            error,
          );
        }
        // Done: statements run again (see below) do not write them again.
        cached.misses = [];
        cached.stale = [];
      }
      try {
        cache.paths = await pathsOf(
          files,
          cached.hits.map((h) => h.rows),
          inUse,
        );
      } catch (error) {
        // An S3 store's entries are fetched here: one deleted since it was listed fails the fetch.
        throw new EntriesUnavailable(dataset, error);
      }
      if (cache.paths.length === 0) {
        await engine.run(`CREATE OR REPLACE TEMP VIEW ${s.name} AS SELECT * FROM ${read}`);
      } else {
        const rows = join(scratch, `${read}.parquet`);
        await engine.run(`COPY ${read} TO ${sqlString(rows)} (FORMAT parquet)`);
        await engine.run(`DROP TABLE ${read}`);
        const scanned = [rows, ...cache.paths].map(sqlString).join(', ');
        await engine.run(
          `CREATE OR REPLACE TEMP VIEW ${s.name} AS SELECT * FROM read_parquet([${scanned}], hive_partitioning = false, union_by_name = true)`,
        );
      }
      cache.read = cache.paths.length;
    };
    // The day's snapshot, looked up once the fold is done (it rewrites it): both the binding and
    // the people cache's fingerprint need it.
    let daySnapshot: Promise<ObjectInfo> | undefined;
    const storedSnapshot = () => (daySnapshot ??= statObject(store, keys.peopleSnapshot(plan.day)));
    let snapshotBound: 'copy' | 'object' | undefined;
    const bindSnapshot = async (lines?: string) => {
      if (lines !== undefined) {
        await engine.run(
          `CREATE OR REPLACE VIEW people_snapshot AS ${peopleSnapshotRelation(lines, 'gzip')}`,
        );
        return;
      }
      const copy =
        options.snapshotCopy && existsSync(options.snapshotCopy) ? options.snapshotCopy : undefined;
      await bindPeopleSnapshot(engine, files, inUse, await storedSnapshot(), copy);
      snapshotBound = copy ? 'copy' : 'object';
    };
    const runCachedPeople = async (s: Statement) => {
      const result = await createPeople({
        engine,
        store,
        files,
        inUse,
        scratch,
        day: plan.day,
        snapshot: await storedSnapshot(),
        select: s.select,
        bindSnapshot,
        mode: options.relevantCache!,
      }).catch((error: unknown) => {
        throw blamingSnapshot(error, s);
      });
      if (result.warning) log.warn({ error: result.warning }, 'people cache not used or not written');
      return result;
    };
    /**
     * The shared statements; if one fails on an entry the engine cannot read (damaged, or deleted
     * since it was listed), every entry of its dataset is given up and they run again, over those
     * files themselves, which get their entries written again: the cache can cost time, never a
     * build. An error that is not the cache's fails the second run too, and is thrown from there.
     */
    const runSharedOrWithoutEntries = async (statements: readonly Statement[]) => {
      try {
        await runShared(statements);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        const reading = (['events', 'messages'] as const).filter(
          (d) => inputs[d]?.relevantCache?.paths?.length,
        );
        const named = reading.filter((d) =>
          inputs[d]!.relevantCache!.paths!.some((p) => message.includes(p)),
        );
        // Damage inside an entry's data is reported without its file ("TProtocolException"):
        // any engine error but a lack of memory, while entries are read, gives them all up —
        // unless it names another object (a damaged snapshot is not the cache's to retry).
        const entryPaths = new Set(reading.flatMap((d) => inputs[d]!.relevantCache!.paths!));
        const another =
          (error instanceof EngineError && error.object !== undefined) ||
          [...inUse.keys()].some((path) => message.includes(path) && !entryPaths.has(path));
        const unnamed =
          error instanceof EngineError && error.kind !== 'out_of_memory' && !another ? reading : [];
        const damaged =
          error instanceof EntriesUnavailable ? [error.dataset] : named.length > 0 ? named : unnamed;
        if (damaged.length === 0) throw error;
        for (const dataset of damaged) {
          const input = inputs[dataset]!;
          const cache = input.relevantCache!;
          // Bound again over every file: the JSON Lines parts that had entries are loaded now.
          forgetHits(cache.plan, cache.select, input.parts);
          cache.read = 0;
          cache.paths = [];
          inputs[dataset] = await bindDataset(
            engine,
            files,
            scratch,
            dataset,
            input.parts,
            inUse,
            rawColumnsRead(plan, dataset),
            cache,
          );
        }
        await runShared(plan.shared.filter((st) => st.records));
        if (!statements.every((st) => st.records)) await runShared(statements);
      }
    };
    // Record-level statements first (they never read the snapshot), then the rest in plan order.
    await runSharedOrWithoutEntries(plan.shared.filter((s) => s.records));
    await options.snapshotReady;
    const after = share && foldingShare(defaults.engine, AFTER_FOLDING_SHARE);
    if (after) await engine.run(`SET memory_limit = ${sqlString(after)}`);
    await bindSnapshot();
    lap('snapshot_wait');
    await runSharedOrWithoutEntries(plan.shared.filter((s) => !s.records));
    for (const dataset of ['events', 'messages'] as const) {
      const input = inputs[dataset];
      if (input) input.stats = await datasetStats(engine, dataset);
    }
    const sharedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    return {
      engine,
      store,
      plan,
      inputs,
      sharedSeconds,
      scoreTables,
      steps,
      ...(peopleCache ? { peopleCache } : {}),
      snapshotBound,
      close,
      runAudience: (audience, tables) =>
        runAudience(audience, tables).catch((error: unknown) => {
          throw namingObjects(error, inUse);
        }),
      exportJsonLines,
    };
    async function exportJsonLines(select: string): Promise<ExportedLines> {
      // Uncompressed, then gzipped by zlib on the way up: the engine's own gzip writer took about
      // twice as long (490,686 members: 1.1 s against 0.42 s + 0.25 s).
      const local = join(scratch, `out-${randomBytes(6).toString('hex')}.jsonl`);
      try {
        await engine.run(`COPY (${select}) TO ${sqlString(local)} (FORMAT json)`);
      } catch (error) {
        await rm(local, { force: true });
        throw error;
      }
      return {
        upload: (key) => putGzipLinesFile(store, key, local).finally(() => rm(local, { force: true })),
      };
    }
    async function runAudience(audience: AudienceSql, tables: ReadonlyMap<string, string>) {
      const def = audience.definition;
      const previousDay = await latestBuiltDay(store, def.id, { before: plan.day });
      const [path] = previousDay
        ? await pathsOf(files, [await statObject(store, keys.members(def.id, previousDay))], inUse)
        : [];
      await engine.run(
        `CREATE OR REPLACE VIEW previous_${audience.table} AS ${previousMembersRelation(path)}`,
      );
      for (const s of audienceStatements(duckdb, plan, audience, tables))
        await engine.run(duckdb.createTable(s.name, s.select));
      return previousDay;
    }
  } catch (error) {
    await close();
    throw namingObjects(error, inUse);
  }
}

/**
 * The rules of `audienceIds` (with the audiences they exclude; every audience when none) and
 * `never_send`, compiled for `day`, in a session: the one way the build and explain start.
 */
export function openRulesSession(
  options: Omit<SessionOptions, 'plan'> & {
    config: AudienceRules;
    day: string;
    audienceIds?: readonly string[] | undefined;
  },
): Promise<BuildSession> {
  const { config, day, audienceIds, ...rest } = options;
  const audiences = audienceIds
    ? withDependencies(config.audiences, audienceIds)
    : buildOrder(config.audiences);
  const plan = compileBuildPlan({
    dialect: duckdb,
    day,
    audiences,
    neverSend: config.never_send,
    traits: config.traits,
    scoreTables: config.score_tables,
  });
  return openBuildSession({ ...rest, plan });
}

/**
 * Binds `people_snapshot` to the stored `snapshot` of a day, or to `copy`, an uncompressed local
 * copy of it the fold wrote in this process.
 */
export async function bindPeopleSnapshot(
  engine: Engine,
  files: LocalFiles,
  inUse: Map<string, string>,
  snapshot: ObjectInfo,
  copy?: string,
): Promise<void> {
  if (copy) inUse.set(copy, snapshot.key);
  const path = copy ?? (await pathsOf(files, [snapshot], inUse))[0]!;
  await engine.run(
    `CREATE OR REPLACE VIEW people_snapshot AS ${peopleSnapshotRelation(path, copy ? 'none' : 'gzip')}`,
  );
}

/**
 * Binds `raw_<dataset>` to `parts`. JSON Lines parts are loaded once into a temporary table (their
 * line counts and damage come from it); a part whose gzip data breaks is salvaged up to the break.
 * Parquet parts are read in place. Only `columns` (what the plan reads, `rawColumnsRead`) are loaded
 * from JSON Lines; the relation's other columns read as NULL there. With `cache`, files whose
 * entries it reads are left out (a JSON Lines part's line count and damage come from its entry).
 */
async function bindDataset(
  engine: Engine,
  files: LocalFiles,
  scratch: string,
  dataset: RecordDataset,
  parts: DayParts,
  inUse: Map<string, string>,
  columns: readonly string[],
  cache?: RelevantCacheUse,
): Promise<DatasetInput> {
  const cached = new Set(cache?.plan.hits.map((h) => h.file.key));
  const toLoad = parts.jsonl.filter((p) => !cached.has(p.key));
  const jsonl: RawFile[] = (await pathsOf(files, toLoad, inUse)).map((path, i) => ({
    key: toLoad[i]!.key,
    path,
  }));
  const table = `raw_${dataset}_jsonl`;
  const malformed: MalformedLine[] = [...parts.malformed];
  const loaded = await loadJsonl(engine, table, dataset, jsonl, scratch, columns, inUse);
  malformed.push(...loaded.broken);
  const lines = new Map<string, number>();
  for (const row of await engine.all<{ key: string; lines: number }>(
    `SELECT _key AS key, count(*) AS lines FROM ${table} GROUP BY _key`,
  ))
    lines.set(row.key, row.lines);
  // A part's gzip break is one more line (the one it cut), as the problem reports it.
  for (const b of loaded.broken)
    if (b.reason.startsWith('unreadable gzip data'))
      lines.set(b.key, Math.max(lines.get(b.key) ?? 0, b.line));
  for (const [key, n] of parts.parquetLines) lines.set(key, n);
  for (const hit of cache?.plan.hits ?? [])
    if (hit.lines) {
      lines.set(hit.file.key, hit.lines.lines);
      malformed.push(...hit.lines.malformed);
    }
  for (const row of await engine.all<{ key: string; line: number; reason: string }>(
    `SELECT _key AS key, _line AS line, _malformed AS reason FROM ${table}
     WHERE _malformed IS NOT NULL AND _malformed <> 'empty' ORDER BY _key, _line`,
  ))
    malformed.push(row);
  malformed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.line - b.line));
  const parquet = parts.parquet.filter((p) => !cached.has(p.key));
  await bindRawView(engine, files, dataset, parquet, inUse);
  return {
    parts,
    lines,
    malformed,
    stats: { relevant: 0, duplicates: 0, unresolved: 0 },
    ...(cache ? { relevantCache: cache } : {}),
  };
}

/** (Re)creates the view `raw_<dataset>`: the loaded JSON Lines table, and `parquet` read in place. */
async function bindRawView(
  engine: Engine,
  files: LocalFiles,
  dataset: RecordDataset,
  parquetParts: readonly ObjectInfo[],
  inUse: Map<string, string>,
): Promise<void> {
  const parquet: RawFile[] = (await pathsOf(files, parquetParts, inUse)).map((path, i) => ({
    key: parquetParts[i]!.key,
    path,
  }));
  const sources = [
    `SELECT * EXCLUDE (_malformed), _malformed FROM raw_${dataset}_jsonl WHERE _malformed IS DISTINCT FROM 'empty'`,
  ];
  if (parquet.length > 0) {
    const names = await engine.all<{ name: string }>(parquetColumnsSql(parquet));
    const present = new Set(names.map((n) => n.name));
    sources.push(`SELECT * FROM (${parquetRelation(dataset, parquet, present)})`);
  }
  await engine.run(`CREATE OR REPLACE VIEW raw_${dataset} AS ${sources.join('\nUNION ALL BY NAME\n')}`);
}

/**
 * Loads JSON Lines parts into `table` (engine/jsonl-load.ts). Each part is first checked
 * (engine/gzip-lines.ts): one the engine cannot read as it is — a gzip break, invalid UTF-8, an
 * over-long line, a carriage return inside a line — is read from a repaired copy with the same
 * line numbers, and what could not be kept is reported with its line.
 */
async function loadJsonl(
  engine: Engine,
  table: string,
  dataset: RecordDataset,
  files: RawFile[],
  scratch: string,
  columns: readonly string[],
  inUse: Map<string, string>,
): Promise<{ broken: MalformedLine[] }> {
  const readable = await readableParts(files, scratch, { inflate: true });
  // The engine reads the scratch copies: its errors name their parts too.
  for (const part of readable) inUse.set(part.path, part.key);
  const broken: MalformedLine[] = readable.flatMap((part) =>
    part.problems.map((p) => ({ key: part.key, line: p.line, reason: p.reason })),
  );
  // Line numbers only where they can decide a de-duplication tie (jsonl-load.ts).
  await loadJsonlTable(engine, table, dataset, readable, { lineNumbers: 'repeated-ids', columns });
  return { broken };
}

async function datasetStats(engine: Engine, dataset: RecordDataset) {
  const x = dataset === 'events' ? 'ev' : 'msg';
  const [row] = await engine.all<{ relevant: number; winners: number; unresolved: number }>(
    `SELECT (SELECT count(*) FROM ${x}_relevant) AS relevant,
       (SELECT COALESCE(sum(records), 0) FROM ${x}_agg) AS winners,
       (SELECT COALESCE(sum(records), 0) FROM ${x}_agg WHERE owner IS NULL) AS unresolved`,
  );
  return { relevant: row!.relevant, duplicates: row!.relevant - row!.winners, unresolved: row!.unresolved };
}
