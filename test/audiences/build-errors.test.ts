import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildAudiences } from '../../src/audiences/build.js';
import { latestBuiltDay } from '../../src/audiences/members.js';
import { compactDay } from '../../src/compaction/compact.js';
import { listDayParts } from '../../src/compaction/parts.js';
import { type AudienceSyncConfig, parseAudienceSyncConfig } from '../../src/config-file.js';
import { EngineError } from '../../src/engine/duckdb.js';
import { latestSnapshotDay, peopleManifestKey } from '../../src/people/snapshot.js';
import { keys } from '../../src/storage/keys.js';
import { createFsTestStore, createS3TestStore, type TestStore, uniqueName } from '../helpers/stores.js';
import { ev, person, writePart } from './fixtures.js';

/**
 * What the build cannot read fails it with a typed error that names the object (never a local
 * cache path), and the snapshots already published stay as they were.
 */

const D = '2026-03-10';
const config: AudienceSyncConfig = parseAudienceSyncConfig(
  'version: 1\naudiences:\n  - { id: carts, type: segment, when: { event: cart, within_days: 7 } }\n',
  'test.yaml',
  {},
).config;

async function seed(t: TestStore): Promise<void> {
  await writePart(t.store, 'people', '2026-03-01', 'p1', [person('a', '2026-03-01T00:00:00.000Z')]);
  await writePart(t.store, 'events', '2026-03-08', 'p1', [ev('1', 'a', 'cart', '2026-03-08T01:00:00.000Z')]);
  await writePart(t.store, 'events', D, 'p1', [ev('2', 'b', 'cart', '2026-03-10T01:00:00.000Z')]);
}

describe('build errors name what failed and leave published snapshots alone', () => {
  let t: TestStore;
  beforeEach(async () => {
    t = await createFsTestStore();
    await seed(t);
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('a corrupt Parquet part fails the build naming the object; the previous day stays the latest', async () => {
    await buildAudiences({ store: t.store, config, day: '2026-03-09' });
    await compactDay({
      store: t.store,
      dataset: 'events',
      day: '2026-03-08',
      now: new Date('2026-03-20T00:00:00Z'),
    });
    const [parquet] = (await listDayParts(t.store, 'events', '2026-03-08')).parquet;
    expect(parquet?.key).toMatch(/\.parquet$/);
    await t.store.put(parquet!.key, Buffer.from('PAR1 this is not a parquet file at all PAR1'));
    const failure = await buildAudiences({ store: t.store, config, day: D }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(EngineError);
    expect((failure as EngineError).kind).toBe('corrupt_input');
    expect((failure as EngineError).object).toBe(parquet!.key);
    expect((failure as EngineError).message).toContain(parquet!.key);
    expect(await latestBuiltDay(t.store, 'carts')).toBe('2026-03-09');
  });

  describe('a people part the snapshot fold cannot read, while the session reads the window', () => {
    /** A late people part of `day`, compacted to Parquet and then damaged. */
    async function corruptPeopleParquet(day: string): Promise<string> {
      await writePart(t.store, 'people', day, 'late', [person('b', `${day}T02:00:00.000Z`)]);
      await compactDay({ store: t.store, dataset: 'people', day, now: new Date('2026-03-20T00:00:00Z') });
      const [parquet] = (await listDayParts(t.store, 'people', day)).parquet;
      expect(parquet?.key).toMatch(/\.parquet$/);
      await t.store.put(parquet!.key, Buffer.from('PAR1 this is not a parquet file at all PAR1'));
      return parquet!.key;
    }
    /** The stored bytes of a day's snapshot and its manifest (undefined when absent). */
    async function snapshotOf(day: string): Promise<(string | undefined)[]> {
      return Promise.all(
        [keys.peopleSnapshot(day), peopleManifestKey(day)].map(async (key) =>
          (await t.store.exists(key)) ? (await t.store.get(key)).toString('base64') : undefined,
        ),
      );
    }
    /**
     * The fold's own error, not one the session would give for a snapshot that is not there: it
     * names the object (src/people/updates.ts maps its local paths back to keys, as the session
     * does), so on S3 it is the key, not the cache file.
     */
    function expectNamed(failure: unknown, key: string): void {
      expect(failure).toBeInstanceOf(EngineError);
      expect((failure as EngineError).kind).toBe('corrupt_input');
      expect((failure as EngineError).object).toBe(key);
      expect((failure as EngineError).message).toContain(`'${key}'`);
    }

    it('fails the build naming the part; the day before stays the latest snapshot, untouched', async () => {
      await buildAudiences({ store: t.store, config, day: '2026-03-09' });
      const before = await snapshotOf('2026-03-09');
      const key = await corruptPeopleParquet(D);
      const failure = await buildAudiences({ store: t.store, config, day: D }).catch((e: unknown) => e);
      expectNamed(failure, key);
      expect(await snapshotOf('2026-03-09')).toEqual(before);
      expect(await snapshotOf(D)).toEqual([undefined, undefined]);
      expect(await latestSnapshotDay(t.store, D)).toBe('2026-03-09');
      expect(await latestBuiltDay(t.store, 'carts')).toBe('2026-03-09');
    });

    it("leaves the day's own earlier snapshot and its audiences as they were", async () => {
      await buildAudiences({ store: t.store, config, day: D });
      const before = await snapshotOf(D);
      const members = (await t.store.get(keys.members('carts', D))).toString('base64');
      const key = await corruptPeopleParquet('2026-03-05');
      const failure = await buildAudiences({ store: t.store, config, day: D }).catch((e: unknown) => e);
      expectNamed(failure, key);
      expect(await snapshotOf(D)).toEqual(before);
      expect((await t.store.get(keys.members('carts', D))).toString('base64')).toBe(members);
    });
  });

  it('the engine out of memory is a typed error that says what to change', async () => {
    const failure = await buildAudiences({
      store: t.store,
      config,
      day: D,
      engine: { memoryLimit: '1KB', threads: 1 },
    }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(EngineError);
    expect((failure as EngineError).kind).toBe('out_of_memory');
    expect((failure as EngineError).message).toMatch(/DUCKDB_MEMORY_LIMIT/);
    expect(await latestBuiltDay(t.store, 'carts')).toBeUndefined();
  });
});

describe('an S3 store whose cache directory cannot be used', () => {
  it('fails with an I/O error naming CACHE_DIR', async () => {
    const s3 = await createS3TestStore();
    try {
      await seed(s3);
      // A file where the cache directory should be: nothing can be created under it.
      const blocker = join(tmpdir(), uniqueName('not-a-dir'));
      await writeFile(blocker, 'x');
      const failure = await buildAudiences({
        store: s3.store,
        config,
        day: D,
        cache: { dir: join(blocker, 'cache'), maxBytes: 1024 * 1024 },
      }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(EngineError);
      expect((failure as EngineError).kind).toBe('io');
      expect((failure as EngineError).message).toContain(
        `CACHE_DIR ${join(blocker, 'cache')} cannot be used`,
      );
      expect(await latestBuiltDay(s3.store, 'carts')).toBeUndefined();
    } finally {
      await s3.cleanup();
    }
  });
});
