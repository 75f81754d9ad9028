import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildAudiences } from '../../src/audiences/build.js';
import { resolveIdentities } from '../../src/audiences/identity.js';
import { readMembers } from '../../src/audiences/members.js';
import { parseAudienceSyncConfig } from '../../src/config-file.js';
import type { SnapshotPerson } from '../../src/people/merge.js';
import { readPeopleSnapshot, updatePeopleSnapshot } from '../../src/people/snapshot.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { ev, person, writePart } from '../audiences/fixtures.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';

/** `alias` (Segment) as the snapshot folds it: a person line with `merged_from`. */

async function snapshot(store: ObjectStore, day: string): Promise<SnapshotPerson[]> {
  const out: SnapshotPerson[] = [];
  for await (const p of readPeopleSnapshot(store, day)) out.push(p);
  return out;
}

const alias = (into: string, from: string, ts: string) => ({ customer_id: into, merged_from: from, ts });

describe('alias in the people snapshot', () => {
  let t: TestStore;
  beforeEach(async () => {
    t = await createFsTestStore();
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('folds the earlier identity into the aliased person, newest field wins, and drops it', async () => {
    // Day 1: the visitor is known only by an id the site gave it; the account exists separately.
    await writePart(t.store, 'people', '2026-05-01', 'p1', [
      person('visitor-9', '2026-05-01T08:00:00.000Z', { email: 'v@example.com', city: 'Lyon' }),
      person('acct-1', '2026-05-01T09:00:00.000Z', { city: 'Paris', attributes: { plan: 'pro' } }),
      person('zz-other', '2026-05-01T09:00:00.000Z', { email: 'z@example.com' }),
    ]);
    await updatePeopleSnapshot({ store: t.store, day: '2026-05-01' });
    // Day 2: alias visitor-9 → acct-1, from the base snapshot (incremental path).
    await writePart(t.store, 'people', '2026-05-02', 'p1', [
      alias('acct-1', 'visitor-9', '2026-05-02T10:00:00.000Z'),
    ]);
    const manifest = await updatePeopleSnapshot({ store: t.store, day: '2026-05-02' });
    expect(manifest).toMatchObject({ people: 2, merged_people: 1 });
    const people = await snapshot(t.store, '2026-05-02');
    expect(people.map((p) => p.customer_id)).toEqual(['acct-1', 'zz-other']);
    expect(people[0]).toMatchObject({
      customer_id: 'acct-1',
      email: 'v@example.com', // only the visitor had one
      city: 'Paris', // the account's is newer
      attributes: { plan: 'pro' },
      merged_ids: ['visitor-9'],
    });
    expect(
      await resolveIdentities(t.store, '2026-05-02', [
        { customer_id: 'visitor-9' },
        { email: 'v@example.com' },
        { customer_id: 'zz-other' },
      ]),
    ).toEqual(['acct-1', 'acct-1', 'zz-other']);
  });

  it('follows chains in time order within one fold, including updates to the earlier id', async () => {
    await writePart(t.store, 'people', '2026-06-01', 'p1', [
      person('anon-a', '2026-06-01T08:00:00.000Z', { phone: '+4930123456' }),
      alias('user-b', 'anon-a', '2026-06-01T09:00:00.000Z'),
      person('user-b', '2026-06-01T09:30:00.000Z', { first_name: 'Bea' }),
      alias('user-c', 'user-b', '2026-06-01T10:00:00.000Z'),
    ]);
    const manifest = await updatePeopleSnapshot({ store: t.store, day: '2026-06-01' });
    expect(manifest).toMatchObject({ people: 1, merged_people: 2 });
    const [only] = await snapshot(t.store, '2026-06-01');
    expect(only).toMatchObject({
      customer_id: 'user-c',
      phone: '+4930123456',
      first_name: 'Bea',
      merged_ids: ['anon-a', 'user-b'],
    });
    // A later snapshot keeps the merge (the merged ids are carried on the line).
    await writePart(t.store, 'people', '2026-06-02', 'p1', [
      person('user-c', '2026-06-02T10:00:00.000Z', { city: 'Rome' }),
    ]);
    await updatePeopleSnapshot({ store: t.store, day: '2026-06-02' });
    const [later] = await snapshot(t.store, '2026-06-02');
    expect(later).toMatchObject({ customer_id: 'user-c', city: 'Rome', merged_ids: ['anon-a', 'user-b'] });
  });

  it('credits events sent under the earlier id to the aliased person in audience builds', async () => {
    const day = '2026-07-02';
    await writePart(t.store, 'people', '2026-07-01', 'p1', [
      person('visitor-1', '2026-07-01T08:00:00.000Z'),
      person('acct-1', '2026-07-01T08:00:00.000Z'),
    ]);
    await writePart(t.store, 'people', day, 'p1', [alias('acct-1', 'visitor-1', `${day}T09:00:00.000Z`)]);
    // One cart event before the alias under the visitor id, one after under the account.
    await writePart(t.store, 'events', '2026-07-01', 'e1', [
      ev('e1', 'visitor-1', 'checkout_started', '2026-07-01T10:00:00.000Z'),
    ]);
    await writePart(t.store, 'events', day, 'e2', [
      ev('e2', 'acct-1', 'checkout_started', `${day}T10:00:00.000Z`),
    ]);
    const { config } = parseAudienceSyncConfig(
      'version: 1\naudiences:\n  - id: repeat_carts\n    type: segment\n    when: { event: checkout_started, within_days: 7, min_count: 2 }\n',
      'test.yaml',
      {},
    );
    await buildAudiences({ store: t.store, config, day });
    const members = [];
    for await (const m of readMembers(t.store, 'repeat_carts', day)) members.push(m.customer_id);
    expect(members).toEqual(['acct-1']);
  });
});
