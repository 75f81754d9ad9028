import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { metricsPlugin } from '../../src/api/plugins/metrics.js';
import { parseEnv } from '../../src/config/env.js';
import { createMetrics } from '../../src/health/metrics.js';
import { createLogger } from '../../src/log.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';

const silent = createLogger({ level: 'silent' });

function seriesValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics plugin', () => {
  let t: TestStore;
  afterEach(() => t.cleanup());

  it('reads queue counts through a connection of its own (REDIS_URL, QUEUE_PREFIX)', async () => {
    t = await createFsTestStore();
    const env = parseEnv({
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: `test-mp-${randomBytes(4).toString('hex')}`,
    });
    const app = await buildApp({
      env,
      store: t.store,
      logger: silent,
      redisPrefix: `test-mp-${randomBytes(4).toString('hex')}`,
    });
    await app.register(metricsPlugin, { metrics: createMetrics({ processMetrics: false }), ttlMs: 0 });
    // The ingest connection fails fast by design: wait until it is up, as a running server is.
    if (app.redis.status !== 'ready') await once(app.redis, 'ready');
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    await app.close();
    expect(res.statusCode).toBe(200);
    expect(seriesValue(res.body, 'audience_sync_metrics_source_up{source="queues"}')).toBe(1);
    expect(seriesValue(res.body, 'audience_sync_metrics_source_up{source="buffer"}')).toBe(1);
    expect(seriesValue(res.body, 'audience_sync_queue_jobs{queue="health",state="failed"}')).toBe(0);
  });

  it('still answers when Redis is down, saying which sources are stale', async () => {
    t = await createFsTestStore();
    // Port 1: nothing listens.
    const env = parseEnv({ REDIS_URL: 'redis://127.0.0.1:1' });
    const app = await buildApp({ env, store: t.store, logger: silent });
    await app.register(metricsPlugin, { metrics: createMetrics(), ttlMs: 0 });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    await app.close();
    expect(res.statusCode).toBe(200);
    expect(seriesValue(res.body, 'audience_sync_metrics_source_up{source="buffer"}')).toBe(0);
    expect(seriesValue(res.body, 'audience_sync_metrics_source_up{source="queues"}')).toBe(0);
    expect(seriesValue(res.body, 'audience_sync_metrics_source_up{source="store"}')).toBe(1);
    // Process metrics come along by default.
    expect(res.body).toMatch(/^audience_sync_process_resident_memory_bytes \d+/m);
  });
});
