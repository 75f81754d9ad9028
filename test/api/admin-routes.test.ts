import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type App, buildApp } from '../../src/api/app.js';
import { buildAudiences } from '../../src/audiences/build.js';
import { parseEnv } from '../../src/config/env.js';
import { loadAudienceSyncConfig } from '../../src/config-file.js';
import { createLogger } from '../../src/log.js';
import { measureLift } from '../../src/measure/report.js';
import { createBullConnection } from '../../src/pipeline/redis.js';
import { writeJsonl } from '../../src/storage/jsonl.js';
import { createFsTestStore, type TestStore, uniqueName } from '../helpers/stores.js';
import { deletePrefix, testRedis } from '../ingest/harness.js';

/** Every read / operate route through `inject`: auth, validation, and answers from a built store. */
const DAY = '2026-11-20';
const CONFIG = `
version: 1
destinations:
  meta: { type: meta, ad_account_id: act_1, access_token: "\${ADMIN_TEST_META_TOKEN}" }
audiences:
  - id: buyers
    type: segment
    when: { event: order_completed, within_days: 7 }
    sync: [meta]
  - id: abandoners
    type: top_fraction
    when: { event: checkout_started, within_days: 7 }
    score: [{ weight: 1, count: { event: checkout_started, within_days: 7 } }]
    top_fraction: 1
    holdout: { fraction: 0.5 }
    sync: [meta]
`;
const ADMIN = { authorization: 'Bearer admin-key-1' };

