import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { metaConnector } from '../../connectors/meta/index.js';
import { buildApp } from '../../src/api/app.js';
import { isHoldout } from '../../src/audiences/holdout.js';
import { parseEnv } from '../../src/config/env.js';
import { addDays, today } from '../../src/contract/days.js';
import type { PersonRecord } from '../../src/contract/records.js';
import { drainBuffers } from '../../src/export/drain.js';
import { createLogger } from '../../src/log.js';
import { enqueueRefresh } from '../../src/pipeline/flow.js';
import { QUEUES } from '../../src/pipeline/queues.js';
import { createBullConnection } from '../../src/pipeline/redis.js';
import { type RunningWorkers, startWorkers } from '../../src/pipeline/worker.js';
import { type FakeMeta, startFakeMeta } from '../fakes/meta.js';
import { waitForRun } from '../helpers/flows.js';
import {
  createFsTestStore,
  createS3TestStore,
  TEST_S3_CREDENTIALS,
  type TestStore,
  uniqueName,
} from '../helpers/stores.js';

/**
 * The whole product on real parts: events POSTed to the API land in the Redis buffer, the export
 * drains them into the store, the scheduled refresh runs as a BullMQ flow on real Redis, and the
 * fake Meta ends up holding exactly the treatment members.
 */
const DAY = addDays(today(), -1);
const TS = `${DAY}T12:00:00.000Z`;
const CONFIG = `
version: 1
destinations:
  meta:
    type: meta
    ad_account_id: act_1234
    access_token: "\${FLOW_TEST_META_TOKEN}"
    batch_size: 5
audiences:
  - id: buyers
    type: segment
    when: { event: order_completed, within_days: 7 }
    sync: [meta]
  - id: abandoners
    type: top_fraction
    when:
      all:
        - event: checkout_started
          within_days: 7
        - not: { event: order_completed, within_days: 7 }
    score:
      - { weight: 1, count: { event: checkout_started, within_days: 7 } }
    top_fraction: 1
    holdout: { fraction: 0.3, salt: flow-test }
    sync: [meta]
schedule: { cron: "0 6 * * *", timezone: UTC }
`;

function person(i: number): PersonRecord {
  return {
    customer_id: `p${String(i).padStart(3, '0')}`,
    email: `flow.person${i}@example.com`,
    country: 'US',
    ts: TS,
  };
}

