import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { getRunStatus, type RunStatus } from '../../src/pipeline/flow.js';
import { type ChildRun, Episode, type ExtraPlatform, type Outcome, type Suite } from './harness.js';
import { type HttpCall, type Injected, s3Error, s3Operation } from './proxy.js';
import { OwnRedis } from './redis-server.js';
import { FAULT_WORKER_TIMINGS } from './timings.js';

/**
 * The fault-injection suite (docs/reliability.md). Each episode injects faults into a full day —
 * ingest through the API, export, the daily refresh as a BullMQ flow with compaction, people,
 * build, syncs to a fake Meta and measurement — then runs the flow to completion and asserts:
 *  - every acknowledged ingest record is in the store exactly once;
 *  - the audiences equal those of the fault-free baseline;
 *  - the fake Meta audiences (and Google Ads lists, TikTok audiences where the episode syncs to
 *    them) hold exactly the treatment members;
 *  - resent batches — accepted by a platform with a row it had already accepted — are at most one
 *    per kill, or per answer the worker lost to a reset connection.
 *
 * Kill points are drawn from FAULT_SEED (printed; set it to replay a run, and `-t "kill sync #3"`
 * to replay one episode).
 */
const SEED = Number(process.env.FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
const KILLS_PER_STAGE = 10;
/** Kills at Google Ads (or TikTok) requests, in episodes that sync to that platform beside Meta. */
const PLATFORM_KILLS = 5;
/** Named compaction points of src/compaction/compact.ts, killed through AUDIENCE_SYNC_FAULT. */
const COMPACTION_POINTS = ['after-parquet-upload', 'after-manifest-write', 'mid-delete'] as const;

/** mulberry32: small, seeded, good enough to pick kill points. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const figures = {
  seed: SEED,
  episodes: 0,
  faults_injected: 0,
  faults_by_kind: {} as Record<string, number>,
  kills: { export: 0, build: 0, sync: 0 },
  runs_completed: 0,
  records_checked: 0,
  records_lost: 0,
  duplicates: 0,
  resent_batches: 0,
  resent_by_platform: {} as Record<string, number>,
  resent_after_kills: 0,
  /** The most resent batches of one sync after one kill. */
  resent_after_kill_max: 0,
  seconds: 0,
};

function injected(kind: string, n = 1): void {
  figures.faults_injected += n;
  figures.faults_by_kind[kind] = (figures.faults_by_kind[kind] ?? 0) + n;
}

function note(line: string): void {
  process.stderr.write(`[faults seed=${SEED}] ${line}\n`);
}

