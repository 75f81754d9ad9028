import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { DATASETS } from '../../src/contract/records.js';
import { importCustomerIo } from '../../src/export/customerio/import.js';
import { drainBuffers } from '../../src/export/drain.js';
import { IngestBuffer } from '../../src/ingest/buffer.js';
import type { BufferItem } from '../../src/ingest/items.js';
import { ingestKeys } from '../../src/ingest/redis-keys.js';
import { createIdentifyChecker, createTrackChecker } from '../../src/ingest/track.js';
import { webhookItem } from '../../src/ingest/webhook.js';
import { createLogger } from '../../src/log.js';
import { hashesOfRecord, mergeHashes } from '../../src/privacy/identifiers.js';
import {
  loadSuppression,
  SuppressionCache,
  SuppressionList,
  writeSuppression,
} from '../../src/privacy/suppression.js';
import { ERASED_PERSON, isSuppressed } from '../../src/privacy/suppression-check.js';
import { FsObjectStore } from '../../src/storage/fs-store.js';
import { listKeys, type ObjectStore } from '../../src/storage/object-store.js';
import { S3ObjectStore } from '../../src/storage/s3-store.js';
import { putDataOut } from '../export/data-out-fixtures.js';
import {
  createFsTestStore,
  createS3TestStore,
  STORE_KINDS,
  TEST_S3_CREDENTIALS,
  type TestStore,
} from '../helpers/stores.js';
import {
  API_KEY,
  bearer,
  cioEvent,
  deletePrefix,
  readAll,
  signedHeaders,
  streamRecords,
  testEnv,
  testRedis,
  uniquePrefix,
} from '../ingest/harness.js';

/**
 * "No resurrection" (issue 18): records of an erased person that arrive after the erasure — at
 * ingest, still in the Redis buffer, in a late Data Out file — are dropped, matched by the hashed
 * identifiers of the suppression list, and nothing answers or logs the identifier.
 */

const ERASED = { customer_id: 'erased-7f3a', email: 'Gone.Person@Example.com', phone: '+14155552671' };
/** Every raw form of the erased person's identifiers the tests send. */
const RAW_FORMS = ['erased-7f3a', 'gone.person@example.com', '4155552671', '415) 555-2671', '14155552671'];
const ERASED_HASHES = mergeHashes(hashesOfRecord(ERASED));

const DAY = Date.UTC(2026, 10, 27, 12) / 1000;

/** Nothing in `text` spells one of the erased person's identifiers (case-insensitively). */
function expectNoRawIdentifier(text: string): void {
  const lower = text.toLowerCase();
  for (const raw of RAW_FORMS) expect(lower, `found ${raw}`).not.toContain(raw);
}

/** Every line in a buffer stream, raw and quarantine, as text. */
async function streamText(redis: Redis, prefix: string): Promise<string> {
  const k = ingestKeys(prefix);
  let text = '';
  for (const dataset of DATASETS) {
    for (const [, fields] of await redis.xrange(k.stream(dataset), '-', '+'))
      text += `${fields.join('\n')}\n`;
  }
  return text;
}

/** Every object in a store, gunzipped JSON Lines as their records. */
async function storeText(store: ObjectStore): Promise<string> {
  const parts: string[] = [];
  for (const prefix of ['raw/', 'quarantine/']) {
    for (const { record } of await readAll(store, prefix)) parts.push(JSON.stringify(record));
  }
  return parts.join('\n');
}

function captured() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger({ level: 'debug' }, stream), text: () => lines.join('') };
}

describe('the suppression check', () => {
  const list = new SuppressionList(ERASED_HASHES);

  it('matches a record by any one identifier, normalized as the list hashes it', () => {
    expect(isSuppressed(list, { customer_id: 'erased-7f3a' })).toBe(true);
    expect(isSuppressed(list, { email: '  GONE.person@example.COM ' })).toBe(true);
    expect(isSuppressed(list, { phone: '(415) 555-2671', country: 'US' })).toBe(true);
    expect(isSuppressed(list, { customer_id: 'someone-else', merged_from: 'erased-7f3a' })).toBe(true);
    expect(isSuppressed(list, { customer_id: 'someone-else', email: 'other@example.com' })).toBe(false);
    // Not a hash of the identifier, the identifier itself: a list of raw values would never match.
    expect(isSuppressed(list, { customer_id: ERASED_HASHES.customer_id[0] })).toBe(false);
    expect(isSuppressed(SuppressionList.empty(), ERASED)).toBe(false);
  });

  it('answers with a code and a message that name no value', () => {
    expect(ERASED_PERSON).toEqual({ code: 'erased_person', path: '', message: expect.any(String) });
    expectNoRawIdentifier(JSON.stringify(ERASED_PERSON));
  });
});

