import { type Job, Queue, UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Env } from '../config/env.js';
import { ConfigError } from '../config/errors.js';
import { type ImportResult, importCustomerIo } from '../export/customerio/import.js';
import type { CustomerIoImportConfig } from '../export/customerio/mapping.js';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../storage/object-store.js';
import { openStore } from '../storage/open-store.js';
import { QUEUES } from './queues.js';

/**
 * The Customer.io Data Out import as a scheduled job. Customer.io writes new Parquet files about
 * every 15 minutes, so the scheduler runs at that pace when `CIO_DATA_OUT_URL` is set. Job data
 * holds only the source URL; the processor is a thin wrapper around `importCustomerIo`.
 */

export const IMPORT_SCHEDULER_ID = 'import-customerio-every-15-minutes';
const IMPORT_INTERVAL_MS = 15 * 60_000;

export interface ImportJobData {
  source: string;
}

const KEEP = { removeOnComplete: { age: 86_400, count: 200 }, removeOnFail: { age: 7 * 86_400 } } as const;

export function importQueue(connection: Redis, prefix: string): Queue<ImportJobData> {
  return new Queue<ImportJobData>(QUEUES.import, { connection, prefix, defaultJobOptions: KEEP });
}

export async function upsertImportSchedule(queue: Queue<ImportJobData>, source: string): Promise<void> {
  await queue.upsertJobScheduler(
    IMPORT_SCHEDULER_ID,
    { every: IMPORT_INTERVAL_MS },
    { name: 'import-customerio', data: { source }, opts: KEEP },
  );
}

export interface ImportProcessorDeps {
  env: Env;
  store: ObjectStore;
  logger: Logger;
  /** The `import.customerio` mapping from the YAML (re-read by the caller when it changes). */
  config: () => Promise<CustomerIoImportConfig | undefined>;
}

export function importProcessor(deps: ImportProcessorDeps) {
  return async (
    job: Job<ImportJobData>,
  ): Promise<
    Pick<ImportResult, 'imported' | 'rows' | 'written' | 'quarantined' | 'suppressed' | 'failed'>
  > => {
    let source: ObjectStore;
    try {
      source = openStore(job.data.source, deps.env);
    } catch (error) {
      throw new UnrecoverableError(`import source is not usable: ${(error as Error).message}`);
    }
    try {
      const config = await deps.config();
      const result = await importCustomerIo({
        source,
        store: deps.store,
        logger: deps.logger,
        ...(config ? { config } : {}),
      });
      const { imported, rows, written, quarantined, suppressed, failed } = result;
      deps.logger.info(
        { job: job.id, imported, rows, written, quarantined, suppressed, failed },
        'customer.io import finished',
      );
      return { imported, rows, written, quarantined, suppressed, failed };
    } catch (error) {
      if (error instanceof ConfigError) throw new UnrecoverableError(error.message);
      throw error;
    } finally {
      await source.close();
    }
  };
}
