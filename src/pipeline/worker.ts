import { DelayedError, type Job, Queue, UnrecoverableError, WaitingChildrenError, Worker } from 'bullmq';
import { isConnectorError, RateLimitedError } from '../../connectors/core/errors.js';
import { compactionSummary, runCompactionStage } from '../compaction/stage.js';
import type { Env } from '../config/env.js';
import { ConfigError } from '../config/errors.js';
import { loadAudienceSyncConfig } from '../config-file.js';
import type { Logger } from '../log.js';
import { requestErasuresForDeleted } from '../privacy/deleted-people.js';
import { ErasureNotFoundError, runErasure } from '../privacy/erase.js';
import { flushRealtime } from '../realtime/flush.js';
import { type FlushJobData, routeSignals, type SignalJobData } from '../realtime/signals.js';
import { logBullErrors } from '../redis/clients.js';
import type { ObjectStore } from '../storage/object-store.js';
import { PlatformAudienceDeletedError, SyncBlockedError } from '../sync/execute.js';
import { RedisLocker } from '../sync/lock.js';
import {
  type ErasureJobData,
  enqueueErasure,
  enqueueRefresh,
  KEEP_JOBS,
  type PipelineConnection,
  SYNC_JOB_OPTIONS,
} from './flow.js';
import { startHealthWorker } from './health-queue.js';
import {
  type BuildJobResult,
  type CompactJobData,
  QUEUES,
  type RefreshJobData,
  type SyncJobData,
  stageJobId,
} from './queues.js';
import { startRetentionWorker, upsertRetentionSchedule } from './retention-queue.js';
import {
  lastCompleteDayIn,
  notBuiltMessage,
  runBuildStage,
  runMeasureStageFor,
  runPeopleStage,
  runSyncStage,
  type StageContext,
  type SyncStageOptions,
  selectedAudiences,
} from './stages.js';
import { syncTargets } from './targets.js';

/**
 * The BullMQ processors: thin wrappers around the stage functions. Connector errors decide the
 * retry: throttling pauses the destination's queue (`worker.rateLimit`), passing failures retry
 * with backoff, everything else is unrecoverable (a person must act). Syncs resume from their
 * checkpoints, so a retried or stalled job never resends a confirmed batch.
 */
export interface WorkerOptions extends PipelineConnection {
  env: Env;
  store: ObjectStore;
  log: Logger;
  concurrency?: number;
  /** Injected by tests (the platforms are loopback fakes; this only carries the HTTP client). */
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  /** How long a finalizing (asynchronous platform job) sync waits before it looks again. */
  finalizePollMs?: number;
  /**
   * Job lock lease and stalled-job check interval (BullMQ defaults: 30 s each). A worker that dies
   * loses its lease; another worker picks the job up after at most about lease + interval.
   */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Redis key prefix of the ingest buffer (default `QUEUE_PREFIX`, as `serve` writes it). */
  ingestPrefix?: string;
}

export interface RunningWorkers {
  workers: Worker[];
  /** Stops taking jobs and waits up to `timeoutMs` for active ones; the rest resume elsewhere. */
  close(timeoutMs?: number): Promise<void>;
}

