import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { ingestKeys } from '../../src/ingest/redis-keys.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import {
  cioEvent,
  countKeys,
  deletePrefix,
  OLD_SIGNING_KEY,
  signedHeaders,
  streamRecords,
  testEnv,
  testRedis,
  uniquePrefix,
} from '../ingest/harness.js';

describe('POST /v1/webhooks/customerio: signatures', () => {
  let app: FastifyInstance;
  let redis: Redis;
  let t: TestStore;
  const prefix = uniquePrefix('sig');
  const k = ingestKeys(prefix);

  beforeAll(async () => {
    redis = testRedis();
    t = await createFsTestStore();
    app = await buildApp({ env: testEnv(), redis, store: t.store, redisPrefix: prefix });
  });
  afterAll(async () => {
    await app.close();
    await deletePrefix(redis, prefix);
    redis.disconnect();
    await t.cleanup();
  });

  async function post(body: string, headers: Record<string, string>) {
    return app.inject({ method: 'POST', url: '/v1/webhooks/customerio', payload: body, headers });
  }
  async function traces(): Promise<number> {
    return (await redis.xlen(k.stream('messages'))) + (await countKeys(redis, `${prefix}:ingest:seen:*`));
  }

  it('accepts a body signed with the newest key', async () => {
    const body = JSON.stringify(cioEvent('email', 'opened'));
    const res = await post(body, signedHeaders(body));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'accepted' });
  });

  it('accepts a body signed with an older key still configured (rotation)', async () => {
    const body = JSON.stringify(cioEvent('email', 'clicked'));
    const res = await post(body, signedHeaders(body, { key: OLD_SIGNING_KEY }));
    expect(res.statusCode).toBe(200);
  });

  it.each([
    ['wrong key', (body: string) => signedHeaders(body, { key: 'not-a-configured-key' })],
    ['tampered body', (body: string) => signedHeaders(body.replace('"opened"', '"clicked"'))],
    [
      'stale timestamp',
      (body: string) => signedHeaders(body, { timestamp: Math.floor(Date.now() / 1000) - 301 }),
    ],
    [
      'future timestamp',
      (body: string) => signedHeaders(body, { timestamp: Math.floor(Date.now() / 1000) + 301 }),
    ],
    [
      'missing signature header',
      (body: string) => {
        const { 'x-cio-signature': _, ...rest } = signedHeaders(body);
        return rest;
      },
    ],
    [
      'missing timestamp header',
      (body: string) => {
        const { 'x-cio-timestamp': _, ...rest } = signedHeaders(body);
        return rest;
      },
    ],
    [
      'signature that is not hex',
      (body: string) => ({ ...signedHeaders(body), 'x-cio-signature': 'zz'.repeat(32) }),
    ],
    [
      'signature of another timestamp',
      (body: string) => ({
        ...signedHeaders(body, { timestamp: Math.floor(Date.now() / 1000) - 10 }),
        'x-cio-timestamp': String(Math.floor(Date.now() / 1000)),
      }),
    ],
  ])('refuses a %s with 401 and leaves no trace', async (_case, headersFor) => {
    const before = await traces();
    const body = JSON.stringify(
      cioEvent('email', 'opened', { data: { identifiers: { id: 'p1', email: 'p1@example.com' } } }),
    );
    const res = await post(body, headersFor(body));
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ statusCode: 401, error: 'unauthorized' });
    expect(res.body).not.toContain('p1@example.com');
    expect(await traces()).toBe(before);
  });

  it('checks the signature against the raw bytes, not re-serialized JSON', async () => {
    // Same JSON value, different bytes: whitespace and key order as Customer.io may send them.
    const body = `{ "metric":"opened",  "object_type":"email","event_id":"01HRAWBYTES1","timestamp":1764357285,\n"data":{"identifiers":{"id":"raw-1"}}}`;
    const ok = await post(body, signedHeaders(body));
    expect(ok.statusCode).toBe(200);
    const reserialized = JSON.stringify(JSON.parse(body));
    const bad = await post(body, signedHeaders(reserialized));
    expect(bad.statusCode).toBe(401);
  });

  it('answers 2xx for a duplicate event_id and stores it once', async () => {
    const event = cioEvent('email', 'delivered', { event_id: '01HDUPLICATE000001' });
    const body = JSON.stringify(event);
    const first = await post(body, signedHeaders(body));
    const again = await post(body, signedHeaders(body));
    expect(first.json()).toEqual({ status: 'accepted' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ status: 'duplicate' });
    const ids = (await streamRecords(redis, k.stream('messages'))).map((r) => r.id);
    expect(ids.filter((id) => id === '01HDUPLICATE000001')).toHaveLength(1);
  });

  it('refuses a signed body that is not one JSON object with 400, without buffering it', async () => {
    const before = await redis.xlen(k.stream('messages'));
    for (const body of ['[{"event_id":"x"}]', '{"event_id": ', '"text"']) {
      const res = await post(body, signedHeaders(body));
      expect(res.statusCode).toBe(400);
    }
    expect(await redis.xlen(k.stream('messages'))).toBe(before);
  });

  it('answers 413 for a body over the webhook limit, without buffering it', async () => {
    const before = await traces();
    const event = cioEvent('email', 'opened', { data: { padding: 'x'.repeat(1024 * 1024) } });
    const body = JSON.stringify(event);
    const res = await post(body, signedHeaders(body));
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: 'payload_too_large' });
    expect(await traces()).toBe(before);
  });

  it('refuses every webhook when no signing key is configured', async () => {
    const bare = await buildApp({
      env: testEnv({ CIO_WEBHOOK_SIGNING_KEYS: '' }),
      redis,
      store: t.store,
      redisPrefix: prefix,
    });
    const body = JSON.stringify(cioEvent('email', 'opened'));
    const res = await bare.inject({
      method: 'POST',
      url: '/v1/webhooks/customerio',
      payload: body,
      headers: signedHeaders(body),
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().message).toMatch(/CIO_WEBHOOK_SIGNING_KEYS/);
    await bare.close();
  });
});
