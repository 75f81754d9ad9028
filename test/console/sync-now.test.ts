import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metaConnector } from '../../connectors/meta/index.js';
import { readMembers } from '../../src/audiences/members.js';
import { parseEnv } from '../../src/config/env.js';
import { createLogger } from '../../src/log.js';
import { readPeopleSnapshot } from '../../src/people/snapshot.js';
import { lastCompleteDayIn } from '../../src/pipeline/stages.js';
import { type RunningWorkers, startWorkers } from '../../src/pipeline/worker.js';
import { writeJsonl } from '../../src/storage/jsonl.js';
import { keys } from '../../src/storage/keys.js';
import { readJsonIfExists } from '../../src/storage/object-store.js';
import type { SyncRunRecord } from '../../src/sync/run-record.js';
import { listRuns } from '../../src/sync/runs.js';
import { type FakeMeta, startFakeMeta } from '../fakes/meta.js';
import { AUDIENCE, DESTINATION } from '../health/fixture.js';
import { CONFIG_YAML, type ConsoleHarness, signIn, startConsoleApp } from './fixture.js';

/**
 * "Sync now" runs for real: the console queues a refresh of the audience for the last complete day
 * (people, build, sync, measure); a worker takes it through to a completed sync run against the
 * fake Meta, which then holds exactly that day's treatment members (their hashed emails).
 */
describe('console "sync now" through a worker to the platform fake', () => {
  let h: ConsoleHarness;
  let fake: FakeMeta;
  let workers: RunningWorkers | undefined;
  let dir: string;
  const saved = process.env.CONSOLE_TEST_META_TOKEN;
  const day = lastCompleteDayIn('UTC');

  beforeAll(async () => {
    fake = await startFakeMeta();
    process.env.CONSOLE_TEST_META_TOKEN = fake.state.token;
    h = await startConsoleApp();
    dir = await mkdtemp(join(tmpdir(), 'console-sync-now-'));
    // The last complete day's raw data, as the export writes it: 30 people who started a checkout.
    const ts = `${day}T08:00:00.000Z`;
    const people = Array.from({ length: 30 }, (_, i) => ({
      customer_id: `now${String(i).padStart(2, '0')}`,
      email: `now.${i}@example.net`,
      ts,
    }));
    await writeJsonl(h.store, keys.rawPart('people', day, '1-0', '1-1'), people);
    await writeJsonl(
      h.store,
      keys.rawPart('events', day, '1-0', '1-1'),
      people.map((p, i) => ({
        id: `now-ev-${i}`,
        customer_id: p.customer_id,
        name: 'checkout_started',
        raw_name: 'checkout_started',
        ts,
        properties: {},
        received_at: ts,
        source: 'test',
      })),
    );
  });
  afterAll(async () => {
    await workers?.close(5_000);
    await h?.close();
    await fake?.close();
    await rm(dir, { recursive: true, force: true });
    if (saved === undefined) delete process.env.CONSOLE_TEST_META_TOKEN;
    else process.env.CONSOLE_TEST_META_TOKEN = saved;
  });

  it('queues a refresh that a worker completes, and the fake Meta holds the treatment members', async () => {
    const { cookie, csrf } = await signIn(h.app);
    const res = await h.app.inject({
      method: 'POST',
      url: `/console/audiences/${AUDIENCE}/destinations/${DESTINATION}/sync`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      payload: new URLSearchParams({ _csrf: csrf, confirm: 'yes' }).toString(),
    });
    expect(res.statusCode).toBe(202);
    expect(res.body).toContain(`for ${day}`);

    const configPath = join(dir, 'audience-sync.yaml');
    await writeFile(configPath, CONFIG_YAML);
    workers = await startWorkers({
      connection: h.queueRedis,
      prefix: h.prefix,
      env: parseEnv({ CONFIG: configPath, QUEUE_PREFIX: h.prefix, META_GRAPH_URL: fake.url }),
      store: h.store,
      log: createLogger({ level: 'silent' }),
    });

    let record: SyncRunRecord | undefined;
    for (let i = 0; i < 480 && record?.status !== 'completed' && record?.status !== 'failed'; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const runs = await listRuns(h.store, DESTINATION, AUDIENCE);
      const latest = runs
        .filter((r) => r.day === day)
        .sort((a, b) => a.attempt - b.attempt)
        .at(-1);
      record = latest ? await readJsonIfExists<SyncRunRecord>(h.store, latest.key) : undefined;
    }
    const seen = JSON.stringify({ status: record?.status, error: record?.error, guards: record?.guards });
    expect(record?.error, seen).toBeUndefined();
    expect(record?.status, seen).toBe('completed');
    expect(record?.day).toBe(day);

    const treatment = new Set<string>();
    for await (const m of readMembers(h.store, AUDIENCE, day)) {
      if (m.group === 'treatment') treatment.add(m.customer_id);
    }
    expect(treatment.size).toBeGreaterThan(10);
    const expected: string[] = [];
    for await (const p of readPeopleSnapshot(h.store, day)) {
      const email = treatment.has(p.customer_id) ? metaConnector.matchKeys(p)?.email : undefined;
      if (email) expected.push(email);
    }
    expect(expected.length).toBe(treatment.size);
    const audience = [...fake.state.audiences.values()].find((a) => !a.deleted)!;
    const held = [...audience.members.values()].map((m) => m.EMAIL!).filter(Boolean);
    expect(held.sort()).toEqual(expected.sort());
    expect(fake.state.shapeErrors).toEqual([]);
  }, 150_000);
});
