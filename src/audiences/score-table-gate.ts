import {
  cacheOptionsFromEnv,
  engineEnvFrom,
  engineSettingsFromEnv,
  withMemoryCap,
} from '../compaction/engine-settings.js';
import { Engine } from '../engine/duckdb.js';
import { localFiles } from '../engine/local-files.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { AudienceDefinition, Condition, Traits } from './config.js';
import {
  audienceScoreTables,
  type CheckedScoreTables,
  checkScoreTableColumns,
  resolveScoreTable,
  ScoreTableError,
  type ScoreTableFailure,
  type ScoreTablePartition,
  type ScoreTables,
} from './score-tables.js';

/*
 * Apart from score-tables.ts because it opens the SQL engine: the configuration loader imports
 * that module (and `audience-sync config` bundles what it imports), never this one.
 */

/**
 * Which of `ids` (default: every audience) a build of `day` can run: an audience that depends on a
 * score table without a usable partition fails with that table's reason.
 */
export async function gateScoreTables(options: {
  store: ObjectStore;
  config: {
    audiences: readonly AudienceDefinition[];
    traits?: Traits | undefined;
    never_send?: Condition | undefined;
    score_tables?: ScoreTables | undefined;
  };
  day: string;
  audienceIds?: readonly string[] | undefined;
}): Promise<{
  audienceIds: readonly string[] | undefined;
  failed: ScoreTableFailure[];
  /** The usable partitions, columns checked: the session binds them (bindScoreTables `checked`). */
  checked: CheckedScoreTables;
}> {
  const { store, config, day } = options;
  const tables = config.score_tables ?? {};
  const checked = new Map<string, ScoreTablePartition>();
  if (Object.keys(tables).length === 0) return { audienceIds: options.audienceIds, failed: [], checked };
  const ids = options.audienceIds ?? config.audiences.map((a) => a.id);
  const problems = new Map<string, ScoreTableError | null>();
  const failed: ScoreTableFailure[] = [];
  const ok: string[] = [];
  // The partition's columns are read too (footers, or the CSV header), so a table that lacks a
  // declared column fails only the audiences that read it, like a stale one.
  let engine: Engine | undefined;
  const env = engineEnvFrom();
  const files = localFiles(store, cacheOptionsFromEnv(env));
  try {
    for (const id of ids) {
      let failure: ScoreTableFailure | undefined;
      for (const table of [...audienceScoreTables(config, id)].sort()) {
        if (!problems.has(table)) {
          const def = tables[table];
          try {
            if (def) {
              const partition = await resolveScoreTable(store, table, def, day);
              engine ??= await Engine.open(withMemoryCap(engineSettingsFromEnv(env), '256MB'));
              await checkScoreTableColumns(engine, table, def, partition, await files.paths(partition.files));
              checked.set(table, partition);
            }
            problems.set(table, null);
          } catch (error) {
            if (!(error instanceof ScoreTableError)) throw error;
            problems.set(table, error);
          }
        }
        const problem = problems.get(table);
        if (problem && !failure)
          failure = { audience: id, table, reason: problem.reason, message: problem.message };
      }
      if (failure) failed.push(failure);
      else ok.push(id);
    }
  } finally {
    engine?.close();
  }
  return { audienceIds: failed.length === 0 ? options.audienceIds : ok, failed, checked };
}