describe.each(['fs', 's3'] as const)('daily refresh as a BullMQ flow (%s store)', (kind) => {
  let fake: FakeMeta;
  let t: TestStore;
  let dir: string;
  let connection: Redis;
  let workers: RunningWorkers | undefined;
  const prefix = uniqueName('flowtest');
  const ingestPrefix = `${prefix}-ingest:`;
  let env: ReturnType<typeof parseEnv>;
  const persons = Array.from({ length: 24 }, (_, i) => person(i));
  // Even people bought; odd people abandoned a checkout.
  const buyers = persons.filter((_, i) => i % 2 === 0);
  const abandoners = persons.filter((_, i) => i % 2 === 1);

  beforeAll(async () => {
    process.env.FLOW_TEST_META_TOKEN = 'meta-test-token';
    fake = await startFakeMeta();
    const s3 = kind === 's3' ? await createS3TestStore() : undefined;
    t = s3 ?? (await createFsTestStore());
    dir = await mkdtemp(join(tmpdir(), 'flow-config-'));
    await writeFile(join(dir, 'audience-sync.yaml'), CONFIG);
    env = parseEnv({
      CONFIG: join(dir, 'audience-sync.yaml'),
      ...(s3
        ? {
            STORE_URL: `s3://${s3.bucket}/acme/test`,
            S3_ENDPOINT: s3.endpoint,
            AWS_ACCESS_KEY_ID: TEST_S3_CREDENTIALS.accessKeyId,
            AWS_SECRET_ACCESS_KEY: TEST_S3_CREDENTIALS.secretAccessKey,
          }
        : { STORE_URL: t.store.location.replace('file://', '') }),
      REDIS_URL: inject('redisUrl'),
      META_GRAPH_URL: fake.url,
      API_KEYS: 'ingest-key',
      QUEUE_PREFIX: prefix,
    });
    connection = createBullConnection(env.REDIS_URL);
  });
  afterAll(async () => {
    await workers?.close(5_000);
    const keys = await connection.keys(`${prefix}*`);
    if (keys.length) await connection.del(...keys);
    connection.disconnect();
    await fake.close();
    await t.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  function platformEmails(audienceId: string): string[] {
    const audience = [...fake.state.audiences.values()].find((a) => a.name === `audience-sync ${audienceId}`);
    return [...(audience?.members.values() ?? [])].map((m) => m.EMAIL!).sort();
  }
  const emailsOf = (list: PersonRecord[]) => list.map((p) => metaConnector.matchKeys(p)!.email!).sort();

  it('ingests, exports, runs the scheduled refresh once per day, and survives a killed worker', async () => {
    // 1. Ingest through the API (identify + track), then export the buffers to the store.
    const redis = new Redis(env.REDIS_URL);
    const app = await buildApp({
      env,
      store: t.store,
      redis,
      redisPrefix: ingestPrefix,
      logger: createLogger({ level: 'silent' }),
    });
    const auth = { authorization: 'Bearer ingest-key' };
    const identify = await app.inject({
      method: 'POST',
      url: '/v1/identify',
      headers: auth,
      payload: {
        batch: persons.map((p) => ({
          customer_id: p.customer_id,
          email: p.email,
          country: 'US',
          timestamp: TS,
        })),
      },
    });
    expect(identify.statusCode).toBe(202);
    const events = persons.map((p, i) => ({
      id: `evt-${i}`,
      customer_id: p.customer_id,
      name: i % 2 === 0 ? 'Order Completed' : 'Checkout Started',
      data: { value: 10 + i },
      timestamp: TS,
    }));
    const track = await app.inject({
      method: 'POST',
      url: '/v1/track',
      headers: auth,
      payload: { batch: events },
    });
    expect(track.json()).toMatchObject({ accepted: 24, rejected: 0 });
    await app.close();
    await drainBuffers({ redis, store: t.store, prefix: ingestPrefix });
    redis.disconnect();

    // 2. Workers, with short locks so a killed one is noticed in seconds; slow platform calls so
    //    the kill lands mid-sync.
    const log = createLogger({ level: 'silent' });
    const workerOptions = {
      connection,
      prefix,
      env,
      store: t.store,
      log,
      lockDurationMs: 1500,
      stalledIntervalMs: 500,
    };
    workers = await startWorkers(workerOptions);
    fake.controls.setLatency(300);

    // 3. What the scheduler fires: a `scheduled` job, which enqueues the day's flow.
    const refreshQueue = new Queue(QUEUES.refresh, { connection, prefix });
    await refreshQueue.add('scheduled', {});
    const pipeline = { connection, prefix };
    const runId = `refresh-${DAY}`;
    await waitForRun(pipeline, runId, (s) =>
      s.stages.some((x) => x.name.startsWith('sync') && x.state === 'active'),
    );

    // 4. Kill the worker in the middle of the syncs (no graceful wait), start a new one.
    await workers.close(0);
    fake.controls.setLatency(0);
    workers = await startWorkers(workerOptions);
    const status = await waitForRun(pipeline, runId, undefined, 90_000);
    expect(status.state).toBe('completed');
    expect(status.stages.filter((s) => s.state === 'failed')).toEqual([]);
    expect(status.stages.map((s) => s.name)).toEqual(
      expect.arrayContaining([
        'people',
        'build',
        'syncs',
        'measure',
        'refresh',
        'sync buyers → meta',
        'sync abandoners → meta',
      ]),
    );

    // 5. The fake holds exactly the treatment members of each audience.
    expect(platformEmails('buyers')).toEqual(emailsOf(buyers));
    const treatment = abandoners.filter((p) => !isHoldout('flow-test', p.customer_id, 0.3));
    expect(treatment.length).toBeLessThan(abandoners.length);
    expect(platformEmails('abandoners')).toEqual(emailsOf(treatment));
    expect(fake.state.shapeErrors).toEqual([]);

    // 6. The same day again does nothing: same run id, no new platform call.
    const requests = fake.requests.length;
    const again = await enqueueRefresh(pipeline, { day: DAY });
    expect(again).toEqual({ runId, created: false });
    await refreshQueue.add('scheduled', {});
    await new Promise((r) => setTimeout(r, 1500));
    expect(fake.requests.length).toBe(requests);
    await refreshQueue.close();
  });
});
