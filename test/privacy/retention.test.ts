import { afterEach, describe, expect, it } from 'vitest';
import { addDays, today } from '../../src/contract/days.js';
import { createLogger } from '../../src/log.js';
import { type RetentionReport, runRetention } from '../../src/privacy/retention.js';
import type { RetentionConfig } from '../../src/privacy/retention-config.js';
import { keys } from '../../src/storage/keys.js';
import { type ObjectStore, writeJson } from '../../src/storage/object-store.js';
import { STORE_KINDS, type TestStore } from '../helpers/stores.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const CONFIG: RetentionConfig = { raw_days: 44, quarantine_days: 10, outbox_days: 7, runs_days: 20 };
/** The oldest day each limit keeps, as of NOW. */
const RAW_FROM = addDays('2026-03-01', -44);
const QUARANTINE_FROM = addDays('2026-03-01', -10);
const RUNS_FROM = addDays('2026-03-01', -20);

async function listAll(store: ObjectStore): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.list('')) out.push(info.key);
  return out.sort();
}

async function put(store: ObjectStore, key: string, body = 'x'): Promise<string> {
  await store.put(key, body);
  return key;
}

/** A raw partition as compaction leaves it: a Parquet file, its manifest and a late JSON Lines part. */
async function rawDay(store: ObjectStore, dataset: 'events' | 'messages' | 'people', day: string) {
  const source = keys.rawPart(dataset, day, 'a', 'a');
  const parquet = `${keys.rawPrefix(dataset, day)}part-c-0123456789abcdef.parquet`;
  await put(store, parquet, 'PAR1');
  await writeJson(store, `${keys.rawPrefix(dataset, day)}_compacted.json`, {
    version: 1,
    dataset,
    day,
    files: [{ key: parquet, sources: [source], rows: 1, malformed_lines: 0, malformed: [], created_at: '' }],
  });
  await put(store, keys.rawPart(dataset, day, 'b', 'b'));
}

async function snapshot(store: ObjectStore, audience: string | undefined, day: string, complete = true) {
  if (audience === undefined) {
    await put(store, keys.peopleSnapshot(day));
    if (complete) await writeJson(store, `people/dt=${day}/manifest.json`, { day, folded: FOLDED });
  } else {
    await put(store, keys.members(audience, day));
    if (complete) await writeJson(store, keys.manifest(audience, day), { day });
  }
}

/** What the newest people snapshot has folded: every person part but the one of RAW_FROM - 2. */
const FOLDED: Record<string, string[]> = {
  [addDays(RAW_FROM, -1)]: ['part-a-a.jsonl.gz', 'part-b-b.jsonl.gz'],
  [addDays(RAW_FROM, -2)]: ['part-a-a.jsonl.gz'],
};

/** Everything retention must leave alone, whatever its age. */
async function untouchable(store: ObjectStore): Promise<string[]> {
  return [
    await put(store, keys.ledger('meta', 'buyers')),
    await put(store, keys.syncState('meta', 'buyers'), '{}'),
    await put(store, keys.ledger('google', 'old_audience')),
    await put(store, keys.syncState('google', 'old_audience'), '{}'),
    await put(store, 'sync/meta/buyers/runs/notes.txt'),
    await put(store, keys.liftReport('buyers', '2020-01-01', 'json'), '{}'),
    await put(store, 'privacy/suppression/e1.json', '{}'),
    await put(store, 'health/alerts.json', '{}'),
    await put(store, '_layout.json', '{}'),
  ];
}

interface Fixture {
  kept: string[];
  removed: Record<string, string[]>;
}

