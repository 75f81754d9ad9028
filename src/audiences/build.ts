import { hash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EngineSettings } from '../engine/duckdb.js';
import type { CacheOptions } from '../engine/local-files.js';
import {
  newRunId,
  type PeopleSnapshotManifest,
  peopleManifestKey,
  updatePeopleSnapshot,
} from '../people/snapshot.js';
import { keys, partitionDay } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { readJson, writeJson } from '../storage/object-store.js';
import type { AudienceDefinition, AudienceRules } from './config.js';
import { AUDIENCE_MANIFEST_VERSION, type AudienceManifest } from './manifest.js';
import { membersFileSelect } from './members-file.js';
import { hasPeopleCacheEntry, type PeopleCacheResult } from './people-cache.js';
import { gateScoreTables } from './score-table-gate.js';
import type { ScoreTableFailure, ScoreTableReport } from './score-tables.js';
import {
  type BuildSession,
  type DatasetInput,
  engineDefaults,
  foldingShare,
  openRulesSession,
} from './session.js';
import { type AudienceSql, audienceCountsSql, type RecordDataset, type TraitSql } from './sql/plan.js';

/**
 * The daily build: the people snapshot is brought up to date while the audience language, compiled
 * to SQL (sql/plan.ts), starts in embedded DuckDB over the raw parts of the window — Parquet for
 * compacted days, gzip JSON Lines for the rest — and each audience's members stream out of the
 * engine into `audiences/<id>/dt=D/members.jsonl.gz`, followed by its manifest.
 *
 * A failure (an unreadable Parquet file, the engine out of memory) fails the build before any
 * manifest of the day is written for the audiences not yet done, and names what failed; snapshots
 * already published stay as they were (a manifest is written only after its members).
 */

export interface BuildProgress {
  phase: 'people' | 'snapshot' | 'scan' | 'audience';
  done: number;
  total: number;
  audience?: string;
}

export interface BuildOptions {
  store: ObjectStore;
  config: AudienceRules;
  day: string;
  /** Build only these (and the audiences they exclude, which must exist for the same day). */
  audienceIds?: readonly string[];
  onProgress?: (progress: BuildProgress) => void;
  runId?: string;
  /** Bring the people snapshot up to date first (default true). */
  updateSnapshot?: boolean;
  /** Engine limits (memory, threads, spill directory). */
  engine?: EngineSettings;
  /** Local cache for objects of an S3 store (default: a folder in the OS temporary directory). */
  cache?: CacheOptions;
}

export interface BuildResult {
  run_id: string;
  day: string;
  people: PeopleSnapshotManifest;
  engine: {
    /** Seconds the shared statements took (reading raw parts through features). */
    seconds: number;
    records_scanned: number;
    records_per_second: number;
    threads: number;
    parts: { jsonl: number; parquet: number };
    /**
     * Compacted files whose relevant records were read from the cache, and entries written
     * (relevant-cache.ts); `write_error` when the store refused entries (the build went on).
     */
    relevant_cache: { read: number; written: number; write_error?: string };
    /** Where the `people` table came from, and whether the day's entry was written (people-cache.ts). */
    people_cache?: PeopleCacheResult;
    /**
     * What the engine read the day's people snapshot from: `copy`, the uncompressed local copy the
     * fold wrote in this process, or `object`, the stored gzip object.
     */
    people_snapshot?: 'copy' | 'object';
    /** Seconds per step of the shared work (binding the inputs, then each statement). */
    steps: Record<string, number>;
  };
  audiences: AudienceManifest[];
  /** What each score table read held (docs/traits.md#score-tables). */
  score_tables: ScoreTableReport[];
  /** Audiences not built: a score table they depend on has no usable partition (no manifest written). */
  failed: ScoreTableFailure[];
}

export async function buildAudiences(options: BuildOptions): Promise<BuildResult> {
  // The fold writes the new snapshot here too, uncompressed, for the session to read (see below).
  const copyDir =
    options.updateSnapshot === false ? undefined : await mkdtemp(join(tmpdir(), 'audience-sync-people-'));
  try {
    return await build(options, copyDir);
  } finally {
    if (copyDir) await rm(copyDir, { recursive: true, force: true });
  }
}

