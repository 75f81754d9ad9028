import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drainBuffers, drainDataset } from '../../src/export/drain.js';
import { IngestBuffer } from '../../src/ingest/buffer.js';
import type { BufferItem } from '../../src/ingest/items.js';
import { ingestKeys } from '../../src/ingest/redis-keys.js';
import { createTrackChecker } from '../../src/ingest/track.js';
import { webhookItem } from '../../src/ingest/webhook.js';
import { listKeys } from '../../src/storage/object-store.js';
import { STORE_KINDS, type TestStore } from '../helpers/stores.js';
import { deletePrefix, readAll, testRedis, uniquePrefix } from '../ingest/harness.js';

const DAY1 = Date.UTC(2026, 10, 27, 23, 59, 58) / 1000;
const DAY2 = Date.UTC(2026, 10, 28, 0, 0, 1) / 1000;

const checkTrack = createTrackChecker({ eventAliases: { purchase: 'order_completed' } });

/** A track event as ingest buffers it (checked, canonical, with its day). */
function eventItem(i: number, overrides: Record<string, unknown> = {}): BufferItem {
  const outcome = checkTrack(
    {
      id: `ev-${i}`,
      customer_id: `c-${i % 13}`,
      name: i % 2 ? 'Checkout Started' : 'purchase',
      timestamp: i % 3 === 0 ? DAY1 : DAY2,
      data: { value: i },
      ...overrides,
    },
    '2026-11-28T10:00:00.000Z',
  );
  if (!outcome.ok) throw new Error('test event was rejected');
  return outcome.item;
}

class Interrupted extends Error {}

