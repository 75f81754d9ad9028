import { type BuildProgress, type BuildResult, buildAudiences } from '../audiences/build.js';
import type { AudienceDefinition } from '../audiences/config.js';
import { withDependencies } from '../audiences/config.js';
import type { Env } from '../config/env.js';
import type { LoadedConfig } from '../config/load-config.js';
import type { AudienceSyncConfig } from '../config-file.js';
import { addDays } from '../contract/days.js';
import type { Logger } from '../log.js';
import { type MeasureStageResult, runMeasureStage } from '../measure/stage.js';
import { type PeopleSnapshotManifest, updatePeopleSnapshot } from '../people/snapshot.js';
import type { ObjectStore } from '../storage/object-store.js';
import { type SyncAudienceInput, syncAudience, type TargetedPeople } from '../sync/execute.js';
import type { Locker } from '../sync/lock.js';
import type { SyncRunRecord } from '../sync/run-record.js';
import { openTarget, type SyncTarget } from './targets.js';

/**
 * The stages of the daily refresh as plain functions over the store and the loaded config. The
 * BullMQ processors and the in-process refresh both call these, so a one-machine run and a fleet
 * of workers do exactly the same work.
 */
export interface StageContext {
  store: ObjectStore;
  loaded: LoadedConfig<AudienceSyncConfig>;
  env: Env;
  log: Logger;
  locker?: Locker;
  /** Injected by tests (fake platform servers are real HTTP, this only carries the client). */
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

export function runPeopleStage(ctx: StageContext, day: string): Promise<PeopleSnapshotManifest> {
  return updatePeopleSnapshot({ store: ctx.store, day });
}

export function runBuildStage(
  ctx: StageContext,
  day: string,
  audienceIds?: readonly string[],
  onProgress?: (p: BuildProgress) => void,
): Promise<BuildResult> {
  return buildAudiences({
    store: ctx.store,
    config: ctx.loaded.config,
    day,
    ...(audienceIds?.length ? { audienceIds } : {}),
    ...(onProgress ? { onProgress } : {}),
  });
}

/** Why a sync of an audience the build refused does not run (the in-process and queued refresh alike). */
export function notBuiltMessage(day: string, reason: string): string {
  return `not built for ${day}: ${reason}`;
}

/** The audiences a refresh covers: the requested ones plus those they exclude (built first). */
export function selectedAudiences(
  config: AudienceSyncConfig,
  audienceIds?: readonly string[],
): AudienceDefinition[] {
  return audienceIds?.length ? withDependencies(config.audiences, audienceIds) : config.audiences;
}

export interface SyncStageOptions {
  day: string;
  target: SyncTarget;
  runId: string;
  dryRun?: boolean;
  confirm?: boolean;
  replace?: boolean;
  force?: boolean;
  /** A targeted run (erasure, real-time): exactly these people (SyncAudienceInput.only). */
  only?: TargetedPeople;
  trigger?: SyncRunRecord['trigger'];
  /** Real-time flushes: the run's stats, written in its completed record (SyncAudienceInput.realtimeStats). */
  realtimeStats?: SyncAudienceInput['realtimeStats'];
  /** Cut requests at the platform's largest batch, whatever the destination's `batch_size` (real-time flushes). */
  largestBatches?: boolean;
  retry?: { maxAttempts?: number; maxDelayMs?: number };
  /**
   * How long to wait for asynchronous platform jobs (Google) in this call. In-process runs wait
   * (default 10 minutes); the worker passes 0 and looks again later from a delayed job.
   */
  finalizeWaitMs?: number;
  onProgress?: (p: { phase: string; done: number; total: number }) => void;
}

export async function runSyncStage(ctx: StageContext, options: SyncStageOptions): Promise<SyncRunRecord> {
  const { target } = options;
  const audience = ctx.loaded.config.audiences.find((a) => a.id === target.audienceId);
  if (!audience) throw new Error(`audience "${target.audienceId}" is not in the configuration`);
  const settings = ctx.loaded.config.sync_settings;
  const destination = openTarget(ctx, target, {
    dryRun: options.dryRun === true,
    runId: options.runId,
    ...(options.largestBatches ? { largestBatches: true } : {}),
  });
  return syncAudience({
    store: ctx.store,
    audienceId: target.audienceId,
    day: options.day,
    destination: target.destination,
    connector: destination.connector,
    ctx: destination.context,
    capabilities: destination.capabilities,
    batchSize: destination.batchSize,
    platform: destination.type,
    mode:
      target.kind === 'write_back' && audience.write_back
        ? { kind: 'write_back', attributes: audience.write_back.attributes }
        : { kind: 'audience' },
    runId: options.runId,
    ...(options.replace ? { replace: true } : {}),
    ...(options.confirm ? { confirm: true } : {}),
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.force ? { force: true } : {}),
    ...(options.only ? { only: options.only } : {}),
    ...(options.trigger ? { trigger: options.trigger } : {}),
    ...(options.realtimeStats ? { realtimeStats: options.realtimeStats } : {}),
    guards: { maxRemoveShare: settings.max_remove_share },
    recreateDeleted: settings.recreate_deleted_audiences,
    platformName: `${settings.audience_name_prefix}${target.audienceId}`,
    ...(audience.description ? { description: audience.description } : {}),
    ...(ctx.locker ? { locker: ctx.locker } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
    finalizeWaitMs: options.finalizeWaitMs ?? 10 * 60_000,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    log: ctx.log,
  });
}

export function runMeasureStageFor(
  ctx: StageContext,
  day: string,
  audienceIds?: readonly string[],
): Promise<MeasureStageResult[]> {
  const audiences = selectedAudiences(ctx.loaded.config, audienceIds).filter((a) => a.holdout);
  // Reports count data up to the end of the refreshed day.
  return runMeasureStage({ store: ctx.store, audiences, asOf: day });
}

/** The day a scheduled refresh works on: the day before today in the schedule's time zone. */
export function lastCompleteDayIn(timeZone: string, now: Date = new Date()): string {
  // en-CA formats dates as YYYY-MM-DD.
  const today = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(now);
  return addDays(today, -1);
}