describe(`fault injection (FAULT_SEED=${SEED})`, () => {
  let suite: Suite;
  let baseline: Outcome;
  /**
   * Requests in the fault-free run: S3 during export, S3 during the flow before the first Meta call,
   * Meta; and Google Ads or TikTok in a fault-free run that also syncs to it (counted before their
   * kill episodes).
   */
  const counts = {
    exportS3: 0,
    exportRedis: 0,
    buildS3: 0,
    syncMeta: 0,
    platforms: { google: 0, tiktok: 0 } as Record<ExtraPlatform, number>,
  };
  const started = Date.now();
  const pick = rng(SEED);

  beforeAll(async () => {
    suite = { redis: await OwnRedis.start(), s3Endpoint: inject('s3Endpoint') };

    // The fault-free baseline, counting requests per stage for the kill points.
    const ep = await Episode.open(suite);
    const { s3Layer, redisProxy } = ep;
    try {
      await ep.ingest();
      s3Layer.resetCount();
      const redisBefore = redisProxy.stats.clientChunks;
      await ep.exportInProcess();
      counts.exportS3 = s3Layer.stats.requests;
      counts.exportRedis = redisProxy.stats.clientChunks - redisBefore;
      await ep.startWorkers(FAULT_WORKER_TIMINGS);
      const runId = await ep.enqueue();
      const s3AtStart = s3Layer.stats.requests;
      ep.metaLayer.hooks.before = () => {
        if (counts.buildS3 === 0) counts.buildS3 = s3Layer.stats.requests - s3AtStart;
        return undefined;
      };
      expectCompleted(await ep.waitForRun(runId));
      counts.syncMeta = ep.metaLayer.stats.requests;
      baseline = await ep.outcome();
      expect(baseline.lost).toBe(0);
      expect(baseline.duplicates).toBe(0);
      expect(baseline.resent).toBe(0);
      expect(baseline.audiences.buyers?.length).toBe(30);
      expect(baseline.treatment.abandoners?.length).toBeGreaterThan(0);
      for (const id of Object.keys(baseline.platform))
        expect(baseline.platform[id]).toEqual(baseline.treatment[id]);
      figures.runs_completed++;
      note(`baseline: ${JSON.stringify(counts)}`);
    } finally {
      await ep.close();
    }
  });

  afterAll(async () => {
    figures.seconds = Math.round((Date.now() - started) / 1000);
    note(`FIGURES ${JSON.stringify(figures)}`);
    if (process.env.FAULT_FIGURES_FILE)
      await writeFile(process.env.FAULT_FIGURES_FILE, JSON.stringify(figures, null, 2));
    await suite?.redis.stop();
  });

  /** `destinations`: how many each of the two audiences syncs to. */
  function expectCompleted(status: RunStatus, destinations = 1): void {
    const failed = status.stages.filter((s) => s.state !== 'completed');
    expect(failed, JSON.stringify(failed)).toEqual([]);
    expect(status.state).toBe('completed');
    expect(status.stages.filter((s) => s.name.startsWith('sync ')).length).toBe(2 * destinations);
  }

  /**
   * The assertions after every episode, and its figures. `resends`: the resent batches allowed, in
   * all (`total`) or in any one sync's scope (`perSync`: a kill stops every sync in flight at once,
   * and each may then resend the batch it was sending).
   */
  async function settle(
    ep: Episode,
    status: RunStatus,
    resends: { total: number } | { perSync: number },
  ): Promise<Outcome> {
    expectCompleted(status, ep.destinations.length);
    figures.runs_completed++;
    figures.episodes++;
    const outcome = await ep.outcome();
    figures.records_checked += outcome.checked;
    figures.records_lost += outcome.lost;
    figures.duplicates += outcome.duplicates;
    figures.resent_batches += outcome.resent;
    for (const [platform, n] of Object.entries(outcome.resentBy))
      figures.resent_by_platform[platform] = (figures.resent_by_platform[platform] ?? 0) + n;
    expect(outcome.checked).toBe(2 * 60);
    expect(outcome.lost).toBe(0);
    expect(outcome.duplicates).toBe(0);
    expect(outcome.audiences).toEqual(baseline.audiences);
    for (const id of Object.keys(outcome.platform))
      expect(outcome.platform[id]).toEqual(outcome.treatment[id]);
    // Google Ads and TikTok, when the episode syncs to them too: `<destination> <audience>`.
    for (const [key, held] of Object.entries(outcome.others))
      expect(held, key).toEqual(outcome.treatment[key.split(' ')[1]!]);
    expect(outcome.treatment).toEqual(baseline.treatment);
    if ('total' in resends) expect(outcome.resent).toBeLessThanOrEqual(resends.total);
    else expect(outcome.resentInOneScope).toBeLessThanOrEqual(resends.perSync);
    return outcome;
  }

  /** The flow after a kill: completed, checked, and its resent batches (at most one per sync) counted. */
  async function settleKill(ep: Episode, status: RunStatus): Promise<void> {
    const outcome = await settle(ep, status, { perSync: 1 });
    figures.resent_after_kills += outcome.resent;
    figures.resent_after_kill_max = Math.max(figures.resent_after_kill_max, outcome.resentInOneScope);
  }

  /**
   * Ingest, export and the flow with faults from `during` (started when the episode starts).
   * `alsoSyncTo`: platforms the audiences sync to besides Meta.
   */
  async function faultyDay(
    during: (ep: Episode, runId: Promise<string>) => Promise<unknown> | unknown,
    options: {
      faultIngest?: boolean;
      resendsAllowed?: (ep: Episode) => number;
      alsoSyncTo?: readonly ExtraPlatform[];
    } = {},
  ): Promise<void> {
    const ep = await Episode.open(suite, options.alsoSyncTo ? { alsoSyncTo: options.alsoSyncTo } : {});
    try {
      let setRun: (id: string) => void = () => {};
      const runId = new Promise<string>((r) => {
        setRun = r;
      });
      let injecting: Promise<unknown> | undefined;
      if (options.faultIngest !== false) injecting = Promise.resolve(during(ep, runId));
      await ep.ingest();
      await ep.exportInProcess();
      await ep.startWorkers(FAULT_WORKER_TIMINGS);
      const id = await ep.enqueue();
      setRun(id);
      if (options.faultIngest === false) injecting = Promise.resolve(during(ep, runId));
      const status = await ep.waitForRun(id, 150_000);
      // `during` may return a function to call once the run is over (to stop and count its faults).
      const finish = await injecting;
      if (typeof finish === 'function') finish();
      await settle(ep, status, { total: options.resendsAllowed?.(ep) ?? 0 });
    } finally {
      await ep.close();
    }
  }

  /** Resolves once a stage matching `match` is active, or (with a note) once the run is over. */
  async function whenActive(ep: Episode, runId: string, match: (name: string) => boolean): Promise<void> {
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      const s = await getRunStatus({ connection: ep.connection, prefix: ep.prefix }, runId).catch(
        () => undefined,
      );
      if (s?.stages.some((x) => match(x.name) && x.state === 'active')) return;
      if (s?.state === 'completed') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    note(`the stage was not seen active: the fault lands after the run (${runId})`);
  }

  describe('Redis', () => {
    it('latency: 10 ms each way on every Redis connection, ingest to sync', async () => {
      injected('redis latency');
      await faultyDay((ep) => ep.redisProxy.setLatency(10));
    });

    it('connection resets every 700 ms, ingest to sync', async () => {
      let stop = false;
      await faultyDay(async (ep, runId) => {
        const timer = setInterval(() => {
          if (stop) return;
          ep.redisProxy.resetAll();
          injected('redis reset');
        }, 700);
        await runId;
        // A few more during the flow, then let it finish.
        await new Promise((r) => setTimeout(r, 5000));
        stop = true;
        clearInterval(timer);
      });
    });

    it('blackhole for 4 s (longer than the job lease) while the build runs', async () => {
      await faultyDay(
        async (ep, runId) => {
          await whenActive(ep, await runId, (name) => name === 'build');
          injected('redis blackhole');
          await ep.redisProxy.blackhole(4000);
        },
        { faultIngest: false },
      );
    });

    it('Redis restarted (SIGKILL, AOF) in the middle of ingest', async () => {
      await faultyDay(async (ep) => {
        while (ep.acked.events.size < 20) await new Promise((r) => setTimeout(r, 10));
        injected('redis restart');
        await suite.redis.restart(500);
      });
    });

    it('Redis restarted (SIGKILL, AOF) in the middle of the syncs', async () => {
      await faultyDay(
        async (ep, runId) => {
          await whenActive(ep, await runId, (name) => name.startsWith('sync '));
          injected('redis restart');
          await suite.redis.restart(1000);
        },
        { faultIngest: false },
      );
    });
  });

  describe('S3', () => {
    /** Fails a share of the matching requests, at most twice in a row per request (the SDK makes 5 attempts). */
    function s3Storm(
      status: 503 | 500,
      share: number,
      seed: number,
    ): (call: HttpCall) => Injected | undefined {
      const random = rng(seed);
      const streak = new Map<string, number>();
      return (call) => {
        const op = s3Operation(call);
        if (op !== 'PUT' && op !== 'GET' && op !== 'LIST') return undefined;
        const key = `${call.method} ${call.path}?${call.query}`;
        const n = streak.get(key) ?? 0;
        if (n < 2 && random() < share) {
          streak.set(key, n + 1);
          injected(`s3 ${status} ${op}`);
          return s3Error(status);
        }
        streak.set(key, 0);
        return undefined;
      };
    }

    it('503 SlowDown on a quarter of PUT, GET and LIST, export to sync', async () => {
      await faultyDay((ep) => {
        ep.s3Layer.hooks.inject = s3Storm(503, 0.25, SEED + 1);
      });
    });

    it('500 InternalError on a quarter of PUT, GET and LIST, export to sync', async () => {
      await faultyDay((ep) => {
        ep.s3Layer.hooks.inject = s3Storm(500, 0.25, SEED + 2);
      });
    });

    it('S3 connections reset mid-response (one chunk in eight), export to sync', async () => {
      await faultyDay((ep) => {
        ep.s3Proxy.resetMidResponse(1 / 8, rng(SEED + 6));
        return () => {
          ep.s3Proxy.resetMidResponse(0, Math.random);
          injected('s3 reset', ep.s3Proxy.stats.resets);
        };
      });
    });
  });

  describe('platform (fake Meta)', () => {
    /** Arms one failure for a share of the calls, at most `inRow` in a row. */
    function storm(ep: Episode, share: number, seed: number, arm: () => void, kind: string, inRow = 3): void {
      const random = rng(seed);
      let streak = 0;
      ep.metaLayer.hooks.before = () => {
        if (streak < inRow && random() < share) {
          streak++;
          arm();
          injected(kind);
        } else streak = 0;
        return undefined;
      };
    }

    it('5xx storm: the fake answers HTTP 500 (code 2) to half the calls', async () => {
      // At most twice in a row: each call then gets through within the worker's three in-process
      // attempts. With three in a row a call can fail a job attempt, and the calls of other jobs
      // between attempts can use up the success that follows a streak, so a seed could exhaust all
      // five job attempts (seed 238934856 did): an outage longer than the retry budget, which this
      // storm is not meant to be. "Each call" holds only if every request is retried on its own:
      // when the sync retried the audience's find-or-create as a whole, the lookup of each attempt
      // took the success after a streak and the creation failed (seed 521081120: 5 job attempts ×
      // 3, 21 requests of that sync, 15 failed, all 6 creations among them; the storm itself never
      // failed more than two calls in a row). The connectors now retry each request of
      // ensureAudience / describe (ctx.retry).
      await faultyDay(
        (ep) => storm(ep, 0.5, SEED + 3, () => ep.fake.controls.failServer(1), 'platform 500', 2),
        { faultIngest: false },
      );
    });

    it('throttling storm: the fake answers code 17 (reset in 1 s) to half the calls', async () => {
      await faultyDay(
        (ep) =>
          storm(
            ep,
            0.5,
            SEED + 4,
            () =>
              ep.fake.controls.throttle(1, {
                code: 17,
                subcode: 2446079,
                headers: { 'x-ad-account-usage': JSON.stringify({ reset_time_duration: 1 }) },
              }),
            'platform throttle',
          ),
        { faultIngest: false },
      );
    });

    it('platform connections reset after the fake answered (one response in four)', async () => {
      // The fake applied the request but the worker never learns so: like a kill, each such reset
      // may cost one resent batch, never more.
      await faultyDay(
        (ep) => {
          ep.metaProxy.resetMidResponse(1 / 4, rng(SEED + 7));
          return () => {
            ep.metaProxy.resetMidResponse(0, Math.random);
            injected('platform reset', ep.metaProxy.stats.resets);
          };
        },
        { faultIngest: false, resendsAllowed: (ep) => ep.metaProxy.stats.resets },
      );
    });

    it('429 storm: HTTP 429 with Retry-After: 1 on half the calls', async () => {
      await faultyDay(
        (ep) => {
          const random = rng(SEED + 5);
          let streak = 0;
          ep.metaLayer.hooks.inject = () => {
            if (streak < 3 && random() < 0.5) {
              streak++;
              injected('platform 429');
              return {
                status: 429,
                headers: { 'content-type': 'application/json', 'retry-after': '1' },
                body: JSON.stringify({ error: { message: 'Too many calls', code: 4 } }),
              };
            }
            streak = 0;
            return undefined;
          };
        },
        { faultIngest: false },
      );
    });
  });

  describe('platforms (fake Google Ads and TikTok, beside Meta)', () => {
    const BOTH: readonly ExtraPlatform[] = ['google', 'tiktok'];

    /** Arms a failure on both platforms for a share of their calls, at most `inRow` in a row on each. */
    function storms(ep: Episode, seed: number, arm: 'serverError' | 'throttle', kind: string, inRow: number) {
      for (const [i, hop] of Object.values(ep.platforms).entries()) {
        const random = rng(seed + i);
        let streak = 0;
        hop.layer.hooks.before = () => {
          if (streak < inRow && random() < 0.5) {
            streak++;
            hop[arm]();
            injected(kind);
          } else streak = 0;
          return undefined;
        };
      }
    }

    it('5xx storm: HTTP 500 INTERNAL from Google Ads and code 50000 from TikTok on half the calls', async () => {
      // At most twice in a row, as in the Meta storm: within the worker's three in-process attempts.
      await faultyDay((ep) => storms(ep, SEED + 11, 'serverError', 'platform 500 (Google, TikTok)', 2), {
        faultIngest: false,
        alsoSyncTo: BOTH,
      });
    });

    it('throttling storm: 429 RESOURCE_EXHAUSTED (retry in 1 s) from Google Ads and code 40100 from TikTok on half the calls', async () => {
      await faultyDay((ep) => storms(ep, SEED + 13, 'throttle', 'platform throttle (Google, TikTok)', 3), {
        faultIngest: false,
        alsoSyncTo: BOTH,
      });
    });

    it('Google Ads and TikTok connections reset after the fake answered (one response in four)', async () => {
      // The fake acted on the request but the worker never learns so, and tries again: adding or
      // removing the same people twice, running a job again, creating an audience by a name it
      // already has. The audiences must still end exact.
      await faultyDay(
        (ep) => {
          const hops = Object.values(ep.platforms);
          for (const [i, hop] of hops.entries()) hop.proxy.resetMidResponse(1 / 4, rng(SEED + 17 + i));
          return () => {
            for (const hop of hops) {
              hop.proxy.resetMidResponse(0, Math.random);
              injected('platform reset (Google, TikTok)', hop.proxy.stats.resets);
            }
          };
        },
        {
          faultIngest: false,
          alsoSyncTo: BOTH,
          // Each answer the worker lost may cost one resent batch, never more.
          resendsAllowed: (ep) =>
            Object.values(ep.platforms).reduce((n, hop) => n + hop.proxy.stats.resets, 0),
        },
      );
    });
  });

  /** A kill point: the k-th request of a kind, SIGKILL before it is forwarded or after the server answered. */
  interface KillPoint {
    via: 's3' | 'redis' | 'meta' | ExtraPlatform | 'named';
    k: number;
    when: 'before' | 'after';
    named?: string;
  }

  function describePoint(p: KillPoint, of: number): string {
    return p.via === 'named' ? `compaction:${p.named}` : `${p.via} request ${p.k}/${of} (${p.when})`;
  }

  /** SIGKILLs `run` at the point; resolves once the process is gone, with whether the kill happened. */
  async function killAt(ep: Episode, run: ChildRun, point: KillPoint): Promise<boolean> {
    let n = 0;
    let killed = false;
    const kill = () => {
      killed = true;
      run.child.kill('SIGKILL');
    };
    if (point.via === 's3' || point.via === 'meta' || point.via === 'google' || point.via === 'tiktok') {
      const layer =
        point.via === 's3'
          ? ep.s3Layer
          : point.via === 'meta'
            ? ep.metaLayer
            : ep.platforms[point.via]!.layer;
      const hit = () => !killed && ++n === point.k;
      if (point.when === 'before')
        layer.hooks.before = () => {
          if (killed) return 'drop';
          if (!hit()) return undefined;
          kill();
          return 'drop';
        };
      else
        layer.hooks.after = () => {
          if (killed) return 'drop';
          if (!hit()) return undefined;
          kill();
          return 'drop';
        };
    } else if (point.via === 'redis') {
      ep.redisProxy.onClientChunk = () => {
        if (!killed && ++n === point.k) kill();
      };
    }
    const exit = await run.exited;
    ep.s3Layer.hooks = {};
    ep.metaLayer.hooks = {};
    for (const platform of Object.values(ep.platforms)) platform.layer.hooks = {};
    ep.redisProxy.onClientChunk = undefined;
    return killed || exit.signal === 'SIGKILL';
  }

  /**
   * `FAULT_POINT=s3:13:after` (or `redis:37:before`, `meta:7:after`, `named:mid-delete`) kills every
   * selected episode at exactly that point: the request counts of a run vary a little (Redis
   * writes coalesce differently), so a seed replays a point approximately and this exactly.
   */
  function forcedPoint(): KillPoint | undefined {
    const spec = process.env.FAULT_POINT;
    if (!spec) return undefined;
    const [via, k, when] = spec.split(':');
    if (via === 'named') return { via, k: 0, when: 'before', named: k };
    if (
      (via === 's3' || via === 'redis' || via === 'meta' || via === 'google' || via === 'tiktok') &&
      Number(k) > 0 &&
      (when === 'before' || when === 'after')
    )
      return { via, k: Number(k), when };
    throw new Error(
      `FAULT_POINT=${spec}: expected s3|redis|meta|google|tiktok:<k>:before|after or named:<compaction point>`,
    );
  }

  function drawPoints(
    via: KillPoint['via'][],
    of: (via: KillPoint['via']) => number,
    n: number,
  ): KillPoint[] {
    const out: KillPoint[] = [];
    for (let i = 0; i < n; i++) {
      const v = via[Math.floor(pick() * via.length)]!;
      // Redis writes coalesce differently from run to run, so a run may send a few chunks fewer
      // than the baseline did: the last tenth of the baseline's count is not a point every run
      // reaches. An export may also make one S3 request fewer than its baseline (CI, seed
      // 235748887: 18 of 19), so a stage's very last request is not drawn either.
      const reachable = v === 'redis' ? of(v) - Math.ceil(of(v) / 10) : Math.max(1, of(v) - 1);
      out.push({
        via: v,
        k: Math.max(1, Math.ceil(pick() * reachable)),
        when: pick() < 0.5 ? 'before' : 'after',
      });
    }
    return out;
  }

  // Points are drawn when the episode runs (the counts come from the baseline), in a fixed order,
  // so one seed always gives the same points for the same episode number.
  const exportPoints: KillPoint[] = [];
  const buildPoints: KillPoint[] = [];
  const syncPoints: KillPoint[] = [];
  const platformPoints: Record<ExtraPlatform, KillPoint[]> = { google: [], tiktok: [] };
  function points(stage: 'export' | 'build' | 'sync' | ExtraPlatform, i: number): KillPoint {
    const forced = forcedPoint();
    if (forced) return forced;
    if (stage === 'google' || stage === 'tiktok') {
      const drawn = platformPoints[stage];
      if (drawn.length === 0)
        drawn.push(...drawPoints([stage], () => counts.platforms[stage], PLATFORM_KILLS));
      return drawn[i]!;
    }
    if (exportPoints.length === 0) {
      exportPoints.push(
        ...drawPoints(
          ['s3', 'redis'],
          (v) => (v === 's3' ? counts.exportS3 : counts.exportRedis),
          KILLS_PER_STAGE,
        ),
      );
      buildPoints.push(
        ...COMPACTION_POINTS.map((named) => ({
          via: 'named' as const,
          k: 0,
          when: 'before' as const,
          named,
        })),
        ...drawPoints(['s3'], () => counts.buildS3, KILLS_PER_STAGE),
      );
      syncPoints.push(...drawPoints(['meta'], () => counts.syncMeta, KILLS_PER_STAGE));
    }
    return { export: exportPoints, build: buildPoints, sync: syncPoints }[stage][i]!;
  }

  describe.concurrent('kill -9 of the worker during export', () => {
    it.each(Array.from({ length: KILLS_PER_STAGE }, (_, i) => i + 1))('kill export #%i', async (i) => {
      const point = points('export', i - 1);
      const of = point.via === 's3' ? counts.exportS3 : counts.exportRedis;
      note(`kill export #${i}: ${describePoint(point, of)}`);
      const ep = await Episode.open(suite);
      try {
        await ep.ingest();
        ep.s3Layer.resetCount();
        const run = ep.startChild('export');
        const killed = await killAt(ep, run, point);
        expect(killed, `export was not killed at ${describePoint(point, of)}`).toBe(true);
        figures.kills.export++;
        injected('kill export');
        await ep.releaseDeadLeases();
        await ep.exportInProcess();
        await ep.startWorkers();
        const status = await ep.waitForRun(await ep.enqueue());
        await settleKill(ep, status);
      } finally {
        await ep.close();
      }
    });
  });

  describe.concurrent('kill -9 of the worker during compaction and build', () => {
    it.each(Array.from({ length: KILLS_PER_STAGE + COMPACTION_POINTS.length }, (_, i) => i + 1))(
      'kill build #%i',
      async (i) => {
        const point = points('build', i - 1);
        note(`kill build #${i}: ${describePoint(point, counts.buildS3)}`);
        await killedFlow(point, 'build');
      },
    );
  });

  describe.concurrent('kill -9 of the worker during sync', () => {
    it.each(Array.from({ length: KILLS_PER_STAGE }, (_, i) => i + 1))('kill sync #%i', async (i) => {
      const point = points('sync', i - 1);
      note(`kill sync #${i}: ${describePoint(point, counts.syncMeta)}`);
      await killedFlow(point, 'sync');
    });
  });

  describe.each(['google', 'tiktok'] as const)(
    'kill -9 of the worker during a %s sync (beside Meta)',
    (platform) => {
      beforeAll(async () => {
        // The fault-free count of the platform's requests (Google's OAuth token included) the kill
        // points are drawn from.
        const ep = await Episode.open(suite, { alsoSyncTo: [platform] });
        try {
          await ep.ingest();
          await ep.exportInProcess();
          await ep.startWorkers(FAULT_WORKER_TIMINGS);
          const status = await ep.waitForRun(await ep.enqueue());
          expectCompleted(status, 2);
          counts.platforms[platform] = ep.platforms[platform]!.layer.stats.requests;
          note(`${platform} baseline: ${counts.platforms[platform]} requests`);
        } finally {
          await ep.close();
        }
      });

      it.concurrent.each(Array.from({ length: PLATFORM_KILLS }, (_, i) => i + 1))(
        `kill ${platform} sync #%i`,
        async (i) => {
          const point = points(platform, i - 1);
          note(`kill ${platform} sync #${i}: ${describePoint(point, counts.platforms[platform])}`);
          await killedFlow(point, 'sync', [platform]);
        },
      );
    },
  );

  /**
   * Ingest and export, the flow in a worker process killed at `point`, then the flow finished in
   * this one. `alsoSyncTo`: platforms the audiences sync to besides Meta.
   */
  async function killedFlow(
    point: KillPoint,
    stage: 'build' | 'sync',
    alsoSyncTo?: readonly ExtraPlatform[],
  ): Promise<void> {
    const ep = await Episode.open(suite, alsoSyncTo ? { alsoSyncTo } : {});
    try {
      await ep.ingest();
      await ep.exportInProcess();
      const runId = await ep.enqueue();
      ep.s3Layer.resetCount();
      const run = ep.startChild('worker', point.via === 'named' ? `compaction:${point.named}` : undefined);
      const killed = await killAt(ep, run, point);
      const of =
        stage === 'build'
          ? counts.buildS3
          : point.via === 'google' || point.via === 'tiktok'
            ? counts.platforms[point.via]
            : counts.syncMeta;
      expect(killed, `worker was not killed at ${describePoint(point, of)}`).toBe(true);
      figures.kills[stage]++;
      injected(
        point.via === 'google' || point.via === 'tiktok' ? `kill sync (${point.via})` : `kill ${stage}`,
      );
      await ep.releaseDeadLeases();
      await ep.startWorkers();
      const status = await ep.waitForRun(runId);
      await settleKill(ep, status);
    } finally {
      await ep.close();
    }
  }
});