async function fixture(store: ObjectStore): Promise<Fixture> {
  const before = async (f: () => Promise<unknown>) => {
    const a = new Set(await listAll(store));
    await f();
    return (await listAll(store)).filter((k) => !a.has(k));
  };
  const removed: Record<string, string[]> = {};
  const kept: string[] = await untouchable(store);

  // raw: the day at the limit is kept, the one before it goes, with its Parquet file and manifest.
  kept.push(...(await before(() => rawDay(store, 'events', RAW_FROM))));
  kept.push(...(await before(() => rawDay(store, 'events', '2026-03-01'))));
  removed.raw = await before(async () => {
    await rawDay(store, 'events', addDays(RAW_FROM, -1));
    await rawDay(store, 'events', '2025-01-01');
    await rawDay(store, 'messages', addDays(RAW_FROM, -1));
    // Person parts the newest snapshot has folded go too.
    await rawDay(store, 'people', addDays(RAW_FROM, -1));
    // The relevant-record cache's entries go with their day.
    await put(
      store,
      keys.relevantCacheEntry('events', addDays(RAW_FROM, -1), 'part-c-0123456789abcdef', 'f1', 'rows'),
    );
  });
  kept.push(await put(store, keys.relevantCacheEntry('messages', RAW_FROM, 'part-a-a', 'f1', 'rows')));
  kept.push(await put(store, keys.relevantCacheEntry('messages', RAW_FROM, 'part-a-a', 'f1', 'lines')));
  // A person part not folded yet keeps its partition (its identity would be lost).
  kept.push(
    ...(await before(async () => {
      await put(store, keys.rawPart('people', addDays(RAW_FROM, -2), 'a', 'a'));
      await put(store, keys.rawPart('people', addDays(RAW_FROM, -2), 'z', 'z'));
    })),
  );

  // people snapshots: older than the limit go, except the newest complete one.
  removed.people = await before(async () => {
    await snapshot(store, undefined, addDays(RAW_FROM, -1));
    await snapshot(store, undefined, '2025-06-01');
    // The people cache's entries go with their day.
    await put(store, keys.peopleCacheEntry(addDays(RAW_FROM, -1), 'f1'));
  });
  kept.push(...(await before(() => snapshot(store, undefined, RAW_FROM))));
  kept.push(await put(store, keys.peopleCacheEntry(RAW_FROM, 'f1')));
  kept.push(...(await before(() => snapshot(store, undefined, '2026-02-28'))));

  // audience snapshots: the same, per audience; one whose newest snapshot is old keeps that one.
  removed.audiences = await before(async () => {
    await snapshot(store, 'buyers', addDays(RAW_FROM, -1));
    await snapshot(store, 'old_audience', '2025-01-01');
    // An unfinished snapshot (no manifest) newer than the complete one is not "the newest".
    await snapshot(store, 'old_audience', '2025-01-03', false);
  });
  kept.push(...(await before(() => snapshot(store, 'buyers', RAW_FROM))));
  kept.push(...(await before(() => snapshot(store, 'old_audience', '2025-01-02'))));

  // quarantine
  kept.push(await put(store, keys.quarantinePart('events', QUARANTINE_FROM, 'a-a')));
  removed.quarantine = [
    await put(store, keys.quarantinePart('events', addDays(QUARANTINE_FROM, -1), 'a-a')),
    await put(store, keys.quarantinePart('unknown', '2024-12-31', 'b-b')),
  ];

  // sync runs: by the run's day; the newest run day of a pair stays whatever its age.
  const run = (destination: string, audience: string, id: string) => keys.syncRun(destination, audience, id);
  const plan = (id: string, part: 'removes' | 'adds' | 'legacy') => keys.syncPlan('meta', 'buyers', id, part);
  kept.push(await put(store, run('meta', 'buyers', RUNS_FROM), '{}'));
  kept.push(await put(store, run('meta', 'buyers', '2026-02-28'), '{}'));
  kept.push(await put(store, plan('2026-02-28', 'adds')));
  kept.push(await put(store, run('google', 'old_audience', '2025-01-01'), '{}'));
  kept.push(await put(store, run('google', 'old_audience', '2025-01-01-2'), '{}'));
  const old = addDays(RUNS_FROM, -1);
  removed.runs = [
    await put(store, run('meta', 'buyers', old), '{}'),
    await put(store, plan(old, 'removes')),
    await put(store, plan(old, 'adds')),
    await put(store, run('meta', 'buyers', `${old}-2`), '{}'),
    await put(store, plan('2025-11-02', 'legacy')),
    await put(store, run('google', 'old_audience', '2024-12-31'), '{}'),
  ];
  for (const k of Object.keys(removed)) removed[k]!.sort();
  return { kept: kept.sort(), removed };
}

function kind(report: RetentionReport, name: string) {
  return report.kinds.find((k) => k.kind === name)!;
}