async function build(options: BuildOptions, copyDir: string | undefined): Promise<BuildResult> {
  const { store, config, day } = options;
  const runId = options.runId ?? newRunId('build');
  const progress = options.onProgress;

  // The snapshot is folded while the engine reads the window's records (the session waits for it
  // before anything reads people): the fold is mostly one JavaScript thread, the reading the engine's.
  const defaults = engineDefaults(options);
  const share = foldingShare(defaults.engine);
  const snapshotCopy = copyDir && join(copyDir, 'people.jsonl');
  const snapshot =
    options.updateSnapshot === false
      ? readJson<PeopleSnapshotManifest>(store, peopleManifestKey(day))
      : updatePeopleSnapshot({
          store,
          day,
          onProgress: (done, total) => progress?.({ phase: 'people', done, total }),
          ...(share ? { engine: { ...defaults.engine, memoryLimit: share } } : {}),
          // The session reads this copy in parallel; the stored object would be inflated on one
          // thread on the build's critical path (1,000,000 people: 1.3–1.6 s against 0.8–1.0 s).
          // Not when the base has a people cache entry: the new snapshot will then likely be read
          // through the cache (people-cache.ts).
          localCopy: async (baseDay) =>
            baseDay && (await hasPeopleCacheEntry(store, baseDay)) ? undefined : snapshotCopy,
        });
  // Handled here so a failure before the session waits for it is not an unhandled rejection.
  const settled = snapshot.then(
    () => undefined,
    () => undefined,
  );

  let session: BuildSession;
  let people: PeopleSnapshotManifest;
  let gate: Awaited<ReturnType<typeof gateScoreTables>>;
  try {
    // Audiences that depend on a stale or missing score table are not built (score-tables.ts).
    gate = await gateScoreTables({ store, config, day, audienceIds: options.audienceIds });
    session = await openRulesSession({
      store,
      config,
      day,
      audienceIds: gate.audienceIds,
      checkedScoreTables: gate.checked,
      engine: defaults.engine,
      cache: defaults.cache,
      snapshotReady: snapshot,
      snapshotCopy,
      // Only a build of every audience deletes entries: another plan's would delete the daily ones.
      relevantCache: gate.audienceIds === undefined ? 'write' : 'add',
      onReady: () => progress?.({ phase: 'snapshot', done: 1, total: 1 }),
    });
    people = await snapshot;
  } catch (error) {
    // The snapshot's writes end before the build reports its failure.
    await settled;
    throw error;
  }
  const { engine, inputs, plan } = session;
  try {
    progress?.({ phase: 'scan', done: 1, total: 1 });
    const sharedSeconds = session.sharedSeconds;
    const tables = new Map<string, string>();
    const manifests: AudienceManifest[] = [];
    // One audience's members are uploaded, then its manifest written, while the engine evaluates
    // the next one: an upload needs no engine. One upload at a time, in build order, so manifests
    // are written in the same order as before, and a failed upload stops every later manifest.
    let writing: Promise<AudienceManifest> | undefined;
    try {
      for (let i = 0; i < plan.audiences.length; i++) {
        const audience = plan.audiences[i]!;
        progress?.({
          phase: 'audience',
          done: i,
          total: plan.audiences.length,
          audience: audience.definition.id,
        });
        const write = await evaluateOne({
          session,
          audience,
          tables,
          runId,
          neverSend: config.never_send,
        });
        tables.set(audience.definition.id, audience.table);
        if (writing) manifests.push(await writing);
        writing = write();
        // Awaited on the next turn or below; until then its failure must not count as unhandled.
        writing.catch(() => undefined);
      }
      if (writing) manifests.push(await writing);
    } catch (error) {
      // The session (and the scratch file being uploaded) closes only once that upload has ended.
      await writing?.catch(() => undefined);
      throw error;
    }
    progress?.({ phase: 'audience', done: plan.audiences.length, total: plan.audiences.length });

    const scanned = (Object.values(inputs) as DatasetInput[]).reduce(
      (n, input) => n + [...input.lines.values()].reduce((a, b) => a + b, 0),
      0,
    );
    const requested = options.audienceIds ? new Set(options.audienceIds) : undefined;
    return {
      run_id: runId,
      day,
      people,
      engine: {
        seconds: sharedSeconds,
        records_scanned: scanned,
        records_per_second: sharedSeconds > 0 ? scanned / sharedSeconds : 0,
        threads: engine.threads,
        steps: session.steps,
        parts: {
          jsonl: (Object.values(inputs) as DatasetInput[]).reduce(
            (n, input) => n + input.parts.jsonl.length,
            0,
          ),
          parquet: (Object.values(inputs) as DatasetInput[]).reduce(
            (n, input) => n + input.parts.parquet.length,
            0,
          ),
        },
        relevant_cache: relevantCacheReport(inputs),
        ...(session.peopleCache ? { people_cache: session.peopleCache } : {}),
        ...(session.snapshotBound ? { people_snapshot: session.snapshotBound } : {}),
      },
      // Dependencies were rebuilt too (their members feed `exclude`); report what was asked for first.
      audiences: requested
        ? [
            ...manifests.filter((m) => requested.has(m.audience)),
            ...manifests.filter((m) => !requested.has(m.audience)),
          ]
        : manifests,
      score_tables: session.scoreTables,
      failed: gate.failed,
    };
  } finally {
    await session.close();
  }
}