export async function startWorkers(options: WorkerOptions): Promise<RunningWorkers> {
  const { connection, prefix, log } = options;
  const locker = new RedisLocker(connection, `${prefix}:lock:`);
  const context = async (): Promise<StageContext> => ({
    store: options.store,
    loaded: await loadAudienceSyncConfig(options.env.CONFIG),
    env: options.env,
    log,
    locker,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  });
  const base = {
    connection,
    prefix,
    maxStalledCount: 2,
    ...(options.lockDurationMs ? { lockDuration: options.lockDurationMs } : {}),
    ...(options.stalledIntervalMs ? { stalledInterval: options.stalledIntervalMs } : {}),
  };
  const concurrency = options.concurrency ?? 2;
  // Producers for queues named by name, opened once each and closed with the workers.
  const producers = new Map<string, Queue>();
  const producer = (name: string) => {
    let q = producers.get(name);
    if (!q) {
      q = logBullErrors(new Queue(name, { connection, prefix }), connection, log, `queue ${name}`);
      producers.set(name, q);
    }
    return q;
  };
  const syncQueue = (destination: string) => producer(QUEUES.sync(destination));

  const workers: Worker[] = [];
  workers.push(
    new Worker(
      QUEUES.compact,
      async (_job: Job<CompactJobData>) => {
        const ctx = await context();
        // Every closed day as of now (not only the refreshed one): a day closes grace hours late.
        return compactionSummary(await runCompactionStage(ctx));
      },
      { ...base, concurrency: 1 },
    ),
    // Erasure requests (docs/privacy.md): one at a time, so two erasures never rewrite one object
    // at once. A missing request cannot succeed on a retry.
    new Worker(
      QUEUES.erasure,
      async (job: Job<ErasureJobData>) => {
        const ctx = await context();
        try {
          const record = await runErasure({ ctx, id: job.data.erasureId });
          return { status: record.status, objects_rewritten: record.objects_rewritten.length };
        } catch (error) {
          if (error instanceof ErasureNotFoundError) throw new UnrecoverableError(error.message);
          throw error;
        }
      },
      { ...base, concurrency: 1 },
    ),
    new Worker(
      QUEUES.people,
      async (job: Job<RefreshJobData>) => {
        const ctx = await context();
        const manifest = await runPeopleStage(ctx, job.data.day);
        // People whose record arrived deleted, when configured: their erasures run on their own queue.
        const erasures = await requestErasuresForDeleted(ctx, job.data.day);
        for (const id of erasures) await enqueueErasure({ connection, prefix }, id);
        return { people: manifest.people, new_parts: manifest.new_parts.length, erasures: erasures.length };
      },
      { ...base, concurrency: 1 },
    ),
    new Worker(
      QUEUES.build,
      async (job: Job<RefreshJobData>) => {
        const ctx = await context();
        const result = await runBuildStage(ctx, job.data.day, job.data.audienceIds, (p) => {
          void job.updateProgress(p);
        });
        return {
          audiences: result.audiences.map((m) => ({
            audience: m.audience,
            treatment: m.counts.treatment,
            holdout: m.counts.holdout,
          })),
          // The syncs step fails these audiences' syncs with the reason (fanOutSyncs).
          failed: result.failed,
        } satisfies BuildJobResult;
      },
      { ...base, concurrency: 1 },
    ),
    new Worker(
      QUEUES.measure,
      async (job: Job<RefreshJobData>) => {
        const ctx = await context();
        const results = await runMeasureStageFor(ctx, job.data.day, job.data.audienceIds);
        return results.map((r) => ({ audience: r.audience, status: r.status }));
      },
      { ...base, concurrency: 1 },
    ),
    new Worker(
      QUEUES.refresh,
      async (job: Job<RefreshJobData & { runId: string; step?: string }>, token?: string) => {
        if (job.name === 'scheduled') {
          // The job scheduler fires this; the day is the last complete day in the schedule's zone.
          const ctx = await context();
          const day = lastCompleteDayIn(ctx.loaded.config.schedule.timezone);
          return enqueueRefresh({ connection, prefix }, { day });
        }
        if (job.name === 'syncs') return fanOutSyncs(job, token, { context, syncQueue, prefix });
        // The root: everything below has finished.
        const children = await job.getChildrenValues();
        return { run_id: job.data.runId, day: job.data.day, stages: Object.values(children) };
      },
      { ...base, concurrency },
    ),
  );

  // One worker per destination queue, so throttling by one platform pauses only its own queue.
  const initial = await context();

  /**
   * The real-time path: signals from ingest join per-destination micro-batches, and each
   * destination's flush queue sends them (throttling pauses only that destination's queue).
   */
  const realtimeWorkers = (destinations: readonly string[]): Worker[] => {
    const flushQueue = (destination: string) => producer(QUEUES.realtimeFlush(destination));
    const signals = new Worker(
      QUEUES.realtime,
      async (job: Job<SignalJobData>) => {
        const ctx = await context();
        return routeSignals({
          redis: connection,
          prefix,
          config: ctx.loaded.config,
          flushQueue,
          signals: job.data.signals,
          flushMs: ctx.loaded.config.sync_settings.realtime_flush_seconds * 1000,
        });
      },
      { ...base, concurrency },
    );
    const flushers = destinations.map((destination) => {
      const worker: Worker = new Worker(
        QUEUES.realtimeFlush(destination),
        async (job: Job<FlushJobData>) => {
          const ctx = await context();
          try {
            return await flushRealtime({
              ctx,
              redis: connection,
              prefix,
              ingestPrefix: options.ingestPrefix ?? options.env.QUEUE_PREFIX,
              data: job.data,
            });
          } catch (error) {
            throw mapSyncError(error, worker);
          }
        },
        { ...base, concurrency: 1 },
      );
      return worker;
    });
    return [signals, ...flushers];
  };
  for (const destination of Object.keys(initial.loaded.config.destinations)) {
    const worker: Worker = new Worker(
      QUEUES.sync(destination),
      async (job: Job<SyncJobData>, token?: string) => {
        // The build refused the audience: no snapshot of the day is to be synced, and no retry helps.
        if (job.data.notBuilt !== undefined)
          throw new UnrecoverableError(notBuiltMessage(job.data.day, job.data.notBuilt));
        const ctx = await context();
        try {
          const record = await runSyncStage(ctx, {
            ...syncStageOptions(job.data),
            onProgress: (p) => {
              void job.updateProgress(p);
            },
          });
          if (record.status === 'finalizing') {
            // The platform job is still running (Google can take hours): look again later.
            await job.moveToDelayed(Date.now() + (options.finalizePollMs ?? 5 * 60_000), token);
            throw new DelayedError();
          }
          return {
            run_id: record.run_id,
            status: record.status,
            requests: record.requests,
            add: record.plan.add,
            remove: record.plan.remove,
          };
        } catch (error) {
          throw mapSyncError(error, worker);
        }
      },
      { ...base, concurrency: 1 },
    );
    workers.push(worker);
  }
  workers.push(...realtimeWorkers(Object.keys(initial.loaded.config.destinations)));
  for (const w of workers) {
    w.on('failed', (job, error) => {
      log.error({ queue: w.name, job_id: job?.id, err: error.message }, 'job failed');
    });
    w.on('error', (error) => log.error({ queue: w.name, err: error.message }, 'worker error'));
  }
  // Data-health checks (it logs its own failures, so it joins after the loop above).
  workers.push(
    startHealthWorker({ connection, prefix, store: options.store, env: options.env, log, redis: connection }),
    // The daily retention sweep (docs/privacy.md); it logs its own failures too.
    startRetentionWorker({ connection, prefix, store: options.store, env: options.env, log }),
  );
  return {
    workers,
    async close(timeoutMs = 30_000) {
      const graceful = Promise.all(workers.map((w) => w.close()));
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
      if ((await Promise.race([graceful, timer])) === 'timeout') {
        log.warn(
          { timeout_ms: timeoutMs },
          'jobs still active at shutdown; they resume from their checkpoints',
        );
        await Promise.all(workers.map((w) => w.close(true)));
      }
      await Promise.all([...producers.values()].map((q) => q.close()));
    },
  };
}

