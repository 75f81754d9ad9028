import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WEBHOOK_MAX_BODY_BYTES } from '../../src/api/routes/webhooks.js';
import { eventRecord, messageRecord, personRecord } from '../../src/contract/records.js';
import { MAX_JSON_DEPTH } from '../../src/ingest/json-limits.js';
import { jsonText, nested, objectText, SECRET_VALUES } from './arbitraries.js';
import {
  expectDocumentedAnswer,
  expectNoPollution,
  expectNothingStored,
  FUZZ_TIMEOUT,
  type FuzzApp,
  fuzzParams,
  INGEST_ROUTES,
  type IngestRoute,
  markStreams,
  send,
  startFuzzApp,
  type Written,
  writtenSince,
} from './support.js';

/**
 * Every ingest route against hostile bodies (docs/sending-data.md, "Limits and refused requests"):
 * each answer is one the route documents, never a 5xx; a refused request stores nothing; whatever
 * is stored is a valid canonical record; no answer or log line repeats personal data; nothing
 * reaches Object.prototype. Replay with FUZZ_SEED (printed on failure).
 */

let fuzz: FuzzApp;
beforeAll(async () => {
  fuzz = await startFuzzApp('routes');
});
afterAll(async () => {
  await fuzz?.close();
});
afterEach(() => {
  expectNoPollution();
  for (const secret of SECRET_VALUES) expect(fuzz.logs.join('')).not.toContain(secret);
});

const ROUTES = fc.constantFrom(...INGEST_ROUTES);
const GZIP_ROUTES = fc.constantFrom(...INGEST_ROUTES.filter((r) => r.gzip));
const SCHEMAS = { events: eventRecord, messages: messageRecord, people: personRecord } as const;

/** Every stored line is a canonical record of its dataset. */
function expectValidRecords(written: Written): void {
  for (const [dataset, records] of Object.entries(written.raw) as [keyof typeof SCHEMAS, unknown[]][]) {
    for (const record of records) {
      const parsed = SCHEMAS[dataset].safeParse(record);
      expect(parsed.success, `stored ${dataset} record breaks the contract`).toBe(true);
    }
  }
}

/** Sends, then checks every invariant; returns the answer and what it stored. */
async function hostile(route: IngestRoute, body: Buffer | string, headers: Record<string, string> = {}) {
  const mark = await markStreams(fuzz);
  const res = await send(fuzz, route, body, headers);
  const written = await writtenSince(fuzz, mark);
  expectDocumentedAnswer(route, res, SECRET_VALUES);
  expectNothingStored(route, res, written);
  expectValidRecords(written);
  expectNoPollution();
  return { res, written };
}

/** Wraps a random body in the envelope a route expects, half of the time. */
function shaped(route: IngestRoute, inner: string): string {
  if (route.url === '/v1/batch' || route.url === '/api/v2/batch') return `{"batch":[${inner}]}`;
  if (route.url === '/v1/track' || route.url === '/v1/identify') return `{"batch":[${inner},${inner}]}`;
  return inner;
}

describe('every ingest route is fuzzed', () => {
  it('the app has no data-taking route outside INGEST_ROUTES', () => {
    const found: string[] = [];
    const stack: string[] = [];
    for (const line of fuzz.app.printRoutes({ commonPrefix: false }).split('\n')) {
      const m = /^([│├└─\s]*)(\S.*?)(?: \(([^)]*)\))?$/.exec(line);
      if (!m) continue;
      const level = Math.floor(m[1]!.length / 4);
      stack.length = level;
      stack.push(m[2]!);
      for (const method of (m[3] ?? '').split(', ')) {
        if (['POST', 'PUT', 'DELETE', 'PATCH'].includes(method)) found.push(`${method} ${stack.join('')}`);
      }
    }
    const known = INGEST_ROUTES.map((r) => `${r.method} ${r.url.replace('fuzz-person', ':identifier')}`);
    expect(found.sort()).toEqual([...new Set(known)].sort());
  });
});

