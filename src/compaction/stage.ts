import type { ObjectStore } from '../storage/object-store.js';
import {
  type CompactionLocker,
  type CompactionLog,
  type CompactionReport,
  compactClosedDays,
} from './compact.js';
import type { CompactionConfig } from './config.js';
import { cacheOptionsFromEnv, type EngineEnv, engineSettingsFromEnv } from './engine-settings.js';

/**
 * Compaction as a step of the daily refresh (before the people snapshot and the build): every
 * closed day of every dataset, with the engine limits and cache of the environment. The in-process
 * refresh and the BullMQ job both call this. The argument is the refresh's stage context.
 */
export interface CompactionStageContext {
  store: ObjectStore;
  env: Partial<EngineEnv>;
  loaded: { config: { compaction: CompactionConfig } };
  locker?: CompactionLocker;
  log?: CompactionLog;
}

/**
 * The refresh compacts for at most this long, then builds: a first run over a long uncompacted
 * history would otherwise hold the day's audiences back for hours. Later runs, or
 * `audience-sync compact`, work through the rest; readers take raw parts in either form meanwhile.
 */
export const REFRESH_COMPACTION_BUDGET_SECONDS = 15 * 60;

export function runCompactionStage(
  ctx: CompactionStageContext,
  now: Date = new Date(),
): Promise<CompactionReport> {
  const cache = cacheOptionsFromEnv(ctx.env);
  return compactClosedDays({
    store: ctx.store,
    now,
    graceHours: ctx.loaded.config.compaction.grace_hours,
    settings: engineSettingsFromEnv(ctx.env),
    cacheDir: cache.dir,
    cacheMaxBytes: cache.maxBytes,
    budgetSeconds: REFRESH_COMPACTION_BUDGET_SECONDS,
    ...(ctx.locker ? { locker: ctx.locker } : {}),
    ...(ctx.log ? { log: ctx.log } : {}),
  });
}

/** The few numbers a job result or a refresh summary carries. */
export function compactionSummary(r: CompactionReport): {
  days: number;
  parts_compacted: number;
  rows: number;
  malformed_lines: number;
  bytes_before: number;
  bytes_after: number;
  deferred_days: number;
} {
  return {
    days: r.days.filter((d) => d.status === 'compacted').length,
    parts_compacted: r.parts_compacted,
    rows: r.rows,
    malformed_lines: r.malformed_lines,
    bytes_before: r.bytes_before,
    bytes_after: r.bytes_after,
    deferred_days: r.deferred_days,
  };
}
