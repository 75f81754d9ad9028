import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { googleAdsConnector } from '../../connectors/google-ads/index.js';
import { metaConnector } from '../../connectors/meta/index.js';
import { tiktokConnector } from '../../connectors/tiktok/index.js';
import { buildApp } from '../../src/api/app.js';
import { isHoldout } from '../../src/audiences/holdout.js';
import { parseEnv } from '../../src/config/env.js';
import { loadAudienceSyncConfig as loadAudienceConfig } from '../../src/config-file.js';
import { addDays, today } from '../../src/contract/days.js';
import { drainBuffers } from '../../src/export/drain.js';
import { createLogger } from '../../src/log.js';
import { QUEUES } from '../../src/pipeline/queues.js';
import { createBullConnection } from '../../src/pipeline/redis.js';
import { runBuildStage, runPeopleStage, runSyncStage, type StageContext } from '../../src/pipeline/stages.js';
import { syncTargets } from '../../src/pipeline/targets.js';
import { type RunningWorkers, startWorkers } from '../../src/pipeline/worker.js';
import { enqueueSignals } from '../../src/realtime/signals.js';
import { compileTriggers } from '../../src/realtime/triggers.js';
import { type ObjectStore, readJsonIfExists } from '../../src/storage/object-store.js';
import type { SyncRunRecord } from '../../src/sync/run-record.js';
import { listRuns } from '../../src/sync/runs.js';
import { startFakeGoogleAds } from '../fakes/google-ads.js';
import { startFakeMeta } from '../fakes/meta.js';
import { startFakeTiktok } from '../fakes/tiktok.js';
import { writeCheckoutDay } from '../helpers/raw-days.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { uniquePrefix } from '../ingest/harness.js';

/**
 * Real-time suppression end to end, on real Redis and the platform fakes: after a daily sync, a
 * purchase by a treatment member reaches the Meta, Google and TikTok fakes as a removal (one
 * `realtime` run per destination, in the run history), a refund adds the person to an exclusion
 * list, a holdout member and a non-member cost no request, duplicate events collapse, and the next
 * daily sync sends nothing for the person already removed who no longer qualifies.
 */
const D = addDays(today(), -1);
const TS = `${D}T09:00:00.000Z`;
const SALT = 'rt-test';
const people = Array.from({ length: 12 }, (_, i) => ({
  customer_id: `rt-${String(i).padStart(2, '0')}`,
  email: `rt.person.${i}@example.com`,
  country: 'US',
  ts: TS,
}));
// Checkout starters: everyone but the last two (non-members).
const starters = people.slice(0, 10);
const CONFIG = `
version: 1
destinations:
  meta: { type: meta, ad_account_id: act_1, access_token: "\${RT_META_TOKEN}" }
  google:
    type: google_ads
    customer_id: "1234567890"
    developer_token: "\${RT_GOOGLE_DEV}"
    client_id: "\${RT_GOOGLE_ID}"
    client_secret: "\${RT_GOOGLE_SECRET}"
    refresh_token: "\${RT_GOOGLE_REFRESH}"
    poll_interval_seconds: 1
  tiktok: { type: tiktok, advertiser_id: "7000000000", access_token: "\${RT_TIKTOK_TOKEN}" }
audiences:
  - id: abandoners
    type: top_fraction
    when:
      all:
        - { event: checkout_started, within_days: 7 }
        - not: { event: order_completed, within_days: 7 }
    score: [{ weight: 1, count: { event: checkout_started, within_days: 7 } }]
    top_fraction: 1
    holdout: { fraction: 0.3, salt: ${SALT} }
    sync: [meta, google, tiktok]
  - id: refund_exclusions
    type: segment
    realtime_additions: true
    when: { event: refund_requested, within_days: 30 }
    sync: [meta]
realtime:
  - on: { event: order_completed }
    remove_from: [abandoners]
  - on: { event: refund_requested }
    add_to: [refund_exclusions]
sync_settings: { realtime_flush_seconds: 1 }
`;

/**
 * A run's record once it has ended. The platforms' state changes before the run writes its
 * record as ended (acknowledgement first, then the ledger and the record, a real-time run's stats
 * in it), so a test that saw the change waits for the record rather than reading it at once.
 */
async function finishedRun(store: ObjectStore, key: string): Promise<SyncRunRecord> {
  let record: SyncRunRecord | undefined;
  await until(async () => {
    record = await readJsonIfExists<SyncRunRecord>(store, key);
    return record !== undefined && !['running', 'finalizing'].includes(record.status);
  });
  return record!;
}

