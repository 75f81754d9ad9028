import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compactDay } from '../../src/compaction/compact.js';
import { listDayParts, listDayPartsDetail, listRangeParts } from '../../src/compaction/parts.js';
import { newestRawPart } from '../../src/health/parts.js';
import { type DayProfile, profileDay } from '../../src/health/profile.js';
import type { CohortMember } from '../../src/measure/cohort.js';
import { readOutcomes } from '../../src/measure/outcomes.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { createFsTestStore, STORE_KINDS, type TestStore } from '../helpers/stores.js';
import { ev, keysUnder, writeRawPart } from './helpers.js';

/**
 * Every JavaScript reader of raw parts gives the same answer before and after compaction: lift
 * outcomes, health profiles, freshness; and the incremental readers' listing agrees with
 * `listDayParts` in every state a compaction can leave.
 */
const DAY = '2026-03-01';

describe.each(STORE_KINDS)('raw readers across compaction on the $kind store', ({ create }) => {
  let compacted: TestStore;
  let reference: TestStore;
  let cacheDir: string;
  beforeEach(async () => {
    compacted = await create();
    reference = await createFsTestStore();
    cacheDir = await mkdtemp(join(tmpdir(), 'audience-sync-readers-'));
  });
  afterEach(async () => {
    await compacted.cleanup();
    await reference.cleanup();
    await rm(cacheDir, { recursive: true, force: true });
  });

  async function part(day: string, id: string, records: readonly (object | string)[]): Promise<void> {
    await writeRawPart(compacted.store, 'events', day, id, records);
    await writeRawPart(reference.store, 'events', day, id, records);
  }

  async function compact(day: string) {
    return compactDay({ store: compacted.store, dataset: 'events', day, cacheDir });
  }

  async function seedOrders(): Promise<void> {
    const order = (
      id: string,
      who: string | { email: string },
      ts: string,
      value: unknown,
      receivedAt = ts,
    ) => ({
      ...(ev(id, typeof who === 'string' ? who : '', 'order_completed', ts, {
        value,
        currency: 'eur',
      }) as object),
      ...(typeof who === 'string' ? {} : { customer_id: undefined, email: who.email }),
      received_at: receivedAt,
    });
    await part('2026-03-02', '1700000000000-0', [
      order('o1', 'a', '2026-03-02T10:00:00.000Z', 10),
      order('o2', 'b', '2026-03-02T11:00:00.000Z', '20.5'),
      ev('v1', 'a', 'page_viewed', '2026-03-02T09:00:00.000Z'),
      'garbage line',
    ]);
    // A duplicate of o1 received later, and one received at the same instant: the first copy wins.
    await part('2026-03-02', '1700000000500-0', [
      order('o1', 'a', '2026-03-02T10:00:00.000Z', 99, '2026-03-02T10:05:00.000Z'),
      order('o2', 'c', '2026-03-02T11:00:00.000Z', 77),
      { name: 'order_completed', customer_id: 'a', ts: '2026-03-02T12:00:00.000Z', properties: { value: 5 } },
    ]);
    await part('2026-03-03', '1700000100000-0', [
      order('o3', 'b', '2026-03-03T10:00:00.000Z', 7),
      order('o4', 'a', 'not-a-time', 1),
    ]);
  }

  it('lift outcomes are the same from compacted and JSON Lines parts', async () => {
    await seedOrders();
    const run = async (store: ObjectStore) => {
      const members = new Map<string, CohortMember>([
        ['a', { group: 'treatment', entered: DAY, converted: false, revenue: 0 }],
        ['b', { group: 'holdout', entered: DAY, converted: false, revenue: 0 }],
        ['c', { group: 'treatment', entered: DAY, converted: false, revenue: 0 }],
      ]);
      const stats = await readOutcomes(store, {
        event: 'order_completed',
        windowDays: 7,
        members,
        asOf: '2026-03-09',
      });
      return { stats, members: Object.fromEntries(members) };
    };
    const before = await run(compacted.store);
    expect(before.stats).toMatchObject({ events: 4, duplicates: 2, malformed: 2, counted: 4 });
    expect(before.members.a).toMatchObject({ converted: true, revenue: 15 });
    expect(before.members.b).toMatchObject({ converted: true, revenue: 27.5 });
    expect(before.members.c).toMatchObject({ converted: false });
    await compact('2026-03-02');
    await compact('2026-03-03');
    expect((await listDayParts(compacted.store, 'events', '2026-03-02')).jsonl).toEqual([]);
    const after = await run(compacted.store);
    expect(after.members).toEqual(before.members);
    expect({ ...after.stats, partitions: 0 }).toEqual({ ...before.stats, partitions: 0 });
    expect(await run(reference.store)).toEqual(before);
  });

  it('health profiles are the same, and a profile taken before compaction does not read the day again', async () => {
    await seedOrders();
    await part(DAY, '1700000000000-0', [
      ev('x1', 'a', 'signup', `${DAY}T10:00:00.000Z`, { plan: 'pro', n: null }),
    ]);
    const early = await profileDay(compacted.store, 'events', '2026-03-02', { now: new Date(0) });
    await compact(DAY);
    await compact('2026-03-02');

    const strip = (p: DayProfile) => ({ ...p, updated_at: '' });
    for (const day of [DAY, '2026-03-02']) {
      const fresh = await profileDay(compacted.store, 'events', day, { persist: false });
      const ref = await profileDay(reference.store, 'events', day, { persist: false });
      expect(strip(fresh.profile)).toEqual(strip(ref.profile));
      expect(fresh.skippedParts).toEqual([]);
    }
    // The stored profile of 2026-03-02 already folded every source of the Parquet file.
    const later = await profileDay(compacted.store, 'events', '2026-03-02');
    expect(later.profile).toEqual(early.profile);
    expect(early.profile).toMatchObject({ records: 6, unreadable: 1 });
  });

  it('freshness dates a compacted part by its sources, not by when compaction ran', async () => {
    await part(DAY, '1700000000000-0', [ev('x1', 'a', 'x', `${DAY}T10:00:00.000Z`)]);
    await part(DAY, '1700000300000-0', [ev('x2', 'a', 'x', `${DAY}T11:00:00.000Z`)]);
    const now = new Date(`${DAY}T12:00:00.000Z`);
    const before = await newestRawPart(compacted.store, 'events', now, 2);
    expect(before?.arrivedAtMs).toBe(1_700_000_300_000);
    const { parquet } = await compact(DAY);
    const after = await newestRawPart(compacted.store, 'events', now, 2);
    expect(after).toEqual({ key: parquet, arrivedAtMs: 1_700_000_300_000 });
  });

  it('lists by the reader rules in the state a killed compaction and a late part leave', async () => {
    const store = compacted.store;
    await part(DAY, '1700000000000-0', [ev('x1', 'a', 'x', `${DAY}T10:00:00.000Z`)]);
    const parquet = (await compact(DAY)).parquet!;
    // A compacted source back in place (as a killed run leaves it), an unlisted Parquet file, a late part.
    await writeRawPart(store, 'events', DAY, '1700000000000-0', [ev('x1', 'a', 'x', `${DAY}T10:00:00.000Z`)]);
    await store.put(`raw/events/dt=${DAY}/part-c-0123456789abcdef.parquet`, 'not really parquet');
    await writeRawPart(store, 'events', DAY, '1700000900000-0', [ev('x9', 'a', 'x', `${DAY}T20:00:00.000Z`)]);
    const late = `raw/events/dt=${DAY}/part-1700000900000-0-1700000900000-0.jsonl.gz`;
    const b = await listDayPartsDetail(store, 'events', DAY);
    expect(b.parquet.map((p) => p.key)).toEqual([parquet]);
    expect(b.jsonl.map((p) => p.key)).toEqual([late]);
    expect((await keysUnder(store, `raw/events/dt=${DAY}/`)).length).toBe(5);
    // The summaries the build reads say the same, over one day or a range.
    for (const parts of [
      await listDayParts(store, 'events', DAY),
      await listRangeParts(store, 'events', DAY, DAY),
    ]) {
      expect(parts.parquet.map((p) => p.key)).toEqual([parquet]);
      expect(parts.jsonl.map((p) => p.key)).toEqual([late]);
      expect(parts.parquetLines.get(parquet)).toBe(
        b.files.get(parquet)!.rows + b.files.get(parquet)!.malformed_lines,
      );
    }
  });
});
