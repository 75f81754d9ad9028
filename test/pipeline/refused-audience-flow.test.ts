import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { metaConnector } from '../../connectors/meta/index.js';
import { buildAudiences } from '../../src/audiences/build.js';
import { parseEnv } from '../../src/config/env.js';
import { parseAudienceSyncConfig } from '../../src/config-file.js';
import { addDays, today } from '../../src/contract/days.js';
import type { PersonRecord } from '../../src/contract/records.js';
import { createLogger } from '../../src/log.js';
import { enqueueRefresh } from '../../src/pipeline/flow.js';
import { QUEUES, stageJobId } from '../../src/pipeline/queues.js';
import { createBullConnection } from '../../src/pipeline/redis.js';
import { type RunningWorkers, startWorkers } from '../../src/pipeline/worker.js';
import { keys } from '../../src/storage/keys.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { ev, person, writePart } from '../audiences/fixtures.js';
import { type FakeMeta, startFakeMeta } from '../fakes/meta.js';
import { waitForRun } from '../helpers/flows.js';
import { createFsTestStore, type TestStore, uniqueName } from '../helpers/stores.js';

/**
 * The queued refresh (BullMQ flow, real Redis) when the build refuses an audience because a score
 * table it reads cannot be used: the audience's sync job fails at once with the build's reason, as
 * the in-process refresh reports it, and never sends a snapshot; the other audiences still sync.
 */
const DAY = addDays(today(), -1);
const TS = `${DAY}T08:00:00.000Z`;
const CONFIG = `
version: 1
destinations:
  meta:
    type: meta
    ad_account_id: act_1234
    access_token: "\${REFUSED_FLOW_META_TOKEN}"
score_tables:
  churn:
    prefix: models/churn
    format: csv
    max_age_days: 2
    columns: { churn_risk: number }
traits:
  churn_risk: { score_table: churn, column: churn_risk, default: 0 }
audiences:
  - id: buyers
    type: segment
    when: { event: order, within_days: 7 }
    sync: [meta]
  - id: at_risk
    type: segment
    when: { trait: { churn_risk: { gte: 0.5 } } }
    sync: [meta]
schedule: { cron: "0 6 * * *", timezone: UTC }
`;

const people = ['a', 'b', 'c', 'd'].map((id) => person(id, TS, { email: `refused.${id}@example.com` }));

async function writeChurn(store: ObjectStore, dt: string, rows: string[]): Promise<void> {
  await store.put(`models/churn/dt=${dt}/part-0.csv`, `customer_id,churn_risk\n${rows.join('\n')}\n`);
  await store.put(`models/churn/dt=${dt}/_SUCCESS`, '');
}

