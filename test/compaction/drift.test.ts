import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compactDay } from '../../src/compaction/compact.js';
import {
  type CompactionManifest,
  compactionManifestKey,
  listRangeParts,
} from '../../src/compaction/parts.js';
import { readRawRecords } from '../../src/compaction/read.js';
import { Engine, sqlString } from '../../src/engine/duckdb.js';
import { localFiles } from '../../src/engine/local-files.js';
import { rawRelation } from '../../src/engine/raw.js';
import { keys } from '../../src/storage/keys.js';
import { type ObjectStore, writeJson } from '../../src/storage/object-store.js';
import { STORE_KINDS, type TestStore } from '../helpers/stores.js';
import { ev, writeRawPart } from './helpers.js';

/**
 * Type drift across days: a property that is a string on one day and a number on another, and
 * columns missing from some days' records (and from an older Parquet file), read fine — bags are
 * JSON text, scalars text, Parquet files are unioned by column name.
 */
describe.each(STORE_KINDS)('type drift across compacted days on the $kind store', ({ create }) => {
  let t: TestStore;
  let store: ObjectStore;
  let cacheDir: string;
  let engine: Engine;
  beforeEach(async () => {
    t = await create();
    store = t.store;
    cacheDir = await mkdtemp(join(tmpdir(), 'audience-sync-drift-'));
    engine = await Engine.open({ threads: 2 });
  });
  afterEach(async () => {
    engine.close();
    await t.cleanup();
    await rm(cacheDir, { recursive: true, force: true });
  });

  async function relationOf(from: string, to: string): Promise<string> {
    const parts = await listRangeParts(store, 'events', from, to);
    const files = localFiles(store, { dir: cacheDir, maxBytes: 1e9 });
    const paths = await files.paths([...parts.jsonl, ...parts.parquet]);
    const all = [...parts.jsonl, ...parts.parquet].map((p, i) => ({ key: p.key, path: paths[i]! }));
    return rawRelation('events', {
      jsonl: all.filter((f) => f.key.endsWith('.jsonl.gz')),
      parquet: all.filter((f) => f.key.endsWith('.parquet')),
    });
  }

  it('reads a property that is a string one day and a number the next, and fields missing on some days', async () => {
    await writeRawPart(store, 'events', '2026-03-01', '1700000000000-0', [
      ev('e1', 'a', 'order_completed', '2026-03-01T10:00:00.000Z', { amount: '12.50', coupon: 'X' }),
    ]);
    await writeRawPart(store, 'events', '2026-03-02', '1700000000000-0', [
      ev('e2', 'a', 'order_completed', '2026-03-02T10:00:00.000Z', { amount: 12.5, coupon: null }),
    ]);
    // No properties, no raw_name, no source: those columns are NULL for the whole day.
    await writeRawPart(store, 'events', '2026-03-03', '1700000000000-0', [
      { id: 'e3', customer_id: 'b', name: 'order_completed', ts: '2026-03-03T10:00:00.000Z' },
    ]);
    // The last day stays in JSON Lines: both forms in one relation.
    await writeRawPart(store, 'events', '2026-03-04', '1700000000000-0', [
      ev('e4', 'b', 'order_completed', '2026-03-04T10:00:00.000Z', { amount: [1, 2] }),
    ]);
    for (const day of ['2026-03-01', '2026-03-02', '2026-03-03'])
      await compactDay({ store, dataset: 'events', day, cacheDir, engine });

    const rows = await engine.all<{
      id: string;
      amount: string | null;
      kind: string | null;
      raw_name: string | null;
    }>(
      `SELECT id, json_extract_string(properties, '$.amount') AS amount,
         json_type(json_extract(properties, '$.amount')) AS kind, raw_name
       FROM (${await relationOf('2026-03-01', '2026-03-04')}) ORDER BY id`,
    );
    expect(rows).toEqual([
      { id: 'e1', amount: '12.50', kind: 'VARCHAR', raw_name: 'order_completed' },
      { id: 'e2', amount: '12.5', kind: 'DOUBLE', raw_name: 'order_completed' },
      { id: 'e3', amount: null, kind: null, raw_name: null },
      { id: 'e4', amount: '[1,2]', kind: 'ARRAY', raw_name: 'order_completed' },
    ]);
    const [sum] = await engine.all<{ total: number }>(
      `SELECT sum(TRY_CAST(json_extract_string(properties, '$.amount') AS DOUBLE)) AS total
       FROM (${await relationOf('2026-03-01', '2026-03-04')})`,
    );
    expect(sum?.total).toBe(25);

    // JavaScript readers get each day's record back with its own types.
    const back: unknown[] = [];
    for (const day of ['2026-03-01', '2026-03-02', '2026-03-03']) {
      const parts = await listRangeParts(store, 'events', day, day);
      for await (const r of readRawRecords(store, 'events', parts.parquet[0]!)) back.push(r.record);
    }
    expect(back).toEqual([
      ev('e1', 'a', 'order_completed', '2026-03-01T10:00:00.000Z', { amount: '12.50', coupon: 'X' }),
      ev('e2', 'a', 'order_completed', '2026-03-02T10:00:00.000Z', { amount: 12.5, coupon: null }),
      { id: 'e3', customer_id: 'b', name: 'order_completed', ts: '2026-03-03T10:00:00.000Z' },
    ]);
  });

  it('reads a Parquet file written before a column existed', async () => {
    // An "older" compacted file without the raw_name and source columns, listed in its manifest.
    const day = '2026-03-01';
    const scratch = join(cacheDir, 'old.parquet');
    await engine.run(
      `COPY (SELECT 'raw/events/dt=${day}/part-old.jsonl.gz' AS _key, 1::BIGINT AS _line, 'o1' AS id, 'a' AS customer_id,
          NULL::VARCHAR AS anonymous_id, NULL::VARCHAR AS email, 'x' AS name, '${day}T10:00:00.000Z' AS ts,
          '${day}T10:00:00.000Z' AS received_at, '{"v":1}' AS properties)
       TO ${sqlString(scratch)} (FORMAT parquet)`,
    );
    const { readFile } = await import('node:fs/promises');
    const oldKey = `${keys.rawPrefix('events', day)}part-c-00000000000000aa.parquet`;
    await store.put(oldKey, await readFile(scratch));
    const manifest: CompactionManifest = {
      version: 1,
      dataset: 'events',
      day,
      files: [
        {
          key: oldKey,
          sources: [`raw/events/dt=${day}/part-old.jsonl.gz`],
          rows: 1,
          malformed_lines: 0,
          malformed: [],
          created_at: '2026-03-04T00:00:00.000Z',
        },
      ],
    };
    await writeJson(store, compactionManifestKey('events', day), manifest);
    await writeRawPart(store, 'events', day, '1700000000000-0', [
      ev('n1', 'b', 'x', `${day}T11:00:00.000Z`, { v: 2 }),
    ]);
    const report = await compactDay({ store, dataset: 'events', day, cacheDir, engine });
    expect(report.status).toBe('compacted');

    const rows = await engine.all<{ id: string; raw_name: string | null; source: string | null; v: string }>(
      `SELECT id, raw_name, source, json_extract_string(properties, '$.v') AS v
       FROM (${await relationOf(day, day)}) ORDER BY id`,
    );
    expect(rows).toEqual([
      { id: 'n1', raw_name: 'x', source: 'test', v: '2' },
      { id: 'o1', raw_name: null, source: null, v: '1' },
    ]);
    const old: unknown[] = [];
    for await (const r of readRawRecords(store, 'events', oldKey)) old.push(r.record);
    expect(old).toEqual([
      {
        id: 'o1',
        customer_id: 'a',
        name: 'x',
        ts: `${day}T10:00:00.000Z`,
        received_at: `${day}T10:00:00.000Z`,
        properties: { v: 1 },
      },
    ]);
  });
});
