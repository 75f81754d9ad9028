import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildAudiences } from '../../src/audiences/build.js';
import { parseAudienceSyncConfig } from '../../src/config-file.js';
import { addDays } from '../../src/contract/days.js';
import { Engine, sqlString } from '../../src/engine/duckdb.js';
import { updatePeopleSnapshot } from '../../src/people/snapshot.js';
import { keys } from '../../src/storage/keys.js';
import { listKeys, type ObjectStore } from '../../src/storage/object-store.js';
import { STORE_KINDS, type TestStore } from '../helpers/stores.js';
import { ev, memberIds, msg, person, writePart } from './fixtures.js';

/**
 * The people cache (src/audiences/people-cache.ts): a daily build reads yesterday's `people` table
 * and the fold's changes instead of the whole snapshot, and gets exactly the table a build reading
 * the snapshot gets — changed emails, conditions, new people and people folded away by an alias.
 */

const D = '2026-03-10';
const Y = addDays(D, -1);
const config = parseAudienceSyncConfig(
  `version: 1
never_send:
  any:
    - person: { unsubscribed: true }
    - person: { deleted: true }
audiences:
  - id: french_buyers
    type: segment
    when: { all: [{ person: { country: FR } }, { event: order, within_days: 7 }] }
  - id: clickers
    type: segment
    when: { message: { channel: email, metric: clicked }, within_days: 7 }
`,
  'test.yaml',
  {},
).config;

const at = (day: string, hour = 0) => `${day}T0${hour}:00:00.000Z`;

/** Yesterday: eight people, orders and clicks (by email). Today: the fold's changes, more records. */
async function writeData(store: ObjectStore): Promise<void> {
  await writePart(
    store,
    'people',
    Y,
    'p',
    Array.from({ length: 8 }, (_, i) =>
      person(`c${i}`, at(Y), {
        email: `c${i}@example.com`,
        country: i % 2 ? 'FR' : 'CA',
        ...(i === 7 ? { unsubscribed: true } : {}),
      }),
    ),
  );
  await writePart(store, 'people', D, 'p', [
    // A new email: clicks by the old one no longer resolve to c1, the new one's do.
    person('c1', at(D, 1), { email: 'new-c1@example.com' }),
    person('c3', at(D, 1), { unsubscribed: true }),
    person('c7', at(D, 1), { unsubscribed: false }),
    person('c5', at(D, 1), { country: 'CA' }),
    person('c9', at(D, 1), { email: 'c9@example.com', country: 'FR' }),
    // c6 is folded into c4 (an alias): c6's orders are c4's now.
    { customer_id: 'c4', merged_from: 'c6', ts: at(D, 2) },
  ]);
  for (const day of [Y, D]) {
    await writePart(
      store,
      'events',
      day,
      'e',
      [0, 1, 3, 5, 6, 7, 9].map((i) => ev(`${day}-o${i}`, `c${i}`, 'order', at(day, 3))),
    );
    await writePart(store, 'messages', day, 'm', [
      ...[0, 2, 4, 6, 9].map((i) =>
        msg(`${day}-m${i}`, { email: `c${i}@example.com` }, 'email', 'clicked', at(day, 4)),
      ),
      msg(`${day}-new`, { email: 'new-c1@example.com' }, 'email', 'clicked', at(day, 4)),
    ]);
  }
}

async function members(store: ObjectStore, id: string) {
  return (await memberIds(store, id, D)).sort();
}

const entries = (store: ObjectStore) => listKeys(store, keys.peopleCachePrefix());

/** The rows of a people cache entry, in a fixed order. */
async function entryRows(store: ObjectStore, key: string): Promise<unknown[]> {
  const dir = await mkdtemp(join(tmpdir(), 'people-cache-test-'));
  const engine = await Engine.open({ threads: 1 });
  try {
    const path = join(dir, 'entry.parquet');
    await writeFile(path, await store.get(key));
    return await engine.all(`SELECT * FROM read_parquet(${sqlString(path)}) ORDER BY customer_id`);
  } finally {
    engine.close();
    await rm(dir, { recursive: true, force: true });
  }
}

