import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATASETS } from '../../src/contract/records.js';
import { type FuzzApp, INGEST_ROUTES, send, startFuzzApp } from '../fuzz/support.js';
import { cioEvent } from '../ingest/harness.js';

/**
 * `audience_sync_ingest_records_total{dataset, outcome}` moves for every route that takes data in:
 * the own shapes, the Segment routes (`/v1/batch` with mixed datasets among them) and the Track API
 * v1 and v2, as well as the webhook. Each request is checked for its exact change of every series.
 */

const OUTCOMES = ['accepted', 'duplicate', 'rejected'] as const;
type Counts = Record<string, number>;

let fuzz: FuzzApp;
beforeAll(async () => {
  fuzz = await startFuzzApp('metrics');
});
afterAll(async () => {
  await fuzz?.close();
});

async function counts(): Promise<Counts> {
  const text = (await fuzz.app.inject('/metrics')).body;
  const out: Counts = {};
  for (const dataset of DATASETS) {
    for (const outcome of OUTCOMES) {
      const series = `audience_sync_ingest_records_total{dataset="${dataset}",outcome="${outcome}"} `;
      const line = text.split('\n').find((l) => l.startsWith(series));
      out[`${dataset} ${outcome}`] = line ? Number(line.slice(series.length)) : 0;
    }
  }
  return out;
}

/** Sends one request and returns its status and the series that changed, by how much. */
async function sendCounting(method: string, url: string, body: unknown): Promise<[number, Counts]> {
  const route = INGEST_ROUTES.find(
    (r) => r.method === method && r.url === url.replace('/m-5', '/fuzz-person'),
  );
  if (!route) throw new Error(`${method} ${url} is not an ingest route`);
  const before = await counts();
  const res = await send(fuzz, { ...route, url }, body === undefined ? '' : JSON.stringify(body));
  const after = await counts();
  const moved: Counts = {};
  for (const [series, n] of Object.entries(after))
    if (n !== before[series]) moved[series] = n - before[series]!;
  return [res.statusCode, moved];
}

describe('ingest_records_total counts every ingest route', () => {
  it('own shapes: /v1/track and /v1/identify', async () => {
    expect(
      await sendCounting('POST', '/v1/track', { customer_id: 'm-1', name: 'viewed', id: 'm-ev-1' }),
    ).toEqual([202, { 'events accepted': 1 }]);
    expect(
      await sendCounting('POST', '/v1/identify', {
        batch: [{ customer_id: 'm-1', first_name: 'Ada' }, { first_name: 'nobody' }],
      }),
    ).toEqual([202, { 'people accepted': 1, 'people rejected': 1 }]);
  });

  it('Segment: /v1/batch by the dataset of each message, /v1/page, and Segment calls to /v1/track once', async () => {
    const batch = {
      batch: [
        { type: 'track', userId: 'm-2', event: 'Cart Viewed', messageId: 'm-seg-1' },
        { type: 'identify', userId: 'm-2', traits: { first_name: 'Bo' }, messageId: 'm-seg-2' },
        { type: 'track', event: 'No Person', messageId: 'm-seg-3' },
      ],
    };
    expect(await sendCounting('POST', '/v1/batch', batch)).toEqual([
      200,
      { 'events accepted': 1, 'people accepted': 1, 'events rejected': 1 },
    ]);
    // The same messages again: the two taken ones are duplicates now.
    expect(await sendCounting('POST', '/v1/batch', batch)).toEqual([
      200,
      { 'events duplicate': 1, 'people duplicate': 1, 'events rejected': 1 },
    ]);
    expect(
      await sendCounting('POST', '/v1/page', { userId: 'm-3', name: 'Home', messageId: 'm-seg-4' }),
    ).toEqual([200, { 'events accepted': 1 }]);
    expect(
      await sendCounting('POST', '/v1/track', { userId: 'm-4', event: 'Viewed', messageId: 'm-seg-5' }),
    ).toEqual([200, { 'events accepted': 1 }]);
  });

  it('Track API v1: customers, their events, anonymous events; a refused call counts as rejected', async () => {
    expect(await sendCounting('PUT', '/api/v1/customers/m-5', { email: 'm5@example.com' })).toEqual([
      200,
      { 'people accepted': 1 },
    ]);
    expect(
      await sendCounting('POST', '/api/v1/customers/m-5/events', { name: 'viewed', id: 'm-tr-1' }),
    ).toEqual([200, { 'events accepted': 1 }]);
    expect(await sendCounting('POST', '/api/v1/customers/m-5/events', { data: {} })).toEqual([
      400,
      { 'events rejected': 1 },
    ]);
    expect(await sendCounting('POST', '/api/v1/events', { anonymous_id: 'anon-m', name: 'n' })).toEqual([
      200,
      { 'events accepted': 1 },
    ]);
    expect(await sendCounting('POST', '/api/v1/customers/m-5/suppress', undefined)).toEqual([
      200,
      { 'people accepted': 1 },
    ]);
    expect(await sendCounting('DELETE', '/api/v1/customers/m-5', undefined)).toEqual([
      200,
      { 'people accepted': 1 },
    ]);
  });

  it('Track API v2: /api/v2/batch by the dataset of each entry, and /api/v2/entity', async () => {
    const batch = {
      batch: [
        { type: 'person', identifiers: { id: 'm-6' }, action: 'identify', attributes: { first_name: 'Lin' } },
        { type: 'person', identifiers: { id: 'm-6' }, action: 'event', name: 'Cart Viewed', id: 'm-v2-1' },
        { type: 'person', identifiers: {}, action: 'identify', attributes: { email: 'x@example.com' } },
      ],
    };
    expect(await sendCounting('POST', '/api/v2/batch', batch)).toEqual([
      207,
      { 'people accepted': 1, 'events accepted': 1, 'people rejected': 1 },
    ]);
    expect(
      await sendCounting('POST', '/api/v2/entity', {
        type: 'person',
        identifiers: { id: 'm-7' },
        action: 'identify',
      }),
    ).toEqual([200, { 'people accepted': 1 }]);
  });

  it('the Customer.io webhook', async () => {
    expect(await sendCounting('POST', '/v1/webhooks/customerio', cioEvent('email', 'opened'))).toEqual([
      200,
      { 'messages accepted': 1 },
    ]);
  });
});
