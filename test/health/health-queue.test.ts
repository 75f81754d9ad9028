import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { type Job, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ALERT_STATE_KEY, type AlertState } from '../../src/health/alerts.js';
import { createLogger } from '../../src/log.js';
import {
  HEALTH_SCHEDULER_ID,
  type HealthJobResult,
  startHealthWorker,
  upsertHealthSchedule,
} from '../../src/pipeline/health-queue.js';
import { QUEUES } from '../../src/pipeline/queues.js';
import { keys } from '../../src/storage/keys.js';
import { readJson } from '../../src/storage/object-store.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { NOW, seedHealthy, testConfig } from './fixture.js';

describe('scheduled health job', () => {
  let connection: Redis;
  let t: TestStore;
  const prefixes: string[] = [];
  const prefix = (label: string) => {
    const p = `test-healthq-${label}-${randomBytes(4).toString('hex')}`;
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

  it('installs one scheduler and changes only its interval when upserted again', async () => {
    const p = prefix('sched');
    await upsertHealthSchedule({ connection, prefix: p }, 15);
    await upsertHealthSchedule({ connection, prefix: p }, 5);
    const queue = new Queue(QUEUES.health, { connection, prefix: p });
    try {
      const schedulers = await queue.getJobSchedulers();
      expect(schedulers).toHaveLength(1);
      expect(schedulers[0]).toMatchObject({ key: HEALTH_SCHEDULER_ID, every: 300_000 });
    } finally {
      await queue.close();
    }
  });

  it('runs the checks as a job, alerts once per state change, and returns a summary of finding ids', async () => {
    await seedHealthy(t.store);
    const today = NOW.toISOString().slice(0, 10);
    const stale: string[] = [];
    for await (const i of t.store.list(keys.rawPrefix('people', today))) stale.push(i.key);
    await t.store.delete(stale);
    // Make the people check strict enough to notice a morning without identifies.
    const config = testConfig();
    config.health.freshness.people = 60;

    const lines: string[] = [];
    const log = createLogger(
      { level: 'info' },
      new Writable({
        write(chunk, _e, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const p = prefix('run');
    const worker = startHealthWorker({
      connection,
      prefix: p,
      store: t.store,
      env: { CONFIG: 'unused.yaml' },
      log,
      loadConfig: async () => ({ config, source: 'test.yaml', missingByDestination: {} }),
      now: () => NOW,
    });
    const queue = new Queue(QUEUES.health, { connection, prefix: p });
    const eventsConnection = connection.duplicate();
    const events = new QueueEvents(QUEUES.health, { connection: eventsConnection, prefix: p });
    await events.waitUntilReady();
    try {
      const run = async (id: string): Promise<HealthJobResult> => {
        const job: Job = await queue.add('health-checks', {}, { jobId: id });
        return (await job.waitUntilFinished(events, 15_000)) as HealthJobResult;
      };
      const first = await run('health-1');
      expect(first.fired).toEqual(['freshness:people']);
      expect(first.findings).toContainEqual({ id: 'freshness:people', severity: 'critical' });
      const second = await run('health-2');
      expect(second.fired).toEqual([]);
      expect(second.firing).toBe(1);

      const state = await readJson<AlertState>(t.store, ALERT_STATE_KEY);
      expect(state.alerts['freshness:people']).toMatchObject({
        status: 'firing',
        notified: { log: { status: 'firing' } },
      });
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(parsed.filter((l) => l.alert_id === 'freshness:people')).toHaveLength(1);
      // Every line of the job carries its run id.
      const done = parsed.filter((l) => l.msg === 'health checks done');
      expect(done.map((l) => l.run_id)).toEqual(['health-health-1', 'health-health-2']);
      // The unset webhook variable is reported by name, once per run.
      expect(parsed.filter((l) => String(l.msg).includes('ALERT_WEBHOOK_URL'))).toHaveLength(2);
    } finally {
      await worker.close();
      await events.close();
      await queue.close();
      eventsConnection.disconnect();
    }
  });
});