describe('queued refresh: an audience the build refuses', () => {
  let fake: FakeMeta | undefined;
  let t: (TestStore & { root: string }) | undefined;
  let dir: string | undefined;
  let connection: Redis | undefined;
  let workers: RunningWorkers | undefined;
  let prefix = '';

  afterEach(async () => {
    await workers?.close(5_000);
    workers = undefined;
    if (connection) {
      const left = await connection.keys(`${prefix}*`);
      if (left.length) await connection.del(...left);
      connection.disconnect();
    }
    await fake?.close();
    await t?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A store with the day's people (emails) and one order by `a`, workers on real Redis, the Meta fake. */
  async function start() {
    process.env.REFUSED_FLOW_META_TOKEN = 'meta-test-token';
    prefix = uniqueName('refusedflow');
    fake = await startFakeMeta();
    t = await createFsTestStore();
    dir = await mkdtemp(join(tmpdir(), 'refused-flow-'));
    await writeFile(join(dir, 'audience-sync.yaml'), CONFIG);
    await writePart(t.store, 'people', DAY, 'p', people);
    await writePart(t.store, 'events', DAY, 'e', [ev('1', 'a', 'order', TS)]);
    const env = parseEnv({
      CONFIG: join(dir, 'audience-sync.yaml'),
      STORE_URL: t.store.location.replace('file://', ''),
      REDIS_URL: inject('redisUrl'),
      META_GRAPH_URL: fake.url,
      QUEUE_PREFIX: prefix,
    });
    connection = createBullConnection(env.REDIS_URL);
    workers = await startWorkers({
      connection,
      prefix,
      env,
      store: t.store,
      log: createLogger({ level: 'silent' }),
    });
    return { store: t.store, pipeline: { connection, prefix }, fake };
  }

  function platformEmails(f: FakeMeta, audienceId: string): string[] | undefined {
    const audience = [...f.state.audiences.values()].find((a) => a.name === `audience-sync ${audienceId}`);
    return audience && [...audience.members.values()].map((m) => m.EMAIL!).sort();
  }
  const emailsOf = (list: PersonRecord[]) => list.map((p) => metaConnector.matchKeys(p)!.email!).sort();

  /** Runs the day's flow to its end; the failed sync job of at_risk, with how often it ran. */
  async function runFlow(pipeline: { connection: Redis; prefix: string }) {
    const { runId } = await enqueueRefresh(pipeline, { day: DAY });
    const status = await waitForRun(pipeline, runId, undefined, 90_000);
    const queue = new Queue(QUEUES.sync('meta'), pipeline);
    try {
      const job = await Job.fromId(queue, stageJobId('sync', runId, 'at_risk', 'meta', 'audience'));
      return { status, runId, job: { state: await job?.getState(), attemptsMade: job?.attemptsMade } };
    } finally {
      await queue.close();
    }
  }

  const staleReason = `not built for ${DAY}: score table "churn" is stale: its newest complete partition is dt=${addDays(DAY, -5)}, 5 days before ${DAY} (max_age_days 2; the oldest accepted is ${addDays(DAY, -2)})`;

  it('fails its sync with the build reason, once, and syncs the other audiences', async () => {
    const { store, pipeline, fake } = await start();
    await writeChurn(store, addDays(DAY, -5), ['b,0.9', 'c,0.7']);

    const { status, runId, job } = await runFlow(pipeline);

    expect(status.state).toBe('completed');
    const sync = status.stages.find((s) => s.name === 'sync at_risk → meta');
    expect(sync).toMatchObject({ state: 'failed', failed_reason: staleReason });
    // Unrecoverable: retrying cannot make the table fresh.
    expect(job).toEqual({ state: 'failed', attemptsMade: 1 });
    expect(status.stages.filter((s) => s.state === 'failed').map((s) => s.name)).toEqual([
      'sync at_risk → meta',
    ]);
    // The syncs step reports the failure with its reason, as the in-process summary does.
    const refreshQueue = new Queue(QUEUES.refresh, pipeline);
    const syncs = await Job.fromId(refreshQueue, stageJobId('syncs', runId));
    await refreshQueue.close();
    expect(syncs?.returnvalue.failed).toEqual([staleReason]);
    expect(await store.exists(keys.members('at_risk', DAY))).toBe(false);

    expect(platformEmails(fake, 'buyers')).toEqual(emailsOf(people.filter((p) => p.customer_id === 'a')));
    expect(platformEmails(fake, 'at_risk')).toBeUndefined();
  }, 120_000);

  it('never syncs an earlier snapshot of the day when the rebuild refuses the audience', async () => {
    const { store, pipeline, fake } = await start();
    // An earlier build of the day, while the table was fresh, left a snapshot of at_risk (b, c)...
    await writeChurn(store, DAY, ['b,0.9', 'c,0.7']);
    const loaded = parseAudienceSyncConfig(CONFIG, 'audience-sync.yaml', {});
    const earlier = await buildAudiences({ store, config: loaded.config, day: DAY, engine: { threads: 1 } });
    expect(earlier.failed).toEqual([]);
    expect(await store.exists(keys.members('at_risk', DAY))).toBe(true);
    // ...then the data team withdrew that partition: the newest complete one is five days old.
    await store.delete([`models/churn/dt=${DAY}/_SUCCESS`]);
    await writeChurn(store, addDays(DAY, -5), ['b,0.9']);

    const { status, job } = await runFlow(pipeline);

    expect(status.state).toBe('completed');
    expect(status.stages.find((s) => s.name === 'sync at_risk → meta')).toMatchObject({
      state: 'failed',
      failed_reason: staleReason,
    });
    expect(job).toEqual({ state: 'failed', attemptsMade: 1 });
    expect(platformEmails(fake, 'at_risk')).toBeUndefined();
    expect(platformEmails(fake, 'buyers')).toEqual(emailsOf(people.filter((p) => p.customer_id === 'a')));
  }, 120_000);
});