describe.each(STORE_KINDS)('retention on the $kind store', ({ create }) => {
  let t: TestStore | undefined;
  afterEach(async () => {
    await t?.cleanup();
    t = undefined;
  });

  it('removes each kind older than its limit, keeps the day at the limit, ledgers and state', async () => {
    t = await create();
    const { store } = t;
    const { kept, removed } = await fixture(store);
    const all = await listAll(store);

    // A dry run reports everything and deletes nothing.
    const dry = await runRetention({ store, config: CONFIG, now: NOW, dryRun: true });
    expect(await listAll(store)).toEqual(all);
    expect(dry.dry_run).toBe(true);

    const lines: string[] = [];
    const log = createLogger({ level: 'info' }, { write: (l: string) => lines.push(l) });
    const report = await runRetention({ store, config: CONFIG, now: NOW, log });
    expect(await listAll(store)).toEqual(kept);
    expect({ ...dry, dry_run: false, seconds: 0 }).toEqual({ ...report, seconds: 0 });

    expect(report.today).toBe('2026-03-01');
    expect(RAW_FROM).toBe('2026-01-16');
    const raw = kind(report, 'raw');
    expect(raw).toMatchObject({
      setting: 'raw_days',
      limit_days: 44,
      keep_from: '2026-01-16',
      units: 5,
      keys_deleted: removed.raw!.length,
      oldest_day: '2025-01-01',
      newest_day: '2026-01-15',
      kept: 1,
    });
    expect(raw.removed).toEqual([
      'cache/relevant/events/dt=2026-01-15/',
      'raw/events/dt=2025-01-01/',
      'raw/events/dt=2026-01-15/',
      'raw/messages/dt=2026-01-15/',
      'raw/people/dt=2026-01-15/',
    ]);
    expect(raw.bytes).toBeGreaterThan(0);
    expect(kind(report, 'people')).toMatchObject({
      units: 3,
      keys_deleted: removed.people!.length,
      oldest_day: '2025-06-01',
      newest_day: '2026-01-15',
      kept: 0,
    });
    expect(kind(report, 'audiences')).toMatchObject({
      units: 3,
      keys_deleted: removed.audiences!.length,
      kept: 1,
    });
    expect(kind(report, 'quarantine')).toMatchObject({
      setting: 'quarantine_days',
      keep_from: '2026-02-19',
      units: 2,
      keys_deleted: 2,
      oldest_day: '2024-12-31',
      newest_day: '2026-02-18',
    });
    expect(kind(report, 'runs')).toMatchObject({
      setting: 'runs_days',
      keep_from: '2026-02-09',
      units: 4,
      keys_deleted: removed.runs!.length,
      oldest_day: '2024-12-31',
      newest_day: '2026-02-08',
      kept: 2,
    });
    expect(kind(report, 'runs').removed).toEqual([
      'sync/google/old_audience/runs/2024-12-31',
      'sync/meta/buyers/runs/2025-11-02',
      'sync/meta/buyers/runs/2026-02-08',
      'sync/meta/buyers/runs/2026-02-08-2',
    ]);
    expect(kind(report, 'outbox').units).toBe(0);
    expect(report.keys_deleted).toBe(Object.values(removed).flat().length);

    // The log line has counts, never keys, audiences, destinations or days removed.
    const text = lines.join('');
    expect(text).toContain('"keys_deleted":');
    for (const word of ['buyers', 'old_audience', 'meta', 'google', '2026-01-15', 'raw/'])
      expect(text).not.toContain(word);

    // A second run finds nothing more.
    const again = await runRetention({ store, config: CONFIG, now: NOW });
    expect(again.keys_deleted).toBe(0);
    expect(again.kinds.map((k) => k.units)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(await listAll(store)).toEqual(kept);
  });

  it('keeps the newest complete people snapshot however old, and removes unfinished ones', async () => {
    t = await create();
    const { store } = t;
    await snapshot(store, undefined, '2025-01-01');
    await snapshot(store, undefined, '2025-01-02');
    await snapshot(store, undefined, '2025-01-03', false);
    const report = await runRetention({ store, config: CONFIG, now: NOW });
    expect(kind(report, 'people')).toMatchObject({ units: 2, kept: 1 });
    expect(await listAll(store)).toEqual([
      'people/dt=2025-01-02/manifest.json',
      'people/dt=2025-01-02/people.jsonl.gz',
    ]);
  });

  it('keeps person parts while no people snapshot has folded them', async () => {
    t = await create();
    const { store } = t;
    await rawDay(store, 'people', '2025-01-01');
    const report = await runRetention({ store, config: CONFIG, now: NOW });
    expect(kind(report, 'raw')).toMatchObject({ units: 0, kept: 1 });
    expect((await listAll(store)).length).toBe(3);
  });

  it('ages dry-run outboxes and runs without a day by when they were written, at the edge', async () => {
    t = await create();
    const { store } = t;
    const outbox = [
      await put(store, keys.outboxRun('dry', 'buyers', 'dry-20260301T1200'), '{}'),
      await put(store, `${keys.outboxPrefix('dry', 'buyers', 'dry-20260301T1200')}000001-add.json`, '{}'),
      await put(store, keys.outboxPlan('dry', 'buyers', 'dry-20260301T1200', 'adds')),
    ];
    const manual = [
      await put(store, keys.syncRun('meta', 'buyers', 'backfill'), '{}'),
      await put(store, keys.syncPlan('meta', 'buyers', 'backfill', 'adds')),
    ];
    const infos: Date[] = [];
    for await (const info of store.list('')) infos.push(info.lastModified!);
    const written = today(new Date(Math.max(...infos.map((d) => d.getTime()))));
    // A day run after the manual one, so the manual run is not the pair's newest.
    const later = await put(store, keys.syncRun('meta', 'buyers', addDays(written, 30)), '{}');
    const at = (day: string) => new Date(`${day}T12:00:00.000Z`);

    // outbox_days 7: written on W, kept on W + 7, removed on W + 8.
    let report = await runRetention({ store, config: CONFIG, now: at(addDays(written, 7)) });
    expect(kind(report, 'outbox').units).toBe(0);
    expect(await listAll(store)).toEqual([...outbox, ...manual, later].sort());
    report = await runRetention({ store, config: CONFIG, now: at(addDays(written, 8)) });
    expect(kind(report, 'outbox')).toMatchObject({
      units: 1,
      keys_deleted: 3,
      oldest_day: written,
      removed: ['outbox/dry/buyers/dry-20260301T1200/'],
    });
    expect(kind(report, 'runs').units).toBe(0);

    // runs_days 20: the manual run written on W is kept on W + 20, removed on W + 21.
    report = await runRetention({ store, config: CONFIG, now: at(addDays(written, 20)) });
    expect(kind(report, 'runs').units).toBe(0);
    report = await runRetention({ store, config: CONFIG, now: at(addDays(written, 21)) });
    expect(kind(report, 'runs')).toMatchObject({
      units: 1,
      keys_deleted: 2,
      removed: ['sync/meta/buyers/runs/backfill'],
    });
    expect(await listAll(store)).toEqual([later]);
  });

  it('deletes what readers go by first: manifests and run records before the rest', async () => {
    t = await create();
    const inner = t.store;
    const calls: string[][] = [];
    const store: ObjectStore = Object.assign(Object.create(inner) as ObjectStore, {
      delete: async (keys: readonly string[]) => {
        calls.push([...keys]);
        await inner.delete(keys);
      },
    });
    await fixture(store);
    await runRetention({ store, config: CONFIG, now: NOW });
    const callOf = (key: string) => calls.findIndex((c) => c.includes(key));
    const markers = [
      'raw/events/dt=2026-01-15/_compacted.json',
      'people/dt=2026-01-15/manifest.json',
      'audiences/buyers/dt=2026-01-15/manifest.json',
      'sync/meta/buyers/runs/2026-02-08.json',
    ];
    const rest = [
      'raw/events/dt=2026-01-15/part-c-0123456789abcdef.parquet',
      'people/dt=2026-01-15/people.jsonl.gz',
      'audiences/buyers/dt=2026-01-15/members.jsonl.gz',
      'sync/meta/buyers/runs/2026-02-08.adds.jsonl.gz',
    ];
    markers.forEach((marker, i) => {
      expect(callOf(marker)).toBeGreaterThanOrEqual(0);
      expect(callOf(marker)).toBeLessThan(callOf(rest[i]!));
    });
  });
});