describe('admin routes', () => {
  let t: TestStore;
  let dir: string;
  let app: App;
  let redis: Redis;
  let queueRedis: Redis;
  const prefix = uniqueName('admintest');

  beforeAll(async () => {
    t = await createFsTestStore();
    dir = await mkdtemp(join(tmpdir(), 'admin-config-'));
    const configPath = join(dir, 'audience-sync.yaml');
    await writeFile(configPath, CONFIG);
    const env = parseEnv({
      CONFIG: configPath,
      ADMIN_API_KEYS: 'admin-key-1',
      API_KEYS: 'ingest-key',
      QUEUE_PREFIX: prefix,
      REDIS_URL: inject('redisUrl'),
    });
    // A small built day: 6 people, 3 buyers and 3 abandoners.
    const ts = `${DAY}T10:00:00.000Z`;
    const ids = ['a1', 'a2', 'a3', 'b1', 'b2', 'b3'];
    await writeJsonl(
      t.store,
      'raw/people/dt=2026-11-20/part-1-1.jsonl.gz',
      ids.map((id) => ({ customer_id: id, email: `${id}@example.com`, ts })),
    );
    await writeJsonl(
      t.store,
      'raw/events/dt=2026-11-20/part-1-1.jsonl.gz',
      ids.map((id, i) => ({
        id: `e${i}`,
        customer_id: id,
        name: id.startsWith('b') ? 'order_completed' : 'checkout_started',
        raw_name: 'x',
        ts,
        properties: {},
        received_at: ts,
        source: 'test',
      })),
    );
    const loaded = await loadAudienceSyncConfig(configPath, {});
    await buildAudiences({ store: t.store, config: loaded.config, day: DAY });
    await measureLift({
      store: t.store,
      audienceId: 'abandoners',
      asOf: DAY,
      windowDays: 14,
      event: 'order_completed',
      holdoutFraction: 0.5,
      salt: 'abandoners',
    });
    redis = testRedis();
    queueRedis = createBullConnection(inject('redisUrl'));
    app = await buildApp({
      env,
      store: t.store,
      redis,
      redisPrefix: `${prefix}-ingest`,
      logger: createLogger({ level: 'silent' }),
      operator: {
        loadConfig: () => loadAudienceSyncConfig(configPath, {}),
        pipeline: { connection: queueRedis, prefix },
      },
      adminRateLimit: 1000,
    });
  });
  afterAll(async () => {
    await app.close();
    await deletePrefix(redis, prefix);
    redis.disconnect();
    queueRedis.disconnect();
    await t.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['GET', '/v1/audiences'],
    ['GET', '/v1/audiences/buyers'],
    ['GET', '/v1/audiences/buyers/plan'],
    ['GET', '/v1/audiences/abandoners/lift'],
    ['POST', '/v1/runs'],
    ['GET', '/v1/runs/refresh-2026-11-20'],
    ['GET', '/admin/queues'],
  ] as const)('%s %s refuses a missing or wrong key with 401 before anything else', async (method, url) => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Bearer ingest-key' }]) {
      const res = await app.inject({
        method,
        url,
        headers,
        payload: method === 'POST' ? { date: 'not-a-day' } : undefined,
      });
      expect(res.statusCode).toBe(401);
      expect(res.body).not.toContain('admin-key-1');
    }
  });

  it('lists audiences with their latest counts', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/audiences', headers: ADMIN });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.audiences.map((a: { id: string }) => a.id)).toEqual(['buyers', 'abandoners']);
    expect(body.audiences[0]).toMatchObject({
      id: 'buyers',
      type: 'segment',
      destinations: ['meta'],
      latest_day: DAY,
      counts: { selected: 3, treatment: 3 },
    });
  });

  it('serves the latest manifest of one audience, 404 for an unknown one, 400 for a bad id', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/audiences/abandoners', headers: ADMIN });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      id: 'abandoners',
      days: [DAY],
      manifest: { audience: 'abandoners', day: DAY },
    });
    expect(
      (await app.inject({ method: 'GET', url: '/v1/audiences/nobody', headers: ADMIN })).statusCode,
    ).toBe(404);
    expect(
      (await app.inject({ method: 'GET', url: '/v1/audiences/bad%20id!', headers: ADMIN })).statusCode,
    ).toBe(400);
    expect(
      (await app.inject({ method: 'GET', url: '/v1/audiences/buyers?date=yesterday', headers: ADMIN }))
        .statusCode,
    ).toBe(400);
    expect(
      (await app.inject({ method: 'GET', url: '/v1/audiences/buyers?date=2026-01-01', headers: ADMIN }))
        .statusCode,
    ).toBe(404);
  });

  it('serves the plan without identifiers and without platform credentials', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/v1/audiences/buyers/plan?rows=true',
      headers: ADMIN,
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.plans).toHaveLength(1);
    expect(body.plans[0]).toMatchObject({ destination: 'meta', counts: { add: 3, remove: 0 }, requests: 1 });
    expect(body.plans[0].adds.map((a: { customer_id: string }) => a.customer_id)).toEqual(['b1', 'b2', 'b3']);
    expect(res.body).not.toContain('@example.com');
    expect(
      (
        await app.inject({
          method: 'GET',
          url: '/v1/audiences/buyers/plan?destination=tiktok',
          headers: ADMIN,
        })
      ).statusCode,
    ).toBe(404);
  });

  it('serves the lift report as JSON, and as the HTML page for Accept: text/html', async () => {
    const json = await app.inject({ method: 'GET', url: '/v1/audiences/abandoners/lift', headers: ADMIN });
    expect(json.statusCode).toBe(200);
    expect(json.json()).toMatchObject({ audience: 'abandoners', window_days: 14 });
    const html = await app.inject({
      method: 'GET',
      url: '/v1/audiences/abandoners/lift',
      headers: { ...ADMIN, accept: 'text/html' },
    });
    expect(html.statusCode).toBe(200);
    expect(html.headers['content-type']).toMatch(/text\/html/);
    expect(html.body).toMatch(/<html/i);
    expect(
      (await app.inject({ method: 'GET', url: '/v1/audiences/buyers/lift', headers: ADMIN })).statusCode,
    ).toBe(404);
  });

  it('starts a run once per day and reports its stages', async () => {
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/runs',
      headers: ADMIN,
      payload: { date: '20-11-2026' },
    });
    expect(bad.statusCode).toBe(400);
    const unknown = await app.inject({
      method: 'POST',
      url: '/v1/runs',
      headers: ADMIN,
      payload: { audiences: ['nobody'] },
    });
    expect(unknown.statusCode).toBe(404);
    const first = await app.inject({
      method: 'POST',
      url: '/v1/runs',
      headers: ADMIN,
      payload: { date: DAY, dry_run: true },
    });
    expect(first.statusCode).toBe(202);
    expect(first.json()).toEqual({ run_id: `refresh-${DAY}-dry`, created: true, day: DAY });
    const second = await app.inject({
      method: 'POST',
      url: '/v1/runs',
      headers: ADMIN,
      payload: { date: DAY, dry_run: true },
    });
    expect(second.json()).toMatchObject({ created: false });
    const status = await app.inject({ method: 'GET', url: `/v1/runs/refresh-${DAY}-dry`, headers: ADMIN });
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({ id: `refresh-${DAY}-dry`, day: DAY, dry_run: true });
    expect(status.json().stages.map((s: { name: string }) => s.name)).toEqual([
      'compact',
      'people',
      'build',
      'syncs',
      'measure',
      'refresh',
    ]);
    expect(
      (await app.inject({ method: 'GET', url: '/v1/runs/refresh-1999-01-01', headers: ADMIN })).statusCode,
    ).toBe(404);
  });

  it('serves the queue dashboard to the admin key as Bearer or as Basic password', async () => {
    const bearer = await app.inject({ method: 'GET', url: '/admin/queues', headers: ADMIN });
    expect(bearer.statusCode).toBe(200);
    const basic = Buffer.from('anyone:admin-key-1').toString('base64');
    const res = await app.inject({
      method: 'GET',
      url: '/admin/queues',
      headers: { authorization: `Basic ${basic}` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/<html/i);
    const wrong = await app.inject({
      method: 'GET',
      url: '/admin/queues',
      headers: { authorization: `Basic ${Buffer.from('x:nope').toString('base64')}` },
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['www-authenticate']).toMatch(/^Basic/);
  });

  it('publishes an OpenAPI document covering the routes, a docs UI, and security headers', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    for (const path of [
      '/v1/track',
      '/v1/identify',
      '/v1/webhooks/customerio',
      '/v1/audiences',
      '/v1/audiences/{id}',
      '/v1/audiences/{id}/plan',
      '/v1/audiences/{id}/lift',
      '/v1/runs',
      '/v1/runs/{id}',
      '/healthz',
      '/readyz',
    ]) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
    const docs = await app.inject({ method: 'GET', url: '/docs/' });
    expect([200, 302]).toContain(docs.statusCode);
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    expect(health.headers['x-content-type-options']).toBe('nosniff');
  });

  it('rate-limits the admin routes per caller', async () => {
    const limited = await buildApp({
      env: app.env,
      store: t.store,
      redis,
      redisPrefix: `${prefix}-ingest2`,
      logger: createLogger({ level: 'silent' }),
      operator: { loadConfig: () => loadAudienceSyncConfig(app.env.CONFIG, {}) },
      adminRateLimit: 3,
    });
    try {
      const codes = [];
      for (let i = 0; i < 5; i++)
        codes.push(
          (await limited.inject({ method: 'GET', url: '/v1/audiences', headers: ADMIN })).statusCode,
        );
      expect(codes).toEqual([200, 200, 200, 429, 429]);
      // Ingest and health are not limited by the admin limit.
      expect((await limited.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