interface AudienceInput {
  session: BuildSession;
  audience: AudienceSql;
  /** Members tables of the audiences built so far in this run, by audience id. */
  tables: Map<string, string>;
  runId: string;
  neverSend: AudienceRules['never_send'];
}

/**
 * Evaluates one audience in the engine and exports its members; returns what then uploads them
 * and writes its manifest, which needs no engine (run while the next audience is evaluated).
 */
async function evaluateOne(input: AudienceInput): Promise<() => Promise<AudienceManifest>> {
  const { session, audience, runId } = input;
  const { engine, store, plan } = session;
  const def = audience.definition;
  const day = plan.day;
  const evaluateStarted = process.hrtime.bigint();

  const previousDay = await session.runAudience(audience, input.tables);
  const [counts] = await engine.all<Record<string, number | null>>(audienceCountsSql(audience));
  const c = counts!;
  const evaluateSeconds = seconds(evaluateStarted);

  const writeStarted = process.hrtime.bigint();
  const membersKey = keys.members(def.id, day);
  const isTop = def.type === 'top_fraction';
  // Traits the audience writes back ride along in the members file (docs/traits.md#write-back).
  const members = await session.exportJsonLines(membersFileSelect(audience));
  const exportSeconds = seconds(writeStarted);

  // What this audience read: its own sources' datasets and windows, plus never_send's.
  const partsOf = (dataset: RecordDataset): string[] => {
    const from = audience.fromDay[dataset];
    const inputParts = session.inputs[dataset]?.parts;
    if (from === undefined || !inputParts) return [];
    return [...inputParts.jsonl, ...inputParts.parquet]
      .map((p) => p.key)
      .filter((key) => (partitionDay(key) ?? '') >= from)
      .sort();
  };
  const parts = { events: partsOf('events'), messages: partsOf('messages') };
  const datasetRecords = (dataset: RecordDataset) => {
    const data = session.inputs[dataset];
    const used = parts[dataset].length > 0 && data !== undefined;
    return {
      lines: parts[dataset].reduce((n, key) => n + (data?.lines.get(key) ?? 0), 0),
      relevant: used ? data.stats.relevant : 0,
      duplicates: used ? data.stats.duplicates : 0,
      unresolved: used ? data.stats.unresolved : 0,
    };
  };
  const records = { events: datasetRecords('events'), messages: datasetRecords('messages') };
  const malformed = (['events', 'messages'] as const).flatMap((dataset) => {
    const from = audience.fromDay[dataset];
    if (from === undefined) return [];
    return (session.inputs[dataset]?.malformed ?? []).filter((m) => (partitionDay(m.key) ?? '') >= from);
  });
  const windowFrom =
    [audience.fromDay.events, audience.fromDay.messages]
      .filter((d): d is string => d !== undefined)
      .sort()[0] ?? day;
  const excludedCounts: Record<string, number> = {};
  def.exclude.forEach((id, j) => {
    excludedCounts[`audience:${id}`] = Number(c[`x${j}`] ?? 0);
  });
  excludedCounts.never_send = Number(c.never_send ?? 0);
  const selected = Number(c.selected ?? 0);
  const holdout = Number(c.holdout ?? 0);
  const excludedAudiences: AudienceManifest['inputs']['excluded_audiences'] = [];
  for (const id of def.exclude) {
    const [row] = await engine.all<{ n: number }>(`SELECT count(*) AS n FROM ${input.tables.get(id)!}`);
    excludedAudiences.push({ audience: id, day, members: row!.n });
  }

  const manifest: AudienceManifest = {
    version: AUDIENCE_MANIFEST_VERSION,
    audience: def.id,
    type: def.type,
    day,
    run_id: runId,
    created_at: new Date().toISOString(),
    definition_hash: definitionHash(
      def,
      input.neverSend,
      plan.traits.filter((t) => audience.traits.includes(t.name)),
    ),
    lookback_days: audience.lookbackDays,
    window: { from: windowFrom, to: day },
    inputs: {
      people_snapshot: keys.peopleSnapshot(day),
      parts,
      excluded_audiences: excludedAudiences,
      previous_snapshot_day: previousDay ?? null,
    },
    records_scanned: records.events.lines + records.messages.lines,
    records,
    unresolved_identities: records.events.unresolved + records.messages.unresolved,
    malformed_lines: malformed.length,
    malformed: malformed.slice(0, 100),
    counts: {
      universe: Number(c.universe ?? 0),
      matched: Number(c.matched ?? 0),
      excluded: excludedCounts,
      removed: Number(c.removed ?? 0),
      eligible: Number(c.eligible ?? 0),
      selected,
      treatment: selected - holdout,
      holdout,
    },
    top_fraction: isTop ? def.top_fraction! : null,
    holdout: audience.holdout,
    score:
      isTop && selected > 0
        ? { max: Number(c.max_score), min: Number(c.min_score), cutoff: Number(c.cutoff) }
        : null,
    entered: { carried_over: Number(c.carried ?? 0), new: selected - Number(c.carried ?? 0) },
    timings: {
      snapshot_seconds: 0,
      scan_seconds: session.sharedSeconds,
      evaluate_seconds: evaluateSeconds,
      write_seconds: 0,
    },
    members_key: membersKey,
  };
  return async () => {
    const uploadStarted = process.hrtime.bigint();
    await members.upload(membersKey);
    // Exporting and uploading, not the wait for the audience before to finish its own upload.
    manifest.timings.write_seconds = exportSeconds + seconds(uploadStarted);
    // Written last: a manifest means the members next to it are complete.
    await writeJson(store, keys.manifest(def.id, day), manifest);
    return manifest;
  };
}

