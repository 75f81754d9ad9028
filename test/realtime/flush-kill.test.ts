import { type ChildProcess, spawn } from 'node:child_process';
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
import { loadAudienceSyncConfig as loadAudienceConfig } from '../../src/config-file.js';
import { addDays, today } from '../../src/contract/days.js';
import { createLogger } from '../../src/log.js';
import { QUEUES } from '../../src/pipeline/queues.js';
import { createBullConnection } from '../../src/pipeline/redis.js';
import { runBuildStage, runPeopleStage, runSyncStage, type StageContext } from '../../src/pipeline/stages.js';
import { syncTargets } from '../../src/pipeline/targets.js';
import { startWorkers } from '../../src/pipeline/worker.js';
import { batchKeys } from '../../src/realtime/pending.js';
import { enqueueSignals } from '../../src/realtime/signals.js';
import { compileTriggers } from '../../src/realtime/triggers.js';
import { readJsonIfExists } from '../../src/storage/object-store.js';
import { ledgerEntries } from '../../src/sync/ledger.js';
import type { SyncRunRecord } from '../../src/sync/run-record.js';
import { listRuns } from '../../src/sync/runs.js';
import { type FakeMeta, startFakeMeta } from '../fakes/meta.js';
import { writeCheckoutDay } from '../helpers/raw-days.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { uniquePrefix } from '../ingest/harness.js';

/**
 * A real-time flush killed (SIGKILL, the worker in a child process) at each point in turn — after
 * it took the batch, while the platform request is on the wire, after the run completed but before
 * the batch was forgotten — is finished by the next worker: the person leaves the Meta audience,
 * the removal is sent at most twice, the ledger no longer holds them, the batch is forgotten, and
 * the run history holds one completed `realtime` run for them. The next daily sync, by a build in
 * which they still qualify, adds them back.
 */
const D = addDays(today(), -1);
const TS = `${D}T09:00:00.000Z`;
const SALT = 'rt-kill';
const CHILD = new URL('./worker-child.ts', import.meta.url).pathname;
const people = Array.from({ length: 16 }, (_, i) => ({
  customer_id: `rk-${String(i).padStart(2, '0')}`,
  email: `rk.person.${i}@example.com`,
  country: 'US',
  ts: TS,
}));
const CONFIG = `
version: 1
destinations:
  meta: { type: meta, ad_account_id: act_1, access_token: "\${RK_META_TOKEN}" }
audiences:
  - id: abandoners
    type: top_fraction
    when: { event: checkout_started, within_days: 7 }
    score: [{ weight: 1, count: { event: checkout_started, within_days: 7 } }]
    top_fraction: 1
    holdout: { fraction: 0.2, salt: ${SALT} }
    sync: [meta]
realtime:
  - on: { event: order_completed }
    remove_from: [abandoners]
sync_settings: { realtime_flush_seconds: 1 }
`;
type KillPoint = 'after-claim' | 'on-the-wire' | 'after-run';
const POINTS: KillPoint[] = ['after-claim', 'on-the-wire', 'after-run'];

