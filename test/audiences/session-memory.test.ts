import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { foldingShare, openRulesSession } from '../../src/audiences/session.js';
import { parseAudienceSyncConfig } from '../../src/config-file.js';
import { Engine } from '../../src/engine/duckdb.js';
import { updatePeopleSnapshot } from '../../src/people/snapshot.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { ev, person, writePart } from './fixtures.js';

const D = '2026-03-10';
const { config } = parseAudienceSyncConfig(
  `version: 1
audiences:
  - id: buyers
    type: segment
    when: { event: order, within_days: 7 }
`,
  'test.yaml',
  {},
);

/** The memory limit an engine runs with, as DuckDB reports it. */
async function limitOf(engine: Engine): Promise<string> {
  const [row] = await engine.all<{ limit: string }>(`SELECT current_setting('memory_limit') AS limit`);
  return row!.limit;
}

/** How DuckDB reports a limit given as `limit`. */
async function reported(limit: string): Promise<string> {
  const engine = await Engine.open({ memoryLimit: limit, threads: 1 });
  try {
    return await limitOf(engine);
  } finally {
    engine.close();
  }
}

describe('the build session’s memory limit around the people snapshot fold', () => {
  const settings = { memoryLimit: '1GB', threads: 1 };
  let t: TestStore;
  beforeEach(async () => {
    t = await createFsTestStore();
    await writePart(t.store, 'people', D, 'p', [person('a', '2026-03-01T00:00:00.000Z')]);
    await writePart(t.store, 'events', D, 'e', [ev('e1', 'a', 'order', `${D}T01:00:00.000Z`)]);
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('is 80% of the limit once the snapshot is folded beside it (the fold’s garbage is still in the heap)', async () => {
    const session = await openRulesSession({
      store: t.store,
      config,
      day: D,
      engine: settings,
      snapshotReady: updatePeopleSnapshot({
        store: t.store,
        day: D,
        engine: { ...settings, memoryLimit: foldingShare(settings) },
      }),
    });
    try {
      const limit = await limitOf(session.engine);
      expect(limit).toBe(await reported('819MB'));
      expect(limit).not.toBe(await reported('1GB'));
    } finally {
      await session.close();
    }
  });

  it('is the whole limit when the snapshot was already there (nothing folded beside it)', async () => {
    await updatePeopleSnapshot({ store: t.store, day: D });
    const session = await openRulesSession({ store: t.store, config, day: D, engine: settings });
    try {
      expect(await limitOf(session.engine)).toBe(await reported('1GB'));
    } finally {
      await session.close();
    }
  });
});
