import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import type { Dataset } from '../../src/contract/records.js';
import { ingestKeys } from '../../src/ingest/redis-keys.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { bearer, deletePrefix, streamRecords, testEnv, testRedis, uniquePrefix } from '../ingest/harness.js';

describe('POST /v1/track and /v1/identify', () => {
  let app: FastifyInstance;
  let redis: Redis;
  let t: TestStore;
  const prefix = uniquePrefix('track');
  const k = ingestKeys(prefix);
  const triggered: Dataset[] = [];

  beforeAll(async () => {
    redis = testRedis();
    t = await createFsTestStore();
    app = await buildApp({
      env: testEnv({ INGEST_MAX_BATCH: '50', INGEST_MAX_BODY_BYTES: '65536', EXPORT_TRIGGER_RECORDS: '40' }),
      redis,
      store: t.store,
      redisPrefix: prefix,
      requestExport: (dataset) => {
        triggered.push(dataset);
      },
    });
  });
  afterAll(async () => {
    await app.close();
    await deletePrefix(redis, prefix);
    redis.disconnect();
    await t.cleanup();
  });

  const post = (url: string, payload: unknown, headers: Record<string, string> = bearer) =>
    app.inject({ method: 'POST', url, payload: payload as object, headers });

  const buffered = (dataset: Dataset) => streamRecords(redis, k.stream(dataset));

  it('accepts one Track-API event and buffers it with its id', async () => {
    const res = await post('/v1/track', {
      id: '01HTRACKSINGLE',
      customer_id: 'c-1',
      name: 'Checkout Started',
      data: { value: 42.5, currency: 'EUR' },
      timestamp: 1_764_357_285,
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: 0,
      results: [{ index: 0, status: 'accepted', id: '01HTRACKSINGLE' }],
    });
    const stored = (await buffered('events')).find((r) => r.id === '01HTRACKSINGLE');
    expect(stored).toMatchObject({
      customer_id: 'c-1',
      name: 'checkout_started',
      raw_name: 'Checkout Started',
      ts: new Date(1_764_357_285_000).toISOString(),
      source: 'track',
    });
    expect(stored?.received_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(stored?.properties).toEqual({ value: 42.5, currency: 'EUR' });
  });

  it('accepts the valid items of a mixed batch and reports the others without echoing values', async () => {
    const res = await post('/v1/track', {
      batch: [
        { customer_id: 'c-2', name: 'order_completed', data: { value: 10 } },
        { email: 'nobody-at-all', name: 'checkout_started' }, // no usable person key
        { customer_id: 'c-3', data: {} }, // no name
        { customer_id: 'c-4', name: 'product_viewed', timestamp: 'yesterday' }, // bad time
        'not an object',
        { anonymous_id: 'anon-9', name: 'Product Viewed', email: 'broken@', data: { sku: 'A1' } },
      ],
    });
    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(body).toMatchObject({ accepted: 2, duplicates: 0, rejected: 4 });
    expect(body.results.map((r: { status: string }) => r.status)).toEqual([
      'accepted',
      'rejected',
      'rejected',
      'rejected',
      'rejected',
      'accepted',
    ]);
    expect(body.results[1].problems.map((p: { code: string }) => p.code)).toContain('missing_person_key');
    expect(body.results[2].problems.map((p: { code: string }) => p.code)).toContain('missing_name');
    expect(body.results[3].problems.map((p: { code: string }) => p.code)).toContain('bad_timestamp');
    expect(body.results[4].problems[0].code).toBe('not_an_object');
    // The accepted item kept its good fields; the dropped email is reported by path, not by value.
    expect(body.results[5].problems).toEqual([expect.objectContaining({ code: 'bad_email', path: 'email' })]);
    expect(res.body).not.toContain('nobody-at-all');
    expect(res.body).not.toContain('broken@');
  });

  it('answers a re-sent event as a duplicate and buffers it once', async () => {
    const event = { id: '01HTRACKDUP', customer_id: 'c-5', name: 'cart_viewed' };
    await post('/v1/track', event);
    const res = await post('/v1/track', { batch: [event, event] });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ accepted: 0, duplicates: 2 });
    expect((await buffered('events')).filter((r) => r.id === '01HTRACKDUP')).toHaveLength(1);
  });

  it('treats identical events without an id as one (content-derived id)', async () => {
    const event = {
      customer_id: 'c-6',
      name: 'wishlist_added',
      timestamp: 1_764_357_000,
      data: { sku: 'Z' },
    };
    const first = await post('/v1/track', event);
    const second = await post('/v1/track', event);
    expect(first.json().results[0].status).toBe('accepted');
    expect(second.json().results[0]).toMatchObject({ status: 'duplicate', id: first.json().results[0].id });
    expect(first.json().results[0].id).toMatch(/^d_[0-9a-f]{32}$/);
  });

  it('answers 422 when every item is rejected', async () => {
    const res = await post('/v1/track', { batch: [{ name: 'x' }, { customer_id: 'c' }] });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ accepted: 0, rejected: 2 });
  });

  it('answers 400 only for a broken envelope', async () => {
    const broken = await app.inject({
      method: 'POST',
      url: '/v1/track',
      payload: '{"customer_id": "leak@example.com", ',
      headers: { ...bearer, 'content-type': 'application/json' },
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error).toBe('invalid_json');
    expect(broken.body).not.toContain('leak@example.com');
    const notArray = await post('/v1/track', { batch: 'leak@example.com' });
    expect(notArray.statusCode).toBe(400);
    expect(notArray.body).not.toContain('leak@example.com');
    const array = await post('/v1/track', [{ customer_id: 'c', name: 'n' }]);
    expect(array.statusCode).toBe(400);
  });

  it('answers 413 for a body over the limit and for a batch over the item limit', async () => {
    const big = await post('/v1/track', { customer_id: 'c', name: 'n', data: { blob: 'x'.repeat(70_000) } });
    expect(big.statusCode).toBe(413);
    const many = await post('/v1/track', {
      batch: Array.from({ length: 51 }, (_, i) => ({ customer_id: `c${i}`, name: 'n' })),
    });
    expect(many.statusCode).toBe(413);
    expect(many.json().error).toBe('batch_too_large');
  });

  it('refuses requests without a valid bearer key before reading the body', async () => {
    const none = await post('/v1/track', { customer_id: 'c', name: 'n' }, {});
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    const wrong = await post('/v1/track', { customer_id: 'c', name: 'n' }, { authorization: 'Bearer nope' });
    expect(wrong.statusCode).toBe(401);
    // Authentication comes first: a broken body from an unknown caller is still a 401.
    const brokenBody = await app.inject({
      method: 'POST',
      url: '/v1/identify',
      payload: '{',
      headers: { authorization: 'Bearer nope', 'content-type': 'application/json' },
    });
    expect(brokenBody.statusCode).toBe(401);
  });

  it('maps identify items to person updates (top-level attributes, consent in every spelling)', async () => {
    const res = await post('/v1/identify', {
      batch: [
        {
          id: 'p-1',
          email: ' Ada@Example.COM ',
          first_name: 'Ada',
          country: 'Germany',
          phone: '030 1234567',
          plan: 'pro',
          consent: { ad_user_data: 'granted' },
          'consent.ad_personalization': 'denied',
          _timestamp: 1_764_000_000,
        },
        { customer_id: 'p-2', attributes: { consent: { ad_user_data: 'denied' }, tier: 'gold' } },
        { email: 'no-id@example.com' },
      ],
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ accepted: 2, rejected: 1 });
    const people = await buffered('people');
    const p1 = people.find((p) => p.customer_id === 'p-1');
    expect(p1).toMatchObject({
      email: 'ada@example.com',
      first_name: 'Ada',
      country: 'DE',
      phone: '+49301234567',
      ts: '2025-11-24T16:00:00.000Z',
      consent: { ad_user_data: 'granted', ad_personalization: 'denied' },
      attributes: { plan: 'pro' },
    });
    const p2 = people.find((p) => p.customer_id === 'p-2');
    expect(p2).toMatchObject({ consent: { ad_user_data: 'denied' }, attributes: { tier: 'gold' } });
    expect(p2?.attributes).not.toHaveProperty('consent');
  });

  it('requests an early export when a buffer passes EXPORT_TRIGGER_RECORDS', async () => {
    triggered.length = 0;
    const pendingBefore = Number(await redis.hget(k.pending, 'events'));
    const needed = 40 - (pendingBefore % 40);
    const res = await post('/v1/track', {
      batch: Array.from({ length: needed }, (_, i) => ({
        customer_id: `t${i}`,
        name: 'trigger_test',
        id: `trig-${i}`,
      })),
    });
    expect(res.statusCode).toBe(202);
    await new Promise((r) => setImmediate(r));
    expect(triggered).toEqual(['events']);
  });

  it('serves /healthz and /readyz', async () => {
    expect((await app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await app.inject('/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: { redis: 'ok', store: 'ok' } });
  });
});
