import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SECRET_VALUES, SECRETS } from './arbitraries.js';
import {
  expectDocumentedAnswer,
  expectNoPollution,
  FUZZ_TIMEOUT,
  type FuzzApp,
  fuzzParams,
  INGEST_ROUTES,
  markStreams,
  send,
  startFuzzApp,
  writtenSince,
} from './support.js';

/**
 * The batch contract under fuzzing: in a batch that mixes valid and invalid items, every valid
 * item is stored, every invalid one is reported by its index (or quarantined, where the sender is
 * an SDK that reads no per-item answer) and never stored as a record, and no answer repeats the
 * personal data the invalid items carried.
 */

let fuzz: FuzzApp;
beforeAll(async () => {
  fuzz = await startFuzzApp('mixed');
});
afterAll(async () => {
  await fuzz?.close();
});
afterEach(() => {
  expectNoPollution();
  for (const secret of SECRET_VALUES) expect(fuzz.logs.join('')).not.toContain(secret);
});

const route = (url: string) => INGEST_ROUTES.find((r) => r.url === url)!;
let n = 0;
const uid = (label: string) => `${label}-${randomBytes(4).toString('hex')}-${++n}`;
const TS = 1_764_357_285;

/** A batch as [valid?, item] pairs, so the test knows what each index should become. */
function batch<T>(valid: fc.Arbitrary<() => T>, invalid: fc.Arbitrary<() => T>) {
  return fc.array(
    fc.oneof(
      valid.map((make) => [true, make] as const),
      invalid.map((make) => [false, make] as const),
    ),
    { minLength: 1, maxLength: 25 },
  );
}

