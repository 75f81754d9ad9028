import { randomBytes } from 'node:crypto';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAudienceSyncConfig } from '../../src/config-file.js';
import { createLogger } from '../../src/log.js';
import { QUEUES } from '../../src/pipeline/queues.js';
import {
  RETENTION_SCHEDULER_ID,
  type RetentionJobResult,
  startRetentionWorker,
  upsertRetentionSchedule,
} from '../../src/pipeline/retention-queue.js';
import { upsertSchedule } from '../../src/pipeline/worker.js';
import { keys } from '../../src/storage/keys.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';

describe('daily retention job', () => {
  let connection: Redis;
  let t: TestStore;
  const prefixes: string[] = [];
  const prefix = (label: string) => {
    const p = `test-retentionq-${label}-${randomBytes(4).toString('hex')}`;
    prefixes.push(p);
    return p;
  };

  beforeAll(async () => {
    connection = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    t = await createFsTestStore();
  });
  afterAll(async () => {
    for (const p of prefixes) {
      const found = await connection.keys(`${p}:*`);
      if (found.length) await connection.del(...found);
    }
    connection.disconnect();
    await t.cleanup();
  });

  it('is scheduled with the daily refresh, on its cron and time zone, and removed with it', async () => {
    const p = prefix('sched');
    const queue = new Queue(QUEUES.retention, { connection, prefix: p });
    try {
      await upsertSchedule({ connection, prefix: p }, { cron: '0 6 * * *', timezone: 'UTC', enabled: true });
      await upsertRetentionSchedule(
        { connection, prefix: p },
        { cron: '30 5 * * *', timezone: 'Europe/Berlin', enabled: true },
      );
      const schedulers = await queue.getJobSchedulers();
      expect(schedulers).toHaveLength(1);
      expect(schedulers[0]).toMatchObject({
        key: RETENTION_SCHEDULER_ID,
        pattern: '30 5 * * *',
        tz: 'Europe/Berlin',
      });
      // No data: the job reads everything it needs from the configuration and the store.
      expect(schedulers[0]!.template?.data ?? {}).toEqual({});
      await upsertSchedule({ connection, prefix: p }, { cron: '0 6 * * *', timezone: 'UTC', enabled: false });
      expect(await queue.getJobSchedulers()).toHaveLength(0);
    } finally {
      await queue.close();
    }
  });

  it('runs the sweep with the limits of the configuration and returns counts only', async () => {
    const p = prefix('run');
    const old = '2020-01-01';
    await t.store.put(keys.rawPart('events', old, 'a', 'a'), 'x');
    await t.store.put(keys.quarantinePart('events', old, 'a-a'), 'x');
    await t.store.put(keys.ledger('meta', 'buyers'), 'x');
    const loaded = parseAudienceSyncConfig(
      'version: 1\nretention: { quarantine_days: 3 }\n',
      'test.yaml',
      {},
    );
    const lines: string[] = [];
    const log = createLogger({ level: 'info' }, { write: (l: string) => lines.push(l) });
    const worker = startRetentionWorker({
      connection,
      prefix: p,
      store: t.store,
      env: { CONFIG: 'unused.yaml' },
      log,
      loadConfig: async () => loaded,
    });
    const queue = new Queue(QUEUES.retention, { connection, prefix: p });
    const events = new QueueEvents(QUEUES.retention, { connection, prefix: p });
    try {
      await events.waitUntilReady();
      const job = await queue.add('scheduled', {});
      const result = (await job.waitUntilFinished(events, 20_000)) as RetentionJobResult;
      expect(result).toMatchObject({ units: 2, keys_deleted: 2 });
      expect(result.kinds.raw).toMatchObject({ units: 1, keys: 1 });
      expect(result.kinds.quarantine).toMatchObject({ units: 1, keys: 1 });
      expect(JSON.stringify(result)).not.toContain('raw/');
      const left: string[] = [];
      for await (const i of t.store.list('')) left.push(i.key);
      expect(left).toEqual([keys.ledger('meta', 'buyers')]);
      expect(lines.join('')).toContain('"run_id":"retention-');
    } finally {
      await worker.close();
      await events.close();
      await queue.close();
    }
  });
});
