import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compactDay } from '../../src/compaction/compact.js';
import { listDayParts, readCompactionManifest } from '../../src/compaction/parts.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { createFsTestStore, createS3TestStore } from '../helpers/stores.js';
import { dayRecords, ev, keysUnder, writeRawPart } from './helpers.js';

/**
 * A compaction killed (SIGKILL, in a child process) at each named point, then run again normally:
 * readers see every record exactly once at every moment, and the rerun leaves exactly one copy.
 */
const DAY = '2026-03-01';
const POINTS = ['after-parquet-upload', 'after-manifest-write', 'mid-delete'] as const;
const CHILD = new URL('./compact-child.ts', import.meta.url).pathname;

type Spec = { kind: 'fs'; root: string } | { kind: 's3'; endpoint: string; bucket: string; prefix: string };

const KINDS = [
  {
    kind: 'fs',
    create: async () => {
      const t = await createFsTestStore();
      return { ...t, spec: { kind: 'fs', root: t.root } as Spec };
    },
  },
  {
    kind: 's3',
    create: async () => {
      const t = await createS3TestStore({ prefix: 'kill/test' });
      return {
        ...t,
        spec: { kind: 's3', endpoint: t.endpoint, bucket: t.bucket, prefix: 'kill/test' } as Spec,
      };
    },
  },
] as const;

function runChild(
  args: object,
  fault: string,
): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(args)], {
      env: { ...process.env, AUDIENCE_SYNC_FAULT: fault },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

async function seed(store: ObjectStore): Promise<string[]> {
  const ids: string[] = [];
  for (let p = 0; p < 4; p++) {
    const records = Array.from({ length: 25 }, (_, i) => {
      const id = `e${p}-${i}`;
      ids.push(id);
      return ev(id, `c${i % 7}`, i % 3 === 0 ? 'order_completed' : 'page_viewed', `${DAY}T1${p}:00:00.000Z`, {
        p,
        i,
      });
    });
    await writeRawPart(store, 'events', DAY, `17000000000${p}0-0`, records);
  }
  return ids.sort();
}

async function ids(store: ObjectStore): Promise<string[]> {
  return (await dayRecords(store, 'events', DAY)).map((r) => String(r.record.id)).sort();
}

describe.each(KINDS)('compaction killed at a fault point, on the $kind store', ({ create }) => {
  let cleanup: (() => Promise<void>) | undefined;
  let cacheDir: string | undefined;
  afterEach(async () => {
    await cleanup?.();
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
  });

  it.each(POINTS)('%s: readers see each record once, and a rerun leaves exactly one copy', async (point) => {
    const t = await create();
    cleanup = t.cleanup;
    const store = t.store;
    cacheDir = await mkdtemp(join(tmpdir(), 'audience-sync-kill-'));
    const expected = await seed(store);

    const child = await runChild(
      { store: t.spec, dataset: 'events', day: DAY, cacheDir },
      `compaction:${point}`,
    );
    expect(child.signal, child.out).toBe('SIGKILL');

    // What the crash left: readers still see every record exactly once.
    expect(await ids(store)).toEqual(expected);
    const raw = await keysUnder(store, `raw/events/dt=${DAY}/`);
    expect(raw.some((k) => k.endsWith('.parquet'))).toBe(true);
    if (point === 'mid-delete') expect(raw.filter((k) => k.endsWith('.jsonl.gz'))).toHaveLength(3);

    const rerun = await compactDay({ store, dataset: 'events', day: DAY, cacheDir });
    if (point === 'after-parquet-upload') {
      // Nothing was committed: the unlisted file is removed and the day compacted again.
      expect(rerun.status).toBe('compacted');
    } else {
      // The manifest was written: the rerun only deletes the sources the killed run left.
      expect(rerun.status).toBe('nothing_to_do');
      expect(rerun.cleanup.sources_deleted).toBe(point === 'mid-delete' ? 3 : 4);
    }
    expect(await ids(store)).toEqual(expected);
    const after = await keysUnder(store, `raw/events/dt=${DAY}/`);
    expect(after.filter((k) => k.endsWith('.jsonl.gz'))).toEqual([]);
    expect(after.filter((k) => k.endsWith('.parquet'))).toHaveLength(1);
    const manifest = await readCompactionManifest(store, 'events', DAY);
    expect(manifest?.files).toHaveLength(1);
    expect(manifest?.files[0]?.rows).toBe(expected.length);
    const parts = await listDayParts(store, 'events', DAY);
    expect(parts.jsonl).toEqual([]);
    expect(parts.parquet).toHaveLength(1);

    // And a third run has nothing left to do.
    const third = await compactDay({ store, dataset: 'events', day: DAY, cacheDir });
    expect(third.status).toBe('nothing_to_do');
    expect(third.cleanup).toEqual({ orphans_deleted: [], sources_deleted: 0, entries_dropped: [] });
  });

  it('deletes the unlisted file of a killed run when a late part changed what the rerun compacts', async () => {
    const t = await create();
    cleanup = t.cleanup;
    const store = t.store;
    cacheDir = await mkdtemp(join(tmpdir(), 'audience-sync-kill-'));
    const expected = await seed(store);
    const child = await runChild(
      { store: t.spec, dataset: 'events', day: DAY, cacheDir },
      'compaction:after-parquet-upload',
    );
    expect(child.signal, child.out).toBe('SIGKILL');
    const orphan = (await keysUnder(store, `raw/events/dt=${DAY}/`)).find((k) => k.endsWith('.parquet'));
    await writeRawPart(store, 'events', DAY, '1700000099000-0', [
      ev('late', 'c1', 'x', `${DAY}T23:00:00.000Z`),
    ]);

    const rerun = await compactDay({ store, dataset: 'events', day: DAY, cacheDir });
    expect(rerun.cleanup.orphans_deleted).toEqual([orphan]);
    expect(rerun).toMatchObject({ status: 'compacted', parts_compacted: 5 });
    expect(rerun.parquet).not.toBe(orphan);
    expect(await ids(store)).toEqual([...expected, 'late'].sort());
    const after = await keysUnder(store, `raw/events/dt=${DAY}/`);
    expect(after).toEqual([`raw/events/dt=${DAY}/_compacted.json`, rerun.parquet]);
  });
});
