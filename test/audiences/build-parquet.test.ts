import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildAudiences } from '../../src/audiences/build.js';
import { readMembers } from '../../src/audiences/members.js';
import { type CompactionManifest, compactionManifestKey } from '../../src/compaction/parts.js';
import { parseAudienceSyncConfig } from '../../src/config-file.js';
import { Engine } from '../../src/engine/duckdb.js';
import { writeJson } from '../../src/storage/object-store.js';
import { STORE_KINDS, type TestStore } from '../helpers/stores.js';
import { ev, person, writePart } from './fixtures.js';

/**
 * A day held partly in Parquet written by an older compaction (fewer columns) and partly in a late
 * JSON Lines part, with a property whose type drifts across days: the build reads every record
 * once, and missing columns and drifting types read by the documented rules.
 */

const D = '2026-03-10';
const config = parseAudienceSyncConfig(
  `version: 1
audiences:
  - id: value
    type: top_fraction
    when: { event: cart, within_days: 3 }
    score: [{ weight: 1, sum: { event: cart, property: value } }]
    top_fraction: 1
`,
  'test.yaml',
  {},
).config;

describe.each(STORE_KINDS)('a build over mixed forms ($kind store)', ({ create }) => {
  let t: TestStore;
  let scratch: string;
  beforeEach(async () => {
    t = await create();
    scratch = await mkdtemp(join(tmpdir(), 'audience-sync-parquet-test-'));
  });
  afterEach(async () => {
    await t.cleanup();
    await rm(scratch, { recursive: true, force: true });
  });

  it('reads an older Parquet file without some columns next to a late JSON Lines part', async () => {
    await writePart(t.store, 'people', '2026-03-01', 'p1', [person('a', '2026-03-01T00:00:00.000Z')]);
    // An older compaction's file: no anonymous_id, raw_name or source columns; value as text.
    const local = join(scratch, 'old.parquet');
    const engine = await Engine.open({ threads: 1 });
    try {
      await engine.run(
        `COPY (SELECT * FROM (VALUES
           ('raw/events/dt=2026-03-09/part-x-x.jsonl.gz', 1::BIGINT, 'e1', 'a', NULL, 'cart', '2026-03-09T01:00:00.000Z', '2026-03-09T01:00:00.000Z', '{"value":"2.5"}'),
           ('raw/events/dt=2026-03-09/part-x-x.jsonl.gz', 2::BIGINT, 'e2', 'b', NULL, 'cart', '2026-03-09T02:00:00.000Z', '2026-03-09T02:00:00.000Z', '{"value":"x"}')
         ) v(_key, _line, id, customer_id, email, name, ts, received_at, properties))
         TO '${local}' (FORMAT parquet)`,
      );
    } finally {
      engine.close();
    }
    const parquetKey = 'raw/events/dt=2026-03-09/part-c-0000000000000000.parquet';
    await t.store.put(parquetKey, await readFile(local));
    await writeJson(t.store, compactionManifestKey('events', '2026-03-09'), {
      version: 1,
      dataset: 'events',
      day: '2026-03-09',
      files: [
        {
          key: parquetKey,
          sources: ['raw/events/dt=2026-03-09/part-x-x.jsonl.gz'],
          rows: 2,
          malformed_lines: 0,
          malformed: [],
          created_at: '2026-03-12T00:00:00.000Z',
        },
      ],
    } satisfies CompactionManifest);
    // A late part of the compacted day, and the next day with value as a number.
    await writePart(t.store, 'events', '2026-03-09', 'late', [
      ev('e3', 'a', 'cart', '2026-03-09T03:00:00.000Z', { value: 1 }),
    ]);
    await writePart(t.store, 'events', D, 'p1', [
      ev('e4', 'a', 'cart', '2026-03-10T03:00:00.000Z', { value: 10 }),
      ev('e1', 'a', 'cart', '2026-03-09T01:00:00.000Z', { value: '2.5' }, '2026-03-10T00:00:00.000Z'), // later copy
    ]);
    const result = await buildAudiences({ store: t.store, config, day: D });
    const members = [];
    for await (const m of readMembers(t.store, 'value', D)) members.push([m.customer_id, m.score]);
    expect(members).toEqual([
      ['a', 13.5],
      ['b', 0],
    ]);
    const m = result.audiences[0]!;
    expect(m.inputs.parts.events).toEqual([
      parquetKey,
      'raw/events/dt=2026-03-09/part-late-late.jsonl.gz',
      'raw/events/dt=2026-03-10/part-p1-p1.jsonl.gz',
    ]);
    expect(m.records.events).toMatchObject({ lines: 5, relevant: 5, duplicates: 1 });
    expect(result.engine.parts).toEqual({ jsonl: 2, parquet: 1 });
  });
});
