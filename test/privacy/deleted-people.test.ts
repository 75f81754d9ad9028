import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEnv } from '../../src/config/env.js';
import { loadAudienceSyncConfig } from '../../src/config-file.js';
import { createLogger } from '../../src/log.js';
import { readPeopleSnapshot } from '../../src/people/snapshot.js';
import { runPeopleStage, type StageContext } from '../../src/pipeline/stages.js';
import { requestErasuresForDeleted } from '../../src/privacy/deleted-people.js';
import { runErasure } from '../../src/privacy/erase.js';
import { readErasure } from '../../src/privacy/erasure.js';
import { readJsonl, writeJsonl } from '../../src/storage/jsonl.js';
import { keys } from '../../src/storage/keys.js';
import { listKeys } from '../../src/storage/object-store.js';
import { createFsTestStore } from '../helpers/stores.js';

/**
 * `privacy.erase_deleted_people`: a person whose record arrives deleted gets one erasure request
 * (source `deleted_record`) when the people snapshot is updated; it runs to completion, and the
 * next update asks nothing more. Off (the default), nothing is requested.
 */
const DAY = '2026-11-20';
const TS = `${DAY}T08:00:00.000Z`;

describe('erasure requests for people who arrive deleted', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  async function setup(enabled: boolean): Promise<StageContext> {
    const t = await createFsTestStore();
    const dir = await mkdtemp(join(tmpdir(), 'deleted-people-'));
    cleanups.push(t.cleanup, () => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'audience-sync.yaml');
    await writeFile(path, `version: 1\nprivacy: { erase_deleted_people: ${enabled} }\n`);
    await writeJsonl(t.store, keys.rawPart('people', DAY, '1-0', '1-1'), [
      {
        customer_id: 'gone-1',
        email: 'gone.person@example.org',
        phone: '+14155550177',
        deleted: true,
        ts: TS,
      },
      { customer_id: 'stay-1', email: 'stay.person@example.org', ts: TS },
    ]);
    const ctx: StageContext = {
      store: t.store,
      loaded: await loadAudienceSyncConfig(path),
      env: parseEnv({}),
      log: createLogger({ level: 'silent' }),
    };
    await runPeopleStage(ctx, DAY);
    return ctx;
  }

  it('requests and runs one erasure per deleted person, once', async () => {
    const ctx = await setup(true);
    const ids = await requestErasuresForDeleted(ctx, DAY);
    expect(ids).toHaveLength(1);
    // Asked again before it ran: the same request, not a second one.
    expect(await requestErasuresForDeleted(ctx, DAY)).toEqual(ids);
    const record = await runErasure({ ctx, id: ids[0]! });
    expect(record).toMatchObject({ status: 'completed', source: 'deleted_record' });
    expect(record.matched?.people).toBe(1);
    const left = [];
    for await (const p of readPeopleSnapshot(ctx.store, DAY)) left.push(p.customer_id);
    expect(left).toEqual(['stay-1']);
    const raw = [];
    for (const key of await listKeys(ctx.store, 'raw/people/'))
      for await (const r of readJsonl(ctx.store, key)) raw.push(r);
    expect(raw).toHaveLength(1);
    // Done: the next update requests nothing.
    expect(await requestErasuresForDeleted(ctx, DAY)).toEqual([]);
    expect((await readErasure(ctx.store, ids[0]!))?.status).toBe('completed');
    expect(await listKeys(ctx.store, 'privacy/erasures/')).toHaveLength(1);
  });

  it('requests nothing when the setting is off', async () => {
    const ctx = await setup(false);
    expect(await requestErasuresForDeleted(ctx, DAY)).toEqual([]);
    expect(await listKeys(ctx.store, 'privacy/')).toEqual([]);
  });
});
