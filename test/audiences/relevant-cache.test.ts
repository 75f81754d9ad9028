import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildAudiences } from '../../src/audiences/build.js';
import { readMembers } from '../../src/audiences/members.js';
import { openRulesSession } from '../../src/audiences/session.js';
import { compactDay } from '../../src/compaction/compact.js';
import { parseAudienceSyncConfig } from '../../src/config-file.js';
import { addDays } from '../../src/contract/days.js';
import { Engine } from '../../src/engine/duckdb.js';
import { keys } from '../../src/storage/keys.js';
import { listKeys, type ObjectStore } from '../../src/storage/object-store.js';
import { STORE_KINDS, storeWith, type TestStore } from '../helpers/stores.js';
import { ev, msg, person, writePart } from './fixtures.js';

/**
 * The relevant-record cache (src/audiences/relevant-cache.ts): a daily build reads what earlier
 * builds kept of each compacted file, and its members are exactly those of a build that read every
 * file — duplicates across a cached file and a late JSON Lines part included.
 */

const D = '2026-03-10';
const yaml = (metric: string) => `version: 1
never_send: { message: { channel: email, metric: spammed }, within_days: 30 }
audiences:
  - id: buyers
    type: top_fraction
    when: { event: cart, within_days: 5 }
    score: [{ weight: 1, sum: { event: cart, property: value, within_days: 5 } }]
    top_fraction: 1
  - id: engaged
    type: segment
    when: { message: { channel: email, metric: ${metric} }, within_days: 5 }
`;
const config = parseAudienceSyncConfig(yaml('opened'), 'test.yaml', {}).config;

/** Six days of events and messages for eight people; days up to D-2 compacted as `compactUpTo` says. */
async function writeDays(store: ObjectStore): Promise<void> {
  await writePart(
    store,
    'people',
    addDays(D, -6),
    'p',
    Array.from({ length: 8 }, (_, i) =>
      person(`c${i}`, `${addDays(D, -6)}T00:00:00.000Z`, { email: `c${i}@example.com` }),
    ),
  );
  for (let k = 5; k >= 0; k--) {
    const day = addDays(D, -k);
    await writePart(store, 'events', day, `e${k}`, [
      ...Array.from({ length: 8 }, (_, i) =>
        ev(`e${k}-${i}`, `c${(i + k) % 8}`, i % 3 === 0 ? 'view' : 'cart', `${day}T0${i}:00:00.000Z`, {
          value: i + k,
        }),
      ),
      // A malformed line in every part: a part read from its entry still reports it.
      '{"id": "broken',
      // An id twice in one part: its line numbers decide which copy wins.
      ev(`e${k}-1`, `c${(1 + k) % 8}`, 'cart', `${day}T01:00:00.000Z`, { value: 50 }),
    ]);
    await writePart(
      store,
      'messages',
      day,
      `m${k}`,
      Array.from({ length: 8 }, (_, i) =>
        msg(
          `m${k}-${i}`,
          { email: `c${(i * 3 + k) % 8}@example.com` },
          'email',
          i % 2 ? 'opened' : 'sent',
          `${day}T0${i}:00:00.000Z`,
        ),
      ),
    );
  }
}

async function members(store: ObjectStore, id: string, day: string) {
  const out: [string, string, number][] = [];
  for await (const m of readMembers(store, id, day)) out.push([m.customer_id, m.group, m.score]);
  return out;
}

async function compactUpTo(store: ObjectStore, last: string, first = addDays(D, -5)) {
  for (let day = first; day <= last; day = addDays(day, 1))
    for (const dataset of ['events', 'messages', 'people'] as const)
      await compactDay({ store, dataset, day });
}

