import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { IngestBuffer } from '../../src/ingest/buffer.js';
import { createTrackChecker } from '../../src/ingest/track.js';
import { createFsTestStore } from '../helpers/stores.js';

type FsTestStore = Awaited<ReturnType<typeof createFsTestStore>>;

import { deletePrefix, readAll, testRedis, uniquePrefix } from '../ingest/harness.js';
import { putDataOut } from './data-out-fixtures.js';

const run = promisify(execFile);
const BIN = new URL('../../bin/audience-sync.js', import.meta.url).pathname;

describe('CLI: export and import-customerio', () => {
  let t: FsTestStore;
  let source: FsTestStore;
  let redis: Redis;
  const prefix = uniquePrefix('cli');
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    t = await createFsTestStore();
    source = await createFsTestStore();
    redis = testRedis();
    env = {
      ...process.env,
      STORE_URL: t.root,
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: prefix,
      CONFIG: `${t.root}/no-such-config.yaml`,
      LOG_LEVEL: 'silent',
    };
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    redis.disconnect();
    await t.cleanup();
    await source.cleanup();
  });

  it('`export --json` drains the buffers once and reports what it wrote', async () => {
    const buffer = new IngestBuffer({ redis, prefix, dedupeHours: 1 });
    const check = createTrackChecker();
    const items = Array.from({ length: 12 }, (_, i) => {
      const outcome = check(
        { id: `cli-${i}`, customer_id: `c${i}`, name: 'viewed', timestamp: 1_795_780_800 },
        new Date().toISOString(),
      );
      if (!outcome.ok) throw new Error('rejected');
      return outcome.item;
    });
    await buffer.add(items);
    const { stdout } = await run(process.execPath, [BIN, 'export', '--json'], { env });
    const result = JSON.parse(stdout) as { datasets: { dataset: string; written: number }[] };
    expect(result.datasets.find((d) => d.dataset === 'events')?.written).toBe(12);
    expect(await readAll(t.store, 'raw/events/')).toHaveLength(12);
    // A second run finds nothing left.
    const again = JSON.parse((await run(process.execPath, [BIN, 'export', '--json'], { env })).stdout);
    expect(again.datasets.every((d: { written: number }) => d.written === 0)).toBe(true);
  });

  it('`export` fails fast with a clear message when Redis is not there', async () => {
    const failure = await run(process.execPath, [BIN, 'export'], {
      env: { ...env, REDIS_URL: 'redis://127.0.0.1:1' },
    }).catch((e: { code: number; stderr: string }) => e);
    expect(failure).toMatchObject({ code: 1 });
    expect((failure as { stderr: string }).stderr).toMatch(
      /Redis is not answering at redis:\/\/127\.0\.0\.1:1/,
    );
  });

  it('`import-customerio --source` imports new files once and names unexpected columns', async () => {
    await putDataOut(
      source.store,
      'people_v4_1.parquet',
      'people',
      [
        {
          workspace_id: 1,
          customer_id: 'p1',
          internal_customer_id: 'cio1',
          deleted: false,
          suppressed: true,
          updated_at: new Date('2026-11-27T00:00:00Z'),
        },
      ],
      [{ name: 'surprise', type: 'STRING' }],
    );
    const first = await run(process.execPath, [BIN, 'import-customerio', '--source', source.root], { env });
    expect(first.stdout).toMatch(
      /imported\s+people\s+people_v4_1\.parquet \(1 rows, 1 written, 0 quarantined; unexpected columns: surprise\)/,
    );
    const second = JSON.parse(
      (await run(process.execPath, [BIN, 'import-customerio', '--source', source.root, '--json'], { env }))
        .stdout,
    );
    expect(second).toMatchObject({ imported: 0 });
    expect(second.files[0]).toMatchObject({ status: 'already_imported' });
    const people = await readAll(t.store, 'raw/people/');
    expect(people.map((p) => p.record)).toEqual([
      { customer_id: 'p1', cio_id: 'cio1', deleted: true, ts: '2026-11-27T00:00:00.000Z' },
    ]);
  });

  it('`import-customerio` without a source is a usage error', async () => {
    const failure = await run(process.execPath, [BIN, 'import-customerio'], { env }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toMatch(/--source/);
  });
});
