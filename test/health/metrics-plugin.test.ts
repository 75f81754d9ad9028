import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { metricsPlugin } from '../../src/api/plugins/metrics.js';
import { parseEnv } from '../../src/config/env.js';
import { createMetrics } from '../../src/health/metrics.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';

function seriesValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The services the plugin reads, decorated like `buildApp` does (the plugin alone, nothing else). */
function bareApp(env: ReturnType<typeof parseEnv>, t: TestStore, redis: Redis): FastifyInstance {
  const app = Fastify();
  app.decorate('env', env);
  app.decorate('store', t.store);
  app.decorate('redis', redis);
  return app;
}

describe('metrics plugin', () => {
  let t: TestStore;
  let redis: Redis | undefined;
  afterEach(async () => {
    redis?.disconnect();
    await t.cleanup();
  });

  it('reads queue counts through a connection of its own (REDIS_URL, QUEUE_PREFIX)', async () => {
    t = await createFsTestStore();
    const env = parseEnv({
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: `test-mp-${randomBytes(4).toString('hex')}`,
    });
    redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
    const app = bareApp(env, t, redis);
    await app.register(metricsPlugin, {
      metrics: createMetrics({ processMetrics: false }),
      redisPrefix: `test-mp-${randomBytes(4).toString('hex')}`,
      ttlMs: 0,
    });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    await app.close();
    expect(res.statusCode).toBe(200);
    expect(seriesValue(res.body, 'audience_sync_metrics_source_up{source="queues"}')).toBe(1);
    expect(seriesValue(res.body, 'audience_sync_metrics_source_up{source="buffer"}')).toBe(1);
    expect(seriesValue(res.body, 'audience_sync_queue_jobs{queue="health",state="failed"}')).toBe(0);
    expect(
      seriesValue(
        res.body,
        'audience_sync_http_requests_total{method="GET",route="/metrics",status_code="200"}',
      ),
    ).toBeUndefined();
    // Counted once answered: the next scrape sees the first.
    const app2 = bareApp(env, t, redis);
    const metrics = createMetrics({ processMetrics: false });
    await app2.register(metricsPlugin, { metrics, queues: false, ttlMs: 0 });
    await app2.inject({ method: 'GET', url: '/metrics' });
    const second = await app2.inject({ method: 'GET', url: '/metrics' });
    await app2.close();
    expect(
      seriesValue(
        second.body,
        'audience_sync_http_requests_total{method="GET",route="/metrics",status_code="200"}',
      ),
    ).toBe(1);
  });

  it('still answers when Redis is down, saying which sources are stale', async () => {
    t = await createFsTestStore();
    // Port 1: nothing listens.
    const env = parseEnv({ REDIS_URL: 'redis://127.0.0.1:1' });
    redis = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    redis.on('error', () => {});
    const app = bareApp(env, t, redis);
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
