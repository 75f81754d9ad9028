import { type Job, Queue, UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import { ConfigError } from '../config/errors.js';
import { DATASETS, type Dataset } from '../contract/records.js';
import { type DatasetDrainResult, drainBuffers } from '../export/drain.js';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../storage/object-store.js';
import { QUEUES } from './queues.js';

/**
 * The export queue: a job scheduler drains every buffer each `EXPORT_INTERVAL_SECONDS` (one minute
 * by default), and ingest asks for an early drain of one dataset when its buffer passes
 * `EXPORT_TRIGGER_RECORDS`. Job data holds only the dataset name. The processor is a thin wrapper
 * around `drainBuffers`; overlapping jobs are harmless (the drain takes a per-dataset lease).
 */

export const EXPORT_SCHEDULER_ID = 'export-every-interval';

export interface ExportJobData {
  /** One dataset (early trigger), or every dataset when absent (the schedule). */
  dataset?: Dataset;
}

export interface ExportJobResult {
  datasets: Pick<
    DatasetDrainResult,
    'dataset' | 'status' | 'chunks' | 'written' | 'quarantined' | 'suppressed'
  >[];
}

const KEEP = { removeOnComplete: { age: 3600, count: 200 }, removeOnFail: { age: 7 * 86_400 } } as const;
/** Early triggers of one dataset within this window share one job id, so a burst adds one job. */
const EARLY_WINDOW_MS = 10_000;

/** Deterministic, `:`-free: `export-events-early-<10 s window>`. */
export function earlyExportJobId(dataset: Dataset, nowMs: number = Date.now()): string {
  return `export-${dataset}-early-${Math.floor(nowMs / EARLY_WINDOW_MS)}`;
}

export function exportQueue(connection: Redis, prefix: string): Queue<ExportJobData> {
  return new Queue<ExportJobData>(QUEUES.export, { connection, prefix, defaultJobOptions: KEEP });
}

/** Installs (or updates) the every-interval drain; safe to call from every worker at start. */
export async function upsertExportSchedule(
  queue: Queue<ExportJobData>,
  intervalSeconds: number,
): Promise<void> {
  await queue.upsertJobScheduler(
    EXPORT_SCHEDULER_ID,
    { every: intervalSeconds * 1000 },
    { name: 'export', data: {}, opts: KEEP },
  );
}

/** For the API: asks for an early drain of one dataset. */
export function createExportTrigger(queue: Queue<ExportJobData>): (dataset: Dataset) => Promise<void> {
  return async (dataset) => {
    await queue.add('export', { dataset }, { jobId: earlyExportJobId(dataset), ...KEEP });
  };
}

export interface ExportProcessorDeps {
  redis: Redis;
  store: ObjectStore;
  /** Redis key prefix of the ingest buffer. */
  ingestPrefix: string;
  logger: Logger;
}

export function exportProcessor(deps: ExportProcessorDeps) {
  return async (job: Job<ExportJobData>): Promise<ExportJobResult> => {
    const dataset = job.data.dataset;
    if (dataset !== undefined && !DATASETS.includes(dataset)) {
      throw new UnrecoverableError(`unknown dataset ${JSON.stringify(dataset)}`);
    }
    try {
      const results = await drainBuffers({
        redis: deps.redis,
        store: deps.store,
        prefix: deps.ingestPrefix,
        ...(dataset ? { datasets: [dataset] } : {}),
        logger: deps.logger,
      });
      const written = results.reduce((n, r) => n + r.written + r.quarantined + r.suppressed, 0);
      if (written > 0) deps.logger.info({ job: job.id, results: summary(results) }, 'export drained buffers');
      return { datasets: summary(results) };
    } catch (error) {
      // A configuration problem will not fix itself by retrying; store or Redis hiccups may.
      if (error instanceof ConfigError) throw new UnrecoverableError(error.message);
      throw error;
    }
  };
}

function summary(results: DatasetDrainResult[]): ExportJobResult['datasets'] {
  return results.map(({ dataset, status, chunks, written, quarantined, suppressed }) => ({
    dataset,
    status,
    chunks,
    written,
    quarantined,
    suppressed,
  }));
}
