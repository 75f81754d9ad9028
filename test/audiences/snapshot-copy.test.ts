import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildAudiences } from '../../src/audiences/build.js';
import { parseAudienceSyncConfig } from '../../src/config-file.js';
import { keys } from '../../src/storage/keys.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { STORE_KINDS, type TestStore } from '../helpers/stores.js';
import { ev, memberIds, person, writePart } from './fixtures.js';

const D = '2026-03-10';

// The build reads the snapshot its fold just wrote from an uncompressed local copy, and the stored
// object when the snapshot was already up to date: both give the same people, profiles included.
const config = parseAudienceSyncConfig(
  `version: 1
audiences:
  - id: french_buyers
    type: segment
    when: { all: [{ person: { country: FR } }, { event: order, within_days: 7 }] }
  - id: by_email
    type: segment
    when: { event: order, within_days: 7 }
`,
  'test.yaml',
  {},
).config;

const copyDirs = async () => (await readdir(tmpdir())).filter((n) => n.startsWith('audience-sync-people-'));

describe.each(STORE_KINDS)('the people snapshot the build reads, on the $kind store', ({ create }) => {
  let t: TestStore;
  // A temporary folder of this test's own (tmpdir() reads TMPDIR), so other builds running at the
  // same time leave nothing in it.
  const outerTmp = process.env.TMPDIR;
  let ownTmp: string;
  beforeEach(async () => {
    t = await create();
    ownTmp = await mkdtemp(`${tmpdir()}/snapshot-copy-test-`);
    process.env.TMPDIR = ownTmp;
  });
  afterEach(async () => {
    if (outerTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = outerTmp;
    await rm(ownTmp, { recursive: true, force: true });
    await t.cleanup();
  });

  const members = (id: string) => memberIds(t.store, id, D);

  it('is the same folded copy or stored object, and the copy does not outlive the build', async () => {
    await writePart(t.store, 'people', D, 'p', [
      person('fr', '2026-03-01T00:00:00.000Z', { country: 'FR', email: 'Fr@Example.com' }),
      person('ca', '2026-03-01T00:00:00.000Z', { country: 'CA' }),
    ]);
    await writePart(t.store, 'events', D, 'e', [
      ev('1', 'fr', 'order', '2026-03-10T10:00:00.000Z'),
      ev('2', 'ca', 'order', '2026-03-10T10:00:00.000Z'),
      // Known only by the email of the snapshot: resolved through email_map.
      ev('3', { email: 'fr@example.com' }, 'order', '2026-03-09T10:00:00.000Z'),
    ]);
    // The stored snapshot is looked up (statObject lists its key) once per build, whichever the
    // session binds: the binding and the people cache's fingerprint share the lookup.
    const snapshotKey = keys.peopleSnapshot(D);
    let lookups = 0;
    const store: ObjectStore = Object.assign(Object.create(t.store) as ObjectStore, {
      list(prefix: string) {
        if (prefix === snapshotKey) lookups += 1;
        return t.store.list(prefix);
      },
    });
    const first = await buildAudiences({ store, config, day: D, engine: { threads: 1 } });
    expect(first.people.up_to_date).toBeUndefined();
    expect(first.engine.people_snapshot).toBe('copy');
    expect(lookups).toBe(1);
    expect(await members('french_buyers')).toEqual(['fr']);
    expect(await members('by_email')).toEqual(['ca', 'fr']);
    expect(await copyDirs()).toEqual([]);

    const again = await buildAudiences({ store, config, day: D, engine: { threads: 1 } });
    expect(again.people.up_to_date).toBe(true);
    // Bound to the stored object (its `people` read from the entry the first build wrote).
    expect(again.engine.people_snapshot).toBe('object');
    expect(again.engine.people_cache?.source).toBe('entry');
    expect(lookups).toBe(2);
    expect(await members('french_buyers')).toEqual(['fr']);
    expect(await members('by_email')).toEqual(['ca', 'fr']);
    expect(again.audiences.map((m) => m.counts)).toEqual(first.audiences.map((m) => m.counts));
  });
});
