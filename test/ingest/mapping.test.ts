import { describe, expect, it } from 'vitest';
import { crossedThreshold } from '../../src/ingest/ingest.js';
import { checkSignatureHeaders, signatureMatches, signCioWebhook } from '../../src/ingest/signature.js';
import { createTrackChecker, mapIdentifyItem, mapTrackItem } from '../../src/ingest/track.js';
import { mapCioWebhook, webhookItem } from '../../src/ingest/webhook.js';

const NOW = '2026-11-28T12:00:00.000Z';

describe('Customer.io webhook mapping', () => {
  it('prefers identifiers.id over the deprecated data.customer_id, and accepts a numeric journey_id', () => {
    const mapped = mapCioWebhook(
      {
        event_id: 'E1',
        object_type: 'Email',
        metric: 'Opened',
        timestamp: 1_795_780_800,
        data: { identifiers: { id: 'new-id' }, customer_id: 'old-id', journey_id: 42, delivery_id: 'D' },
      },
      NOW,
    );
    expect(mapped.dedupeId).toBe('m:E1');
    expect(mapped.records).toEqual([
      {
        dataset: 'messages',
        record: {
          id: 'E1',
          customer_id: 'new-id',
          channel: 'Email',
          metric: 'Opened',
          journey_id: 42,
          delivery_id: 'D',
          ts: 1_795_780_800,
          received_at: NOW,
          source: 'customerio_webhook',
        },
      },
    ]);
    const [line] = webhookItem(
      {
        event_id: 'E1',
        object_type: 'Email',
        metric: 'Opened',
        timestamp: 1_795_780_800,
        data: { identifiers: { id: 'x' }, journey_id: 42 },
      },
      NOW,
    ).lines;
    expect(JSON.parse(line!.json)).toMatchObject({ channel: 'email', metric: 'opened', journey_id: '42' });
    expect(line!.day).toBe('2026-11-27');
  });

  it('falls back to data.customer_id when identifiers are absent (older workspaces)', () => {
    const mapped = mapCioWebhook(
      { event_id: 'E2', object_type: 'sms', metric: 'sent', timestamp: 1, data: { customer_id: 'legacy' } },
      NOW,
    );
    expect(mapped.records[0]!.record.customer_id).toBe('legacy');
  });

  it('quarantines (but accepts) a webhook it cannot store, so Customer.io does not retry it for days', () => {
    const item = webhookItem(
      { event_id: 'E3', object_type: 'email', metric: 'sent', timestamp: 1_795_780_800, data: {} },
      NOW,
    );
    expect(item.dedupeId).toBe('m:E3');
    expect(item.lines).toHaveLength(1);
    expect(item.lines[0]).toMatchObject({ kind: 'q', day: '2026-11-27' });
    expect(JSON.parse(item.lines[0]!.json)).toMatchObject({
      rejected: true,
      reasons: [{ code: 'missing_person_key' }],
    });
  });

  it('a customer subscription change without a person id is a message only', () => {
    const mapped = mapCioWebhook(
      {
        event_id: 'E4',
        object_type: 'customer',
        metric: 'unsubscribed',
        timestamp: 1,
        data: { identifiers: { email: 'a@example.com' } },
      },
      NOW,
    );
    expect(mapped.records.map((r) => r.dataset)).toEqual(['messages']);
  });
});