describe.each(STORE_KINDS)('SuppressionCache ($kind store)', ({ kind }) => {
  let t: TestStore;
  /** Another process's view of the same store (a worker running an erasure). */
  let other: ObjectStore;

  beforeEach(async () => {
    if (kind === 'fs') {
      const fs = await createFsTestStore();
      t = fs;
      other = new FsObjectStore(fs.root);
    } else {
      const s3 = await createS3TestStore();
      t = s3;
      other = new S3ObjectStore({
        bucket: s3.bucket,
        prefix: 'acme/test',
        endpoint: s3.endpoint,
        credentials: TEST_S3_CREDENTIALS,
      });
    }
  });
  afterEach(async () => {
    await other.close();
    await t.cleanup();
  });

  it("sees another process's erasure once the list is older than maxAge, and at once after invalidate()", async () => {
    const maxAgeMs = 60_000;
    const cache = new SuppressionCache(t.store, maxAgeMs);
    expect((await cache.get()).size).toBe(0);

    await writeSuppression(other, 'erasure-1', ERASED_HASHES);
    // Within maxAge the cached (empty) list is served: no store read per request.
    expect((await cache.get()).matches(ERASED)).toBe(false);
    // Past maxAge it is read again.
    expect((await cache.get(Date.now() + maxAgeMs + 1)).matches(ERASED)).toBe(true);

    const second = { customer_id: 'erased-second', email: 'second@example.com' };
    await writeSuppression(other, 'erasure-2', hashesOfRecord(second));
    expect((await cache.get()).matches(second)).toBe(false);
    cache.invalidate();
    const list = await cache.get();
    expect(list.matches(second)).toBe(true);
    expect(list.matches(ERASED)).toBe(true);
    expect((await loadSuppression(t.store)).size).toBe(list.size);

    // The stored list holds hashes only.
    const stored = await Promise.all(
      (await listKeys(t.store, 'privacy/suppression/')).map((k) => t.store.get(k)),
    );
    expectNoRawIdentifier(stored.map((b) => Buffer.from(b as Uint8Array).toString('utf8')).join('\n'));
  });
});