describe('hostile bodies on every ingest route', () => {
  it(
    'random JSON values, objects and route-shaped envelopes',
    async () => {
      const body = fc.oneof(jsonText(), objectText());
      await fc.assert(
        fc.asyncProperty(ROUTES, body, fc.boolean(), async (route, text, wrap) => {
          await hostile(route, wrap ? shaped(route, text) : text);
        }),
        fuzzParams(400),
      );
    },
    FUZZ_TIMEOUT,
  );

  it(
    'random bytes, invalid UTF-8 and truncated JSON',
    async () => {
      const bytes = fc.oneof(
        fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
        // Valid JSON with invalid UTF-8 spliced into a string.
        fc
          .tuple(objectText(), fc.uint8Array({ minLength: 1, maxLength: 8 }))
          .map(([text, junk]) =>
            Buffer.concat([
              Buffer.from(`{"name":"`),
              Buffer.from(junk.map((b) => b | 0x80)),
              Buffer.from(`","x":${text}}`),
            ]),
          ),
        objectText().chain((text) =>
          fc.nat({ max: Math.max(0, text.length - 1) }).map((cut) => Buffer.from(text.slice(0, cut))),
        ),
      );
      await fc.assert(
        fc.asyncProperty(ROUTES, bytes, async (route, body) => {
          const { res } = await hostile(route, body);
          if (res.statusCode === 400 && route.auth !== 'track_api') {
            expect(res.json().error).toMatch(/^(invalid_json|invalid_request|invalid_envelope)$/);
          }
        }),
        fuzzParams(300),
      );
    },
    FUZZ_TIMEOUT,
  );

  it(
    'nesting deeper than the limit is a 400 too_deep; at the limit it is read',
    async () => {
      const place = fc.constantFrom('data', 'properties', 'traits', 'attributes', 'context', 'batch', 'href');
      await fc.assert(
        fc.asyncProperty(
          ROUTES,
          place,
          fc.oneof(fc.integer({ min: 1, max: MAX_JSON_DEPTH + 2 }), fc.integer({ min: 65, max: 300_000 })),
          fc.boolean(),
          async (route, key, depth, objects) => {
            // The body is level 1, the value under `key` level 2: depth `d` here is d + 1 overall.
            const inner = nested(depth, '"leaf"', objects);
            const body = `{"customer_id":"cust-1","userId":"cust-1","name":"x","event":"x","type":"track","${key}":${inner}}`;
            const { res } = await hostile(route, body);
            const limit = route.bodyLimit === 'webhook' ? WEBHOOK_MAX_BODY_BYTES : 4 * 1024 * 1024;
            if (Buffer.byteLength(body) > limit) {
              expect(res.statusCode).toBe(413);
            } else if (depth + 1 > MAX_JSON_DEPTH) {
              expect(res.statusCode, `${route.url} depth ${depth + 1}`).toBe(400);
              if (route.auth === 'bearer' || route.auth === 'segment' || route.auth === 'webhook')
                expect(res.json().error).toBe('too_deep');
            } else {
              expect(res.json().error ?? '').not.toBe('too_deep');
            }
          },
        ),
        fuzzParams(150),
      );
    },
    FUZZ_TIMEOUT,
  );

  it(
    '__proto__, constructor and prototype keys anywhere',
    async () => {
      const key = fc.constantFrom('__proto__', 'constructor', 'prototype');
      const payload = fc.constantFrom(
        '{"polluted":1}',
        '{"prototype":{"polluted":1}}',
        '{"isAdmin":true}',
        '1',
      );
      const where = fc.constantFrom(
        (p: string) => p,
        (p: string) => `{"customer_id":"cust-1","name":"x","data":${p}}`,
        (p: string) => `{"batch":[${p}]}`,
        (p: string) => `{"userId":"u1","type":"identify","traits":${p}}`,
        (p: string) => `{"type":"person","action":"identify","identifiers":{"id":"u1"},"attributes":${p}}`,
        (p: string) => `{"event_id":"e1","object_type":"customer","metric":"subscribed","data":${p}}`,
      );
      await fc.assert(
        fc.asyncProperty(ROUTES, key, payload, where, async (route, k, p, wrap) => {
          const { res } = await hostile(route, wrap(`{"${k}":${p}}`));
          // The JSON parser refuses `__proto__` and `constructor.prototype` (Fastify's secure parse);
          // the webhook parser keeps them as plain data keys: either way nothing is polluted.
          if (
            route.auth !== 'webhook' &&
            (k === '__proto__' || (k === 'constructor' && p.includes('prototype')))
          ) {
            expect(res.statusCode).toBe(400);
          }
        }),
        fuzzParams(200),
      );
    },
    FUZZ_TIMEOUT,
  );

  it(
    'wrong content types are refused (415; webhooks check the signature first)',
    async () => {
      const type = fc.oneof(
        fc.constantFrom(
          'text/plain',
          'text/html',
          'application/xml',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/octet-stream',
          'image/png',
          'application/jsonp',
          'json',
        ),
        fc
          .string({ unit: 'grapheme-ascii', maxLength: 30 })
          .filter((s) => !/json/i.test(s) && s.trim() !== ''),
      );
      await fc.assert(
        fc.asyncProperty(ROUTES, type, objectText(), async (route, contentType, body) => {
          const { res } = await hostile(route, body, { 'content-type': contentType });
          if (route.auth !== 'webhook' && !(route.method === 'DELETE' && body.length === 0)) {
            expect([400, 415], `${route.url} with ${contentType}`).toContain(res.statusCode);
          }
        }),
        fuzzParams(150),
      );
    },
    FUZZ_TIMEOUT,
  );

  it(
    '10 MB strings: 413, plain or gzipped',
    async () => {
      const big = 'x'.repeat(10 * 1024 * 1024);
      const plain = Buffer.from(`{"customer_id":"cust-1","name":"${big}"}`);
      const zipped = gzipSync(plain);
      await fc.assert(
        fc.asyncProperty(ROUTES, fc.boolean(), async (route, gzip) => {
          const { res } = await hostile(
            route,
            gzip && route.gzip ? zipped : plain,
            gzip && route.gzip ? { 'content-encoding': 'gzip' } : {},
          );
          expect(res.statusCode).toBe(413);
        }),
        fuzzParams(30),
      );
    },
    FUZZ_TIMEOUT,
  );
});

