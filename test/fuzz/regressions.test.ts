import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import type { FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gunzipBody } from '../../src/api/routes/drop-in-common.js';
import { compact } from '../../src/ingest/items.js';
import { mapIdentifyItem } from '../../src/ingest/track.js';
import { nested } from './arbitraries.js';
import {
  expectNoPollution,
  type FuzzApp,
  INGEST_ROUTES,
  markStreams,
  send,
  startFuzzApp,
  writtenSince,
} from './support.js';

/** One test per bug the fuzz suites found; each fails on the code before its fix. */

const route = (url: string) => INGEST_ROUTES.find((r) => r.url === url)!;

describe('ingest regressions', () => {
  let fuzz: FuzzApp;
  beforeAll(async () => {
    fuzz = await startFuzzApp('regress');
  });
  afterAll(async () => {
    await fuzz?.close();
  });

  it('a deeply nested body is a 400 too_deep, not a 500 (JSON.stringify overflowed the stack)', async () => {
    const deep = nested(20_000);
    for (const [url, body] of [
      ['/v1/track', `{"customer_id":"c-1","name":"x","data":{"a":${deep}}}`],
      ['/v1/identify', `{"customer_id":"c-1","attributes":{"a":${deep}}}`],
      ['/v1/batch', `{"batch":[{"type":"identify","userId":"u","traits":{"a":${deep}}}]}`],
      [
        '/api/v2/batch',
        `{"batch":[{"type":"person","action":"identify","identifiers":{"id":"u"},"attributes":{"a":${deep}}}]}`,
      ],
      [
        '/v1/webhooks/customerio',
        `{"event_id":"e-deep","object_type":"email","metric":"sent","timestamp":1764357285,"data":{"identifiers":{"id":"u"},"href":${deep}}}`,
      ],
    ] as const) {
      const mark = await markStreams(fuzz);
      const res = await send(fuzz, route(url), body);
      expect(res.statusCode, `${url}: ${res.body}`).toBe(400);
      expect(res.body).toContain('too_deep');
      const written = await writtenSince(fuzz, mark);
      expect(written.text).toBe('');
    }
  });

  it('bytes that are not gzip are a 400 invalid_gzip', async () => {
    const res = await send(fuzz, route('/v1/track'), 'not gzip at all', { 'content-encoding': 'gzip' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_gzip' });
    const cut = await send(fuzz, route('/api/v2/batch'), gzipSync('{"batch":[]}').subarray(0, 12), {
      'content-encoding': 'gzip',
    });
    expect(cut.statusCode).toBe(400);
    expect(cut.json()).toMatchObject({ errors: [{ reason: 'invalid_gzip' }] });
  });

  it('a text/plain body is a 415, not a string that fails the shape check', async () => {
    for (const url of ['/v1/track', '/v1/batch', '/api/v1/events']) {
      const res = await send(fuzz, route(url), '{"customer_id":"c-1","name":"x"}', {
        'content-type': 'text/plain',
      });
      expect(res.statusCode, url).toBe(415);
    }
  });

  it('track type "constructor" / "toString" is not a view type found on Object.prototype', async () => {
    for (const type of ['constructor', 'toString', '__proto__']) {
      const mark = await markStreams(fuzz);
      const id = `ev-type-${type}`;
      const res = await send(
        fuzz,
        route('/v1/track'),
        JSON.stringify({ id, customer_id: 'c-1', name: 'Order Completed', type, timestamp: 1_764_357_285 }),
      );
      expect(res.statusCode).toBe(202);
      const [stored] = (await writtenSince(fuzz, mark)).raw.events;
      expect(stored).toMatchObject({ id, name: 'order_completed', raw_name: 'Order Completed' });
      expect(Object.keys(stored?.properties as object)).toEqual([]);
    }
  });

  it('a customer webhook with metric "constructor" is no subscription change', async () => {
    const mark = await markStreams(fuzz);
    const body = JSON.stringify({
      event_id: 'e-ctor-metric',
      object_type: 'customer',
      metric: 'constructor',
      timestamp: 1_764_357_285,
      data: { identifiers: { id: 'c-ctor' } },
    });
    const res = await send(fuzz, route('/v1/webhooks/customerio'), body);
    expect(res.statusCode).toBe(200);
    const written = await writtenSince(fuzz, mark);
    expect(written.raw.messages).toHaveLength(1);
    expect(written.raw.people).toEqual([]);
    expect(written.quarantine.people).toEqual([]);
  });
});

describe('gunzipBody', () => {
  it('stops inflating at the body limit and fails with 413', async () => {
    const limit = 64 * 1024;
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x61));
    const request = { headers: { 'content-encoding': 'gzip' }, routeOptions: { bodyLimit: limit } };
    const inflated = await gunzipBody(request as unknown as FastifyRequest, undefined, Readable.from([bomb]));
    let seen = 0;
    const failure = await new Promise<unknown>((resolve) => {
      inflated.on('data', (chunk: Buffer) => {
        seen += chunk.length;
      });
      inflated.on('error', resolve);
      inflated.on('end', () => resolve(undefined));
    });
    expect(failure).toMatchObject({ statusCode: 413, error: 'payload_too_large' });
    expect(seen).toBeLessThanOrEqual(limit);
  });
});

describe('ingest mapping keeps __proto__ keys as data', () => {
  it('compact and the identify mapping copy a "__proto__" key as an own key', () => {
    const input = JSON.parse('{"customer_id":"c-1","__proto__":{"polluted":1},"plan":"pro"}');
    const out = compact(input);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect((out as Record<string, unknown>).polluted).toBeUndefined();
    const person = mapIdentifyItem(input, '2026-01-01T00:00:00.000Z');
    const attributes = person.attributes as Record<string, unknown>;
    expect(Object.getPrototypeOf(attributes)).toBe(Object.prototype);
    expect(Object.hasOwn(attributes, '__proto__')).toBe(true);
    expect(attributes.polluted).toBeUndefined();
    expectNoPollution();
  });
});
