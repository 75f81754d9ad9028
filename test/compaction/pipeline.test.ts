import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job, Queue } from 'bullmq';
import { afterAll, afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { readMembers } from '../../src/audiences/members.js';
import { listDayParts } from '../../src/compaction/parts.js';
import { parseEnv } from '../../src/config/env.js';
import { loadAudienceSyncConfig } from '../../src/config-file.js';
import { addDays, today } from '../../src/contract/days.js';
import { log } from '../../src/log.js';
import { enqueueRefresh, getRunStatus } from '../../src/pipeline/flow.js';
import { QUEUES } from '../../src/pipeline/queues.js';
import { createBullConnection } from '../../src/pipeline/redis.js';
import { type RefreshEvent, runRefreshInline } from '../../src/pipeline/refresh-inline.js';
import type { StageContext } from '../../src/pipeline/stages.js';
import { createFsTestStore, type TestStore, uniqueName } from '../helpers/stores.js';
import { ev, writeRawPart } from './helpers.js';

/** Compaction is the first step of the daily refresh, in-process and as a BullMQ flow. */
const DAY = addDays(today(), -1);
const CONFIG = `
version: 1
audiences:
  - id: buyers
    type: segment
    when: { event: order_completed, within_days: 7 }
compaction: { grace_hours: 24 }
`;

describe('compaction in the daily refresh', () => {
  let t: TestStore & { root: string };
  let dir: string;
  beforeEach(async () => {
    t = await createFsTestStore();
    dir = await mkdtemp(join(tmpdir(), 'audience-sync-refresh-compact-'));
  });
  afterEach(async () => {
    await t.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs in-process before the people snapshot and the build, which read the compacted days', async () => {
    const configPath = join(dir, 'audience-sync.yaml');
    await writeFile(configPath, CONFIG);
    // Grace 24 h: the refreshed day (yesterday) is still open, the two days before it are closed.
    for (const [i, day] of [addDays(DAY, -2), addDays(DAY, -1), DAY].entries()) {
      await writeRawPart(t.store, 'events', day, `170000000${i}000-0`, [
        ev(`o${i}`, `buyer${i}`, 'order_completed', `${day}T10:00:00.000Z`),
        ev(`v${i}`, `viewer${i}`, 'page_viewed', `${day}T10:00:00.000Z`),
      ]);
      await writeRawPart(t.store, 'people', day, `170000000${i}000-0`, [
        { customer_id: `buyer${i}`, ts: `${day}T09:00:00.000Z`, email: `b${i}@example.com` },
        { customer_id: `viewer${i}`, ts: `${day}T09:00:00.000Z` },
      ]);
    }
    const ctx: StageContext = {
      store: t.store,
      loaded: await loadAudienceSyncConfig(configPath),
      env: parseEnv({ STORE_URL: t.root, CONFIG: configPath, CACHE_DIR: join(dir, 'cache') }),
      log,
    };
    const events: RefreshEvent[] = [];
    const summary = await runRefreshInline(ctx, { day: DAY, onStage: (e) => events.push(e) });
    expect(events.slice(0, 4)).toEqual([
      { stage: 'compaction', status: 'started' },
      { stage: 'compaction', status: 'done' },
      { stage: 'people', status: 'started' },
      { stage: 'people', status: 'done' },
    ]);
    expect(summary.compaction).toMatchObject({ days: 4, parts_compacted: 4, rows: 8, deferred_days: 0 });
    for (const dataset of ['events', 'people'] as const) {
      expect((await listDayParts(t.store, dataset, addDays(DAY, -2))).parquet).toHaveLength(1);
      expect((await listDayParts(t.store, dataset, addDays(DAY, -1))).parquet).toHaveLength(1);
      expect((await listDayParts(t.store, dataset, DAY)).jsonl).toHaveLength(1);
    }
    expect(summary.people.people).toBe(6);
    const members: string[] = [];
    for await (const m of readMembers(t.store, 'buyers', DAY)) members.push(m.customer_id);
    expect(members.sort()).toEqual(['buyer0', 'buyer1', 'buyer2']);
  });
});

describe('compaction in the queued refresh', () => {
  const prefix = uniqueName('compact-flow');
  const connection = createBullConnection(inject('redisUrl'));
  afterAll(async () => {
    const keys = await connection.keys(`${prefix}:*`);
    if (keys.length > 0) await connection.del(...keys);
    connection.disconnect();
  });

  it('is the first job of the flow: a child of people, with a deterministic id and only ids in its data', async () => {
    const pipeline = { connection, prefix };
    const { runId } = await enqueueRefresh(pipeline, { day: DAY });
    const status = await getRunStatus(pipeline, runId);
    expect(status?.stages.map((s) => [s.name, s.id])).toEqual([
      ['compact', `compact-${DAY}`],
      ['people', `people-${DAY}`],
      ['build', `build-${DAY}`],
      ['syncs', `syncs-${DAY}`],
      ['measure', `measure-${DAY}`],
      ['refresh', runId],
    ]);
    const queue = new Queue(QUEUES.compact, { connection, prefix });
    try {
      const job = await Job.fromId(queue, `compact-${DAY}`);
      expect(job?.data).toEqual({ day: DAY, runId });
      expect(job?.id).not.toContain(':');
      expect(job?.opts.ignoreDependencyOnFailure).toBe(true);
    } finally {
      await queue.close();
    }
  });
});
