import { readdirSync, readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { drainBuffers } from '../../src/export/drain.js';
import { listKeys } from '../../src/storage/object-store.js';
import { STORE_KINDS, type TestStore } from '../helpers/stores.js';
import {
  bearer,
  cioEvent,
  deletePrefix,
  readAll,
  signedHeaders,
  testEnv,
  testRedis,
  uniquePrefix,
} from '../ingest/harness.js';

/** Every object_type and its metrics, as Customer.io documents them (docs/records.md, "message"), plus one unknown metric. */
const MATRIX: Record<string, string[]> = {
  customer: ['subscribed', 'unsubscribed', 'cio_subscription_preferences_changed'],
  email: [
    'drafted',
    'attempted',
    'sent',
    'delivered',
    'opened',
    'clicked',
    'converted',
    'unsubscribed',
    'bounced',
    'dropped',
    'spammed',
    'failed',
    'undeliverable',
  ],
  push: [
    'drafted',
    'attempted',
    'sent',
    'delivered',
    'opened',
    'clicked',
    'converted',
    'bounced',
    'dropped',
    'failed',
    'undeliverable',
  ],
  in_app: ['drafted', 'attempted', 'sent', 'opened', 'clicked', 'converted', 'failed', 'undeliverable'],
  sms: [
    'drafted',
    'attempted',
    'sent',
    'delivered',
    'clicked',
    'converted',
    'bounced',
    'failed',
    'undeliverable',
    'replied',
  ],
  slack: ['drafted', 'attempted', 'sent', 'clicked', 'failed', 'undeliverable'],
  webhook: ['drafted', 'attempted', 'sent', 'clicked', 'failed', 'undeliverable'],
  whatsapp: [
    'drafted',
    'attempted',
    'sent',
    'delivered',
    'opened',
    'clicked',
    'converted',
    'bounced',
    'dropped',
    'failed',
    'undeliverable',
    'replied',
  ],
};
const FUTURE = { object_type: 'email', metric: 'ai_summarized' };

const FIXTURES = new URL('../../fixtures/customerio/webhooks/', import.meta.url);

describe.each(STORE_KINDS)('POST → buffer → export → objects ($kind store)', ({ create }) => {
  let app: FastifyInstance;
  let redis: Redis;
  let t: TestStore;
  const prefix = uniquePrefix('e2e');

  beforeAll(async () => {
    redis = testRedis();
    t = await create();
    app = await buildApp({
      env: testEnv(),
      redis,
      store: t.store,
      redisPrefix: prefix,
      eventAliases: { purchase: 'order_completed' },
    });
  });
  afterAll(async () => {
    await app.close();
    await deletePrefix(redis, prefix);
    redis.disconnect();
    await t.cleanup();
  });

  const postWebhook = (body: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/webhooks/customerio',
      payload: body,
      headers: signedHeaders(body),
    });

  it('stores every object_type × metric webhook once, as a message, with its person update', async () => {
    const sent: { id: string; channel: string; metric: string }[] = [];
    let n = 0;
    for (const [objectType, metrics] of Object.entries({
      ...MATRIX,
      [FUTURE.object_type]: [...MATRIX.email!, FUTURE.metric],
    })) {
      for (const metric of metrics) {
        n += 1;
        const id = `01HMATRIX${String(n).padStart(4, '0')}`;
        const event = cioEvent(objectType, metric, {
          event_id: id,
          timestamp: 1_764_300_000 + n * 3_600, // spread over three days
          data: { identifiers: { id: `cust-${n % 9}`, email: null, cio_id: `cio-${n}` } },
        });
        const res = await postWebhook(JSON.stringify(event));
        expect(res.statusCode, `${objectType}.${metric}`).toBe(200);
        sent.push({ id, channel: objectType, metric });
      }
    }
    // Retried deliveries of the first ten: answered 2xx, stored once.
    for (const { id, channel, metric } of sent.slice(0, 10)) {
      const again = await postWebhook(JSON.stringify(cioEvent(channel, metric, { event_id: id })));
      expect(again.json()).toEqual({ status: 'duplicate' });
    }
    // The documented fixtures, posted as their exact bytes.
    for (const file of readdirSync(FIXTURES).filter((f) => f.endsWith('.json'))) {
      expect((await postWebhook(readFileSync(new URL(file, FIXTURES), 'utf8'))).statusCode).toBe(200);
    }

    await drainBuffers({ redis, store: t.store, prefix });
    const messages = (await readAll<Record<string, unknown>>(t.store, 'raw/messages/')).map((r) => r.record);
    for (const { id, channel, metric } of sent) {
      const stored = messages.filter((m) => m.id === id);
      expect(stored, id).toHaveLength(1);
      expect(stored[0]).toMatchObject({
        channel,
        metric,
        cio_id: expect.any(String),
        source: 'customerio_webhook',
      });
    }
    expect(messages.find((m) => m.metric === FUTURE.metric)).toBeDefined();
    const days = new Set((await listKeys(t.store, 'raw/messages/')).map((k) => k.split('/')[2]));
    expect(days.size).toBeGreaterThanOrEqual(3);

    const clicked = messages.find((m) => m.id === '01E4C4HDQ6C1P2VKQ8WQH4KXAZ');
    expect(clicked).toEqual({
      id: '01E4C4HDQ6C1P2VKQ8WQH4KXAZ',
      customer_id: 'cust-42',
      email: 'ada@example.com',
      cio_id: 'a3000001',
      channel: 'email',
      metric: 'clicked',
      delivery_id: 'RAECAAFwnUSneIa0ZXkmSsDfAQ==',
      campaign_id: '23',
      action_id: '96',
      journey_id: '01HJ2Z1M6B8Y3Q4W5E6R7T8Y9U',
      href: 'https://shop.example.com/cart?utm_source=email',
      ts: '2025-11-28T19:14:45.000Z',
      received_at: expect.stringMatching(/Z$/),
      source: 'customerio_webhook',
    });
    expect(messages.find((m) => m.id === '01E4C4HDQ6C1P2VKQ8WQH4KXB2')).toMatchObject({
      transactional_message_id: '3',
    });
    expect(messages.find((m) => m.id === '01E4C4HDQ6C1P2VKQ8WQH4KXB3')).toMatchObject({
      newsletter_id: '10',
    });

    // customer subscribed / unsubscribed also update the person.
    const people = (await readAll<Record<string, unknown>>(t.store, 'raw/people/')).map((r) => r.record);
    expect(people).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ customer_id: 'cust-1', unsubscribed: false }),
        expect.objectContaining({ customer_id: 'cust-2', unsubscribed: true }),
        expect.objectContaining({ customer_id: 'cust-43', unsubscribed: true, email: 'grace@example.com' }),
      ]),
    );
    expect(people).toHaveLength(3);
  });

  it('lands track and identify batches in their day partitions, with dropped fields quarantined', async () => {
    const track = await app.inject({
      method: 'POST',
      url: '/v1/track',
      headers: bearer,
      payload: {
        batch: [
          {
            id: 'e2e-1',
            customer_id: 'u1',
            name: 'purchase',
            data: { value: 99, order_id: 'o1' },
            timestamp: '2026-11-26T23:59:59Z',
          },
          {
            id: 'e2e-2',
            email: 'Shopper@Example.com',
            name: 'Checkout Started',
            timestamp: '2026-11-27T00:00:00Z',
          },
          {
            id: 'e2e-3',
            customer_id: 'u3',
            email: 'not-an-email',
            name: 'CartViewed',
            timestamp: 1_795_780_800,
          },
          { id: 'e2e-4', name: 'orphan' },
        ],
      },
    });
    expect(track.json()).toMatchObject({ accepted: 3, rejected: 1 });
    const identify = await app.inject({
      method: 'POST',
      url: '/v1/identify',
      headers: bearer,
      payload: {
        customer_id: 'u1',
        email: 'u1@example.com',
        country: 'FR',
        consent: { ad_user_data: 'granted' },
        timestamp: 1_764_201_600,
      },
    });
    expect(identify.statusCode).toBe(202);

    await drainBuffers({ redis, store: t.store, prefix });
    const events = await readAll<Record<string, unknown>>(t.store, 'raw/events/');
    expect(events.map((e) => [e.key.split('/')[2], e.record.id, e.record.name]).sort()).toEqual([
      ['dt=2026-11-26', 'e2e-1', 'order_completed'],
      ['dt=2026-11-27', 'e2e-2', 'checkout_started'],
      ['dt=2026-11-27', 'e2e-3', 'cart_viewed'],
    ]);
    expect(events.find((e) => e.record.id === 'e2e-2')!.record.email).toBe('shopper@example.com');
    expect(events.find((e) => e.record.id === 'e2e-3')!.record).not.toHaveProperty('email');
    expect(events.every((e) => /\/part-\d+-\d+-\d+-\d+\.jsonl\.gz$/.test(e.key))).toBe(true);

    const quarantine = await readAll<Record<string, unknown>>(t.store, 'quarantine/events/');
    expect(quarantine).toHaveLength(1);
    expect(quarantine[0]!.key).toMatch(/^quarantine\/events\/dt=2026-11-27\/part-/);
    expect(quarantine[0]!.record).toMatchObject({
      dataset: 'events',
      rejected: false,
      reasons: [{ code: 'bad_email', path: 'email' }],
    });

    const people = (await readAll<Record<string, unknown>>(t.store, 'raw/people/')).map((r) => r.record);
    expect(people).toContainEqual({
      customer_id: 'u1',
      email: 'u1@example.com',
      country: 'FR',
      consent: { ad_user_data: 'granted' },
      ts: '2025-11-27T00:00:00.000Z',
    });
  });
});