/** A stable hash of what decides membership: the normalized definition and `never_send`. */
export function definitionHash(
  definition: AudienceDefinition,
  neverSend: AudienceRules['never_send'],
  /**
   * The traits its rules read: their compiled SQL (other traits inlined) and the sources that SQL
   * reads by column (windows and `where`s are in the sources, not in the SQL) decide members too.
   */
  traits: readonly Pick<TraitSql, 'name' | 'sql' | 'sources'>[] = [],
): string {
  // realtime_additions lets real-time triggers add people between builds; it does not decide the
  // build's members, so turning it on keeps the hash.
  const {
    sync: _sync,
    write_back: _writeBack,
    description: _description,
    realtime_additions: _realtimeAdditions,
    ...rules
  } = definition;
  const read =
    traits.length > 0
      ? {
          traits: traits.map((t) => [
            t.name,
            t.sql,
            t.sources.map(({ id, dataset, event, message, where, windowDays }) => ({
              id,
              dataset,
              event,
              message,
              where,
              windowDays,
            })),
          ]),
        }
      : {};
  return hash('sha256', stableJson({ rules, never_send: neverSend ?? null, ...read }));
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** What the session's datasets read from and wrote to the relevant-record cache, summed. */
function relevantCacheReport(inputs: BuildSession['inputs']): BuildResult['engine']['relevant_cache'] {
  const uses = (Object.values(inputs) as DatasetInput[]).flatMap((i) => i.relevantCache ?? []);
  const error = uses.find((u) => u.writeError)?.writeError;
  return {
    read: uses.reduce((n, u) => n + u.read, 0),
    written: uses.reduce((n, u) => n + u.written, 0),
    ...(error ? { write_error: error } : {}),
  };
}