describe('gzip bodies', () => {
  /** Compresses to a few hundred kilobytes at most, inflates far past the 4 MiB body limit. */
  const bombs = [16, 64, 256].map((mib) =>
    gzipSync(
      Buffer.concat([Buffer.from('{"batch":["'), Buffer.alloc(mib * 1024 * 1024, 0x61), Buffer.from('"]}')]),
      {
        level: 9,
      },
    ),
  );

  it(
    'a bomb is refused 413 without inflating it all',
    async () => {
      await fc.assert(
        fc.asyncProperty(GZIP_ROUTES, fc.constantFrom(...bombs), async (route, bomb) => {
          const started = process.hrtime.bigint();
          const { res } = await hostile(route, bomb, { 'content-encoding': 'gzip' });
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          expect(res.statusCode).toBe(413);
          // Inflating 256 MiB takes seconds; stopping at the limit takes milliseconds.
          expect(ms).toBeLessThan(2000);
        }),
        fuzzParams(20),
      );
    },
    FUZZ_TIMEOUT,
  );

  it(
    'bytes that are not gzip, or cut short, are a 400 invalid_gzip',
    async () => {
      const good = gzipSync('{"customer_id":"cust-1","name":"x"}');
      const broken = fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 100 }).map((b) => Buffer.from(b)),
        fc.nat({ max: good.length - 2 }).map((cut) => good.subarray(0, cut + 1)),
        fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([at, flip]) => {
          const copy = Buffer.from(good);
          copy[at] = copy[at]! ^ flip;
          return copy;
        }),
      );
      await fc.assert(
        fc.asyncProperty(GZIP_ROUTES, broken, async (route, body) => {
          const { res } = await hostile(route, body, { 'content-encoding': 'gzip' });
          // A flipped bit in the trailer can still inflate; anything else is refused.
          if (res.statusCode === 400 && route.auth !== 'track_api') {
            expect(res.json().error).toMatch(/^(invalid_gzip|invalid_json|invalid_request)$/);
          }
        }),
        fuzzParams(150),
      );
    },
    FUZZ_TIMEOUT,
  );

  it(
    'random JSON, gzipped, answers as the same body sent plain',
    async () => {
      await fc.assert(
        fc.asyncProperty(GZIP_ROUTES, objectText(), async (route, text) => {
          await hostile(route, gzipSync(text), { 'content-encoding': 'gzip' });
        }),
        fuzzParams(100),
      );
    },
    FUZZ_TIMEOUT,
  );
});
