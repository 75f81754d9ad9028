import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Env } from '../config/env.js';
import type { CustomerIoImportConfig } from '../export/customerio/mapping.js';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../storage/object-store.js';
import { exportProcessor, exportQueue, upsertExportSchedule } from './export-queue.js';
import { IMPORT_SCHEDULER_ID, importProcessor, importQueue, upsertImportSchedule } from './import-queue.js';
import { QUEUES } from './queues.js';

/**
 * The export and import processors with their schedules, ready to run inside the full worker.
 * Each queue is processed one job at a time per process; across processes the drain's per-dataset
 * lease keeps two exports of one dataset from overlapping.
 */
export interface ExportWorkerOptions {
  /** BullMQ connection (`maxRetriesPerRequest: null`); also used for the buffer commands. */
  connection: Redis;
  /** BullMQ key prefix. */
  prefix: string;
  /** Redis key prefix of the ingest buffer (the API's). */
  ingestPrefix: string;
  env: Env;
  store: ObjectStore;
  logger: Logger;
  importConfig: () => Promise<CustomerIoImportConfig | undefined>;
}

export interface RunningExportWorkers {
  workers: Worker[];
  close(): Promise<void>;
}

export async function startExportWorkers(options: ExportWorkerOptions): Promise<RunningExportWorkers> {
  const { connection, prefix, env, logger } = options;
  const exports = exportQueue(connection, prefix);
  await upsertExportSchedule(exports, env.EXPORT_INTERVAL_SECONDS);
  const imports = importQueue(connection, prefix);
  if (env.CIO_DATA_OUT_URL) await upsertImportSchedule(imports, env.CIO_DATA_OUT_URL);
  else await imports.removeJobScheduler(IMPORT_SCHEDULER_ID);

  const workers = [
    new Worker(
      QUEUES.export,
      exportProcessor({
        redis: connection,
        store: options.store,
        ingestPrefix: options.ingestPrefix,
        logger,
      }),
      { connection, prefix, concurrency: 1 },
    ),
    new Worker(
      QUEUES.import,
      importProcessor({ env, store: options.store, logger, config: options.importConfig }),
      { connection, prefix, concurrency: 1 },
    ),
  ];
  for (const worker of workers) {
    worker.on('failed', (job, error) =>
      logger.warn(
        { queue: worker.name, job: job?.id, errorType: error.name, error: error.message.slice(0, 200) },
        'job failed',
      ),
    );
  }
  return {
    workers,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await exports.close();
      await imports.close();
    },
  };
}
