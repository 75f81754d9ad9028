import { type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Env } from '../config/env.js';
import type { LoadedConfig } from '../config/load-config.js';
import { type AudienceSyncConfig, loadAudienceSyncConfig } from '../config-file.js';
import type { Finding } from '../health/findings.js';
import { runHealth } from '../health/run.js';
import { type Logger, runLogger } from '../log.js';
import type { ObjectStore } from '../storage/object-store.js';
import { QUEUES } from './queues.js';

/**
 * The scheduled data-health job: a BullMQ job scheduler runs the checks every
 * `health.every_minutes`, and alerts go out for findings that changed state. The job data is empty
 * (everything is read from durable state); one scheduler id, so upserting again only changes the
 * interval. Findings are the job's result, not its failure: a critical finding must not make
 * BullMQ retry the run (the alert state already prevents repeats). The job fails only when the
 * checks cannot run at all.
 */
export const HEALTH_SCHEDULER_ID = 'health-checks';

const KEEP = { removeOnComplete: { age: 86_400, count: 200 }, removeOnFail: { age: 7 * 86_400 } } as const;

export interface HealthJobResult {
  day: string;
  findings: Pick<Finding, 'id' | 'severity'>[];
  fired: string[];
  resolved: string[];
  firing: number;
  undelivered: number;
}

export interface HealthProcessorDeps {
  store: ObjectStore;
  env: Pick<Env, 'CONFIG'>;
  log: Logger;
  /** The ingest Redis for buffer checks (the worker's connection will do). */
  redis?: Redis;
  /** Key prefix of the ingest buffer (default: the worker's prefix, i.e. QUEUE_PREFIX; else `audience-sync`). */
  redisPrefix?: string;
  /** Defaults to loading `CONFIG` on every run, so an edited file applies without a restart. */
  loadConfig?: () => Promise<LoadedConfig<AudienceSyncConfig>>;
  fetch?: typeof fetch;
  now?: () => Date;
}

function createHealthProcessor(deps: HealthProcessorDeps): (job: Job) => Promise<HealthJobResult> {
  const load = deps.loadConfig ?? (() => loadAudienceSyncConfig(deps.env.CONFIG));
  return async (job) => {
    const logger = runLogger(deps.log, `health-${job.id ?? 'adhoc'}`, { queue: QUEUES.health });
    const loaded = await load();
    const result = await runHealth({
      store: deps.store,
      config: loaded.config,
      log: logger,
      ...(deps.redis ? { redis: deps.redis } : {}),
      ...(deps.redisPrefix ? { redisPrefix: deps.redisPrefix } : {}),
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
      ...(deps.now ? { now: deps.now() } : {}),
    });
    const summary: HealthJobResult = {
      day: result.report.day,
      findings: result.report.findings.map((f) => ({ id: f.id, severity: f.severity })),
      fired: result.alerts.fired,
      resolved: result.alerts.resolved,
      firing: result.alerts.firing.length,
      undelivered: result.alerts.deliveries.filter((d) => !d.ok).length,
    };
    logger.info(
      {
        findings: summary.findings.length,
        fired: summary.fired.length,
        resolved: summary.resolved.length,
        firing: summary.firing,
      },
      'health checks done',
    );
    return summary;
  };
}

export interface HealthWorkerOptions extends HealthProcessorDeps {
  connection: Redis;
  prefix: string;
}

/** One worker for the health queue (concurrency 1: two runs at once could both announce a change). */
export function startHealthWorker(options: HealthWorkerOptions): Worker {
  const { connection, prefix, ...deps } = options;
  // The ingest buffer shares the deployment's prefix (QUEUE_PREFIX) unless told otherwise.
  const worker = new Worker(QUEUES.health, createHealthProcessor({ redisPrefix: prefix, ...deps }), {
    connection,
    prefix,
    concurrency: 1,
    maxStalledCount: 1,
  });
  worker.on('failed', (job, error) =>
    options.log.error({ queue: QUEUES.health, job_id: job?.id, err: error }, 'health check job failed'),
  );
  worker.on('error', (error) =>
    options.log.error({ queue: QUEUES.health, err: error }, 'health worker error'),
  );
  return worker;
}

/** Installs (or updates) the schedule: a health run every `everyMinutes`. */
export async function upsertHealthSchedule(
  pipeline: { connection: Redis; prefix: string },
  everyMinutes: number,
): Promise<void> {
  const queue = new Queue(QUEUES.health, { connection: pipeline.connection, prefix: pipeline.prefix });
  try {
    await queue.upsertJobScheduler(
      HEALTH_SCHEDULER_ID,
      { every: everyMinutes * 60_000 },
      { name: 'health-checks', data: {}, opts: KEEP },
    );
  } finally {
    await queue.close();
  }
}
