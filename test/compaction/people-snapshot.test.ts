import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compactDay } from '../../src/compaction/compact.js';
import { listDayParts } from '../../src/compaction/parts.js';
import type { SnapshotPerson } from '../../src/people/merge.js';
import {
  type PeopleSnapshotManifest,
  readPeopleSnapshot,
  updatePeopleSnapshot,
} from '../../src/people/snapshot.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { createFsTestStore, STORE_KINDS, type TestStore } from '../helpers/stores.js';
import { writeRawPart } from './helpers.js';

/**
 * The people snapshot built from compacted person parts equals the one built from the same parts
 * as JSON Lines — lines, counts and folded bookkeeping — including when compaction happens between
 * incremental snapshots and when a Parquet file holds parts a snapshot has only partly folded.
 */
const p = (id: string, ts: string, fields: Record<string, unknown> = {}) => ({
  customer_id: id,
  ts,
  ...fields,
});

async function lines(store: ObjectStore, day: string): Promise<SnapshotPerson[]> {
  const out: SnapshotPerson[] = [];
  for await (const person of readPeopleSnapshot(store, day)) out.push(person);
  return out;
}

function comparable(m: PeopleSnapshotManifest) {
  const { run_id: _r, created_at: _c, seconds: _s, changes, ...rest } = m;
  // The changes' key is a fresh token per fold, and the base's version is the store's own.
  return { ...rest, changes: changes && { base_day: changes.base_day, removed: changes.removed } };
}

describe.each(STORE_KINDS)('people snapshot from compacted parts on the $kind store', ({ create }) => {
  let compacted: TestStore;
  let reference: TestStore;
  let cacheDir: string;
  beforeEach(async () => {
    compacted = await create();
    reference = await createFsTestStore();
    cacheDir = await mkdtemp(join(tmpdir(), 'audience-sync-people-'));
  });
  afterEach(async () => {
    await compacted.cleanup();
    await reference.cleanup();
    await rm(cacheDir, { recursive: true, force: true });
  });

  /** Writes the same part to both stores. */
  async function part(day: string, id: string, records: readonly (object | string)[]): Promise<void> {
    await writeRawPart(compacted.store, 'people', day, id, records);
    await writeRawPart(reference.store, 'people', day, id, records);
  }

  async function compact(day: string): Promise<void> {
    const r = await compactDay({ store: compacted.store, dataset: 'people', day, cacheDir });
    expect(r.status).toBe('compacted');
    expect((await listDayParts(compacted.store, 'people', day)).jsonl).toEqual([]);
  }

  async function snapshotBoth(day: string): Promise<PeopleSnapshotManifest> {
    const a = await updatePeopleSnapshot({ store: compacted.store, day });
    const b = await updatePeopleSnapshot({ store: reference.store, day });
    expect(comparable(a)).toEqual(comparable(b));
    expect(await lines(compacted.store, day)).toEqual(await lines(reference.store, day));
    return a;
  }

  it('equals the snapshot built from JSON Lines, compacted before the first snapshot', async () => {
    await part('2026-03-01', '1700000000000-0', [
      p('a', '2026-03-01T10:00:00.000Z', {
        email: 'a@example.com',
        country: 'DE',
        consent: { ad_user_data: 'granted' },
        attributes: { plan: 'free', seats: 1, tags: ['x', 'y'], meta: { deep: true } },
      }),
      p('b', '2026-03-01T10:00:00.000Z', { email: 'b@example.com', unsubscribed: false }),
      'not json at all',
      p('c', '2026-03-01T09:00:00.000Z', { phone: '+4915112345678', deleted: false }),
    ]);
    await part('2026-03-01', '1700000000500-0', [
      p('a', '2026-03-01T12:00:00.000Z', { unsubscribed: true, attributes: { plan: 'pro' } }),
      p('b-new', '2026-03-01T13:00:00.000Z', { merged_from: 'b', email: 'b2@example.com' }),
      { ts: '2026-03-01T13:00:00.000Z' },
    ]);
    await part('2026-03-02', '1700000100000-0', [
      p('c', '2026-03-02T10:00:00.000Z', { deleted: true, consent: { ad_personalization: 'denied' } }),
    ]);
    await compact('2026-03-01');
    await compact('2026-03-02');
    const m = await snapshotBoth('2026-03-02');
    expect(m).toMatchObject({ people: 3, deleted: 1, unsubscribed: 1, malformed_lines: 1, merged_people: 1 });
    expect(m.updates_rejected).toEqual({ missing_person_key: 1 });
    expect(m.folded).toEqual({
      '2026-03-01': [
        'part-1700000000000-0-1700000000000-0.jsonl.gz',
        'part-1700000000500-0-1700000000500-0.jsonl.gz',
      ],
      '2026-03-02': ['part-1700000100000-0-1700000100000-0.jsonl.gz'],
    });
    // Compacted parts already folded keep the snapshot up to date.
    const again = await updatePeopleSnapshot({ store: compacted.store, day: '2026-03-02' });
    expect(again.up_to_date).toBe(true);
  });

  it('folds only the rows of sources not folded yet when compaction runs between snapshots', async () => {
    await part('2026-03-01', '1700000000000-0', [
      p('a', '2026-03-01T10:00:00.000Z', { email: 'a1@example.com' }),
    ]);
    await snapshotBoth('2026-03-01');
    // A late part for the folded day, then compaction of that day: the Parquet file holds one
    // folded and one new source.
    await part('2026-03-01', '1700000050000-0', [
      p('a', '2026-03-01T08:00:00.000Z', { email: 'older@example.com', city: 'Berlin' }),
      p('d', '2026-03-01T11:00:00.000Z', { email: 'd@example.com' }),
    ]);
    await part('2026-03-02', '1700000100000-0', [
      p('a', '2026-03-02T10:00:00.000Z', { email: 'a2@example.com' }),
    ]);
    await compact('2026-03-01');
    const m = await snapshotBoth('2026-03-02');
    expect(m.new_parts).toEqual([
      'raw/people/dt=2026-03-01/part-1700000050000-0-1700000050000-0.jsonl.gz',
      'raw/people/dt=2026-03-02/part-1700000100000-0-1700000100000-0.jsonl.gz',
    ]);
    expect(m.updates_read).toBe(3);
    const people = await lines(compacted.store, '2026-03-02');
    expect(people.map((x) => [x.customer_id, x.email, x.city])).toEqual([
      ['a', 'a2@example.com', 'Berlin'],
      ['d', 'd@example.com', undefined],
    ]);
    // A forced rebuild from the earlier snapshot reads the Parquet file again, the same way.
    await compact('2026-03-02');
    const forced = await updatePeopleSnapshot({ store: compacted.store, day: '2026-03-02', force: true });
    const forcedRef = await updatePeopleSnapshot({ store: reference.store, day: '2026-03-02', force: true });
    expect(comparable(forced)).toEqual(comparable(forcedRef));
    expect(await lines(compacted.store, '2026-03-02')).toEqual(await lines(reference.store, '2026-03-02'));
  });
});