describe('signatures', () => {
  const keys = ['k-new', 'k-old'];
  it('verifies against any configured key, on the exact bytes', () => {
    const body = Buffer.from('{"a":1}');
    expect(signatureMatches(keys, '100', signCioWebhook('k-old', 100, body), body)).toBe(true);
    expect(signatureMatches(keys, '100', signCioWebhook('k-other', 100, body), body)).toBe(false);
    expect(signatureMatches(keys, '101', signCioWebhook('k-new', 100, body), body)).toBe(false);
    expect(signatureMatches(keys, '100', signCioWebhook('k-new', 100, body).toUpperCase(), body)).toBe(true);
  });
  it('checks headers and the replay window before the body', () => {
    const opts = { keys, toleranceSeconds: 300, nowSeconds: 10_000 };
    const sig = 'a'.repeat(64);
    expect(checkSignatureHeaders({ timestamp: '10000', signature: sig }, opts)).toBeNull();
    expect(checkSignatureHeaders({ timestamp: '9700', signature: sig }, opts)).toBeNull();
    expect(checkSignatureHeaders({ timestamp: '9699', signature: sig }, opts)).toBe('stale_timestamp');
    expect(checkSignatureHeaders({ timestamp: '10301', signature: sig }, opts)).toBe('future_timestamp');
    expect(checkSignatureHeaders({ timestamp: '1e4', signature: sig }, opts)).toBe('bad_timestamp');
    expect(checkSignatureHeaders({ timestamp: undefined, signature: sig }, opts)).toBe('missing_timestamp');
    expect(checkSignatureHeaders({ timestamp: '10000', signature: undefined }, opts)).toBe(
      'missing_signature',
    );
    expect(checkSignatureHeaders({ timestamp: '10000', signature: sig }, { ...opts, keys: [] })).toBe(
      'no_signing_keys',
    );
  });
});

describe('track and identify mapping', () => {
  it('accepts Segment spellings and keeps page names as a property', () => {
    expect(
      mapTrackItem(
        { messageId: 'm1', userId: 'u1', event: 'Order Completed', properties: { total: 5 } },
        NOW,
      ),
    ).toEqual({
      id: 'm1',
      customer_id: 'u1',
      name: 'Order Completed',
      ts: NOW,
      properties: { total: 5 },
    });
    expect(
      mapTrackItem({ anonymousId: 'a', type: 'page', name: '/cart', data: { ref: 'x' } }, NOW),
    ).toMatchObject({
      anonymous_id: 'a',
      name: 'page_viewed',
      properties: { ref: 'x', page: '/cart' },
    });
  });

  it('applies event aliases and derives an id when the sender gives none', () => {
    const check = createTrackChecker({ eventAliases: { purchase: 'order_completed' } });
    const a = check({ customer_id: 'u', name: 'Purchase', timestamp: 1_795_780_800 }, NOW);
    const b = check(
      { customer_id: 'u', name: 'Purchase', timestamp: 1_795_780_800 },
      '2026-11-29T00:00:00.000Z',
    );
    expect(a.ok && b.ok).toBe(true);
    if (!a.ok || !b.ok) return;
    expect(JSON.parse(a.item.lines[0]!.json)).toMatchObject({
      name: 'order_completed',
      raw_name: 'Purchase',
    });
    // Same content → same id, whenever it arrives: a re-send is a duplicate.
    expect(a.id).toBe(b.id);
    expect(a.item.dedupeId).toBe(`e:${a.id}`);
  });

  it('moves unknown identify keys into attributes and never lets them shadow person fields', () => {
    expect(
      mapIdentifyItem({ id: 'p', plan: 'pro', attributes: { email: 'x@example.com', city: 'Oslo' } }, NOW),
    ).toEqual({
      customer_id: 'p',
      ts: NOW,
      email: 'x@example.com',
      city: 'Oslo',
      attributes: { plan: 'pro' },
    });
  });
});

describe('early export trigger', () => {
  it('fires once per crossed multiple of the threshold', () => {
    expect(crossedThreshold({ pending: { events: 99 }, added: { events: 10 } }, 100)).toEqual([]);
    expect(crossedThreshold({ pending: { events: 105 }, added: { events: 10 } }, 100)).toEqual(['events']);
    expect(
      crossedThreshold({ pending: { events: 100, people: 3 }, added: { events: 1, people: 3 } }, 100),
    ).toEqual(['events']);
    expect(crossedThreshold({ pending: { events: 250 }, added: { events: 10 } }, 100)).toEqual([]);
  });
});
