import type { BuildResult } from '../audiences/build.js';
import { compactionSummary, runCompactionStage } from '../compaction/stage.js';
import type { MeasureStageResult } from '../measure/stage.js';
import type { PeopleSnapshotManifest } from '../people/snapshot.js';
import { requestErasuresForDeleted } from '../privacy/deleted-people.js';
import { runErasure } from '../privacy/erase.js';
import { SyncBlockedError } from '../sync/execute.js';
import type { SyncRunRecord } from '../sync/run-record.js';
import {
  notBuiltMessage,
  runBuildStage,
  runMeasureStageFor,
  runPeopleStage,
  runSyncStage,
  type StageContext,
  selectedAudiences,
} from './stages.js';
import { type SyncTarget, syncTargets } from './targets.js';

/**
 * The daily refresh in this process: compaction of closed days → people → build → sync (audience ×
 * destination, write-back included) → measure. The same stage functions back the BullMQ flow. A
 * failing sync does not stop the others, nor does a failing compaction stop the refresh (readers
 * take raw parts in either form); the summary says what failed and why.
 */
export interface RefreshOptions {
  day: string;
  audienceIds?: string[];
  dryRun?: boolean;
  force?: boolean;
  confirm?: boolean;
  onStage?: (event: RefreshEvent) => void;
}

export type RefreshEvent =
  | { stage: 'compaction' | 'people' | 'build' | 'measure'; status: 'started' | 'done' }
  | { stage: 'compaction'; status: 'failed'; error: string }
  | {
      stage: 'sync';
      status: 'started' | 'done' | 'failed' | 'blocked';
      target: SyncTarget;
      done: number;
      total: number;
    };

export interface SyncOutcome {
  target: SyncTarget;
  status: 'completed' | 'finalizing' | 'failed' | 'blocked';
  run_id?: string;
  requests?: number;
  add?: number;
  remove?: number;
  error?: string;
}

export interface RefreshSummary {
  day: string;
  dry_run: boolean;
  /** Closed days compacted before the build, or why compaction failed (the refresh went on). */
  compaction: ReturnType<typeof compactionSummary> | { error: string };
  people: Pick<PeopleSnapshotManifest, 'people' | 'new_people' | 'updated_people'>;
  audiences: { id: string; treatment: number; holdout: number; eligible: number }[];
  syncs: SyncOutcome[];
  reports: { audience: string; status: string; reason?: string }[];
  ok: boolean;
}

export async function runRefreshInline(ctx: StageContext, options: RefreshOptions): Promise<RefreshSummary> {
  const { day } = options;
  const emit = options.onStage ?? (() => {});
  emit({ stage: 'compaction', status: 'started' });
  let compaction: RefreshSummary['compaction'];
  try {
    compaction = compactionSummary(await runCompactionStage(ctx));
    emit({ stage: 'compaction', status: 'done' });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    compaction = { error: message };
    ctx.log.error({ err: message }, 'compaction failed; the refresh goes on with the parts as they are');
    emit({ stage: 'compaction', status: 'failed', error: message });
  }

  emit({ stage: 'people', status: 'started' });
  const people = await runPeopleStage(ctx, day);
  // People whose record arrived deleted, when configured: erased before anything is built or sent.
  for (const id of await requestErasuresForDeleted(ctx, day)) await runErasure({ ctx, id });
  emit({ stage: 'people', status: 'done' });

  emit({ stage: 'build', status: 'started' });
  const built: BuildResult = await runBuildStage(ctx, day, options.audienceIds);
  emit({ stage: 'build', status: 'done' });

  const audiences = selectedAudiences(ctx.loaded.config, options.audienceIds);
  const targets = syncTargets(audiences);
  // An audience the build refused (a stale or missing score table) has no snapshot to sync: its
  // syncs fail with the build's reason instead of running.
  const notBuilt = new Map(built.failed.map((f) => [f.audience, f.message]));
  const syncs = [
    ...(await runSyncs(
      ctx,
      targets.filter((t) => !notBuilt.has(t.audienceId)),
      options,
      emit,
    )),
    ...targets
      .filter((t) => notBuilt.has(t.audienceId))
      .map(
        (target): SyncOutcome => ({
          target,
          status: 'failed',
          error: notBuiltMessage(day, notBuilt.get(target.audienceId)!),
        }),
      ),
  ];

  emit({ stage: 'measure', status: 'started' });
  const reports: MeasureStageResult[] = await runMeasureStageFor(ctx, day, options.audienceIds);
  emit({ stage: 'measure', status: 'done' });

  return {
    day,
    dry_run: options.dryRun === true,
    compaction,
    people: { people: people.people, new_people: people.new_people, updated_people: people.updated_people },
    audiences: built.audiences.map((m) => ({
      id: m.audience,
      treatment: m.counts.treatment,
      holdout: m.counts.holdout,
      eligible: m.counts.eligible,
    })),
    syncs,
    reports: reports.map((r) =>
      r.status === 'skipped'
        ? { audience: r.audience, status: r.status, reason: r.reason }
        : { audience: r.audience, status: r.status },
    ),
    ok: syncs.every((s) => s.status === 'completed' || s.status === 'finalizing'),
  };
}

/** Syncs run with bounded concurrency; one destination's syncs never overlap on one audience. */
async function runSyncs(
  ctx: StageContext,
  targets: SyncTarget[],
  options: RefreshOptions,
  emit: (e: RefreshEvent) => void,
): Promise<SyncOutcome[]> {
  const limit = ctx.loaded.config.sync_settings.concurrency;
  const outcomes: SyncOutcome[] = new Array(targets.length);
  let next = 0;
  let done = 0;
  const runId = options.dryRun ? `dry-${options.day}-${Date.now().toString(36)}` : options.day;
  async function lane(): Promise<void> {
    for (;;) {
      const i = next++;
      const target = targets[i];
      if (!target) return;
      emit({ stage: 'sync', status: 'started', target, done, total: targets.length });
      try {
        const record: SyncRunRecord = await runSyncStage(ctx, {
          day: options.day,
          target,
          runId,
          ...(options.dryRun ? { dryRun: true } : {}),
          ...(options.force ? { force: true } : {}),
          ...(options.confirm ? { confirm: true } : {}),
        });
        outcomes[i] = {
          target,
          status:
            record.status === 'finalizing'
              ? 'finalizing'
              : record.status === 'completed'
                ? 'completed'
                : 'failed',
          run_id: record.run_id,
          requests: record.requests,
          add: record.plan.add,
          remove: record.plan.remove,
          ...(record.error ? { error: record.error.message } : {}),
        };
        done += 1;
        emit({ stage: 'sync', status: 'done', target, done, total: targets.length });
      } catch (error) {
        done += 1;
        const blocked = error instanceof SyncBlockedError;
        outcomes[i] = {
          target,
          status: blocked ? 'blocked' : 'failed',
          error: error instanceof Error ? error.message : String(error),
          ...(blocked ? { run_id: error.record.run_id } : {}),
        };
        ctx.log.error(
          { destination: target.destination, audience: target.audienceId, err: outcomes[i]!.error },
          'sync failed',
        );
        emit({ stage: 'sync', status: blocked ? 'blocked' : 'failed', target, done, total: targets.length });
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, targets.length) }, lane));
  return outcomes;
}
