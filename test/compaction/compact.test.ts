import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compactClosedDays, compactDay } from '../../src/compaction/compact.js';
import { isClosed } from '../../src/compaction/config.js';
import { listDayParts, readCompactionManifest } from '../../src/compaction/parts.js';
import { readRawRecords } from '../../src/compaction/read.js';
import { readJsonlAll } from '../../src/storage/jsonl.js';
import { keys } from '../../src/storage/keys.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { STORE_KINDS, type TestStore } from '../helpers/stores.js';
import { dayRecords, ev, keysUnder, writeRawPart } from './helpers.js';

const DAY = '2026-03-01';
const NOW = new Date('2026-03-05T00:00:00.000Z');

describe.each(STORE_KINDS)('compaction on the $kind store', ({ create }) => {
  let t: TestStore;
  let store: ObjectStore;
  let cacheDir: string;
  beforeEach(async () => {
    t = await create();
    store = t.store;
    cacheDir = await mkdtemp(join(tmpdir(), 'audience-sync-compact-test-'));
  });
  afterEach(async () => {
    await t.cleanup();
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('turns a day of parts into one Parquet file holding the same records', async () => {
    await writeRawPart(store, 'events', DAY, '1700000000000-0', [
      ev('e1', 'a', 'order_completed', `${DAY}T10:00:00.000Z`, {
        amount: 12.5,
        items: [{ sku: 'x', qty: 2 }],
      }),
      ev('e2', 'b', 'page_viewed', `${DAY}T11:00:00.000Z`, {
        url: 'https://example.com/ä?q="1"',
        nested: { n: null },
      }),
    ]);
    await writeRawPart(store, 'events', DAY, '1700000000100-0', [
      ev('e3', 'a', 'page_viewed', `${DAY}T12:00:00.000Z`),
      {
        id: 'e4',
        anonymous_id: 'anon-1',
        email: 'x@example.com',
        name: 'signup',
        raw_name: 'Sign Up',
        ts: `${DAY}T13:00:00.000Z`,
        properties: { ok: true, big: 1e21, tiny: 5e-7 },
        received_at: `${DAY}T13:00:01.000Z`,
        source: 'segment',
      },
    ]);
    await writeRawPart(store, 'events', DAY, '1700000000200-0', [ev('e5', 'c', 'x', `${DAY}T23:59:59.999Z`)]);
    const before = await dayRecords(store, 'events', DAY);
    expect(before).toHaveLength(5);

    const report = await compactDay({ store, dataset: 'events', day: DAY, cacheDir, now: NOW });
    expect(report).toMatchObject({ status: 'compacted', parts_compacted: 3, rows: 5, malformed_lines: 0 });
    expect(report.bytes_before).toBeGreaterThan(0);
    expect(report.bytes_after).toBeGreaterThan(0);

    // Only the Parquet file and the manifest are left in the partition.
    const left = await keysUnder(store, keys.rawPrefix('events', DAY));
    expect(left).toEqual([`raw/events/dt=${DAY}/_compacted.json`, report.parquet]);
    expect(report.parquet).toMatch(/\/part-c-[0-9a-f]{16}\.parquet$/);
    const parts = await listDayParts(store, 'events', DAY);
    expect(parts.jsonl).toEqual([]);
    expect(parts.parquet.map((p) => p.key)).toEqual([report.parquet]);

    const after = await dayRecords(store, 'events', DAY);
    expect(after).toEqual(before);
    const manifest = await readCompactionManifest(store, 'events', DAY);
    expect(manifest?.files).toHaveLength(1);
    expect(manifest?.files[0]).toMatchObject({
      key: report.parquet,
      rows: 5,
      malformed_lines: 0,
      malformed: [],
    });
    expect(manifest?.files[0]?.sources).toEqual(
      before.map((r) => r.key).filter((k, i, a) => a.indexOf(k) === i),
    );
  });

  it('keeps people and messages records equal, booleans and bags included', async () => {
    const people = [
      {
        customer_id: 'a',
        ts: `${DAY}T10:00:00.000Z`,
        email: 'a@example.com',
        unsubscribed: true,
        deleted: false,
        consent: { ad_user_data: 'granted' },
        attributes: { plan: 'pro', seats: 3, tags: ['x'] },
      },
      { customer_id: 'b', ts: `${DAY}T11:00:00.000Z`, merged_from: 'b-old', attributes: {} },
    ];
    const messages = [
      {
        id: 'm1',
        customer_id: 'a',
        channel: 'email',
        metric: 'opened',
        delivery_id: 'd1',
        campaign_id: 'c1',
        ts: `${DAY}T10:00:00.000Z`,
        received_at: `${DAY}T10:00:00.000Z`,
        source: 'cio',
      },
    ];
    await writeRawPart(store, 'people', DAY, '1700000000000-0', people);
    await writeRawPart(store, 'messages', DAY, '1700000000000-0', messages);
    for (const dataset of ['people', 'messages'] as const) {
      const before = await dayRecords(store, dataset, DAY);
      await compactDay({ store, dataset, day: DAY, cacheDir });
      const after = await dayRecords(store, dataset, DAY);
      expect(after).toEqual(before);
      expect((await listDayParts(store, dataset, DAY)).jsonl).toEqual([]);
    }
    expect((await dayRecords(store, 'people', DAY)).map((r) => r.record)).toEqual(people);
  });

  it('quarantines malformed lines with key, line, reason and text, and lists them in the manifest', async () => {
    const key = await writeRawPart(store, 'events', DAY, '1700000000000-0', [
      ev('e1', 'a', 'x', `${DAY}T10:00:00.000Z`),
      '{"id": "broken"',
      '',
      '[1, 2]',
      ev('e2', 'a', 'x', `${DAY}T10:00:00.000Z`),
    ]);
    const report = await compactDay({ store, dataset: 'events', day: DAY, cacheDir });
    expect(report).toMatchObject({ rows: 2, malformed_lines: 2 });
    const manifest = await readCompactionManifest(store, 'events', DAY);
    expect(manifest?.files[0]?.malformed).toEqual([
      { key, line: 2, reason: 'not valid JSON' },
      { key, line: 4, reason: 'not a JSON object' },
    ]);
    const quarantine = await keysUnder(store, keys.quarantinePrefix('events', DAY));
    expect(quarantine).toHaveLength(1);
    const lines = await readJsonlAll(store, quarantine[0]!);
    expect(lines).toEqual([
      expect.objectContaining({
        key,
        line: 2,
        reason: 'not valid JSON',
        text: '{"id": "broken"',
        rejected: true,
      }),
      expect.objectContaining({ key, line: 4, reason: 'not a JSON object', text: '[1, 2]' }),
    ]);
    const records = await dayRecords(store, 'events', DAY);
    expect(records.map((r) => [r.record.id, r.line])).toEqual([
      ['e1', 1],
      ['e2', 5],
    ]);
    const parts = await listDayParts(store, 'events', DAY);
    expect(parts.malformedLines).toBe(2);
  });

  it('does nothing on a rerun, and compacts a late part into a second file', async () => {
    await writeRawPart(store, 'events', DAY, '1700000000000-0', [ev('e1', 'a', 'x', `${DAY}T10:00:00.000Z`)]);
    const first = await compactDay({ store, dataset: 'events', day: DAY, cacheDir });
    const again = await compactDay({ store, dataset: 'events', day: DAY, cacheDir });
    expect(again).toMatchObject({ status: 'nothing_to_do', parquet: null, parts_compacted: 0 });
    expect(again.cleanup).toEqual({ orphans_deleted: [], sources_deleted: 0, entries_dropped: [] });
    const manifestBefore = await readCompactionManifest(store, 'events', DAY);

    await writeRawPart(store, 'events', DAY, '1700000099000-0', [ev('e9', 'b', 'x', `${DAY}T22:00:00.000Z`)]);
    const late = await compactDay({ store, dataset: 'events', day: DAY, cacheDir });
    expect(late).toMatchObject({ status: 'compacted', parts_compacted: 1, rows: 1 });
    expect(late.parquet).not.toBe(first.parquet);
    const manifest = await readCompactionManifest(store, 'events', DAY);
    expect(manifest?.files.map((f) => f.key)).toEqual([first.parquet, late.parquet]);
    expect(manifest?.files[0]).toEqual(manifestBefore?.files[0]);
    expect((await dayRecords(store, 'events', DAY)).map((r) => r.record.id)).toEqual(['e1', 'e9']);
  });

  it('salvages the lines before the break of a truncated gzip part', async () => {
    const lines = Array.from({ length: 3000 }, (_, i) =>
      JSON.stringify(ev(`e${i}`, `c${i % 50}`, 'x', `${DAY}T10:00:00.000Z`, { i, pad: 'y'.repeat(i % 97) })),
    );
    const whole = gzipSync(`${lines.join('\n')}\n`);
    const key = keys.rawPart('events', DAY, '1700000000000-0', '1700000000000-0');
    await store.put(key, whole.subarray(0, Math.floor(whole.length * 0.6)));
    const good = await writeRawPart(store, 'events', DAY, '1700000000500-0', [
      ev('ok', 'a', 'x', `${DAY}T10:00:00.000Z`),
    ]);

    const report = await compactDay({ store, dataset: 'events', day: DAY, cacheDir });
    expect(report.salvaged).toEqual([key]);
    expect(report.malformed_lines).toBe(1);
    const manifest = await readCompactionManifest(store, 'events', DAY);
    const broken = manifest!.files[0]!.malformed[0]!;
    expect(broken.key).toBe(key);
    expect(broken.reason).toMatch(/^unreadable gzip data \(/);
    const records = await dayRecords(store, 'events', DAY);
    const salvaged = records.filter((r) => r.key === key);
    // Every line before the break, in order, and nothing after it.
    expect(salvaged.length).toBe(broken.line - 1);
    expect(salvaged.length).toBeGreaterThan(1000);
    expect(salvaged.map((r) => r.record)).toEqual(lines.slice(0, salvaged.length).map((l) => JSON.parse(l)));
    expect(records.filter((r) => r.key === good).map((r) => r.record.id)).toEqual(['ok']);
  });

  it('reads parts the engine cannot read as they are: bad UTF-8, carriage returns, over-long lines', async () => {
    const key = keys.rawPart('events', DAY, '1700000000000-0', '1700000000000-0');
    const text = Buffer.concat([
      Buffer.from(`${JSON.stringify(ev('e1', 'a', 'x', `${DAY}T10:00:00.000Z`, { s: 'café' }))}\n`),
      Buffer.from('{"id":"e2","name":"x","properties":{"s":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}}\n'),
      Buffer.from('{"id":"e3",\r"name":"x"}\n'),
      Buffer.from(`{"id":"e4","name":"${'z'.repeat(2_100_000)}"}\n`),
      Buffer.from('{"id":"e5"}\r\n'),
    ]);
    await store.put(key, gzipSync(text));
    const before = await dayRecords(store, 'events', DAY);
    const report = await compactDay({ store, dataset: 'events', day: DAY, cacheDir });
    expect(report.salvaged).toEqual([key]);
    const manifest = await readCompactionManifest(store, 'events', DAY);
    expect(manifest!.files[0]!.malformed).toEqual([
      { key, line: 4, reason: 'line longer than 1990000 bytes' },
    ]);
    const after = await dayRecords(store, 'events', DAY);
    expect(after).toEqual(before.filter((r) => r.line !== 4));
    expect(after.map((r) => r.record.id)).toEqual(['e1', 'e2', 'e3', 'e5']);
  });

  it('compacts only closed days: grace hours after the end of the day', async () => {
    expect(isClosed('2026-03-01', new Date('2026-03-03T23:59:59.999Z'), 48)).toBe(false);
    expect(isClosed('2026-03-01', new Date('2026-03-04T00:00:00.000Z'), 48)).toBe(true);
    expect(isClosed('2026-03-01', new Date('2026-03-02T00:00:00.000Z'), 0)).toBe(true);
    await writeRawPart(store, 'events', '2026-03-01', '1700000000000-0', [
      ev('e1', 'a', 'x', '2026-03-01T10:00:00.000Z'),
    ]);
    await writeRawPart(store, 'events', '2026-03-02', '1700000000000-0', [
      ev('e2', 'a', 'x', '2026-03-02T10:00:00.000Z'),
    ]);
    await writeRawPart(store, 'people', '2026-03-01', '1700000000000-0', [
      { customer_id: 'a', ts: '2026-03-01T10:00:00.000Z' },
    ]);
    const report = await compactClosedDays({
      store,
      now: new Date('2026-03-04T06:00:00.000Z'),
      graceHours: 48,
      cacheDir,
    });
    expect(report.days.map((d) => `${d.dataset} ${d.day}`)).toEqual([
      'events 2026-03-01',
      'people 2026-03-01',
    ]);
    expect(report).toMatchObject({ parts_compacted: 2, rows: 2 });
    expect((await listDayParts(store, 'events', '2026-03-02')).jsonl).toHaveLength(1);
    const again = await compactClosedDays({
      store,
      now: new Date('2026-03-04T06:00:00.000Z'),
      graceHours: 48,
      cacheDir,
    });
    expect(again.days).toEqual([]);
  });

  it('reads one record through readRawRecords from either form', async () => {
    const key = await writeRawPart(store, 'events', DAY, '1700000000000-0', [
      ev('e1', 'a', 'x', `${DAY}T10:00:00.000Z`, { n: 1 }),
    ]);
    const jsonl: unknown[] = [];
    for await (const r of readRawRecords(store, 'events', key)) jsonl.push(r);
    const { parquet } = await compactDay({ store, dataset: 'events', day: DAY, cacheDir });
    const compacted: unknown[] = [];
    for await (const r of readRawRecords(store, 'events', parquet!)) compacted.push(r);
    expect(compacted).toEqual(jsonl);
    const filtered: unknown[] = [];
    for await (const r of readRawRecords(store, 'events', parquet!, { where: { name: 'nope' } }))
      filtered.push(r);
    expect(filtered).toEqual([]);
  });
});