/** The same rows in other bytes (uncompressed), put back under the same key. */
async function rewriteParquet(store: ObjectStore, key: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'audience-sync-rewrite-'));
  const engine = await Engine.open({ threads: 1 });
  try {
    await writeFile(join(dir, 'in.parquet'), await store.get(key));
    await engine.run(
      `COPY (SELECT * FROM read_parquet('${join(dir, 'in.parquet')}')) TO '${join(dir, 'out.parquet')}' (FORMAT parquet, COMPRESSION uncompressed)`,
    );
    await store.put(key, await readFile(join(dir, 'out.parquet')));
  } finally {
    engine.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const entries = (store: ObjectStore) => listKeys(store, keys.relevantCachePrefix());

describe.each(STORE_KINDS)('the relevant-record cache ($kind store)', ({ create }) => {
  let t: TestStore;
  let fresh: TestStore;
  beforeEach(async () => {
    t = await create();
    fresh = await create();
  });
  afterEach(async () => {
    await t.cleanup();
    await fresh.cleanup();
  });

  /**
   * Yesterday's build on `t` (leaving its entries), then D's; and D's build on `fresh`, without
   * any. `late` lands after yesterday's build (on `fresh`, before its only one).
   */
  async function twoDaysAndReference(late?: (store: ObjectStore) => Promise<unknown>) {
    await writeDays(t.store);
    await writeDays(fresh.store);
    await late?.(fresh.store);
    await compactUpTo(t.store, addDays(D, -3));
    const yesterday = await buildAudiences({ store: t.store, config, day: addDays(D, -1) });
    await late?.(t.store);
    await compactUpTo(t.store, addDays(D, -2), addDays(D, -2));
    const today = await buildAudiences({ store: t.store, config, day: D });
    await compactUpTo(fresh.store, addDays(D, -2));
    const reference = await buildAudiences({ store: fresh.store, config, day: D });
    return { yesterday, today, reference };
  }

  it("a daily build reads yesterday's entries and selects exactly what a build reading every file selects", async () => {
    // e3-1 lands again in a late part of D-3, after D-3 was compacted and its entry written, and
    // received before the compacted copy (a clock skew): this copy wins, with its value.
    const late = (store: ObjectStore) =>
      writePart(store, 'events', addDays(D, -3), 'late', [
        ev(
          'e3-1',
          'c4',
          'cart',
          `${addDays(D, -3)}T01:00:00.000Z`,
          { value: 100 },
          `${addDays(D, -3)}T00:30:00.000Z`,
        ),
      ]);
    const { yesterday, today, reference } = await twoDaysAndReference(late);
    // D-1's window (5 days) holds, in each dataset, compacted D-5…D-3 and the JSON Lines parts of
    // D-2 and D-1: 10 files, every one given an entry.
    expect(yesterday.engine.relevant_cache).toEqual({ read: 0, written: 10 });
    // D's window: events D-4…D (their 5 days), messages D-29…D (never_send's 30). Read: D-4, D-3
    // and D-1's part (events), D-5…D-3 and D-1's part (messages). Written: D-2, compacted since,
    // D's parts, and the late part of D-3.
    expect(today.engine.relevant_cache).toEqual({ read: 7, written: 5 });
    expect(reference.engine.relevant_cache).toEqual({ read: 0, written: 11 });
    for (const id of ['buyers', 'engaged'])
      expect(await members(t.store, id, D)).toEqual(await members(fresh.store, id, D));
    // The late copy won: c4's score holds its 100, not the compacted copy's 4.
    const c4 = (await members(t.store, 'buyers', D)).find(([id]) => id === 'c4');
    expect(c4?.[2]).toBeGreaterThanOrEqual(100);
    // The same records, lines and malformed lines (a part read from its entry reports its own).
    const reports = (r: typeof today) =>
      r.audiences.map((a) => ({ records: a.records, lines: a.malformed_lines, malformed: a.malformed }));
    expect(reports(today)).toEqual(reports(reference));
    expect(today.audiences[0]!.malformed_lines).toBe(5);
    // Deleted by D's build: the events entry of D-5, a day that left the events window, and the
    // entries of D-2's JSON Lines parts, compacted since.
    const kept = await entries(t.store);
    const days = (dataset: string) => [
      ...new Set(kept.filter((k) => k.includes(`/${dataset}/`)).map((k) => k.split('/')[3])),
    ];
    expect(days('events')).toEqual([-4, -3, -2, -1, 0].map((k) => `dt=${addDays(D, k)}`));
    expect(kept.filter((k) => k.includes(`dt=${addDays(D, -2)}/`)).every((k) => k.endsWith('.parquet'))).toBe(
      true,
    );
    // Messages: four compacted days' rows, two parts' rows and their lines.
    expect(kept.filter((k) => k.includes('/messages/'))).toHaveLength(8);
  });

  it('a changed rule or a rewritten file never reads an old entry, and the old entries are deleted', async () => {
    await twoDaysAndReference();
    const before = await entries(t.store);
    // Another metric: another statement, so other fingerprints.
    const clicked = parseAudienceSyncConfig(yaml('clicked'), 'test.yaml', {}).config;
    const changed = await buildAudiences({ store: t.store, config: clicked, day: D });
    // The events' statement did not change: their 5 entries (D-4…D-2 compacted, D-1 and D's parts)
    // are read; the messages' 6 are written again.
    expect(changed.engine.relevant_cache).toEqual({ read: 5, written: 6 });
    const after = await entries(t.store);
    expect(after.filter((k) => k.includes('/messages/')).some((k) => before.includes(k))).toBe(false);
    expect(after).toHaveLength(before.length);

    // A compacted file rewritten in place with other bytes (as an erasure does): its entry no longer fits.
    const [file] = (await listKeys(t.store, keys.rawPrefix('events', addDays(D, -3)))).filter((k) =>
      k.endsWith('.parquet'),
    );
    await rewriteParquet(t.store, file!);
    const rewritten = await buildAudiences({ store: t.store, config: clicked, day: D });
    expect(rewritten.engine.relevant_cache).toEqual({ read: 10, written: 1 });
    expect(await members(t.store, 'buyers', D)).toEqual(await members(fresh.store, 'buyers', D));
  });

  it('an entry the engine cannot read is dropped and its file read instead', async () => {
    const { reference } = await twoDaysAndReference();
    const [damaged] = (await entries(t.store)).filter((k) => k.includes('/events/'));
    await t.store.put(damaged!, 'not a parquet file');
    const again = await buildAudiences({ store: t.store, config, day: D });
    // Every events entry was given up (its parts loaded) and written again; the messages' 6 were read.
    expect(again.engine.relevant_cache).toEqual({ read: 6, written: 5 });
    for (const id of ['buyers', 'engaged'])
      expect(await members(t.store, id, D)).toEqual(await members(fresh.store, id, D));
    expect(again.audiences.map((a) => a.counts)).toEqual(reference.audiences.map((a) => a.counts));
    // Damage inside the data (the footer intact): a later statement fails without naming the
    // file, so every entry is given up, and the statements run again over the files.
    const [inside] = (await entries(t.store)).filter(
      (k) => k.includes('/messages/') && k.endsWith('.parquet'),
    );
    const bytes = Buffer.from(await t.store.get(inside!));
    bytes.fill(0x5a, 4, Math.min(bytes.length - 200, 400));
    await t.store.put(inside!, bytes);
    const fourth = await buildAudiences({ store: t.store, config, day: D });
    expect(fourth.engine.relevant_cache).toEqual({ read: 0, written: 11 });
    for (const id of ['buyers', 'engaged'])
      expect(await members(t.store, id, D)).toEqual(await members(fresh.store, id, D));
    const third = await buildAudiences({ store: t.store, config, day: D });
    expect(third.engine.relevant_cache).toEqual({ read: 11, written: 0 });
  });

  it('an error naming another object (a damaged people snapshot) fails the build without giving up the entries', async () => {
    await twoDaysAndReference();
    const before = new Map<string, string>();
    for await (const o of t.store.list(keys.relevantCachePrefix())) before.set(o.key, JSON.stringify(o));
    const snapshot = keys.peopleSnapshot(D);
    const bytes = Buffer.from(await t.store.get(snapshot));
    await t.store.put(snapshot, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const error = await buildAudiences({ store: t.store, config, day: D, updateSnapshot: false }).then(
      () => undefined,
      (e: Error) => e,
    );
    // Named, and without the input the engine quoted (a person's line).
    expect(error?.message).toContain(snapshot);
    expect(error?.message).not.toMatch(/Input:|customer_id|example\.com/);
    // Not written again: the entries were not given up for an error that is not theirs.
    const after = new Map<string, string>();
    for await (const o of t.store.list(keys.relevantCachePrefix())) after.set(o.key, JSON.stringify(o));
    expect(after).toEqual(before);
  });

  it('the daily build deletes the entries of a dataset no rule reads any more', async () => {
    await twoDaysAndReference();
    expect((await entries(t.store)).some((k) => k.includes('/events/'))).toBe(true);
    const messagesOnly = parseAudienceSyncConfig(
      `version: 1
audiences:
  - id: engaged
    type: segment
    when: { message: { channel: email, metric: opened }, within_days: 5 }
`,
      'test.yaml',
      {},
    ).config;
    const built = await buildAudiences({ store: t.store, config: messagesOnly, day: D });
    expect(built.engine.relevant_cache.written).toBeGreaterThan(0);
    const left = await entries(t.store);
    expect(left.filter((k) => k.includes('/events/'))).toEqual([]);
    expect(left.filter((k) => k.includes('/messages/')).length).toBeGreaterThan(0);
  });

  it('an entry deleted after it was listed (a concurrent build, an erasure) costs time, not the build', async () => {
    await twoDaysAndReference();
    // One D's build wrote (D-2, compacted since D-1's): not in an S3 store's local read-through cache yet.
    const [gone] = (await entries(t.store)).filter(
      (k) => k.includes(`/events/dt=${addDays(D, -2)}/`) && k.endsWith('.parquet'),
    );
    let deleted = false;
    const racing = storeWith(t.store, {
      async *list(prefix) {
        yield* t.store.list(prefix);
        // The build has just listed the events' entries; one goes before it reads them.
        if (prefix === keys.relevantCachePrefix('events') && !deleted) {
          deleted = true;
          await t.store.delete([gone!]);
        }
      },
    });
    const again = await buildAudiences({ store: racing, config, day: D });
    expect(deleted).toBe(true);
    // Every events entry given up (their files read and their entries written again); the messages' read.
    expect(again.engine.relevant_cache).toEqual({ read: 6, written: 5 });
    for (const id of ['buyers', 'engaged'])
      expect(await members(t.store, id, D)).toEqual(await members(fresh.store, id, D));
  });

  it('a store that refuses entries leaves the build as it would be without them, and says so', async () => {
    await writeDays(t.store);
    await writeDays(fresh.store);
    await compactUpTo(t.store, addDays(D, -2));
    await compactUpTo(fresh.store, addDays(D, -2));
    const refusing = storeWith(t.store, {
      async put(key, body, options) {
        if (key.startsWith('cache/')) throw new Error(`AccessDenied: not allowed to write ${key}`);
        return t.store.put(key, body, options);
      },
    });
    const built = await buildAudiences({ store: refusing, config, day: D });
    const reference = await buildAudiences({ store: fresh.store, config, day: D });
    expect(built.engine.relevant_cache.read).toBe(0);
    expect(built.engine.relevant_cache.written).toBe(0);
    expect(built.engine.relevant_cache.write_error).toMatch(
      /^AccessDenied: not allowed to write cache\/relevant\//,
    );
    expect(await entries(t.store)).toEqual([]);
    for (const id of ['buyers', 'engaged'])
      expect(await members(t.store, id, D)).toEqual(await members(fresh.store, id, D));
    expect(built.audiences.map((a) => a.counts)).toEqual(reference.audiences.map((a) => a.counts));
  });

  it('with entries, <x>_relevant is one Parquet scan: a UNION of the rows read and the entries ran out of memory beneath GROUP BY id', async () => {
    await twoDaysAndReference();
    const session = await openRulesSession({ store: t.store, config, day: D, relevantCache: 'read' });
    try {
      for (const [dataset, x] of [
        ['events', 'ev'],
        ['messages', 'msg'],
      ] as const) {
        expect(session.inputs[dataset]!.relevantCache!.read).toBeGreaterThan(0);
        const plan = (
          await session.engine.all<{ explain_value: string }>(
            `EXPLAIN SELECT id FROM ${x}_relevant GROUP BY id HAVING count(*) > 1`,
          )
        )
          .map((r) => r.explain_value)
          .join('\n');
        expect(plan).toMatch(/READ_PARQUET|PARQUET_SCAN/);
        expect(plan).not.toMatch(/UNION/);
      }
      // Still every relevant record: those of the files read and those of the entries.
      const [row] = await session.engine.all<{ n: number }>('SELECT count(*)::INTEGER AS n FROM ev_relevant');
      const reference = await openRulesSession({ store: fresh.store, config, day: D });
      try {
        const [all] = await reference.engine.all<{ n: number }>(
          'SELECT count(*)::INTEGER AS n FROM ev_relevant',
        );
        expect(row!.n).toBe(all!.n);
      } finally {
        await reference.close();
      }
    } finally {
      await session.close();
    }
  });

  it("a build of some audiences adds its entries and deletes none of the daily build's", async () => {
    await twoDaysAndReference();
    const daily = await entries(t.store);
    const some = await buildAudiences({ store: t.store, config, day: D, audienceIds: ['buyers'] });
    // Its messages statement (never_send's alone) is another plan's: written beside the daily ones.
    expect(some.engine.relevant_cache.written).toBeGreaterThan(0);
    const after = await entries(t.store);
    expect(after).toEqual(expect.arrayContaining(daily));
    expect(after.length).toBeGreaterThan(daily.length);
    const next = await buildAudiences({ store: t.store, config, day: D });
    expect(next.engine.relevant_cache).toEqual({ read: 11, written: 0 });
    // The daily build deletes the other plan's entries: its window will not read them.
    expect(await entries(t.store)).toEqual(daily);
  });
});
