import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEnv } from '../../src/config/env.js';
import { loadAudienceSyncConfig } from '../../src/config-file.js';
import { localFiles } from '../../src/engine/local-files.js';
import { createLogger } from '../../src/log.js';
import { runPeopleStage, type StageContext } from '../../src/pipeline/stages.js';
import { requestErasuresForDeleted } from '../../src/privacy/deleted-people.js';
import { runErasure } from '../../src/privacy/erase.js';
import { writeJsonl } from '../../src/storage/jsonl.js';
import { keys } from '../../src/storage/keys.js';
import { listKeys, statObject } from '../../src/storage/object-store.js';
import { createS3TestStore, STORE_KINDS, storeWith, type TestStore } from '../helpers/stores.js';

/**
 * The erasure deletes the relevant-record and people caches whole (their entries hold identifiers), including
 * entries a build running at the same time writes while the erasure rewrites the raw files.
 */
const DAY = '2026-11-20';
const TS = `${DAY}T08:00:00.000Z`;

describe.each(STORE_KINDS)('erasure and the relevant-record cache ($kind store)', ({ create }) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('deletes entries written while it rewrote the raw files', async () => {
    const t: TestStore = await create();
    const dir = await mkdtemp(join(tmpdir(), 'erase-cache-'));
    cleanups.push(t.cleanup, () => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'audience-sync.yaml');
    await writeFile(path, 'version: 1\nprivacy: { erase_deleted_people: true }\n');
    await writeJsonl(t.store, keys.rawPart('people', DAY, '1-0', '1-1'), [
      { customer_id: 'gone-1', email: 'gone.person@example.org', deleted: true, ts: TS },
      { customer_id: 'stay-1', email: 'stay.person@example.org', ts: TS },
    ]);
    const before = keys.relevantCacheEntry('events', DAY, 'part-a-a', 'f0', 'rows');
    await t.store.put(before, 'an entry from before');
    // The people cache too: its entries hold email addresses.
    await t.store.put(keys.peopleCacheEntry(DAY, 'f2'), 'a people entry from before');
    // A build running beside the erasure: it read the raw files before they were scrubbed, and
    // writes its entry after the erasure has listed the cache.
    const during = keys.relevantCacheEntry('events', DAY, 'part-a-a', 'f1', 'rows');
    const building = storeWith(t.store, {
      async put(key, body, options) {
        await t.store.put(key, body, options);
        if (key.startsWith('raw/')) await t.store.put(during, 'an entry written during the erasure');
      },
    });
    const ctx: StageContext = {
      store: building,
      loaded: await loadAudienceSyncConfig(path),
      env: parseEnv({}),
      log: createLogger({ level: 'silent' }),
    };
    await runPeopleStage(ctx, DAY);
    const [id] = await requestErasuresForDeleted(ctx, DAY);
    const record = await runErasure({ ctx, id: id! });
    expect(record.status).toBe('completed');
    expect(record.objects_rewritten.map((o) => o.key)).toContain(keys.rawPart('people', DAY, '1-0', '1-1'));
    expect(await listKeys(t.store, keys.relevantCachePrefix())).toEqual([]);
    expect(await listKeys(t.store, keys.peopleCachePrefix())).toEqual([]);
  });
});

const theirs = keys.rawPart('people', DAY, '1-0', '1-1');
const others = keys.rawPart('people', DAY, '2-0', '2-1');

/** An S3 store with a part that names the person to erase (`theirs`), one that does not, and a config. */
async function twoPeopleParts(prefix: string) {
  const t = await createS3TestStore();
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const path = join(dir, 'audience-sync.yaml');
  await writeFile(path, 'version: 1\nprivacy: { erase_deleted_people: true }\n');
  await writeJsonl(t.store, theirs, [
    { customer_id: 'gone-1', email: 'gone.person@example.org', deleted: true, ts: TS },
    { customer_id: 'stay-1', email: 'stay.person@example.org', ts: TS },
  ]);
  await writeJsonl(t.store, others, [{ customer_id: 'stay-2', email: 'stay.two@example.org', ts: TS }]);
  return { t, dir, path };
}

describe('erasure and the local read-through cache (s3 store)', () => {
  it("deletes this machine's cached copies of the objects it rewrote, and only those", async () => {
    const { t, dir, path } = await twoPeopleParts('erase-local-cache-');
    try {
      const cacheDir = join(dir, 'cache');
      const env = parseEnv({ CACHE_DIR: cacheDir });
      // A build on this machine read both through the cache.
      const files = localFiles(t.store, { dir: cacheDir, maxBytes: 1 << 30 });
      const [theirCopy, otherCopy] = await files.paths([
        await statObject(t.store, theirs),
        await statObject(t.store, others),
      ]);
      const ctx: StageContext = {
        store: t.store,
        loaded: await loadAudienceSyncConfig(path),
        env,
        log: createLogger({ level: 'silent' }),
      };
      await runPeopleStage(ctx, DAY);
      const [id] = await requestErasuresForDeleted(ctx, DAY);
      expect((await runErasure({ ctx, id: id! })).status).toBe('completed');
      await expect(access(theirCopy!)).rejects.toThrow(/ENOENT/);
      await access(otherCopy!);
    } finally {
      await t.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("deletes another machine's copies the next time its cache looks at the notices, once", async () => {
    const { t, dir, path } = await twoPeopleParts('erase-other-cache-');
    try {
      // Another machine (its own CACHE_DIR) read both, and a relevant-record cache entry.
      const entry = keys.relevantCacheEntry('events', DAY, 'part-a-a', 'f0', 'rows');
      await t.store.put(entry, 'an entry holding their id');
      // Each of its uses here stands for one after the minute its last look at the notices stands for.
      const otherMachine = { dir: join(dir, 'other-machine'), maxBytes: 1 << 30, noticeCheckMs: 0 };
      const [theirCopy, otherCopy, entryCopy] = await localFiles(t.store, otherMachine).paths([
        await statObject(t.store, theirs),
        await statObject(t.store, others),
        await statObject(t.store, entry),
      ]);
      const ctx: StageContext = {
        store: t.store,
        loaded: await loadAudienceSyncConfig(path),
        env: parseEnv({ CACHE_DIR: join(dir, 'this-machine') }),
        log: createLogger({ level: 'silent' }),
      };
      await runPeopleStage(ctx, DAY);
      const [id] = await requestErasuresForDeleted(ctx, DAY);
      expect((await runErasure({ ctx, id: id! })).status).toBe('completed');
      // Not yet: the other machine has not used its cache since.
      await access(theirCopy!);

      // Its next build opens the cache: the notice is applied before anything is read.
      const [theirNewCopy] = await localFiles(t.store, otherMachine).paths([
        await statObject(t.store, theirs),
      ]);
      await expect(access(theirCopy!)).rejects.toThrow(/ENOENT/);
      await expect(access(entryCopy!)).rejects.toThrow(/ENOENT/);
      await access(otherCopy!);
      // The rewritten version is fetched again, and a later use does not delete it: applied once.
      expect(theirNewCopy).not.toBe(theirCopy);
      await localFiles(t.store, otherMachine).paths([await statObject(t.store, others)]);
      await access(theirNewCopy!);
    } finally {
      await t.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
