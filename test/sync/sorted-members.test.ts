import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine, sqlString } from '../../src/engine/duckdb.js';
import { keys } from '../../src/storage/keys.js';
import { sortedMembers } from '../../src/sync/sorted-members.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';

/**
 * The sync sorts an audience's members (written in rank order) by customer_id in the SQL engine,
 * under a small memory limit, spilling to disk. A sort fed straight by read_json did not spill: at
 * 2,000,000 members under 128 MB it ran out of memory, where loading a table and sorting that
 * streams through.
 */
const DAY = '2026-11-27';
const AUD = 'everyone';
const MEMBERS = 2_000_000;

describe('members sorted for the sync', () => {
  let t: TestStore;
  const saved = process.env.DUCKDB_MEMORY_LIMIT;
  beforeEach(async () => {
    t = await createFsTestStore();
  });
  afterEach(async () => {
    if (saved === undefined) delete process.env.DUCKDB_MEMORY_LIMIT;
    else process.env.DUCKDB_MEMORY_LIMIT = saved;
    await t.cleanup();
  });

  it('streams 2,000,000 members in customer_id order under a 128 MB engine limit', async () => {
    // The build's file, written by the engine itself: rank order is a permutation of the ids.
    const path = (t.store as unknown as { localPath(key: string): string }).localPath(keys.members(AUD, DAY));
    const writer = await Engine.open({ threads: 1 });
    try {
      await mkdir(dirname(path), { recursive: true });
      await writer.run(
        `COPY (SELECT 'c' || lpad(((i * 7919) % ${MEMBERS})::VARCHAR, 8, '0') AS customer_id,
                      CASE WHEN i % 10 = 0 THEN 'holdout' ELSE 'treatment' END AS "group",
                      1.0 / (i + 1) AS score, i + 1 AS rank, '2026-11-20' AS entered
               FROM range(${MEMBERS}) t(i)) TO ${sqlString(path)} (FORMAT json, COMPRESSION gzip)`,
      );
    } finally {
      writer.close();
    }
    process.env.DUCKDB_MEMORY_LIMIT = '128MB';
    const sorted = await sortedMembers(t.store, AUD, DAY);
    expect(sorted.total).toBe(MEMBERS);
    let count = 0;
    let previous = '';
    let inOrder = true;
    let holdout = 0;
    for await (const m of sorted.rows) {
      if (m.customer_id <= previous) inOrder = false;
      previous = m.customer_id;
      if (m.group === 'holdout') holdout += 1;
      count += 1;
    }
    expect({ count, inOrder, holdout }).toEqual({ count: MEMBERS, inOrder: true, holdout: MEMBERS / 10 });
  }, 60_000);
});
