import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metaConnector } from '../../connectors/meta/index.js';
import { readMembers } from '../../src/audiences/members.js';
import { parseEnv } from '../../src/config/env.js';
import { createLogger } from '../../src/log.js';
import { readPeopleSnapshot } from '../../src/people/snapshot.js';
import { type RunningWorkers, startWorkers } from '../../src/pipeline/worker.js';
import { keys } from '../../src/storage/keys.js';
import { readJsonIfExists } from '../../src/storage/object-store.js';
import type { SyncRunRecord } from '../../src/sync/run-record.js';
import { type FakeMeta, startFakeMeta } from '../fakes/meta.js';
import { AUDIENCE, DESTINATION } from '../health/fixture.js';
import {
  BLOCKED_RUN,
  CONFIG_YAML,
  type ConsoleHarness,
  LAST_DAY,
  signIn,
  startConsoleApp,
} from './fixture.js';

/**
 * A console action runs for real: "confirm a guarded sync" queues a sync that a worker picks up
 * and completes against the fake Meta, which then holds exactly the treatment members of the day
 * (their hashed emails), and the run record says it was confirmed past the guard.
 */
describe('console action through a worker to the platform fake', () => {
  let h: ConsoleHarness;
  let fake: FakeMeta;
  let workers: RunningWorkers | undefined;
  let dir: string;
  const saved = process.env.CONSOLE_TEST_META_TOKEN;

  beforeAll(async () => {
    fake = await startFakeMeta();
    process.env.CONSOLE_TEST_META_TOKEN = fake.state.token;
    h = await startConsoleApp();
    dir = await mkdtemp(join(tmpdir(), 'console-worker-'));
  });
  afterAll(async () => {
    await workers?.close(5_000);
    await h?.close();
    await fake?.close();
    await rm(dir, { recursive: true, force: true });
    if (saved === undefined) delete process.env.CONSOLE_TEST_META_TOKEN;
    else process.env.CONSOLE_TEST_META_TOKEN = saved;
  });

  it('confirms the blocked sync, and a worker completes it against the fake Meta', async () => {
    const { cookie, csrf } = await signIn(h.app);
    const res = await h.app.inject({
      method: 'POST',
      url: `/console/audiences/${AUDIENCE}/destinations/${DESTINATION}/confirm`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      payload: new URLSearchParams({
        _csrf: csrf,
        run_id: BLOCKED_RUN.runId,
        confirm_guard: 'yes',
      }).toString(),
    });
    expect(res.statusCode).toBe(202);

    // A worker with the console's configuration, sending to the fake.
    const configPath = join(dir, 'audience-sync.yaml');
    await writeFile(configPath, CONFIG_YAML);
    workers = await startWorkers({
      connection: h.queueRedis,
      prefix: h.prefix,
      env: parseEnv({ CONFIG: configPath, QUEUE_PREFIX: h.prefix, META_GRAPH_URL: fake.url }),
      store: h.store,
      log: createLogger({ level: 'silent' }),
    });
    const next = keys.syncRun(DESTINATION, AUDIENCE, `${LAST_DAY}-3`);
    let record: SyncRunRecord | undefined;
    for (let i = 0; i < 240 && record?.status !== 'completed' && record?.status !== 'failed'; i++) {
      await new Promise((r) => setTimeout(r, 250));
      record = await readJsonIfExists<SyncRunRecord>(h.store, next);
    }
    expect(record?.error).toBeUndefined();
    expect(record?.status).toBe('completed');

    const treatment = new Set<string>();
    for await (const m of readMembers(h.store, AUDIENCE, LAST_DAY)) {
      if (m.group === 'treatment') treatment.add(m.customer_id);
    }
    const expected: string[] = [];
    for await (const p of readPeopleSnapshot(h.store, LAST_DAY)) {
      const email = treatment.has(p.customer_id) ? metaConnector.matchKeys(p)?.email : undefined;
      if (email) expected.push(email);
    }
    expect(expected.length).toBeGreaterThan(0);
    const audience = [...fake.state.audiences.values()].find((a) => !a.deleted)!;
    const held = [...audience.members.values()].map((m) => m.EMAIL!).filter(Boolean);
    expect(held.sort()).toEqual(expected.sort());
    expect(fake.state.shapeErrors).toEqual([]);
  }, 90_000);
});
