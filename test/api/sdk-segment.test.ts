import { gzipSync } from 'node:zlib';
import { Analytics as CioAnalytics } from '@customerio/cdp-analytics-node';
import { Analytics as SegmentAnalytics } from '@segment/analytics-node';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { drainBuffers } from '../../src/export/drain.js';
import { ingestKeys } from '../../src/ingest/redis-keys.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import {
  API_KEY,
  bearer,
  deletePrefix,
  readAll,
  testEnv,
  testRedis,
  uniquePrefix,
} from '../ingest/harness.js';

/** Both Segment-spec SDKs, unchanged but for `host`, against the running app. */

type Rec = Record<string, unknown>;

describe('Segment-spec API with @segment/analytics-node and @customerio/cdp-analytics-node', () => {
  let app: FastifyInstance;
  let redis: Redis;
  let t: TestStore;
  let base: string;
  const prefix = uniquePrefix('sdk-seg');
  const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

  beforeAll(async () => {
    redis = testRedis();
    t = await createFsTestStore();
    app = await buildApp({
      env: testEnv(),
      redis,
      store: t.store,
      redisPrefix: prefix,
      eventAliases: { purchase: 'order_completed' },
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await app.close();
    await deletePrefix(redis, prefix);
    redis.disconnect();
    await t.cleanup();
  });

  const landed = async (dataset: 'events' | 'people') => {
    await drainBuffers({ redis, store: t.store, prefix });
    return (await readAll<Rec>(t.store, `raw/${dataset}/`)).map((r): Rec & { _key: string } => ({
      ...r.record,
      _key: r.key,
    }));
  };
  const streamLength = async () => {
    const k = ingestKeys(prefix);
    let n = 0;
    for (const d of ['events', 'messages', 'people'] as const) n += await redis.xlen(k.stream(d));
    return n;
  };
  const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', authorization: basic(API_KEY), ...headers },
    });

  it('@segment/analytics-node: identify, track, page and a re-sent messageId land once each', async () => {
    const analytics = new SegmentAnalytics({ writeKey: API_KEY, host: base, flushAt: 10, maxRetries: 0 });
    const errors: unknown[] = [];
    analytics.on('error', (e) => errors.push(e));
    analytics.identify({
      userId: 'seg-1',
      traits: {
        email: 'Ada@Example.com',
        name: 'Ada Lovelace',
        address: { city: 'Berlin', country: 'DE' },
        plan: 'pro',
      },
      timestamp: new Date('2026-11-20T10:00:00.000Z'),
    });
    const order = {
      userId: 'seg-1',
      event: 'Order Completed',
      properties: { order_id: 'o-1', revenue: 42 },
      messageId: 'seg-msg-order-1',
      timestamp: new Date('2026-11-21T09:30:00.000Z'),
    };
    analytics.track(order);
    analytics.track(order);
    analytics.track({
      anonymousId: 'anon-seg',
      event: 'purchase',
      timestamp: new Date('2026-11-21T10:00:00.000Z'),
    });
    analytics.page({ userId: 'seg-1', name: 'Pricing', properties: { path: '/pricing' } });
    await analytics.closeAndFlush();
    expect(errors).toEqual([]);

    const events = (await landed('events')).filter(
      (e) => e.customer_id === 'seg-1' || e.anonymous_id === 'anon-seg',
    );
    const orders = events.filter((e) => e.id === 'seg-msg-order-1');
    expect(orders).toHaveLength(1);
    expect(orders[0]).toMatchObject({
      name: 'order_completed',
      raw_name: 'Order Completed',
      ts: '2026-11-21T09:30:00.000Z',
      properties: { order_id: 'o-1', revenue: 42 },
      source: 'track',
    });
    expect(orders[0]!._key).toMatch(/^raw\/events\/dt=2026-11-21\//);
    expect(events.find((e) => e.anonymous_id === 'anon-seg')).toMatchObject({ name: 'order_completed' });
    expect(events.find((e) => e.name === 'page_viewed')).toMatchObject({
      properties: { page: 'Pricing', path: '/pricing' },
    });
    const people = (await landed('people')).filter((p) => p.customer_id === 'seg-1');
    expect(people).toHaveLength(1);
    expect(people[0]).toMatchObject({
      email: 'ada@example.com',
      first_name: 'Ada',
      last_name: 'Lovelace',
      city: 'Berlin',
      country: 'DE',
      attributes: { plan: 'pro' },
      ts: '2026-11-20T10:00:00.000Z',
    });
    expect(people[0]!._key).toMatch(/^raw\/people\/dt=2026-11-20\//);
  });

  it('@customerio/cdp-analytics-node: identify, track with context.traits, page, alias', async () => {
    const analytics = new CioAnalytics({ writeKey: API_KEY, host: base, maxRetries: 0 });
    analytics.identify({ userId: 'cdp-1', traits: { phone: '+49 30 1234567', firstName: 'Grace' } });
    analytics.track({
      userId: 'cdp-1',
      event: 'Checkout Started',
      properties: { value: 10 },
      context: { traits: { email: 'grace@example.com' } },
      messageId: 'cdp-msg-1',
    });
    analytics.page({ userId: 'cdp-1', name: 'Home' });
    analytics.alias({ userId: 'cdp-1', previousId: 'anon-cdp' });
    await analytics.closeAndFlush();

    const events = (await landed('events')).filter((e) => e.customer_id === 'cdp-1');
    expect(events.filter((e) => e.id === 'cdp-msg-1')).toEqual([
      expect.objectContaining({
        name: 'checkout_started',
        email: 'grace@example.com',
        properties: { value: 10 },
      }),
    ]);
    expect(events.filter((e) => e.name === 'page_viewed')).toHaveLength(1);
    const people = (await landed('people')).filter((p) => p.customer_id === 'cdp-1');
    expect(people.find((p) => p.phone === '+49301234567')).toMatchObject({ first_name: 'Grace' });
    expect(people.find((p) => p.email === 'grace@example.com')).toBeDefined();
    expect(people.filter((p) => p.merged_from === 'anon-cdp')).toHaveLength(1);
  });

  it('wrong write key: 401 and nothing buffered (SDK reports the failure)', async () => {
    const before = await streamLength();
    const analytics = new SegmentAnalytics({ writeKey: 'wrong-key', host: base, maxRetries: 0 });
    const errors: unknown[] = [];
    analytics.on('error', (e) => errors.push(e));
    analytics.track({ userId: 'x', event: 'should_not_land' });
    await analytics.closeAndFlush();
    expect(errors.length).toBeGreaterThan(0);
    const res = await post(
      '/v1/batch',
      JSON.stringify({ batch: [{ type: 'track', userId: 'x', event: 'e' }] }),
      {
        authorization: basic('nope'),
      },
    );
    expect(res.status).toBe(401);
    const none = await post('/v1/track', JSON.stringify({ userId: 'x', event: 'e' }), { authorization: '' });
    expect(none.status).toBe(401);
    expect(await streamLength()).toBe(before);
  });

  it('gzip bodies, batch sentAt clock-skew correction, shared /v1/track and /v1/identify', async () => {
    // The sender's clock runs one hour ahead: sentAt − originalTimestamp is the real delay (5 s).
    const body = JSON.stringify({
      sentAt: '2030-01-01T01:00:05.000Z',
      batch: [
        {
          type: 'track',
          userId: 'gz-1',
          event: 'Cart Viewed',
          messageId: 'gz-msg-1',
          originalTimestamp: '2030-01-01T01:00:00.000Z',
        },
      ],
    });
    const gz = await post('/v1/batch', gzipSync(body), { 'content-encoding': 'gzip' });
    expect(gz.status).toBe(200);
    expect(await gz.json()).toEqual({ success: true, accepted: 1, duplicates: 0, rejected: 0 });

    const track = await post(
      '/v1/track',
      JSON.stringify({ userId: 'gz-2', event: 'Wishlist Added', messageId: 'm-2' }),
    );
    expect(track.status).toBe(200);
    const identify = await post(
      '/v1/identify',
      JSON.stringify({ userId: 'gz-2', traits: { email: 'gz@example.com' } }),
    );
    expect(identify.status).toBe(200);
    // The project's own shape on the same route still answers per item.
    const own = await fetch(`${base}/v1/track`, {
      method: 'POST',
      headers: { ...bearer, 'content-type': 'application/json' },
      body: JSON.stringify({ customer_id: 'own-1', name: 'x', id: 'own-msg-1' }),
    });
    expect(own.status).toBe(202);

    const events = await landed('events');
    const skewed = events.find((e) => e.id === 'gz-msg-1')!;
    expect(Date.parse(skewed.received_at as string) - Date.parse(skewed.ts as string)).toBe(5000);
    expect(events.find((e) => e.id === 'm-2')).toMatchObject({ customer_id: 'gz-2', name: 'wishlist_added' });
    expect(events.find((e) => e.id === 'own-msg-1')).toMatchObject({ customer_id: 'own-1' });
    expect((await landed('people')).find((p) => p.customer_id === 'gz-2')).toMatchObject({
      email: 'gz@example.com',
    });
  });

  it('malformed: 400 for broken JSON; contract-breaking messages are 200 and quarantined', async () => {
    const broken = await post('/v1/batch', '{"batch": [');
    expect(broken.status).toBe(400);
    const res = await post(
      '/v1/batch',
      JSON.stringify({
        batch: [
          { type: 'track', event: 'no_person', messageId: 'bad-1' },
          { type: 'teleport', userId: 'u' },
          { type: 'track', userId: 'ok-1', event: 'fine', messageId: 'ok-msg-1' },
        ],
      }),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ success: true, accepted: 1, rejected: 2 });
    await drainBuffers({ redis, store: t.store, prefix });
    const quarantined = (await readAll<Rec>(t.store, 'quarantine/'))
      .map((q) => q.record)
      .filter((q) => q.source === 'segment' && q.rejected === true);
    expect(quarantined.map((q) => (q.reasons as { code: string; path: string }[])[0]!.code).sort()).toEqual([
      'bad_value',
      'missing_person_key',
    ]);
  });
});
