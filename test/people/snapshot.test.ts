import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveIdentities } from '../../src/audiences/identity.js';
import type { SnapshotPerson } from '../../src/people/merge.js';
import { peopleManifestKey, readPeopleSnapshot, updatePeopleSnapshot } from '../../src/people/snapshot.js';
import { keys } from '../../src/storage/keys.js';
import {
  listKeys,
  type ObjectStore,
  objectVersion,
  readJson,
  statObject,
} from '../../src/storage/object-store.js';
import { person, writePart } from '../audiences/fixtures.js';
import { STORE_KINDS, type TestStore } from '../helpers/stores.js';

async function snapshot(store: ObjectStore, day: string): Promise<SnapshotPerson[]> {
  const out: SnapshotPerson[] = [];
  for await (const p of readPeopleSnapshot(store, day)) out.push(p);
  return out;
}

describe.each(STORE_KINDS)('people snapshot on the $kind store', ({ create }) => {
  let t: TestStore;
  let store: ObjectStore;
  beforeEach(async () => {
    t = await create();
    store = t.store;
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('keeps the latest value of each field by ts, ignoring updates after the end of D', async () => {
    await writePart(store, 'people', '2026-03-01', 'p1', [
      person('b', '2026-03-01T10:00:00.000Z', {
        email: 'b@example.com',
        country: 'DE',
        attributes: { plan: 'free', seats: 1 },
      }),
      person('a', '2026-03-01T10:00:00.000Z', {
        email: 'old@example.com',
        consent: { ad_user_data: 'granted' },
      }),
    ]);
    await writePart(store, 'people', '2026-03-02', 'p1', [
      person('a', '2026-03-02T10:00:00.000Z', {
        email: 'new@example.com',
        consent: { ad_personalization: 'denied' },
      }),
      person('b', '2026-03-02T10:00:00.000Z', { attributes: { plan: 'pro' }, unsubscribed: true }),
    ]);
    await writePart(store, 'people', '2026-03-04', 'p1', [
      person('a', '2026-03-04T00:00:00.000Z', { deleted: true }),
    ]);
    const manifest = await updatePeopleSnapshot({ store, day: '2026-03-03' });
    expect(manifest).toMatchObject({ people: 2, new_people: 2, base_day: null, unsubscribed: 1, deleted: 0 });
    const people = await snapshot(store, '2026-03-03');
    expect(people.map((p) => p.customer_id)).toEqual(['a', 'b']);
    expect(people[0]).toEqual({
      customer_id: 'a',
      email: 'new@example.com',
      consent: { ad_user_data: 'granted', ad_personalization: 'denied' },
      ts: '2026-03-02T10:00:00.000Z',
      field_ts: { 'consent.ad_user_data': '2026-03-01T10:00:00.000Z' },
    });
    expect(people[1]).toMatchObject({
      customer_id: 'b',
      email: 'b@example.com',
      country: 'DE',
      unsubscribed: true,
      attributes: { plan: 'pro', seats: 1 },
    });
    expect(
      await resolveIdentities(store, '2026-03-03', [
        { email: 'NEW@example.com' },
        { email: 'old@example.com' },
      ]),
    ).toEqual(['a', undefined]);
  });

  it('fails on a truncated base snapshot, naming it, and writes no snapshot of D', async () => {
    // Enough people that the cut falls well inside the object.
    const many = Array.from({ length: 20_000 }, (_, i) =>
      person(`cus_${String(i).padStart(6, '0')}`, '2026-03-01T10:00:00.000Z', { email: `p${i}@example.com` }),
    );
    await writePart(store, 'people', '2026-03-01', 'p1', many);
    await updatePeopleSnapshot({ store, day: '2026-03-01' });
    const key = 'people/dt=2026-03-01/people.jsonl.gz';
    const whole = await store.get(key);
    await store.put(key, whole.subarray(0, Math.floor(whole.length / 2)));
    await writePart(store, 'people', '2026-03-02', 'p1', [person('zz', '2026-03-02T10:00:00.000Z')]);
    await expect(updatePeopleSnapshot({ store, day: '2026-03-02' })).rejects.toThrow(
      /people\/dt=2026-03-01\/people\.jsonl\.gz at line \d+: unreadable gzip data/,
    );
    expect(await store.exists(peopleManifestKey('2026-03-02'))).toBe(false);
    expect(await store.exists('people/dt=2026-03-02/people.jsonl.gz')).toBe(false);
  });

  it('folds only parts not folded yet, late ones included, without letting old values win', async () => {
    await writePart(store, 'people', '2026-03-01', 'p1', [
      person('a', '2026-03-01T10:00:00.000Z', { email: 'a1@example.com' }),
    ]);
    await writePart(store, 'people', '2026-03-02', 'p1', [
      person('a', '2026-03-02T10:00:00.000Z', { email: 'a2@example.com' }),
    ]);
    const first = await updatePeopleSnapshot({ store, day: '2026-03-02' });
    expect(first.folded).toEqual({
      '2026-03-01': ['part-p1-p1.jsonl.gz'],
      '2026-03-02': ['part-p1-p1.jsonl.gz'],
    });

    // Up to date: nothing is rewritten.
    expect((await updatePeopleSnapshot({ store, day: '2026-03-02' })).up_to_date).toBe(true);

    // A late part in an old partition with an older email and a newer phone, plus a new person.
    await writePart(store, 'people', '2026-03-01', 'p9', [
      person('a', '2026-03-01T12:00:00.000Z', { email: 'late@example.com', phone: '+12125550100' }),
      person('c', '2026-03-01T12:00:00.000Z', { email: 'c@example.com' }),
    ]);
    await writePart(store, 'people', '2026-03-03', 'p1', [
      person('b', '2026-03-03T01:00:00.000Z', { cio_id: 'x1' }),
    ]);
    const next = await updatePeopleSnapshot({ store, day: '2026-03-03' });
    expect(next.base_day).toBe('2026-03-02');
    expect(next.new_parts).toEqual([
      'raw/people/dt=2026-03-01/part-p9-p9.jsonl.gz',
      'raw/people/dt=2026-03-03/part-p1-p1.jsonl.gz',
    ]);
    expect(next).toMatchObject({ people: 3, updated_people: 1, new_people: 2 });
    const people = await snapshot(store, '2026-03-03');
    expect(people.map((p) => [p.customer_id, p.email, p.phone, p.cio_id])).toEqual([
      ['a', 'a2@example.com', '+12125550100', undefined],
      ['b', undefined, undefined, 'x1'],
      ['c', 'c@example.com', undefined, undefined],
    ]);
    // The same result as a build from scratch.
    const scratch = await updatePeopleSnapshot({ store, day: '2026-03-03', force: true });
    expect(scratch.base_day).toBe('2026-03-02');
    expect(await snapshot(store, '2026-03-03')).toEqual(people);
    const stored = await readJson<{ folded: Record<string, string[]> }>(
      store,
      peopleManifestKey('2026-03-03'),
    );
    expect(stored.folded['2026-03-01']).toEqual(['part-p1-p1.jsonl.gz', 'part-p9-p9.jsonl.gz']);
  });

  it('keeps deletions and unsubscribes as flags and reports malformed lines', async () => {
    const key = await writePart(store, 'people', '2026-03-01', 'p1', [
      person('a', '2026-03-01T10:00:00.000Z', { email: 'a@example.com' }),
      '{"customer_id":',
      { email: 'nokey@example.com', ts: '2026-03-01T10:00:00.000Z' },
      person('a', '2026-03-01T11:00:00.000Z', { deleted: true, unsubscribed: true }),
    ]);
    const manifest = await updatePeopleSnapshot({ store, day: '2026-03-01' });
    expect(manifest.malformed).toEqual([{ key, line: 2, reason: 'not valid JSON' }]);
    expect(manifest.updates_rejected).toEqual({ missing_person_key: 1 });
    expect(manifest).toMatchObject({ deleted: 1, unsubscribed: 1, people: 1 });
    expect((await snapshot(store, '2026-03-01'))[0]).toMatchObject({ email: 'a@example.com', deleted: true });
  });

  it('stores the new lines of the people it changed beside the snapshot, only when that is the whole difference', async () => {
    await writePart(store, 'people', '2026-03-01', 'p1', [
      person('a', '2026-03-01T10:00:00.000Z', { email: 'a@example.com' }),
      person('b', '2026-03-01T10:00:00.000Z', { email: 'b@example.com' }),
      person('c', '2026-03-01T10:00:00.000Z', { email: 'c@example.com' }),
      person('e', '2026-03-01T10:00:00.000Z', { email: 'e@example.com' }),
    ]);
    // No base: nothing to differ from.
    expect((await updatePeopleSnapshot({ store, day: '2026-03-01' })).changes).toBeUndefined();
    const base = await statObject(store, keys.peopleSnapshot('2026-03-01'));

    await writePart(store, 'people', '2026-03-02', 'p1', [
      person('b', '2026-03-02T10:00:00.000Z', { email: 'new-b@example.com' }),
      person('d', '2026-03-02T10:00:00.000Z', { email: 'd@example.com' }),
      { customer_id: 'a', merged_from: 'c', ts: '2026-03-02T11:00:00.000Z' },
    ]);
    const second = await updatePeopleSnapshot({ store, day: '2026-03-02' });
    expect(second.changes).toEqual({
      key: expect.stringMatching(/^people\/dt=2026-03-02\/changes-[0-9a-f]{12}\.jsonl\.gz$/),
      base_day: '2026-03-01',
      base_version: objectVersion(base),
      removed: ['c'],
    });
    // The changed people's lines exactly as the snapshot holds them; e, unchanged, is not there.
    const written = (await snapshot(store, '2026-03-02')).map((p) => JSON.stringify(p));
    const changed = gunzipSync(await store.get(second.changes!.key))
      .toString('utf8')
      .trim()
      .split('\n');
    expect(changed.map((l) => JSON.parse(l).customer_id)).toEqual(['a', 'b', 'd']);
    expect(changed).toEqual(written.filter((l) => !l.includes('"e"')));
    // Both written at gzip level 1 (rewritten daily, read about once): zlib marks that in the
    // header's extra flags (byte 8) as 4, "fastest"; the level-3 raw parts it read carry 0.
    expect((await store.get(keys.peopleSnapshot('2026-03-02')))[8]).toBe(4);
    expect((await store.get(second.changes!.key))[8]).toBe(4);
    const [rawPart] = await listKeys(store, keys.rawPrefix('people', '2026-03-02'));
    expect((await store.get(rawPart!))[8]).toBe(0);

    // Folded again (a late part): the new changes replace the old, relative to the day's own snapshot.
    await writePart(store, 'people', '2026-03-02', 'late', [
      person('e', '2026-03-02T12:00:00.000Z', { country: 'FR' }),
    ]);
    const again = await updatePeopleSnapshot({ store, day: '2026-03-02' });
    expect(again.changes).toMatchObject({ base_day: '2026-03-02', removed: [] });
    expect(await listKeys(store, keys.peopleChangesPrefix('2026-03-02'))).toEqual([again.changes!.key]);

    // A base line the merge cannot read is left out of the new snapshot, but it is in the base:
    // the lines written are not the whole difference, and no changes are stored.
    const key = keys.peopleSnapshot('2026-03-02');
    const text = gunzipSync(await store.get(key)).toString('utf8');
    await store.put(key, gzipSync(`${text.trimEnd()}\n{"customer_id": broken\n`));
    await writePart(store, 'people', '2026-03-03', 'p1', [
      person('b', '2026-03-03T10:00:00.000Z', { country: 'FR' }),
    ]);
    expect((await updatePeopleSnapshot({ store, day: '2026-03-03' })).changes).toBeUndefined();
    expect(await listKeys(store, keys.peopleChangesPrefix('2026-03-03'))).toEqual([]);
  });
});