describe.each(STORE_KINDS)('export drain ($kind store)', ({ create }) => {
  let t: TestStore;
  let redis: Redis;
  let buffer: IngestBuffer;
  let prefix: string;

  beforeEach(async () => {
    t = await create();
    redis = testRedis();
    prefix = uniquePrefix('drain');
    buffer = new IngestBuffer({ redis, prefix, dedupeHours: 1 });
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
    redis.disconnect();
    await t.cleanup();
  });

  async function fill(from: number, to: number, perCall = 7): Promise<void> {
    for (let i = from; i < to; i += perCall) {
      const items: BufferItem[] = [];
      for (let j = i; j < Math.min(to, i + perCall); j++) items.push(eventItem(j));
      await buffer.add(items);
    }
  }

  it('writes one part per event day, named from the stream ids, then trims the stream', async () => {
    await fill(0, 30);
    // Accepted without its bad email: the record goes to raw, the reason to quarantine.
    await buffer.add([eventItem(1001, { email: 'broken@' })]);
    // A buffer line that is not `<day>\t<json>` (written by something else) must not block the stream.
    await redis.xadd(ingestKeys(prefix).stream('events'), '*', 'v', '1', 'n', '1', 'r', 'garbage line');
    await redis.hincrby(ingestKeys(prefix).pending, 'events', 1);
    const entries = await redis.xrange(ingestKeys(prefix).stream('events'), '-', '+');
    const first = entries[0]![0];
    const last = entries[entries.length - 1]![0];

    const [result] = await drainBuffers({ redis, store: t.store, prefix, datasets: ['events'] });
    expect(result).toMatchObject({ status: 'drained', written: 31, quarantined: 2, chunks: 1 });
    expect(await listKeys(t.store, 'raw/events/')).toEqual([
      `raw/events/dt=2026-11-27/part-${first}-${last}.jsonl.gz`,
      `raw/events/dt=2026-11-28/part-${first}-${last}.jsonl.gz`,
    ]);
    const day1 = await readAll(t.store, 'raw/events/dt=2026-11-27/');
    expect(day1).toHaveLength(10);
    expect(day1.every(({ record }) => (record.ts as string).startsWith('2026-11-27T23:59:58'))).toBe(true);
    const all = await readAll<Record<string, unknown>>(t.store, 'raw/events/');
    const e0 = all.find((r) => r.record.id === 'ev-0')!.record;
    expect(e0).toMatchObject({ name: 'order_completed', raw_name: 'purchase', customer_id: 'c-0' });
    expect(all.find((r) => r.record.id === 'ev-1')!.record.name).toBe('checkout_started');
    // The record with a bad email was stored without it; its reason and the bad line are in quarantine.
    expect(all.find((r) => r.record.id === 'ev-1001')!.record).not.toHaveProperty('email');
    const quarantined = await readAll<Record<string, unknown>>(t.store, 'quarantine/events/');
    expect(
      quarantined.map((q) => [q.record.rejected, (q.record.reasons as { code: string }[])[0]!.code]).sort(),
    ).toEqual([
      [false, 'bad_email'],
      [true, 'bad_value'],
    ]);
    expect(quarantined.find((q) => q.record.rejected === false)!.record.record).toMatchObject({
      id: 'ev-1001',
      email: 'broken@',
    });
    expect(quarantined.map((q) => q.key)).toContain(
      `quarantine/events/dt=2026-11-28/part-${first}-${last}.jsonl.gz`,
    );
    expect(await redis.xlen(ingestKeys(prefix).stream('events'))).toBe(0);
    expect(await redis.hget(ingestKeys(prefix).pending, 'events')).toBe('0');
  });

  it('splits a large buffer into chunks of bounded size', async () => {
    await fill(0, 100, 10);
    const result = await drainDataset('events', { redis, store: t.store, prefix, chunkRecords: 25 });
    expect(result.chunks).toBe(4);
    expect(result.written).toBe(100);
    const ids = (await readAll(t.store, 'raw/events/')).map((r) => r.record.id);
    expect(new Set(ids).size).toBe(100);
  });

  it.each(['afterRead', 'afterWrite', 'beforeTrim'] as const)(
    'keeps every record exactly once when interrupted %s and re-run',
    async (step) => {
      // Chunks of 20, 20 and 10 records; the crash hits the last, partial one, whose range new
      // records would extend if the export did not remember it.
      await fill(0, 50, 5);
      let chunk = 0;
      const hooks = {
        [step]: () => {
          chunk += 1;
          if (chunk === 3) throw new Interrupted(`crash ${step}`);
        },
      };
      await expect(
        drainDataset('events', { redis, store: t.store, prefix, chunkRecords: 20, hooks }),
      ).rejects.toBeInstanceOf(Interrupted);
      // New records arrive while the exporter is down: the re-run must not fold them into the
      // interrupted chunk's part (that would change its name and duplicate the chunk).
      await fill(50, 75, 5);
      const rerun = await drainDataset('events', { redis, store: t.store, prefix, chunkRecords: 20 });
      expect(rerun.status).toBe('drained');

      const ids = (await readAll(t.store, 'raw/events/')).map((r) => r.record.id as string);
      expect(ids).toHaveLength(75);
      expect(new Set(ids).size).toBe(75);
      expect(await redis.xlen(ingestKeys(prefix).stream('events'))).toBe(0);
      expect(await redis.exists(ingestKeys(prefix).inflight('events'))).toBe(0);
      expect(await redis.hget(ingestKeys(prefix).pending, 'events')).toBe('0');
    },
  );

  it('does not run twice at once for one dataset', async () => {
    await fill(0, 10);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const slow = drainDataset('events', { redis, store: t.store, prefix, hooks: { afterRead: () => gate } });
    await new Promise((r) => setTimeout(r, 50));
    const second = await drainDataset('events', { redis, store: t.store, prefix });
    expect(second.status).toBe('locked');
    release();
    expect((await slow).written).toBe(10);
  });

  it('drains messages and people streams into their own datasets', async () => {
    const webhook = {
      event_id: 'evt-1',
      object_type: 'customer',
      metric: 'unsubscribed',
      timestamp: DAY2,
      data: { identifiers: { id: 'c1' } },
    };
    await buffer.add([webhookItem(webhook, '2026-11-28T10:00:00.000Z')]);
    const results = await drainBuffers({ redis, store: t.store, prefix });
    expect(results.map((r) => [r.dataset, r.written])).toEqual([
      ['events', 0],
      ['messages', 1],
      ['people', 1],
    ]);
    const [person] = await readAll(t.store, 'raw/people/dt=2026-11-28/');
    expect(person!.record).toEqual({ customer_id: 'c1', unsubscribed: true, ts: '2026-11-28T00:00:01.000Z' });
  });
});