describe('mixed batches', () => {
  it(
    '/v1/track: valid items stored, invalid ones rejected by index and not stored',
    async () => {
      const valid = fc.constant(() => ({
        id: uid('ok'),
        customer_id: 'cust-1',
        name: 'Order Completed',
        data: { value: 1 },
        timestamp: TS,
      }));
      const invalid = fc.constantFrom(
        () => ({ id: uid('bad'), email: SECRETS.name, name: 'x', data: { n: SECRETS.phone } }), // no person key
        () => ({ id: uid('bad'), customer_id: 'c', first_name: SECRETS.name }), // no name
        () => ({ id: uid('bad'), customer_id: 'c', name: 'x', timestamp: SECRETS.phone }), // bad time
        () => ({ id: uid('bad'), customer_id: 'c', name: 'x'.repeat(500), email: SECRETS.email }), // name too long
        () => ({ id: uid('bad'), customer_id: { nested: SECRETS.email }, name: 'x' }), // person key of a wrong type
        () => SECRETS.email, // not an object
        () => [SECRETS.name],
        () => null,
      );
      await fc.assert(
        fc.asyncProperty(batch<unknown>(valid, invalid), async (plan) => {
          const items = plan.map(([, make]) => make());
          const mark = await markStreams(fuzz);
          const res = await send(fuzz, route('/v1/track'), JSON.stringify({ batch: items }));
          expectDocumentedAnswer(route('/v1/track'), res, SECRET_VALUES);
          const validCount = plan.filter(([ok]) => ok).length;
          expect(res.statusCode, res.body).toBe(validCount > 0 ? 202 : 422);
          const body = res.json() as {
            accepted: number;
            rejected: number;
            results: { index: number; status: string }[];
          };
          expect(body.accepted).toBe(validCount);
          expect(body.rejected).toBe(plan.length - validCount);
          plan.forEach(([ok], i) => {
            expect(body.results[i]).toMatchObject({ index: i, status: ok ? 'accepted' : 'rejected' });
          });
          const written = await writtenSince(fuzz, mark);
          const validIds = items.filter((_, i) => plan[i]![0]).map((item) => (item as { id: string }).id);
          expect(written.raw.events.map((r) => r.id).sort()).toEqual(validIds.sort());
          // Rejected items of the project's own API are answered, not stored (not even quarantined).
          expect(written.quarantine.events).toEqual([]);
          expect(written.text).not.toMatch(/"bad-/);
        }),
        fuzzParams(60),
      );
    },
    FUZZ_TIMEOUT,
  );

  it(
    '/v1/identify: valid updates stored, invalid ones rejected by index',
    async () => {
      const valid = fc.constant(() => ({ customer_id: uid('ok'), plan: 'pro', timestamp: TS }));
      const invalid = fc.constantFrom(
        () => ({ email: SECRETS.email, first_name: SECRETS.name, marker: uid('bad') }), // no customer_id
        () => ({ customer_id: uid('bad'), timestamp: SECRETS.phone, phone: SECRETS.phone }), // bad time
        () => ({ customer_id: uid('bad'), timestamp: 99 }), // before 2000
        () => SECRETS.phone,
      );
      await fc.assert(
        fc.asyncProperty(batch<unknown>(valid, invalid), async (plan) => {
          const items = plan.map(([, make]) => make());
          const mark = await markStreams(fuzz);
          const res = await send(fuzz, route('/v1/identify'), JSON.stringify({ batch: items }));
          expectDocumentedAnswer(route('/v1/identify'), res, SECRET_VALUES);
          const validIds = items
            .filter((_, i) => plan[i]![0])
            .map((item) => (item as { customer_id: string }).customer_id);
          expect(res.statusCode, res.body).toBe(validIds.length > 0 ? 202 : 422);
          const results = (res.json() as { results: { status: string }[] }).results;
          for (const [i, [ok]] of plan.entries())
            expect(results[i]?.status).toBe(ok ? 'accepted' : 'rejected');
          const written = await writtenSince(fuzz, mark);
          expect(written.raw.people.map((r) => r.customer_id).sort()).toEqual(validIds.sort());
          // Rejected items carry values starting `bad-` (a valid id may hold "bad" in its random hex).
          expect(written.text).not.toMatch(/"bad-/);
        }),
        fuzzParams(60),
      );
    },
    FUZZ_TIMEOUT,
  );

  it(
    '/v1/batch (Segment): valid messages stored, invalid ones counted and quarantined only',
    async () => {
      const valid = fc.constantFrom(
        () => ({
          type: 'track',
          messageId: uid('ok'),
          userId: 'u-1',
          event: 'Product Viewed',
          timestamp: '2026-01-02T03:04:05Z',
        }),
        () => ({
          type: 'page',
          messageId: uid('ok'),
          anonymousId: 'a-1',
          name: 'Pricing',
          timestamp: '2026-01-02T03:04:05Z',
        }),
      );
      const invalid = fc.constantFrom(
        () => ({
          type: 'track',
          messageId: uid('bad'),
          event: 'x',
          context: { traits: { email: SECRETS.name } },
        }), // no ids
        () => ({ type: 'launch', messageId: uid('bad'), userId: 'u-1' }), // unknown type
        () => ({ type: 'track', messageId: uid('bad'), userId: 'u-1', event: 'x', timestamp: 'yesterday' }),
        () => ({ type: 'alias', messageId: uid('bad'), userId: 'u-1' }), // no previousId
        () => SECRETS.email,
      );
      await fc.assert(
        fc.asyncProperty(batch<unknown>(valid, invalid), async (plan) => {
          const items = plan.map(([, make]) => make());
          const mark = await markStreams(fuzz);
          const res = await send(fuzz, route('/v1/batch'), JSON.stringify({ batch: items }));
          expectDocumentedAnswer(route('/v1/batch'), res, SECRET_VALUES);
          const validIds = items
            .filter((_, i) => plan[i]![0])
            .map((item) => (item as { messageId: string }).messageId);
          expect(res.statusCode, res.body).toBe(200);
          expect(res.json()).toMatchObject({
            success: true,
            accepted: validIds.length,
            rejected: plan.length - validIds.length,
          });
          const written = await writtenSince(fuzz, mark);
          expect(written.raw.events.map((r) => r.id).sort()).toEqual(validIds.sort());
          const refused = [...written.quarantine.events, ...written.quarantine.people].filter(
            (q) => q.rejected === true,
          );
          expect(refused).toHaveLength(plan.length - validIds.length);
          expect(written.raw.people).toEqual([]);
        }),
        fuzzParams(60),
      );
    },
    FUZZ_TIMEOUT,
  );

  it(
    '/api/v2/batch: valid entries stored, refused ones listed by batch_index and quarantined only',
    async () => {
      const valid = fc.constantFrom(
        () => ({
          type: 'person',
          action: 'event',
          identifiers: { id: 'p-1' },
          id: uid('ok'),
          name: 'Order Completed',
          timestamp: TS,
        }),
        () => ({
          type: 'person',
          action: 'page',
          identifiers: { id: 'p-1' },
          id: uid('ok'),
          name: '/pricing',
          timestamp: TS,
        }),
      );
      const invalid = fc.constantFrom(
        () => ({
          type: 'object',
          action: 'identify',
          identifiers: { object_type_id: '1', object_id: uid('bad') },
        }),
        () => ({ type: 'person', action: 'add_relationship', identifiers: { email: SECRETS.email } }),
        () => ({ type: 'person', action: 'identify', identifiers: {}, attributes: { email: SECRETS.email } }),
        () => ({
          type: 'person',
          action: 'event',
          identifiers: { id: 'p-1' },
          id: uid('bad'),
          timestamp: TS,
        }), // no name
        () => SECRETS.name,
      );
      await fc.assert(
        fc.asyncProperty(batch<unknown>(valid, invalid), async (plan) => {
          const items = plan.map(([, make]) => make());
          const mark = await markStreams(fuzz);
          const res = await send(fuzz, route('/api/v2/batch'), JSON.stringify({ batch: items }));
          expectDocumentedAnswer(route('/api/v2/batch'), res, SECRET_VALUES);
          const invalidIndexes = plan.flatMap(([ok], i) => (ok ? [] : [i]));
          const validIds = items.filter((_, i) => plan[i]![0]).map((item) => (item as { id: string }).id);
          if (invalidIndexes.length === 0) {
            expect(res.statusCode, res.body).toBe(200);
          } else {
            expect(res.statusCode).toBe(207);
            const errors = (res.json() as { errors: { batch_index: number }[] }).errors;
            expect([...new Set(errors.map((e) => e.batch_index))].sort((a, b) => a - b)).toEqual(
              invalidIndexes,
            );
          }
          const written = await writtenSince(fuzz, mark);
          expect(written.raw.events.map((r) => r.id).sort()).toEqual(validIds.sort());
          expect(written.raw.people).toEqual([]);
          const refused = [...written.quarantine.events, ...written.quarantine.people].filter(
            (q) => q.rejected === true,
          );
          expect(refused).toHaveLength(invalidIndexes.length);
        }),
        fuzzParams(60),
      );
    },
    FUZZ_TIMEOUT,
  );
});
