import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { foldingShare } from '../../src/audiences/session.js';
import { Engine } from '../../src/engine/duckdb.js';

describe('engines spilling to disk', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'audience-sync-spill-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('each spill into a folder of their own, so two at once never read the other one’s data', async () => {
    // DuckDB names spill files the same in every database: in one shared folder, two engines
    // spilling at once overwrite each other's files (an I/O error, or wrong rows).
    // A folder that does not exist yet, two levels down (CACHE_DIR/duckdb-spill on a fresh disk).
    const root = join(dir, 'cache', 'duckdb-spill');
    const settings = { memoryLimit: '40MB', threads: 1, tempDirectory: root };
    const engines = [await Engine.open(settings), await Engine.open(settings)];
    const sql = (seed: number) =>
      `SELECT sum(i) AS total, count(*) AS n, min(k) AS first FROM (
         SELECT i, md5(CAST(i * ${seed} AS VARCHAR)) || repeat('x', 40) AS k FROM range(1500000) t(i) ORDER BY k
       )`;
    const results = await Promise.all(engines.map((e, i) => e.all<{ total: number; n: number }>(sql(i + 2))));
    for (const [r] of results) expect(r).toMatchObject({ n: 1_500_000, total: 1_124_999_250_000 });
    expect((await readdir(root)).length).toBe(2);
    for (const e of engines) e.close();
    expect(await readdir(root)).toEqual([]);
  });
});

describe('the build folding the people snapshot beside its engine', () => {
  it('splits the memory limit between the two engines, and leaves a limit that is not a size alone', () => {
    expect(foldingShare({ memoryLimit: '1GB' })).toBe('409MB');
    expect(foldingShare({ memoryLimit: '3GB' })).toBe('1228MB');
    expect(foldingShare({ memoryLimit: '80%' })).toBeUndefined();
    expect(foldingShare({})).toBeUndefined();
  });

  it('gives a share of at least 64MB, but never more than the limit itself', () => {
    expect(foldingShare({ memoryLimit: '100MB' })).toBe('64MB');
    expect(foldingShare({ memoryLimit: '100MB' }, 0.8)).toBe('80MB');
    expect(foldingShare({ memoryLimit: '70MB' }, 0.8)).toBe('64MB');
    expect(foldingShare({ memoryLimit: '60MB' })).toBe('60MB');
    expect(foldingShare({ memoryLimit: '1KB' }, 0.8)).toBe('1KB');
  });
});
