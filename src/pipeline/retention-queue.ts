import { type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Env } from '../config/env.js';
import type { LoadedConfig } from '../config/load-config.js';
import { type AudienceSyncConfig, loadAudienceSyncConfig } from '../config-file.js';
import { type Logger, runLogger } from '../log.js';
import { type RetentionKind, type RetentionReport, runRetention } from '../privacy/retention.js';
import type { ObjectStore } from '../storage/object-store.js';
import { QUEUES } from './queues.js';

/**
 * The daily retention job (docs/privacy.md, "Retention"): a BullMQ job scheduler fires it on the
 * refresh's `schedule:` (cron and time zone; removed with it when `enabled: false`). The job data
 * is empty and its result holds counts only, never keys or identifiers. It reads the limits from
 * `CONFIG` on every run, so an edited file applies without a restart; deleting is idempotent, so a
 * retried or repeated job removes nothing twice.
 */
export const RETENTION_SCHEDULER_ID = 'daily-retention';

const KEEP = {
  removeOnComplete: { age: 7 * 86_400, count: 100 },
  removeOnFail: { age: 30 * 86_400 },
} as const;

export interface RetentionJobResult {
  today: string;
  units: number;
  keys_deleted: number;
  bytes: number;
  kinds: Partial<Record<RetentionKind, { units: number; keys: number; bytes: number; kept: number }>>;
}

export interface RetentionProcessorDeps {
  store: ObjectStore;
  env: Pick<Env, 'CONFIG'>;
  log: Logger;
  /** Defaults to loading `CONFIG` on every run. */
  loadConfig?: () => Promise<LoadedConfig<AudienceSyncConfig>>;
  now?: () => Date;
}

function retentionSummary(report: RetentionReport): RetentionJobResult {
  return {
    today: report.today,
    units: report.units,
    keys_deleted: report.keys_deleted,
    bytes: report.bytes,
    kinds: Object.fromEntries(
      report.kinds.map((k) => [
        k.kind,
        { units: k.units, keys: k.keys_deleted, bytes: k.bytes, kept: k.kept },
      ]),
    ),
  };
}

function createRetentionProcessor(deps: RetentionProcessorDeps): (job: Job) => Promise<RetentionJobResult> {
  const load = deps.loadConfig ?? (() => loadAudienceSyncConfig(deps.env.CONFIG));
  return async (job) => {
    const log = runLogger(deps.log, `retention-${job.id ?? 'adhoc'}`, { queue: QUEUES.retention });
    const { config } = await load();
    const report = await runRetention({
      store: deps.store,
      config: config.retention,
      now: deps.now?.() ?? new Date(),
      log,
    });
    return retentionSummary(report);
  };
}

export interface RetentionWorkerOptions extends RetentionProcessorDeps {
  connection: Redis;
  prefix: string;
}

/** One worker for the retention queue (concurrency 1: one sweep at a time is plenty). */
export function startRetentionWorker(options: RetentionWorkerOptions): Worker {
  const { connection, prefix, ...deps } = options;
  const worker = new Worker(QUEUES.retention, createRetentionProcessor(deps), {
    connection,
    prefix,
    concurrency: 1,
    maxStalledCount: 2,
  });
  worker.on('failed', (job, error) =>
    options.log.error({ queue: QUEUES.retention, job_id: job?.id, err: error }, 'retention job failed'),
  );
  worker.on('error', (error) =>
    options.log.error({ queue: QUEUES.retention, err: error }, 'retention worker error'),
  );
  return worker;
}

/** Installs (or updates, or removes when the schedule is disabled) the daily retention job. */
export async function upsertRetentionSchedule(
  pipeline: { connection: Redis; prefix: string },
  schedule: { cron: string; timezone: string; enabled: boolean },
): Promise<void> {
  const queue = new Queue(QUEUES.retention, { connection: pipeline.connection, prefix: pipeline.prefix });
  try {
    if (!schedule.enabled) {
      await queue.removeJobScheduler(RETENTION_SCHEDULER_ID);
      return;
    }
    await queue.upsertJobScheduler(
      RETENTION_SCHEDULER_ID,
      { pattern: schedule.cron, tz: schedule.timezone },
      { name: 'scheduled', data: {}, opts: KEEP },
    );
  } finally {
    await queue.close();
  }
}
