import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { IngestBuffer } from '../../src/ingest/buffer.js';
import { createTrackChecker } from '../../src/ingest/track.js';
import { log } from '../../src/log.js';
import {
  createExportTrigger,
  EXPORT_SCHEDULER_ID,
  earlyExportJobId,
  exportQueue,
} from '../../src/pipeline/export-queue.js';
import { type RunningExportWorkers, startExportWorkers } from '../../src/pipeline/export-worker.js';
import { IMPORT_SCHEDULER_ID, importQueue } from '../../src/pipeline/import-queue.js';
import { putDataOut } from '../export/data-out-fixtures.js';
import { createFsTestStore } from '../helpers/stores.js';

type FsTestStore = Awaited<ReturnType<typeof createFsTestStore>>;

import { QUEUES } from '../../src/pipeline/queues.js';
import { deletePrefix, readAll, testEnv, uniquePrefix } from '../ingest/harness.js';

describe('export and import queues (BullMQ)', () => {
  const bullPrefix = uniquePrefix('bull');
  const ingestPrefix = uniquePrefix('buf');
  let connection: Redis;
  let t: FsTestStore;
  let source: FsTestStore;
  let running: RunningExportWorkers;

  beforeAll(async () => {
    connection = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    t = await createFsTestStore();
    source = await createFsTestStore();
    running = await startExportWorkers({
      connection,
      prefix: bullPrefix,
      ingestPrefix,
      env: testEnv({ EXPORT_INTERVAL_SECONDS: '60', CIO_DATA_OUT_URL: source.root }),
      store: t.store,
      logger: log,
      importConfig: async () => undefined,
    });
  });
  afterAll(async () => {
    await running.close();
    await deletePrefix(connection, bullPrefix);
    await deletePrefix(connection, ingestPrefix);
    connection.disconnect();
    await t.cleanup();
    await source.cleanup();
  });

  it('installs the export schedule and, with CIO_DATA_OUT_URL, the import schedule', async () => {
    const exports = exportQueue(connection, bullPrefix);
    const imports = importQueue(connection, bullPrefix);
    const exportScheduler = await exports.getJobScheduler(EXPORT_SCHEDULER_ID);
    expect(exportScheduler).toMatchObject({ every: 60_000 });
    const importScheduler = await imports.getJobScheduler(IMPORT_SCHEDULER_ID);
    expect(importScheduler).toMatchObject({ every: 15 * 60_000 });
    expect(importScheduler?.template?.data).toEqual({ source: source.root });
    await exports.close();
    await imports.close();
  });

  it('drains a buffer when an early export is requested, with a deterministic job id', async () => {
    const queue = exportQueue(connection, bullPrefix);
    // Take the every-minute schedule out of the picture, so only the early job can drain.
    await queue.removeJobScheduler(EXPORT_SCHEDULER_ID);
    for (let i = 0; i < 200 && (await queue.getJobCountByTypes('active', 'waiting', 'delayed')) > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await queue.getJobCountByTypes('active', 'waiting', 'delayed')).toBe(0);
    const buffer = new IngestBuffer({ redis: connection, prefix: ingestPrefix, dedupeHours: 1 });
    const check = createTrackChecker();
    const items = Array.from({ length: 30 }, (_, i) => {
      const outcome = check(
        { id: `q-${i}`, customer_id: `c${i}`, name: 'viewed', timestamp: 1_795_780_800 },
        new Date().toISOString(),
      );
      if (!outcome.ok) throw new Error('rejected');
      return outcome.item;
    });
    await buffer.add(items);

    const events = new QueueEvents(QUEUES.export, { connection: connection.duplicate(), prefix: bullPrefix });
    await events.waitUntilReady();
    const trigger = createExportTrigger(queue);
    const id = earlyExportJobId('events');
    expect(id).toMatch(/^export-events-early-\d+$/);
    expect(id).not.toContain(':');
    await trigger('events');
    await trigger('events'); // a burst adds one job
    const job = await queue.getJob(id);
    expect(job?.data).toEqual({ dataset: 'events' });
    const result = await job!.waitUntilFinished(events, 20_000);
    expect(result.datasets).toEqual([
      { dataset: 'events', status: 'drained', chunks: 1, written: 30, quarantined: 0, suppressed: 0 },
    ]);
    expect(await readAll(t.store, 'raw/events/dt=2026-11-27/')).toHaveLength(30);
    await events.close();
    await queue.close();
  });

  it('imports Customer.io Data Out files from a job', async () => {
    await putDataOut(source.store, 'people_1.parquet', 'people', [
      {
        workspace_id: 1,
        customer_id: 'gone',
        internal_customer_id: 'cio-g',
        deleted: true,
        suppressed: false,
        updated_at: new Date('2026-11-27T08:00:00Z'),
      },
    ]);
    const queue = importQueue(connection, bullPrefix);
    const events = new QueueEvents(QUEUES.import, { connection: connection.duplicate(), prefix: bullPrefix });
    await events.waitUntilReady();
    const job = await queue.add('import-customerio', { source: source.root }, { jobId: 'import-test-1' });
    const result = await job.waitUntilFinished(events, 20_000);
    expect(result).toMatchObject({ imported: 1, written: 1, failed: 0 });
    const [person] = await readAll(t.store, 'raw/people/');
    expect(person!.record).toMatchObject({ customer_id: 'gone', deleted: true });
    await events.close();
    await queue.close();
  });
});
