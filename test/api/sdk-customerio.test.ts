import { Agent } from 'node:http';
import { TrackClient } from 'customerio-node';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { drainBuffers } from '../../src/export/drain.js';
import { ingestKeys } from '../../src/ingest/redis-keys.js';
import { emailPersonKey } from '../../src/ingest/track-api.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { API_KEY, deletePrefix, readAll, testEnv, testRedis, uniquePrefix } from '../ingest/harness.js';

/**
 * The official `customerio-node` TrackClient, unchanged, against the running app. Its request layer
 * always uses `https.request` with the URL's host name, so a plain-HTTP test server needs the
 * documented request options `port`, `protocol` and an `http.Agent` next to `url`.
 */

type Rec = Record<string, unknown>;

describe('customerio-node TrackClient against /api/v1 and /api/v2', () => {
  let app: FastifyInstance;
  let redis: Redis;
  let t: TestStore;
  let base: string;
  let port: number;
  const prefix = uniquePrefix('sdk-cio');
  const agent = new Agent({ keepAlive: false });

  const client = (apiKey = API_KEY) =>
    new TrackClient('site-1', apiKey, { url: `${base}/api/v1`, port, protocol: 'http:', agent });

  beforeAll(async () => {
    redis = testRedis();
    t = await createFsTestStore();
    app = await buildApp({ env: testEnv(), redis, store: t.store, redisPrefix: prefix });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await app.close();
    agent.destroy();
    await deletePrefix(redis, prefix);
    redis.disconnect();
    await t.cleanup();
  });

  const landed = async (dataset: 'events' | 'people') => {
    await drainBuffers({ redis, store: t.store, prefix });
    return readAll<Rec>(t.store, `raw/${dataset}/`);
  };
  const streamLength = async () => {
    const k = ingestKeys(prefix);
    let n = 0;
    for (const d of ['events', 'messages', 'people'] as const) n += await redis.xlen(k.stream(d));
    return n;
  };
  const raw = (path: string, init: RequestInit & { auth?: string } = {}) =>
    fetch(`${base}${path}`, {
      ...init,
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(init.auth ?? `site-1:${API_KEY}`).toString('base64')}`,
        ...(init.headers as Record<string, string>),
      },
    });

  it('identify lands as a person update in the partition of _timestamp', async () => {
    await expect(
      client().identify('cust-1', {
        email: 'Ada@Example.com',
        first_name: 'Ada',
        created_at: 1_700_000_000,
        _timestamp: 1_764_357_285,
        plan: 'pro',
      }),
    ).resolves.toEqual({});
    const people = (await landed('people')).filter((p) => p.record.customer_id === 'cust-1');
    expect(people).toHaveLength(1);
    expect(people[0]!.key).toMatch(/^raw\/people\/dt=2025-11-28\//);
    expect(people[0]!.record).toMatchObject({
      customer_id: 'cust-1',
      email: 'ada@example.com',
      first_name: 'Ada',
      attributes: { created_at: 1_700_000_000, plan: 'pro' },
      ts: new Date(1_764_357_285_000).toISOString(),
    });
  });

  it('track lands once as a normalized event, a re-sent id is stored once', async () => {
    const event = {
      id: '01HSDKCIOORDER1',
      name: 'Order Completed',
      data: { value: 99.5 },
      timestamp: 1_764_300_000,
    };
    await client().track('cust-2', event);
    await client().track('cust-2', event);
    await client().trackPageView('cust-2', '/cart');
    const events = (await landed('events')).filter((e) => e.record.customer_id === 'cust-2');
    const orders = events.filter((e) => e.record.id === '01HSDKCIOORDER1');
    expect(orders).toHaveLength(1);
    expect(orders[0]!.key).toMatch(/^raw\/events\/dt=2025-11-28\//);
    expect(orders[0]!.record).toMatchObject({
      name: 'order_completed',
      raw_name: 'Order Completed',
      properties: { value: 99.5 },
      source: 'track',
    });
    expect(events.filter((e) => e.record.name === 'page_viewed').map((e) => e.record.properties)).toEqual([
      { page: '/cart' },
    ]);
  });

  it('anonymous track keeps the anonymous id; email identifiers key the person by a pseudonym of the email', async () => {
    await client().trackAnonymous('anon-77', {
      name: 'product_viewed',
      data: { sku: 'A1' },
      id: '01HSDKANON1',
    });
    await client().track('Grace@Example.com', { name: 'checkout_started', id: '01HSDKMAIL1' });
    const events = await landed('events');
    expect(events.find((e) => e.record.id === '01HSDKANON1')?.record).toMatchObject({
      anonymous_id: 'anon-77',
      name: 'product_viewed',
      properties: { sku: 'A1' },
    });
    expect(events.find((e) => e.record.id === '01HSDKMAIL1')?.record).toMatchObject({
      customer_id: emailPersonKey('grace@example.com'),
      email: 'grace@example.com',
    });
    expect(emailPersonKey('Grace@Example.com ')).toMatch(/^email_[0-9a-f]{32}$/);
  });

  it('suppress, unsuppress and destroy become person updates', async () => {
    await client().suppress('cust-3');
    await client().unsuppress('cust-4');
    await client().destroy('cust-5');
    await client().destroy('cio_abc123');
    const people = (await landed('people')).map((p) => p.record);
    expect(people.find((p) => p.customer_id === 'cust-3')).toMatchObject({
      deleted: true,
      attributes: { suppressed: true },
    });
    expect(people.find((p) => p.customer_id === 'cust-4')).toMatchObject({
      deleted: false,
      attributes: { suppressed: false },
    });
    expect(people.find((p) => p.customer_id === 'cust-5')).toMatchObject({ deleted: true });
    expect(people.find((p) => p.customer_id === 'cio_abc123')).toMatchObject({
      deleted: true,
      cio_id: 'abc123',
    });
  });

  it('wrong credentials: 401 with the Track API error body, nothing buffered', async () => {
    const before = await streamLength();
    const error = await client('not-a-key')
      .track('cust-9', { name: 'x' })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ statusCode: 401, message: 'Unauthorized request' });
    const noAuth = await fetch(`${base}/api/v1/customers/cust-9`, { method: 'PUT', body: '{}' });
    expect(noAuth.status).toBe(401);
    expect(await noAuth.json()).toEqual({ meta: { error: 'Unauthorized request' } });
    expect(await streamLength()).toBe(before);
  });

  it('malformed requests: 400 with {meta: {error}} and nothing stored', async () => {
    const before = await streamLength();
    const noName = await raw('/api/v1/customers/cust-8/events', {
      method: 'POST',
      body: JSON.stringify({ data: { email: 'secret@example.com' } }),
    });
    expect(noName.status).toBe(400);
    const body = (await noName.json()) as { meta: { error: string } };
    expect(body.meta.error).toMatch(/name/);
    expect(JSON.stringify(body)).not.toContain('secret@example.com');
    const broken = await raw('/api/v1/customers/cust-8', { method: 'PUT', body: '{"email": "leak@x.io",' });
    expect(broken.status).toBe(400);
    expect(await broken.json()).toEqual({ meta: { error: 'body is not valid JSON' } });
    const badTime = await raw('/api/v1/events', {
      method: 'POST',
      body: JSON.stringify({ anonymous_id: 'a', name: 'n', timestamp: 'later' }),
    });
    expect(badTime.status).toBe(400);
    expect(((await badTime.json()) as { meta: { error: string } }).meta.error).toMatch(/unix time/);
    expect(await streamLength()).toBe(before);
  });

  it('v2 batch: 200 {} when all are taken, 207 naming refused entries (quarantined), entity', async () => {
    const ok = await raw('/api/v2/batch', {
      method: 'POST',
      body: JSON.stringify({
        batch: [
          {
            type: 'person',
            identifiers: { id: 'v2-1' },
            action: 'identify',
            attributes: { first_name: 'Lin' },
          },
          {
            type: 'person',
            identifiers: { id: 'v2-1' },
            action: 'event',
            name: 'Cart Viewed',
            id: '01HV2EV1',
          },
        ],
      }),
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({});
    const mixed = await raw('/api/v2/batch', {
      method: 'POST',
      body: JSON.stringify({
        batch: [
          { type: 'person', identifiers: { id: 'v2-2' }, action: 'delete' },
          { type: 'object', identifiers: { object_type_id: '1', object_id: 'o' }, action: 'identify' },
          { type: 'person', identifiers: {}, action: 'identify', attributes: { email: 'x@y.io' } },
        ],
      }),
    });
    expect(mixed.status).toBe(207);
    const { errors } = (await mixed.json()) as { errors: { batch_index: number; field: string }[] };
    expect(errors.map((e: { batch_index: number; field: string }) => [e.batch_index, e.field])).toEqual([
      [1, 'type'],
      [2, 'identifiers'],
    ]);
    const entity = await raw('/api/v2/entity', {
      method: 'POST',
      body: JSON.stringify({ type: 'person', identifiers: { email: 'Mo@Example.com' }, action: 'identify' }),
    });
    expect(entity.status).toBe(200);
    const refused = await raw('/api/v2/entity', { method: 'POST', body: JSON.stringify({ type: 'person' }) });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { errors: unknown[] }).errors[0]).toMatchObject({ field: 'action' });

    const people = (await landed('people')).map((p) => p.record);
    expect(people.find((p) => p.customer_id === 'v2-1')).toMatchObject({ first_name: 'Lin' });
    expect(people.find((p) => p.customer_id === 'v2-2')).toMatchObject({ deleted: true });
    expect(people.find((p) => p.customer_id === emailPersonKey('mo@example.com'))).toMatchObject({
      email: 'mo@example.com',
    });
    expect(people.some((p) => String(p.customer_id).includes('@'))).toBe(false);
    const events = (await landed('events')).map((e) => e.record);
    expect(events.filter((e) => e.id === '01HV2EV1')).toEqual([
      expect.objectContaining({ customer_id: 'v2-1', name: 'cart_viewed' }),
    ]);
    const quarantined = (await readAll<Rec>(t.store, 'quarantine/')).map((q) => q.record);
    expect(quarantined.filter((q) => q.rejected === true && q.source === 'track_api')).toHaveLength(2);
  });
});