describe.each(STORE_KINDS)('the people cache ($kind store)', ({ create }) => {
  let t: TestStore;
  let fresh: TestStore;
  beforeEach(async () => {
    t = await create();
    fresh = await create();
    await writeData(t.store);
    await writeData(fresh.store);
  });
  afterEach(async () => {
    await t.cleanup();
    await fresh.cleanup();
  });

  it("a daily build reads yesterday's table and the fold's changes, and gets the table the snapshot gives", async () => {
    const yesterday = await buildAudiences({ store: t.store, config, day: Y });
    expect(yesterday.engine.people_cache).toEqual({ source: 'snapshot', written: true });
    const today = await buildAudiences({ store: t.store, config, day: D });
    expect(today.engine.people_cache).toEqual({ source: 'delta', written: true });
    expect(today.people.merged_people).toBe(1);
    const reference = await buildAudiences({ store: fresh.store, config, day: D });
    expect(reference.engine.people_cache).toEqual({ source: 'snapshot', written: true });

    for (const id of ['french_buyers', 'clickers'])
      expect(await members(t.store, id)).toEqual(await members(fresh.store, id));
    // What the changes decided: c1's clicks are by its new email, c3 is unsubscribed and c7 no
    // longer, c5 left France, c9 is new, c6's order is c4's (c6 is gone).
    expect(await members(t.store, 'french_buyers')).toEqual(['c1', 'c7', 'c9']);
    expect(await members(t.store, 'clickers')).toEqual(['c0', 'c1', 'c2', 'c4', 'c9']);

    // The daily build deleted yesterday's entry; its own holds exactly the reference's rows.
    const [entry] = await entries(t.store);
    expect(await entries(t.store)).toEqual([entry]);
    expect(entry).toContain(`dt=${D}/`);
    const [referenceEntry] = await entries(fresh.store);
    expect(await entryRows(t.store, entry!)).toEqual(await entryRows(fresh.store, referenceEntry!));
    expect((await entryRows(t.store, entry!)).map((r) => (r as { customer_id: string }).customer_id)).toEqual(
      ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c7', 'c9'],
    );

    // The same day again: its own entry, nothing written.
    const again = await buildAudiences({ store: t.store, config, day: D });
    expect(again.engine.people_cache).toEqual({ source: 'entry', written: false });
    for (const id of ['french_buyers', 'clickers'])
      expect(await members(t.store, id)).toEqual(await members(fresh.store, id));
  });

  it("in the refresh's order (the people stage folds, then the build) the build reads the stored changes", async () => {
    await updatePeopleSnapshot({ store: t.store, day: Y });
    await buildAudiences({ store: t.store, config, day: Y });
    const folded = await updatePeopleSnapshot({ store: t.store, day: D });
    expect(folded.changes?.removed).toEqual(['c6']);
    const today = await buildAudiences({ store: t.store, config, day: D });
    expect(today.people.up_to_date).toBe(true);
    expect(today.engine.people_cache).toEqual({ source: 'delta', written: true });
    await buildAudiences({ store: fresh.store, config, day: D });
    for (const id of ['french_buyers', 'clickers'])
      expect(await members(t.store, id)).toEqual(await members(fresh.store, id));

    // The base snapshot rewritten since the fold (as an erasure does): the changes no longer
    // describe the difference from it, and are not used.
    await buildAudiences({ store: t.store, config, day: Y, updateSnapshot: false });
    const base = keys.peopleSnapshot(Y);
    const lines = gunzipSync(await t.store.get(base))
      .toString('utf8')
      .split('\n');
    await t.store.put(base, gzipSync(lines.filter((l) => !l.includes('"c2"')).join('\n')));
    await buildAudiences({ store: t.store, config, day: Y, updateSnapshot: false });
    const rebuilt = await buildAudiences({ store: t.store, config, day: D, updateSnapshot: false });
    expect(rebuilt.engine.people_cache?.source).toBe('entry');
    await t.store.delete(await entries(t.store));
    await buildAudiences({ store: t.store, config, day: Y, updateSnapshot: false });
    const after = await buildAudiences({ store: t.store, config, day: D, updateSnapshot: false });
    expect(after.engine.people_cache).toEqual({ source: 'snapshot', written: true });
  });

  it('an entry that cannot be read, or of a rewritten snapshot, is not used; the build is the same', async () => {
    await buildAudiences({ store: t.store, config, day: Y });
    const [entry] = await entries(t.store);
    await t.store.put(entry!, 'not a parquet file');
    const today = await buildAudiences({ store: t.store, config, day: D });
    expect(today.engine.people_cache).toMatchObject({ source: 'snapshot', written: true });
    expect(today.engine.people_cache?.warning).toContain(entry);
    await buildAudiences({ store: fresh.store, config, day: D });
    for (const id of ['french_buyers', 'clickers'])
      expect(await members(t.store, id)).toEqual(await members(fresh.store, id));

    // The snapshot rewritten without a person (as an erasure does): the entry of its old version,
    // which still holds c2, is not read.
    const snapshot = keys.peopleSnapshot(D);
    const lines = gunzipSync(await t.store.get(snapshot))
      .toString('utf8')
      .split('\n');
    await t.store.put(snapshot, gzipSync(lines.filter((l) => !l.includes('"c2"')).join('\n')));
    const rewritten = await buildAudiences({ store: t.store, config, day: D, updateSnapshot: false });
    expect(rewritten.engine.people_cache).toEqual({ source: 'snapshot', written: true });
    expect(await members(t.store, 'clickers')).not.toContain('c2');
  });

  it('another plan (other person conditions) never reads an entry, and a build of some audiences deletes none', async () => {
    await buildAudiences({ store: t.store, config, day: Y });
    const before = await entries(t.store);
    const some = await buildAudiences({ store: t.store, config, day: D, audienceIds: ['clickers'] });
    // Its plan has no country condition: another statement, another entry, and the daily one kept.
    expect(some.engine.people_cache).toEqual({ source: 'snapshot', written: true });
    // The fold skipped its local copy (the base has an entry): the stored snapshot was read.
    expect(some.engine.people_snapshot).toBe('object');
    const after = await entries(t.store);
    expect(after).toEqual(expect.arrayContaining(before));
    expect(after).toHaveLength(2);
    await buildAudiences({ store: fresh.store, config, day: D });
    expect(await members(t.store, 'clickers')).toEqual(await members(fresh.store, 'clickers'));

    // The daily build still reads yesterday's entry it kept, and agrees with the snapshot's build.
    const daily = await buildAudiences({ store: t.store, config, day: D });
    expect(daily.engine.people_cache).toEqual({ source: 'delta', written: true });
    for (const id of ['french_buyers', 'clickers'])
      expect(await members(t.store, id)).toEqual(await members(fresh.store, id));
  });
});