describe('ingest refuses items of erased people, item by item', () => {
  let app: FastifyInstance;
  let redis: Redis;
  let t: TestStore;
  let logs: ReturnType<typeof captured>;
  const prefix = uniquePrefix('suppress');
  const k = ingestKeys(prefix);
  /** Every response body, checked for raw identifiers at the end. */
  const answers: string[] = [];

  beforeAll(async () => {
    redis = testRedis();
    t = await createFsTestStore();
    await writeSuppression(t.store, 'erasure-1', ERASED_HASHES);
    logs = captured();
    app = await buildApp({
      env: testEnv({ LOG_LEVEL: 'debug' }),
      redis,
      store: t.store,
      redisPrefix: prefix,
      logger: logs.logger,
      // Long enough that only invalidate() refreshes it within the test.
      suppression: new SuppressionCache(t.store, 10 * 60_000),
    });
  });
  afterAll(async () => {
    await app.close();
    await deletePrefix(redis, prefix);
    redis.disconnect();
    await t.cleanup();
  });

  async function send(options: InjectOptions) {
    const res = await app.inject(options);
    answers.push(res.body);
    return res;
  }
  const basic = (user: string, password = '') =>
    `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  it('/v1/track: the erased person (by id or only by email) is refused, the other person in the batch accepted', async () => {
    const res = await send({
      method: 'POST',
      url: '/v1/track',
      headers: bearer,
      payload: {
        batch: [
          { id: 'ev-erased-id', customer_id: ERASED.customer_id, name: 'Checkout Started', timestamp: DAY },
          {
            id: 'ev-erased-email',
            anonymous_id: 'anon-1',
            email: ' GONE.PERSON@example.com',
            name: 'x',
            timestamp: DAY,
          },
          { id: 'ev-kept', customer_id: 'kept-1', name: 'Checkout Started', timestamp: DAY },
        ],
      },
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: 2,
      results: [
        { index: 0, status: 'rejected', problems: [ERASED_PERSON] },
        { index: 1, status: 'rejected', problems: [ERASED_PERSON] },
        { index: 2, status: 'accepted', id: 'ev-kept' },
      ],
    });
    const events = await streamRecords(redis, k.stream('events'));
    expect(events.map((e) => e.id)).toEqual(['ev-kept']);
  });

  it('/v1/identify: a phone in national form with the country matches; every item refused is a 422', async () => {
    const mixed = await send({
      method: 'POST',
      url: '/v1/identify',
      headers: bearer,
      payload: {
        batch: [
          { customer_id: 'new-id-for-them', phone: '(415) 555-2671', country: 'US', timestamp: DAY },
          { customer_id: 'kept-2', email: 'kept@example.com', timestamp: DAY },
        ],
      },
    });
    expect(mixed.statusCode).toBe(202);
    expect(mixed.json().results.map((r: { status: string }) => r.status)).toEqual(['rejected', 'accepted']);
    expect(mixed.json().results[0].problems).toEqual([ERASED_PERSON]);

    const only = await send({
      method: 'POST',
      url: '/v1/identify',
      headers: bearer,
      payload: { customer_id: ERASED.customer_id, attributes: { plan: 'pro' }, timestamp: DAY },
    });
    expect(only.statusCode).toBe(422);
    expect(only.json()).toMatchObject({ accepted: 0, rejected: 1 });
    const people = await streamRecords(redis, k.stream('people'));
    expect(people.map((p) => p.customer_id)).toEqual(['kept-2']);
  });

  it('a Customer.io webhook that names them only by email is answered 200 and dropped', async () => {
    const erased = cioEvent('email', 'opened', {
      event_id: 'wh-erased',
      timestamp: DAY,
      data: { identifiers: { id: null, email: 'gone.person@EXAMPLE.com', cio_id: 'cio-gone' } },
    });
    const body = JSON.stringify(erased);
    const res = await send({
      method: 'POST',
      url: '/v1/webhooks/customerio',
      headers: signedHeaders(body),
      payload: body,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'rejected', code: 'erased_person' });

    const kept = JSON.stringify(cioEvent('email', 'opened', { event_id: 'wh-kept', timestamp: DAY }));
    const ok = await send({
      method: 'POST',
      url: '/v1/webhooks/customerio',
      headers: signedHeaders(kept),
      payload: kept,
    });
    expect(ok.json()).toEqual({ status: 'accepted' });
    // A retry of the dropped one is dropped again (it was never claimed as seen).
    const retry = await send({
      method: 'POST',
      url: '/v1/webhooks/customerio',
      headers: signedHeaders(body),
      payload: body,
    });
    expect(retry.json()).toEqual({ status: 'rejected', code: 'erased_person' });
    const messages = await streamRecords(redis, k.stream('messages'));
    expect(messages.map((m) => m.id)).toEqual(['wh-kept']);
  });

  it('Customer.io Track API: v1 is refused with 400, a v2 batch names the refused entry (207)', async () => {
    const auth = { authorization: basic('site', API_KEY) };
    const v1 = await send({
      method: 'PUT',
      url: `/api/v1/customers/${ERASED.customer_id}`,
      headers: auth,
      payload: { email: ERASED.email, plan: 'pro' },
    });
    expect(v1.statusCode).toBe(400);
    expect(v1.json()).toEqual({ meta: { error: ERASED_PERSON.message } });
    // Addressed by the email itself (an email-first workspace).
    const byEmail = await send({
      method: 'POST',
      url: `/api/v1/customers/${encodeURIComponent(ERASED.email)}/events`,
      headers: auth,
      payload: { name: 'viewed', timestamp: DAY },
    });
    expect(byEmail.statusCode).toBe(400);

    const v2 = await send({
      method: 'POST',
      url: '/api/v2/batch',
      headers: auth,
      payload: {
        batch: [
          {
            type: 'person',
            identifiers: { id: 'kept-3' },
            action: 'identify',
            attributes: { plan: 'pro' },
            timestamp: DAY,
          },
          {
            type: 'person',
            identifiers: { email: ERASED.email },
            action: 'identify',
            attributes: {},
            timestamp: DAY,
          },
        ],
      },
    });
    expect(v2.statusCode).toBe(207);
    expect(v2.json()).toEqual({
      errors: [{ batch_index: 1, reason: 'erased_person', field: '', message: ERASED_PERSON.message }],
    });
    const people = await streamRecords(redis, k.stream('people'));
    expect(people.map((p) => p.customer_id)).toContain('kept-3');
  });

  it('Segment: refused messages are counted as rejected and, unlike other rejections, not quarantined', async () => {
    const res = await send({
      method: 'POST',
      url: '/v1/batch',
      headers: { authorization: basic(API_KEY) },
      payload: {
        batch: [
          {
            type: 'identify',
            userId: 'fresh-id',
            messageId: 'sg-1',
            traits: { email: 'GONE.PERSON@example.com ' },
          },
          { type: 'track', userId: ERASED.customer_id, messageId: 'sg-2', event: 'Order Completed' },
          // Alias of the erased identity into a new one: the snapshot would fold them back in.
          { type: 'alias', userId: 'fresh-id-2', previousId: ERASED.customer_id, messageId: 'sg-3' },
          // Breaks the contract (unknown type) and is about them: neither stored nor quarantined.
          { type: 'bogus', userId: ERASED.customer_id, messageId: 'sg-4' },
          // Breaks the contract and is about someone else: quarantined as before.
          { type: 'bogus', userId: 'kept-4', messageId: 'sg-5' },
          { type: 'track', userId: 'kept-4', messageId: 'sg-6', event: 'Order Completed' },
        ],
      },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ success: true, accepted: 1, duplicates: 0, rejected: 5 });
    const text = await streamText(redis, prefix);
    expect(text).toContain('sg-6');
    expect(text).toContain('kept-4'); // the quarantined bogus message of the other person
    expect(text).not.toContain('sg-4');
  });

  it('an erasure written after the app loaded the list applies after invalidate()', async () => {
    const later = { customer_id: 'erased-later', email: 'later@example.com' };
    const track = (id: string) =>
      send({
        method: 'POST',
        url: '/v1/track',
        headers: bearer,
        payload: { id, customer_id: later.customer_id, name: 'x', timestamp: DAY },
      });
    await writeSuppression(t.store, 'erasure-later', hashesOfRecord(later));
    // Cached for maxAge (10 minutes here): still taken.
    expect((await track('ev-later-1')).json().accepted).toBe(1);
    app.suppression.invalidate();
    const refused = await track('ev-later-2');
    expect(refused.statusCode).toBe(422);
    expect(refused.json().results[0].problems).toEqual([ERASED_PERSON]);
  });

  it('nothing answered, buffered or logged spells their identifiers; logs give counts only', async () => {
    for (const answer of answers) expectNoRawIdentifier(answer);
    expectNoRawIdentifier(await streamText(redis, prefix));
    const log = logs.text();
    expectNoRawIdentifier(log);
    const lines = log
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'ingest refused records of erased people');
    expect(lines.length).toBeGreaterThanOrEqual(5);
    expect(lines.find((l) => l.route === '/v1/track')).toMatchObject({ suppressed: 2 });
    expect(lines.find((l) => l.route === '/v1/webhooks/customerio')).toMatchObject({ suppressed: 1 });
  });
});

describe.each(STORE_KINDS)('export drain of a buffer holding erased people ($kind store)', ({ create }) => {
  let t: TestStore;
  let redis: Redis;
  let buffer: IngestBuffer;
  let prefix: string;
  const receivedAt = '2026-11-27T13:00:00.000Z';
  const track = createTrackChecker();
  const identify = createIdentifyChecker();
  const item = (outcome: ReturnType<typeof track>): BufferItem => {
    if (!outcome.ok) throw new Error('test item was rejected');
    return outcome.item;
  };

  beforeEach(async () => {
    t = await create();
    redis = testRedis();
    prefix = uniquePrefix('suppress-drain');
    buffer = new IngestBuffer({ redis, prefix, dedupeHours: 1 });
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
    redis.disconnect();
    await t.cleanup();
  });

  async function bufferBoth(): Promise<void> {
    await buffer.add([
      item(
        track(
          { id: 'e-1', customer_id: ERASED.customer_id, name: 'Order Completed', timestamp: DAY },
          receivedAt,
        ),
      ),
      // Accepted without its broken field: a raw line and a quarantine line, both about them.
      item(
        identify(
          {
            customer_id: ERASED.customer_id,
            email: ERASED.email,
            phone: ERASED.phone,
            country: 'nowhere',
            timestamp: DAY,
          },
          receivedAt,
        ),
      ),
      webhookItem(
        cioEvent('email', 'clicked', {
          event_id: 'm-1',
          timestamp: DAY,
          data: { identifiers: { id: null, email: ERASED.email, cio_id: 'cio-gone' } },
        }),
        receivedAt,
      ),
      item(track({ id: 'e-2', customer_id: 'kept-1', name: 'Order Completed', timestamp: DAY }, receivedAt)),
      item(identify({ customer_id: 'kept-1', email: 'kept@example.com', timestamp: DAY }, receivedAt)),
    ]);
  }

  it('does not export records buffered before the erasure, and counts them', async () => {
    await bufferBoth();
    await writeSuppression(t.store, 'erasure-1', ERASED_HASHES);
    const results = await drainBuffers({ redis, store: t.store, prefix });
    const by = Object.fromEntries(results.map((r) => [r.dataset, r]));
    expect(by.events).toMatchObject({ written: 1, quarantined: 0, suppressed: 1 });
    expect(by.people).toMatchObject({ written: 1, quarantined: 0, suppressed: 2 });
    expect(by.messages).toMatchObject({ written: 0, quarantined: 0, suppressed: 1 });
    const raw = await readAll(t.store, 'raw/');
    expect(raw.map((r) => r.record.customer_id).sort()).toEqual(['kept-1', 'kept-1']);
    expectNoRawIdentifier(await storeText(t.store));
    // The buffer is drained all the same: nothing waits to be exported later.
    expect(await buffer.pending()).toEqual({ events: 0, messages: 0, people: 0 });
  });

  it('reads the list after the chunk was read: an erasure entry written meanwhile applies', async () => {
    await bufferBoth();
    const results = await drainBuffers({
      redis,
      store: t.store,
      prefix,
      datasets: ['events'],
      hooks: { afterRead: () => writeSuppression(t.store, 'erasure-1', ERASED_HASHES) },
    });
    expect(results[0]).toMatchObject({ written: 1, suppressed: 1 });
    expectNoRawIdentifier(await storeText(t.store));
  });

  it('exports everything while the list is empty', async () => {
    await bufferBoth();
    const results = await drainBuffers({ redis, store: t.store, prefix });
    expect(results.reduce((n, r) => n + r.suppressed, 0)).toBe(0);
    expect(results.reduce((n, r) => n + r.written, 0)).toBe(5);
  });
});

describe('Customer.io Data Out import of a late file about an erased person', () => {
  let source: TestStore;
  let target: TestStore;
  const T = new Date('2026-11-27T10:00:00.000Z');

  beforeEach(async () => {
    source = await createS3TestStore({ prefix: 'cio-data-out' });
    target = await createFsTestStore();
  });
  afterEach(async () => {
    await source.cleanup();
    await target.cleanup();
  });

  it('drops their rows, counts them per file and in total, and imports the others', async () => {
    await writeSuppression(target.store, 'erasure-1', ERASED_HASHES);
    await putDataOut(
      source.store,
      'people_v4_100_1.parquet',
      'people',
      [
        { workspace_id: 1, customer_id: ERASED.customer_id, internal_customer_id: 'cio-gone', updated_at: T },
        // Known to Customer.io by another id, but the same address.
        { workspace_id: 1, customer_id: 'cio-only-id', email: 'GONE.person@example.com', updated_at: T },
        { workspace_id: 1, customer_id: 'kept-1', internal_customer_id: 'cio-kept', updated_at: T },
      ],
      [{ name: 'email', type: 'STRING' }],
    );
    await putDataOut(
      source.store,
      'metrics_v4_100_1.parquet',
      'metrics',
      [
        {
          event_id: 'm-1',
          delivery_id: 'd-1',
          metric: 'opened',
          created_at: T,
          customer_id: ERASED.customer_id,
          delivery_type: 'email',
        },
        {
          event_id: 'm-2',
          delivery_id: 'd-2',
          metric: 'opened',
          created_at: T,
          customer_id: 'kept-1',
          delivery_type: 'email',
        },
      ],
      [
        { name: 'customer_id', type: 'STRING' },
        { name: 'delivery_type', type: 'STRING' },
      ],
    );
    const result = await importCustomerIo({ source: source.store, store: target.store });
    expect(result).toMatchObject({ imported: 2, failed: 0, rows: 5, suppressed: 3 });
    expect(result.files.map((f) => [f.type, f.written, f.suppressed])).toEqual([
      ['metrics', 1, 1],
      ['people', 1, 2],
    ]);
    const raw = await readAll(target.store, 'raw/');
    expect(raw.map((r) => r.record.customer_id).sort()).toEqual(['kept-1', 'kept-1']);
    expectNoRawIdentifier(await storeText(target.store));
  });
});