async function fanOutSyncs(
  job: Job<RefreshJobData & { runId: string; step?: string }>,
  token: string | undefined,
  queues: { context: () => Promise<StageContext>; syncQueue: (destination: string) => Queue; prefix: string },
): Promise<unknown> {
  if (job.data.step !== 'waiting') {
    const ctx = await queues.context();
    const targets = syncTargets(selectedAudiences(ctx.loaded.config, job.data.audienceIds));
    // The build step is this job's child: the audiences it refused get sync jobs that fail with its
    // reason (as the in-process refresh reports them), so the failure shows per audience × destination.
    const built = (await job.getChildrenValues<BuildJobResult>())[
      `${queues.prefix}:${QUEUES.build}:${stageJobId('build', job.data.runId)}`
    ];
    const notBuilt = new Map((built?.failed ?? []).map((f) => [f.audience, f.message]));
    for (const target of targets) {
      const refused = notBuilt.get(target.audienceId);
      const data: SyncJobData = {
        day: job.data.day,
        audienceId: target.audienceId,
        destination: target.destination,
        kind: target.kind,
        runId: job.data.dryRun ? `dry-${job.data.runId}` : job.data.day,
        ...(job.data.dryRun ? { dryRun: true } : {}),
        ...(refused !== undefined ? { notBuilt: refused } : {}),
      };
      await queues.syncQueue(target.destination).add('sync', data, {
        jobId: stageJobId('sync', job.data.runId, target.audienceId, target.destination, target.kind),
        parent: { id: job.id!, queue: job.queueQualifiedName },
        // A failed sync is reported; measurement still runs.
        ignoreDependencyOnFailure: true,
        ...SYNC_JOB_OPTIONS,
      });
    }
    await job.updateData({ ...job.data, step: 'waiting' });
    if (await job.moveToWaitingChildren(token ?? '')) throw new WaitingChildrenError();
  }
  const values = await job.getChildrenValues();
  const failures = await job.getIgnoredChildrenFailures();
  return { completed: Object.values(values), failed: Object.values(failures) };
}

