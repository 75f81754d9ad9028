import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupCpuQuota, defaultThreads } from '../../src/engine/duckdb.js';
import { localFiles, ReadThroughCache } from '../../src/engine/local-files.js';
import { FORGET_NOTICES_PREFIX, writeForgetNotice } from '../../src/storage/forget-notices.js';
import type { ObjectInfo, ObjectStore } from '../../src/storage/object-store.js';
import { createFsTestStore, createS3TestStore, storeWith, type TestStore } from '../helpers/stores.js';

async function info(store: ObjectStore, key: string): Promise<ObjectInfo> {
  for await (const i of store.list(key)) if (i.key === key) return i;
  throw new Error(`no ${key}`);
}

describe('the read-through cache of an S3 store', () => {
  let s3: TestStore;
  let dir: string;
  beforeAll(async () => {
    s3 = await createS3TestStore();
    dir = await mkdtemp(join(tmpdir(), 'audience-sync-cache-test-'));
  });
  afterAll(async () => {
    await s3.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('downloads an object version once, again when it changes, and keeps the extension', async () => {
    const cache = localFiles(s3.store, { dir, maxBytes: 1024 * 1024 }) as ReadThroughCache;
    expect(cache.cached).toBe(true);
    await s3.store.put('raw/events/dt=2026-03-10/part-a.jsonl.gz', 'first');
    const v1 = await info(s3.store, 'raw/events/dt=2026-03-10/part-a.jsonl.gz');
    expect(v1.etag).toMatch(/^[0-9a-f]+$/);
    const [p1] = await cache.paths([v1]);
    expect(p1).toMatch(/\.jsonl\.gz$/);
    expect(await readFile(p1!, 'utf8')).toBe('first');
    // The same version again is served from disk: the same file.
    const [again] = await cache.paths([v1]);
    expect(again).toBe(p1);
    // A rewritten object has a new ETag, so a new cache file.
    await s3.store.put('raw/events/dt=2026-03-10/part-a.jsonl.gz', 'second version');
    const v2 = await info(s3.store, 'raw/events/dt=2026-03-10/part-a.jsonl.gz');
    const [p2] = await cache.paths([v2]);
    expect(p2).not.toBe(p1);
    expect(await readFile(p2!, 'utf8')).toBe('second version');
  });

  it('looks at the forget notices once a minute per folder and store, not once per cache opened', async () => {
    let looks = 0;
    const counting = storeWith(s3.store, {
      list(prefix: string) {
        if (prefix === FORGET_NOTICES_PREFIX) looks += 1;
        return s3.store.list(prefix);
      },
    });
    await s3.store.put('raw/events/dt=2026-03-11/part-n.jsonl.gz', 'notices');
    const part = await info(s3.store, 'raw/events/dt=2026-03-11/part-n.jsonl.gz');
    const options = { dir: join(dir, 'notices'), maxBytes: 1024 * 1024 };
    // A build opens several caches, a first compaction one per day and dataset.
    for (let i = 0; i < 3; i++) await localFiles(counting, options).paths([part]);
    expect(looks).toBe(1);
    // Past the minute (here: none), the next one opened looks again.
    await localFiles(counting, { ...options, noticeCheckMs: 0 }).paths([part]);
    expect(looks).toBe(2);
  });

  it('applies every notice it has not applied yet, in one use', async () => {
    const options = { dir: join(dir, 'several'), maxBytes: 1024 * 1024, noticeCheckMs: 0 };
    const parts: ObjectInfo[] = [];
    for (const name of ['x', 'y', 'z']) {
      await s3.store.put(`raw/people/dt=2026-03-12/part-${name}.jsonl.gz`, name);
      parts.push(await info(s3.store, `raw/people/dt=2026-03-12/part-${name}.jsonl.gz`));
    }
    const [x, y, z] = await localFiles(s3.store, options).paths(parts);
    // Two erasures since this cache was last used, each naming one of its parts.
    await writeForgetNotice(s3.store, 'erasure-several-1', [parts[0]!.key]);
    await writeForgetNotice(s3.store, 'erasure-several-2', [parts[1]!.key]);
    await localFiles(s3.store, options).paths([parts[2]!]);
    const left = await readdir(join(options.dir, 'objects'));
    expect(left).toEqual([z!.split('/').pop()]);
    expect(left).not.toContain(x!.split('/').pop());
    expect(left).not.toContain(y!.split('/').pop());
    const applied = JSON.parse(await readFile(join(options.dir, 'forget-notices-applied.json'), 'utf8'));
    expect(applied.applied).toEqual(
      expect.arrayContaining([
        `${s3.store.location} ${FORGET_NOTICES_PREFIX}erasure-several-1.json`,
        `${s3.store.location} ${FORGET_NOTICES_PREFIX}erasure-several-2.json`,
      ]),
    );
  });

  it('trims least recently used files beyond its bound, never the ones in use', async () => {
    const small = new ReadThroughCache(s3.store, { dir: join(dir, 'small'), maxBytes: 250 });
    const objects: ObjectInfo[] = [];
    for (const name of ['a', 'b', 'c', 'd']) {
      await s3.store.put(`raw/messages/dt=2026-03-10/part-${name}.jsonl.gz`, name.repeat(100));
      objects.push(await info(s3.store, `raw/messages/dt=2026-03-10/part-${name}.jsonl.gz`));
    }
    const paths: string[] = [];
    for (const o of objects) {
      paths.push(...(await small.paths([o])));
      await new Promise((r) => setTimeout(r, 20)); // distinct use times
    }
    const trimmed = await small.trim([paths[0]!]);
    // 400 bytes cached, bound 250: the oldest not in use (b, then c) go; a is in use, d is newest.
    expect(trimmed).toEqual({ removed: 2, bytes: 200 });
    const left = (await readdir(join(dir, 'small', 'objects'))).sort();
    expect(left).toHaveLength(2);
    expect(left).toContain(paths[0]!.split('/').pop());
    expect(left).toContain(paths[3]!.split('/').pop());
  });
});

describe('a filesystem store', () => {
  let fs: TestStore & { root: string };
  beforeAll(async () => {
    fs = await createFsTestStore();
  });
  afterAll(async () => {
    await fs.cleanup();
  });

  it('is read in place, without a cache', async () => {
    await fs.store.put('raw/events/dt=2026-03-10/part-a.jsonl.gz', 'x');
    const files = localFiles(fs.store, { dir: '/nonexistent', maxBytes: 0 });
    expect(files.cached).toBe(false);
    expect(await files.paths([await info(fs.store, 'raw/events/dt=2026-03-10/part-a.jsonl.gz')])).toEqual([
      join(fs.root, 'raw', 'events', 'dt=2026-03-10', 'part-a.jsonl.gz'),
    ]);
  });
});

describe('engine threads', () => {
  it('default to the cgroup CPU quota (v2 and v1), not the host cores', () => {
    const v2 = (quota: string) => (path: string) => (path === '/sys/fs/cgroup/cpu.max' ? quota : undefined);
    expect(cgroupCpuQuota(v2('150000 100000\n'))).toBe(2);
    expect(cgroupCpuQuota(v2('100000 100000'))).toBe(1);
    expect(cgroupCpuQuota(v2('max 100000'))).toBeUndefined();
    const v1 = (path: string) =>
      path.endsWith('cpu.cfs_quota_us')
        ? '300000'
        : path.endsWith('cpu.cfs_period_us')
          ? '100000'
          : undefined;
    expect(cgroupCpuQuota(v1)).toBe(3);
    expect(cgroupCpuQuota(() => undefined)).toBeUndefined();
    expect(defaultThreads()).toBeGreaterThanOrEqual(1);
  });
});