/** Polls `done` every 100 ms until it holds, or fails after `timeoutMs`. */
async function until(done: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('real-time suppression end to end', () => {
  let t: TestStore;
  let dir: string;
  let workers: RunningWorkers | undefined;
  const prefix = uniquePrefix('realtime');
  const fakes = {} as {
    meta: Awaited<ReturnType<typeof startFakeMeta>>;
    google: Awaited<ReturnType<typeof startFakeGoogleAds>>;
    tiktok: Awaited<ReturnType<typeof startFakeTiktok>>;
  };

  beforeAll(async () => {
    fakes.meta = await startFakeMeta();
    fakes.google = await startFakeGoogleAds();
    fakes.tiktok = await startFakeTiktok();
    Object.assign(process.env, {
      RT_META_TOKEN: fakes.meta.state.token,
      RT_GOOGLE_DEV: fakes.google.credentials.developer_token,
      RT_GOOGLE_ID: fakes.google.credentials.client_id,
      RT_GOOGLE_SECRET: fakes.google.credentials.client_secret,
      RT_GOOGLE_REFRESH: fakes.google.credentials.refresh_token,
      RT_TIKTOK_TOKEN: fakes.tiktok.state.token,
    });
    t = await createFsTestStore();
    dir = await mkdtemp(join(tmpdir(), 'realtime-e2e-'));
  });
  afterAll(async () => {
    await workers?.close(5_000);
    for (const f of Object.values(fakes)) await f?.close();
    await t?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('removes a buyer everywhere within seconds and adds a refunder to the exclusion list', async () => {
    const configPath = join(dir, 'audience-sync.yaml');
    await writeFile(configPath, CONFIG);
    const env = parseEnv({
      CONFIG: configPath,
      REDIS_URL: inject('redisUrl'),
      API_KEYS: 'ingest-key',
      QUEUE_PREFIX: prefix,
      META_GRAPH_URL: fakes.meta.url,
      GOOGLE_ADS_API_URL: fakes.google.url,
      GOOGLE_OAUTH_TOKEN_URL: fakes.google.tokenUrl,
      TIKTOK_API_URL: fakes.tiktok.url,
      LOG_LEVEL: 'silent',
    });
    const log = createLogger({ level: 'silent' });
    const loaded = await loadAudienceConfig(configPath);
    const ctx: StageContext = { store: t.store, loaded, env, log };

    // The day before: everyone's identity, checkouts by the first ten, built and synced.
    await writeCheckoutDay(t.store, D, people, starters);
    await runPeopleStage(ctx, D);
    await runBuildStage(ctx, D);
    for (const target of syncTargets(loaded.config.audiences)) {
      expect((await runSyncStage(ctx, { day: D, target, runId: D, finalizeWaitMs: 60_000 })).status).toBe(
        'completed',
      );
    }
    const treatment = starters.filter((p) => !isHoldout(SALT, p.customer_id, 0.3));
    const holdout = starters.find((p) => isHoldout(SALT, p.customer_id, 0.3))!;
    expect(holdout).toBeDefined();
    const buyer = treatment[0]!;
    const refunder = people[11]!;
    const nonMember = people[10]!;

    const metaEmails = (name: string) =>
      [...fakes.meta.state.audiences.values()]
        .filter((a) => a.name === `audience-sync ${name}` && !a.deleted)
        .flatMap((a) => [...a.members.values()].map((m) => m.EMAIL!));
    const googleHas = (p: (typeof people)[number]) =>
      [...fakes.google.state.lists.values()].some((l) =>
        l.members.has(`hashedEmail:${googleAdsConnector.matchKeys(p)!.email}`),
      );
    const tiktokHas = (p: (typeof people)[number]) =>
      [...fakes.tiktok.state.audiences.values()].some((a) =>
        [...a.members].some((m) => m.includes(tiktokConnector.matchKeys(p)!.email!)),
      );
    const metaEmail = (p: (typeof people)[number]) => metaConnector.matchKeys(p)!.email!;
    expect(metaEmails('abandoners')).toContain(metaEmail(buyer));
    expect(googleHas(buyer) && tiktokHas(buyer)).toBe(true);
    expect(metaEmails('abandoners')).not.toContain(metaEmail(holdout));

    // The API with the triggers, and workers.
    const connection = createBullConnection(env.REDIS_URL);
    const signalQueue = new Queue(QUEUES.realtime, { connection, prefix });
    const redis = new Redis(env.REDIS_URL);
    const app = await buildApp({
      env,
      store: t.store,
      redis,
      redisPrefix: `${prefix}-ingest`,
      logger: log,
      realtime: { matcher: compileTriggers(loaded.config), enqueue: (s) => enqueueSignals(signalQueue, s) },
    });
    // Every write of a real-time run's record, as written (the workers use this store object).
    const realtimeWrites: { key: string; record: SyncRunRecord }[] = [];
    const put = t.store.put.bind(t.store);
    const putSpy = vi.spyOn(t.store, 'put').mockImplementation(async (key, body, options) => {
      if (key.includes('/runs/realtime-') && typeof body === 'string')
        realtimeWrites.push({ key, record: JSON.parse(body) as SyncRunRecord });
      return put(key, body, options);
    });
    try {
      workers = await startWorkers({
        connection,
        prefix,
        env,
        store: t.store,
        log,
        ingestPrefix: `${prefix}-ingest`,
      });
      const order = async (p: (typeof people)[number], id: string) => {
        const res = await app.inject({
          method: 'POST',
          url: '/v1/track',
          headers: { authorization: 'Bearer ingest-key' },
          payload: {
            id,
            customer_id: p.customer_id,
            name: 'order_completed',
            timestamp: new Date().toISOString(),
          },
        });
        expect(res.statusCode).toBe(202);
      };
      const now = new Date().toISOString();
      const track = await app.inject({
        method: 'POST',
        url: '/v1/track',
        headers: { authorization: 'Bearer ingest-key' },
        payload: {
          batch: [
            { id: 'o-1', customer_id: buyer.customer_id, name: 'order_completed', timestamp: now },
            // The same person again (another order): collapses into one removal.
            { id: 'o-2', customer_id: buyer.customer_id, name: 'order_completed', timestamp: now },
            { id: 'o-3', customer_id: holdout.customer_id, name: 'order_completed', timestamp: now },
            { id: 'o-4', customer_id: nonMember.customer_id, name: 'order_completed', timestamp: now },
            { id: 'r-1', customer_id: refunder.customer_id, name: 'refund_requested', timestamp: now },
          ],
        },
      });
      expect(track.json()).toMatchObject({ accepted: 5 });

      const started = Date.now();
      for (let i = 0; i < 300; i++) {
        if (
          !metaEmails('abandoners').includes(metaEmail(buyer)) &&
          !googleHas(buyer) &&
          !tiktokHas(buyer) &&
          metaEmails('refund_exclusions').includes(metaEmail(refunder))
        )
          break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const seconds = (Date.now() - started) / 1000;
      expect(metaEmails('abandoners')).not.toContain(metaEmail(buyer));
      expect(googleHas(buyer)).toBe(false);
      expect(tiktokHas(buyer)).toBe(false);
      expect(metaEmails('refund_exclusions')).toEqual([metaEmail(refunder)]);
      expect(seconds).toBeLessThan(30);
      // Everyone else in the treatment is still there.
      expect(metaEmails('abandoners').sort()).toEqual(treatment.slice(1).map(metaEmail).sort());

      // The run history: one realtime run per destination, carrying the three named people once
      // each; only the buyer was held, so one removal; a handful of requests.
      for (const destination of ['meta', 'google', 'tiktok']) {
        const runs = await listRuns(t.store, destination, 'abandoners');
        const rt = runs.filter((r) => r.runId.startsWith('realtime-'));
        expect(rt, destination).toHaveLength(1);
        const record = await finishedRun(t.store, rt[0]!.key);
        expect(record).toMatchObject({ trigger: 'realtime', status: 'completed' });
        expect(record.plan).toMatchObject({ remove: 1, add: 0 });
        expect(record.realtime).toMatchObject({ people: 3, unresolved: 2 });
        expect(record.realtime!.lag_ms.p99).toBeGreaterThan(0);
        // At most ceil(n / batch max) + 1 requests: one batch here (Google: its job and its run).
        expect(record.requests, destination).toBeLessThanOrEqual(2);
      }
      for (const f of Object.values(fakes)) expect(f.state.shapeErrors).toEqual([]);

      // The next daily sync (today, with the orders exported): nothing to send for the buyer, who
      // no longer qualifies and is already gone; the refunder joins refund_exclusions for real.
      await drainBuffers({ redis, store: t.store, prefix: `${prefix}-ingest` });
      const day2 = today();
      await runPeopleStage(ctx, day2);
      await runBuildStage(ctx, day2);
      const tMeta = syncTargets(loaded.config.audiences).find(
        (x) => x.audienceId === 'abandoners' && x.destination === 'meta',
      )!;
      const next = await runSyncStage(ctx, { day: day2, target: tMeta, runId: day2 });
      expect(next.plan).toMatchObject({ add: 0, remove: 0 });
      expect(next.requests).toBe(0);
      const tRefund = syncTargets(loaded.config.audiences).find((x) => x.audienceId === 'refund_exclusions')!;
      const refund = await runSyncStage(ctx, { day: day2, target: tRefund, runId: day2 });
      expect(refund.plan).toMatchObject({ add: 0, remove: 0 });

      // A throttled platform waits alone: Meta answers "too many calls" (reset in 2 s) eight times,
      // while Google and TikTok take the next purchase at once; Meta follows when it lets up.
      const second = treatment[1]!;
      fakes.meta.controls.throttle(8, {
        code: 17,
        subcode: 2446079,
        headers: { 'x-ad-account-usage': JSON.stringify({ reset_time_duration: 2 }) },
      });
      await order(second, 'o-5');
      await until(() => !googleHas(second) && !tiktokHas(second));
      expect(metaEmails('abandoners')).toContain(metaEmail(second));
      await until(() => !metaEmails('abandoners').includes(metaEmail(second)), 90_000);

      // Additions take the newest records: someone who identified after the last snapshot (their
      // identify exported to today's raw part since) and someone whose identify still waits in the
      // ingest buffer join the exclusion list with the emails they gave; a refund by someone no
      // record knows is unresolved and costs no request.
      const exported = { customer_id: 'rt-new-exported', email: ' Fresh.Exported@Example.com' };
      const buffered = { customer_id: 'rt-new-buffered', email: 'fresh.buffered@example.com' };
      const identify = async (p: { customer_id: string; email: string }) => {
        const res = await app.inject({
          method: 'POST',
          url: '/v1/identify',
          headers: { authorization: 'Bearer ingest-key' },
          payload: { ...p, country: 'US', timestamp: new Date().toISOString() },
        });
        expect(res.statusCode).toBe(202);
      };
      await identify(exported);
      await drainBuffers({ redis, store: t.store, prefix: `${prefix}-ingest` });
      await identify(buffered);
      const refunds = await app.inject({
        method: 'POST',
        url: '/v1/track',
        headers: { authorization: 'Bearer ingest-key' },
        payload: {
          batch: ['rt-new-exported', 'rt-new-buffered', 'rt-nobody'].map((customer_id) => ({
            id: `refund-${customer_id}`,
            customer_id,
            name: 'refund_requested',
            timestamp: new Date().toISOString(),
          })),
        },
      });
      expect(refunds.json()).toMatchObject({ accepted: 3 });
      await until(() => metaEmails('refund_exclusions').length === 3);
      expect(metaEmails('refund_exclusions').sort()).toEqual(
        [
          metaEmail(refunder),
          metaConnector.matchKeys({ ...exported, ts: TS })!.email!,
          metaConnector.matchKeys({ ...buffered, ts: TS })!.email!,
        ].sort(),
      );
      // The refunder's run earlier, and this one.
      const adds = (await listRuns(t.store, 'meta', 'refund_exclusions'))
        .filter((r) => r.runId.startsWith('realtime-add-'))
        .sort((a, b) => a.runId.localeCompare(b.runId));
      expect(adds).toHaveLength(2);
      const added = await finishedRun(t.store, adds[1]!.key);
      expect(added).toMatchObject({
        trigger: 'realtime',
        status: 'completed',
        plan: { add: 2, remove: 0 },
        realtime: { people: 3, unresolved: 1 },
      });
      // Each real-time run's record is written completed once, its stats in it.
      const completed = realtimeWrites.filter((w) => w.record.status === 'completed');
      expect(completed.length).toBeGreaterThanOrEqual(5);
      expect(new Set(completed.map((w) => w.key)).size).toBe(completed.length);
      expect(completed.filter((w) => w.record.realtime === undefined)).toEqual([]);
    } finally {
      putSpy.mockRestore();
      await app.close();
      await signalQueue.close();
      redis.disconnect();
      const left = await connection.keys(`${prefix}*`);
      if (left.length) await connection.del(...left);
      connection.disconnect();
    }
  }, 300_000);
});