async function until(
  done: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a real-time flush killed at any point finishes once', () => {
  let t: TestStore & { root: string };
  let dir: string;
  let meta: FakeMeta;
  const prefix = uniquePrefix('rtkill');

  beforeAll(async () => {
    meta = await startFakeMeta();
    process.env.RK_META_TOKEN = meta.state.token;
    t = await createFsTestStore();
    dir = await mkdtemp(join(tmpdir(), 'realtime-kill-'));
  });
  afterAll(async () => {
    delete process.env.RK_META_TOKEN;
    await meta?.close();
    await t?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('removes the buyer at most twice after a kill at each point', async () => {
    const configPath = join(dir, 'audience-sync.yaml');
    await writeFile(configPath, CONFIG);
    const vars = {
      CONFIG: configPath,
      REDIS_URL: inject('redisUrl'),
      API_KEYS: 'ingest-key',
      QUEUE_PREFIX: prefix,
      STORE_URL: t.root,
      META_GRAPH_URL: meta.url,
      LOG_LEVEL: 'silent',
    } as const;
    const env = parseEnv(vars);
    const log = createLogger({ level: 'silent' });
    const loaded = await loadAudienceConfig(configPath);
    const ctx: StageContext = { store: t.store, loaded, env, log };
    await writeCheckoutDay(t.store, D, people);
    await runPeopleStage(ctx, D);
    await runBuildStage(ctx, D);
    const [target] = syncTargets(loaded.config.audiences);
    expect((await runSyncStage(ctx, { day: D, target: target!, runId: D })).status).toBe('completed');
    const treatment = people.filter((p) => !isHoldout(SALT, p.customer_id, 0.2));
    expect(treatment.length).toBeGreaterThanOrEqual(POINTS.length + 1);

    const emailOf = (p: (typeof people)[number]) => metaConnector.matchKeys(p)!.email!;
    const held = () =>
      [...meta.state.audiences.values()].filter((a) => !a.deleted).flatMap((a) => [...a.members.values()]);
    const holds = (p: (typeof people)[number]) => held().some((m) => m.EMAIL === emailOf(p));
    const removals = (p: (typeof people)[number]) =>
      meta.requests.filter((r) => r.method === 'DELETE' && r.rawBody.includes(emailOf(p))).length;

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
    const keys = batchKeys(prefix, 'meta', 'abandoners', 'remove');
    let child: ChildProcess | undefined;
    try {
      for (const [i, point] of POINTS.entries()) {
        const buyer = treatment[i]!;
        expect(holds(buyer), point).toBe(true);
        const fault = point === 'on-the-wire' ? {} : { AUDIENCE_SYNC_FAULT: `realtime:${point}` };
        child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
          env: { ...process.env, ...vars, ...fault },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        const exited = new Promise<NodeJS.Signals | null>((resolve) =>
          child!.on('exit', (_code, signal) => resolve(signal)),
        );
        await new Promise<void>((resolve, reject) => {
          child!.stdout!.on('data', (c: Buffer) => c.toString().includes('ready') && resolve());
          child!.on('exit', () =>
            reject(new Error(`the worker child exited before it was ready (${point})`)),
          );
        });
        // On the wire: Meta holds its answer for 3 s and the worker dies while it waits.
        if (point === 'on-the-wire') meta.controls.setLatency(3_000);
        const sent = meta.requests.length;
        const res = await app.inject({
          method: 'POST',
          url: '/v1/track',
          headers: { authorization: 'Bearer ingest-key' },
          payload: {
            id: `order-${point}`,
            customer_id: buyer.customer_id,
            name: 'order_completed',
            timestamp: new Date().toISOString(),
          },
        });
        expect(res.statusCode, point).toBe(202);
        if (point === 'on-the-wire') {
          await until(() => meta.requests.length > sent, 'the removal request');
          child.kill('SIGKILL');
        }
        expect(await exited, point).toBe('SIGKILL');
        meta.controls.setLatency(0);

        // The next worker (this process) finds the stalled flush job and the batch in flight.
        const workers = await startWorkers({
          connection,
          prefix,
          env,
          store: t.store,
          log,
          lockDurationMs: 2_000,
          stalledIntervalMs: 1_000,
        });
        try {
          await until(
            async () => !holds(buyer) && (await redis.exists(keys.inflightRun, keys.pending)) === 0,
            `${point}: the buyer's removal`,
          );
        } finally {
          await workers.close(5_000);
        }
        expect(removals(buyer), point).toBeGreaterThanOrEqual(1);
        expect(removals(buyer), point).toBeLessThanOrEqual(2);
        // The ledger no longer holds them; everyone not yet bought is still there.
        const ledger: string[] = [];
        for await (const e of ledgerEntries(t.store, 'meta', 'abandoners')) ledger.push(e.customer_id);
        expect(ledger, point).not.toContain(buyer.customer_id);
        for (const other of treatment.slice(i + 1))
          expect(holds(other), `${point}: ${other.customer_id}`).toBe(true);
      }
      // One completed realtime run per kill point, each carrying one person and one removal.
      const runs = (await listRuns(t.store, 'meta', 'abandoners')).filter((r) =>
        r.runId.startsWith('realtime-'),
      );
      expect(runs).toHaveLength(POINTS.length);
      for (const run of runs) {
        const record = (await readJsonIfExists<SyncRunRecord>(t.store, run.key))!;
        expect(record).toMatchObject({
          trigger: 'realtime',
          status: 'completed',
          plan: { remove: 1, add: 0 },
        });
        expect(record.realtime?.people).toBe(1);
      }
      // Reconciliation: the day's build still has the buyers qualifying (their orders are not in
      // it), so the next sync of that day adds them back, and nobody else.
      const next = await runSyncStage(ctx, { day: D, target: target!, runId: D, force: true });
      expect(next.plan).toMatchObject({ add: POINTS.length, remove: 0 });
      for (const p of treatment) expect(holds(p), p.customer_id).toBe(true);
      expect(meta.state.shapeErrors).toEqual([]);
    } finally {
      child?.kill('SIGKILL');
      await app.close();
      await signalQueue.close();
      redis.disconnect();
      const left = await connection.keys(`${prefix}*`);
      if (left.length) await connection.del(...left);
      connection.disconnect();
    }
  }, 240_000);
});