/** What a sync job asks of the sync stage (the worker adds progress reporting). */
export function syncStageOptions(data: SyncJobData): SyncStageOptions {
  return {
    day: data.day,
    target: { audienceId: data.audienceId, destination: data.destination, kind: data.kind },
    runId: data.runId,
    ...(data.dryRun ? { dryRun: true } : {}),
    // Set only on a sync queued after a person confirmed what a guard stopped.
    ...(data.confirm ? { confirm: true } : {}),
    // Short in-process retries; longer waits go back to BullMQ.
    retry: { maxAttempts: 3, maxDelayMs: 60_000 },
    finalizeWaitMs: 0,
  };
}

function mapSyncError(error: unknown, worker: Worker): unknown {
  if (error instanceof DelayedError || error instanceof WaitingChildrenError) return error;
  if (error instanceof RateLimitedError) {
    void worker.rateLimit(error.delayMs);
    return Worker.RateLimitError();
  }
  if (isConnectorError(error)) return error.retry ? error : new UnrecoverableError(error.message);
  if (
    error instanceof SyncBlockedError ||
    error instanceof PlatformAudienceDeletedError ||
    error instanceof ConfigError
  ) {
    return new UnrecoverableError(error.message);
  }
  return error;
}

/** Installs (or updates) the daily refresh schedule from the config, and the retention job on the same one. */
export async function upsertSchedule(
  pipeline: PipelineConnection,
  schedule: { cron: string; timezone: string; enabled: boolean },
): Promise<void> {
  await upsertRetentionSchedule(pipeline, schedule);
  const queue = new Queue(QUEUES.refresh, { connection: pipeline.connection, prefix: pipeline.prefix });
  try {
    if (!schedule.enabled) {
      await queue.removeJobScheduler('daily-refresh');
      return;
    }
    await queue.upsertJobScheduler(
      'daily-refresh',
      { pattern: schedule.cron, tz: schedule.timezone },
      { name: 'scheduled', data: {}, opts: KEEP_JOBS },
    );
  } finally {
    await queue.close();
  }
}
