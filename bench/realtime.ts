/**
 * `npm run bench -- realtime [members=10000] [--non-members 1000] [--batch 500] [--concurrency 4]
 *   [--flush-seconds S] [--batch-size N] [--timeout 300] [--redis-url URL] [--runtime auto|dist|source]
 *   [--keep]`
 *
 * Real-time suppression end to end (issue 19): a burst of `members` purchases, one per audience
 * member, reaches the Meta, Google and TikTok fakes as removals. Measured as a user runs it:
 *
 * 1. Setup, in this process (not measured): a filesystem store in a temporary folder with
 *    `members + non-members` people (each an email, country US) and a `checkout_started` event
 *    yesterday for each member; the people snapshot, the build and the daily sync of the segment
 *    `checkout_abandoners` (started checkout, no order) to the three fakes, which then hold every
 *    member.
 * 2. `audience-sync serve` and `audience-sync worker` each as their own process (the CLI, from
 *    `dist/` when it is fresh, else the sources through tsx), on the Redis at REDIS_URL (default
 *    127.0.0.1:6379) under a QUEUE_PREFIX of their own, whose keys are deleted at the end. The
 *    configuration has the trigger `on: { event: order_completed }, remove_from:
 *    [checkout_abandoners]`; `realtime_flush_seconds` is the default (5) unless `--flush-seconds`.
 *    Destinations keep their default `batch_size` (Meta and Google 10,000, TikTok 1,000) unless
 *    `--batch-size` sets it on all three. The fakes run in a third process
 *    (bench/_realtime-fakes.ts), with identities, and stamp the time each member leaves each
 *    platform audience.
 * 3. The burst, from this process: `members` `order_completed` track events, `--batch` per
 *    `POST /v1/track` (real HTTP on loopback, keep-alive, `--concurrency` requests in flight),
 *    sent as fast as the API takes them. Each person's send time is when its request started.
 * 4. It waits until no fake holds any member, then until the realtime run records
 *    (`sync/<dest>/<aud>/runs/realtime-*.json`) account for every member, and reports per
 *    destination: the lag from send to removal at the fake, and from send to the platform's
 *    acknowledgement (the `finished_at` of the run that carried the person, found from the time
 *    its removal was seen); the runs' own `realtime.lag_ms` (ingest acceptance in the API process
 *    → run end); the wall time until the last removal; realtime runs and the engine's requests
 *    against the budget Σ over runs of ceil(people / batch max) + 1, with batch max read two ways:
 *    the connector's `capabilities.maxBatchSize` and the batch size the run used (`plan.batch_size`,
 *    the destination's `batch_size`); every HTTP request the fake received meanwhile (OAuth,
 *    Google's run and status queries included); and the RSS and CPU of the worker and API
 *    processes.
 *
 * It prints a table and, last, one JSON line with every figure.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { googleAdsConnector } from '../connectors/google-ads/index.js';
import { metaConnector } from '../connectors/meta/index.js';
import { getConnector } from '../connectors/registry.js';
import { tiktokConnector } from '../connectors/tiktok/index.js';
import { parseEnv } from '../src/config/env.js';
import { loadAudienceSyncConfig } from '../src/config-file.js';
import { addDays, today } from '../src/contract/days.js';
import type { PersonRecord } from '../src/contract/records.js';
import { createLogger } from '../src/log.js';
import { runBuildStage, runPeopleStage, runSyncStage, type StageContext } from '../src/pipeline/stages.js';
import { syncTargets } from '../src/pipeline/targets.js';
import { FsObjectStore } from '../src/storage/fs-store.js';
import { writeJsonl } from '../src/storage/jsonl.js';
import { keys } from '../src/storage/keys.js';
import { readJsonIfExists } from '../src/storage/object-store.js';
import type { SyncRunRecord } from '../src/sync/run-record.js';
import { listRuns } from '../src/sync/runs.js';
import type {
  FakesReady,
  FakesReport,
  FakesStatus,
  FakesWatching,
  LoggedRequest,
  Platform,
} from './_realtime-fakes.js';
import { formatNumber } from './_report.js';
import { ipcChild } from './_sync-ipc.js';
import { chooseRuntime, type Runtime, type RuntimeChoice } from './_sync-process.js';

const AUDIENCE = 'checkout_abandoners';
/** The TikTok fake's advertiser (its default). */
const TIKTOK_ADVERTISER = '7000000000';
const API_KEY = 'bench-realtime-key';
const PLATFORMS: readonly Platform[] = ['meta', 'google', 'tiktok'];
const ROOT = new URL('..', import.meta.url).pathname;

interface Options {
  members: number;
  nonMembers: number;
  batch: number;
  concurrency: number;
  flushSeconds?: number;
  batchSize?: number;
  timeoutSeconds: number;
  redisUrl: string;
  runtime: RuntimeChoice;
  keep: boolean;
}

function parseArgs(args: string[]): Options {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg.replace(/^members=/, ''));
      continue;
    }
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if (name === 'keep') flags.set(name, true);
    else if (
      [
        'non-members',
        'batch',
        'concurrency',
        'flush-seconds',
        'batch-size',
        'timeout',
        'redis-url',
        'runtime',
      ].includes(name)
    ) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
      flags.set(name, value);
    } else throw new Error(`unknown option --${name}`);
  }
  const int = (value: string | true | undefined, fallback: number, what: string, min = 1) => {
    const n = value === undefined ? fallback : Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`${what} must be an integer ≥ ${min}`);
    return n;
  };
  const flush = flags.get('flush-seconds');
  const flushSeconds = flush === undefined ? undefined : Number(flush);
  if (flushSeconds !== undefined && !(flushSeconds >= 1 && flushSeconds <= 300))
    throw new Error('--flush-seconds must be between 1 and 300');
  const runtime = String(flags.get('runtime') ?? 'auto') as RuntimeChoice;
  if (!['auto', 'dist', 'source'].includes(runtime))
    throw new Error('--runtime must be auto, dist or source');
  return {
    members: int(positional[0], 10_000, 'members'),
    nonMembers: int(flags.get('non-members'), 1_000, '--non-members', 0),
    batch: int(flags.get('batch'), 500, '--batch'),
    concurrency: int(flags.get('concurrency'), 4, '--concurrency'),
    ...(flushSeconds !== undefined ? { flushSeconds } : {}),
    ...(flags.has('batch-size') ? { batchSize: int(flags.get('batch-size'), 0, '--batch-size') } : {}),
    timeoutSeconds: int(flags.get('timeout'), 300, '--timeout'),
    redisUrl: String(flags.get('redis-url') ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'),
    runtime,
    keep: flags.has('keep'),
  };
}

export async function run(args: string[]): Promise<void> {
  let options: Options;
  try {
    options = parseArgs(args);
  } catch (error) {
    process.stderr.write(
      `${(error as Error).message}\nusage: npm run bench -- realtime [members] [--non-members n] [--batch n] [--concurrency n] [--flush-seconds s] [--batch-size n] [--timeout s] [--redis-url URL] [--runtime auto|dist|source] [--keep]\n`,
    );
    process.exitCode = 2;
    return;
  }
  const redis = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    process.stderr.write(`Redis is not answering at ${options.redisUrl}: ${(error as Error).message}\n`);
    redis.disconnect();
    process.exitCode = 1;
    return;
  }
  const runtime = await chooseRuntime(options.runtime);
  const prefix = `bench-rt-${randomBytes(4).toString('hex')}`;
  const root = await mkdtemp(join(tmpdir(), 'bench-realtime-'));
  const fakes = await startFakes();
  const children: Child[] = [];
  try {
    await measure(options, runtime, prefix, root, fakes, redis, children);
  } finally {
    for (const child of children.reverse()) await child.stop();
    await fakes.close();
    const deleted = await deleteKeys(redis, prefix);
    redis.disconnect();
    line(`cleanup: ${deleted} Redis keys under ${prefix}: deleted`);
    if (options.keep) line(`kept: ${root} (store, configuration, process logs)`);
    else await rm(root, { recursive: true, force: true });
  }
}

async function measure(
  options: Options,
  runtime: Runtime,
  prefix: string,
  root: string,
  fakes: Fakes,
  redis: Redis,
  children: Child[],
): Promise<void> {
  const n = options.members;
  const day = addDays(today(), -1);
  const storeDir = join(root, 'store');
  const store = new FsObjectStore(storeDir);
  const configPath = join(root, 'audience-sync.yaml');
  await writeFile(configPath, configYaml(options.flushSeconds, options.batchSize));
  const platformEnv = fakeEnv(fakes.ready);
  const baseEnv = {
    CONFIG: configPath,
    STORE_URL: storeDir,
    REDIS_URL: options.redisUrl,
    QUEUE_PREFIX: prefix,
    ...platformEnv,
  };

  line(
    'realtime, end to end: a burst of purchases by audience members reaches Meta, Google and TikTok as removals',
  );
  line(
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${formatNumber(os.totalmem() / 2 ** 30)} GiB; ` +
      `node ${process.version}; commit ${commit()}; ${new Date().toISOString()}`,
  );
  line(`serve and worker run ${runtime.describe}`);
  line(
    `Redis ${options.redisUrl} (QUEUE_PREFIX ${prefix}); fakes with identities in their own process; ` +
      `realtime_flush_seconds ${options.flushSeconds ?? '5 (default)'}; batch_size ${
        options.batchSize !== undefined ? fmt(options.batchSize) : "each destination's default"
      }`,
  );

  // --- 1. setup: people, checkouts, build, daily sync (in this process) ----------------------------
  const setupStarted = Date.now();
  const people: PersonRecord[] = [];
  const ts = `${day}T09:00:00.000Z`;
  for (let i = 0; i < n + options.nonMembers; i++) {
    people.push({
      customer_id: `rt_${String(i).padStart(9, '0')}`,
      email: `rt.person.${i}@example.com`,
      country: 'US',
      ts,
    });
  }
  const members = people.slice(0, n);
  await writeJsonl(store, keys.rawPart('people', day, '1-0', '1-1'), people);
  await writeJsonl(
    store,
    keys.rawPart('events', day, '1-0', '1-1'),
    members.map((p, i) => ({
      id: `rt-co-${i}`,
      customer_id: p.customer_id,
      name: 'checkout_started',
      raw_name: 'checkout_started',
      ts,
      properties: {},
      received_at: ts,
      source: 'bench',
    })),
  );
  Object.assign(process.env, platformEnv);
  const env = parseEnv({ ...baseEnv, LOG_LEVEL: 'warn' });
  const loaded = await loadAudienceSyncConfig(configPath);
  const ctx: StageContext = { store, loaded, env, log: createLogger({ level: 'warn' }) };
  await runPeopleStage(ctx, day);
  const built = await runBuildStage(ctx, day);
  const treatment = built.audiences.find((a) => a.audience === AUDIENCE)?.counts.treatment ?? 0;
  for (const target of syncTargets(loaded.config.audiences)) {
    const record = await runSyncStage(ctx, {
      day,
      target,
      runId: day,
      confirm: true,
      finalizeWaitMs: 120_000,
    });
    if (record.status !== 'completed')
      throw new Error(`setup: the daily sync to ${target.destination} ended ${record.status}`);
  }
  const hashes = {
    meta: members.map((p) => metaConnector.matchKeys(p)!.email!),
    google: members.map((p) => googleAdsConnector.matchKeys(p)!.email!),
    tiktok: members.map((p) => tiktokConnector.matchKeys(p)!.email!),
  };
  const watching = await fakes.watch(hashes);
  line(
    `setup (this process, not measured): ${fmt(n)} members + ${fmt(options.nonMembers)} non-members, build ` +
      `(${fmt(treatment)} in ${AUDIENCE}) and daily sync in ${((Date.now() - setupStarted) / 1000).toFixed(2)} s; ` +
      `the fakes hold ${PLATFORMS.map((p) => `${p} ${fmt(watching.held[p])}`).join(', ')} of the members`,
  );
  for (const p of PLATFORMS)
    if (watching.held[p] !== n)
      throw new Error(`setup: the ${p} fake holds ${watching.held[p]} of ${n} members`);

  // --- 2. the API and the worker, each its own process ---------------------------------------------
  const port = await freePort();
  const worker = await startChild(runtime, 'worker', ['worker'], root, {
    ...baseEnv,
    LOG_LEVEL: 'info',
  });
  children.push(worker);
  await worker.waitForLog('"msg":"worker started"', 60_000);
  const api = await startChild(runtime, 'serve', ['serve'], root, {
    ...baseEnv,
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: String(port),
    API_KEYS: API_KEY,
    INGEST_MAX_BATCH: String(Math.max(options.batch, 1000)),
    INGEST_MAX_BODY_BYTES: String(64 * 1024 * 1024),
  });
  children.push(api);
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/readyz`, 60_000);

  // Warm-up: one non-matching batch (JIT, connections); it triggers nothing.
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const warm = await post(agent, port, {
    batch: Array.from({ length: Math.min(options.batch, 500) }, (_, i) => ({
      id: `rt-warm-${i}`,
      customer_id: members[i % n]!.customer_id,
      name: 'page_viewed',
      timestamp: new Date().toISOString(),
    })),
  });
  if (warm.status >= 300)
    throw new Error(`warm-up: the API answered ${warm.status}: ${warm.body.slice(0, 200)}`);
  await sleep(500);

  // --- 3. the burst ---------------------------------------------------------------------------------
  const bodies: { from: number; to: number; body: string }[] = [];
  const runTag = randomBytes(3).toString('hex');
  for (let from = 0; from < n; from += options.batch) {
    const to = Math.min(n, from + options.batch);
    const now = new Date().toISOString();
    const batch = members.slice(from, to).map((p, k) => ({
      id: `rt-order-${runTag}-${from + k}`,
      customer_id: p.customer_id,
      name: 'order_completed',
      timestamp: now,
      data: { value: 40 + ((from + k) % 60), currency: 'USD' },
    }));
    bodies.push({ from, to, body: JSON.stringify({ batch }) });
  }
  const sentAt = new Float64Array(n);
  const acceptedAt = new Float64Array(n);
  const statuses: Record<string, number> = {};
  let accepted = 0;
  const usageBefore = { worker: procUsage(worker.pid), api: procUsage(api.pid) };
  const redisCpuBefore = await redisCpuSeconds(redis);
  const sampler = startSampler([worker, api]);
  let next = 0;
  const burstStarted = Date.now();
  const lane = async () => {
    while (next < bodies.length) {
      const b = bodies[next++]!;
      const started = Date.now();
      const answer = await post(agent, port, b.body);
      const done = Date.now();
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      try {
        accepted += Number((JSON.parse(answer.body) as { accepted?: number }).accepted ?? 0);
      } catch {
        // Counted by status only.
      }
      for (let i = b.from; i < b.to; i++) {
        sentAt[i] = started;
        acceptedAt[i] = done;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, lane));
  const burstEnded = Date.now();
  agent.destroy();
  line(
    `burst: ${fmt(n)} order_completed events in ${fmt(bodies.length)} requests of ≤ ${fmt(options.batch)}, ` +
      `${options.concurrency} in flight, in ${((burstEnded - burstStarted) / 1000).toFixed(3)} s; statuses ${JSON.stringify(statuses)}, accepted ${fmt(accepted)}`,
  );

  // --- 4. wait for every removal, then for the run records ------------------------------------------
  const deadline = burstStarted + options.timeoutSeconds * 1000;
  let status: FakesStatus = await fakes.status();
  while (PLATFORMS.some((p) => status.removed[p] < n) && Date.now() < deadline) {
    await sleep(200);
    status = await fakes.status();
  }
  const allRemoved = PLATFORMS.every((p) => status.removed[p] >= n);
  if (!allRemoved)
    warn(
      `after ${options.timeoutSeconds} s the fakes still hold members: ${PLATFORMS.map((p) => `${p} ${fmt(n - status.removed[p])}`).join(', ')}`,
    );
  const runs = await waitForRuns(store, n, allRemoved ? Date.now() + 60_000 : Date.now() + 5_000);
  await sleep(300);
  sampler.stop();
  const usageAfter = { worker: procUsage(worker.pid), api: procUsage(api.pid) };
  const redisCpu = (await redisCpuSeconds(redis)) - redisCpuBefore;
  const report = await fakes.report();
  const workerErrors = worker.logLines().filter((l) => /"level":(50|60)/.test(l));

  // --- 5. figures -----------------------------------------------------------------------------------
  // The platform's maximum rows per push, whatever the configuration says.
  const batchMax = Object.fromEntries(
    Object.entries(loaded.config.destinations).map(([id, d]) => [
      id,
      getConnector((d as { type: string }).type).capabilities.maxBatchSize,
    ]),
  ) as Record<Platform, number>;
  const perDestination: Record<string, DestinationFigures> = {};
  for (const p of PLATFORMS) {
    perDestination[p] = destinationFigures(
      n,
      sentAt,
      acceptedAt,
      report.removedAt[p],
      runs[p] ?? [],
      report.requests.filter((r) => r.platform === p),
      batchMax[p],
      burstStarted,
    );
  }

  line('');
  line(
    'lag per destination, ms (nearest rank over the members; "send" = start of the request that carried the event)',
  );
  const header = ['', 'people', 'p50', 'p95', 'p99', 'max'];
  const rows: string[][] = [];
  for (const p of PLATFORMS) {
    const f = perDestination[p]!;
    rows.push([`${p}: send → removed at the fake`, fmt(f.removed), ...quantileCells(f.lagToRemoval)]);
    rows.push([`${p}: send → run finished (platform ack)`, fmt(f.acked), ...quantileCells(f.lagToAck)]);
    rows.push([`${p}: API response → run finished`, fmt(f.acked), ...quantileCells(f.lagFromResponseToAck)]);
    for (const r of f.runs)
      rows.push([`${p}: run ${r.run_id} (API accept → end)`, fmt(r.people), ...quantileCells(r.lag_ms)]);
  }
  table(header, rows);
  line('');
  line('runs and requests per destination');
  table(
    [
      '',
      'runs',
      'removed',
      'engine requests',
      'budget, capabilities max',
      'budget, run batch size',
      'fake HTTP requests',
      'last removal',
      'last run end',
    ],
    PLATFORMS.map((p) => {
      const f = perDestination[p]!;
      return [
        p,
        fmt(f.runs.length),
        fmt(f.planRemoved),
        fmt(f.engineRequests),
        `${fmt(f.budget)} (max ${fmt(batchMax[p])})`,
        `${fmt(f.budgetRunBatch)} (batch ${f.runBatchSizes.map(fmt).join('/') || 'n/a'})`,
        fmt(f.fakeRequests),
        f.lastRemovalSeconds === null ? 'n/a' : `${f.lastRemovalSeconds.toFixed(3)} s`,
        f.lastRunEndSeconds === null ? 'n/a' : `${f.lastRunEndSeconds.toFixed(3)} s`,
      ];
    }),
  );
  for (const p of PLATFORMS) {
    const f = perDestination[p]!;
    line(
      `  ${p} fake received: ${
        Object.entries(f.requestKinds)
          .map(([k, c]) => `${k} ×${c}`)
          .join('; ') || 'nothing'
      }`,
    );
    if (f.overBudgetRuns.length > 0)
      line(`  ${p}: runs over ceil(n / capabilities max)+1 requests: ${f.overBudgetRuns.join(', ')}`);
    if (f.overRunBatchBudget.length > 0)
      warn(`${p}: runs over ceil(n / run batch size)+1 requests: ${f.overRunBatchBudget.join(', ')}`);
    if (f.unassigned > 0) warn(`${p}: ${f.unassigned} removal(s) matched no realtime run`);
    if (f.assignmentMismatch.length > 0)
      warn(
        `${p}: removals seen per run differ from the runs' plan.remove: ${f.assignmentMismatch.join('; ')}`,
      );
    if (report.shapeErrors[p].length > 0)
      warn(
        `${p}: ${report.shapeErrors[p].length} request(s) broke the contract: ${report.shapeErrors[p].slice(0, 3).join('; ')}`,
      );
  }
  const times = (u: ProcUsage, v: ProcUsage) => v.cpuSeconds - u.cpuSeconds;
  const workerFig = {
    pid: worker.pid,
    rss_before_burst_mib: usageBefore.worker.rssMiB,
    rss_max_sampled_mib: sampler.maxRssMiB(worker.pid),
    peak_rss_mib: usageAfter.worker.hwmMiB,
    cpu_seconds: times(usageBefore.worker, usageAfter.worker),
  };
  const apiFig = {
    pid: api.pid,
    rss_before_burst_mib: usageBefore.api.rssMiB,
    rss_max_sampled_mib: sampler.maxRssMiB(api.pid),
    peak_rss_mib: usageAfter.api.hwmMiB,
    cpu_seconds: times(usageBefore.api, usageAfter.api),
  };
  line('');
  line(
    'processes (RSS from /proc: before the burst, largest 100 ms sample after it, VmHWM peak since start)',
  );
  table(
    ['', 'RSS before', 'RSS max sampled', 'peak RSS (VmHWM)', 'CPU during'],
    [
      ['worker (`audience-sync worker`)', workerFig],
      ['API (`audience-sync serve`)', apiFig],
    ].map(([label, f]) => {
      const g = f as typeof workerFig;
      return [
        label as string,
        `${formatNumber(g.rss_before_burst_mib)} MiB`,
        `${formatNumber(g.rss_max_sampled_mib)} MiB`,
        `${formatNumber(g.peak_rss_mib)} MiB`,
        `${g.cpu_seconds.toFixed(2)} s`,
      ];
    }),
  );
  line(
    `fakes process: peak RSS ${formatNumber(report.maxRssKiB / 1024)} MiB, CPU ${report.cpuSeconds.toFixed(2)} s in all; ` +
      `Redis CPU during: ${redisCpu.toFixed(2)} s; load average after ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  if (workerErrors.length > 0)
    warn(`the worker logged ${workerErrors.length} error line(s), first: ${workerErrors[0]!.slice(0, 300)}`);
  const p99 = Math.max(...PLATFORMS.map((p) => perDestination[p]!.lagToAck.p99));
  const withinBudget = PLATFORMS.every((p) => perDestination[p]!.overBudgetRuns.length === 0);
  const withinRunBudget = PLATFORMS.every((p) => perDestination[p]!.overRunBatchBudget.length === 0);
  line(
    `target: p99 ≤ 60 s per destination — worst p99 send → ack ${(p99 / 1000).toFixed(3)} s (${p99 <= 60_000 && allRemoved ? 'met' : 'NOT met'}); ` +
      `requests ≤ ceil(n / capabilities max)+1 per run: ${withinBudget ? 'met' : 'NOT met'}; ` +
      `≤ ceil(n / run batch size)+1: ${withinRunBudget ? 'met' : 'NOT met'}`,
  );
  if (!allRemoved || !withinRunBudget) process.exitCode = 1;

  const json = {
    bench: 'realtime',
    at: new Date().toISOString(),
    commit: commit(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model.trim(), node: process.version },
    runtime: runtime.kind,
    members: n,
    non_members: options.nonMembers,
    batch: options.batch,
    concurrency: options.concurrency,
    flush_seconds: options.flushSeconds ?? 5,
    batch_size: options.batchSize ?? null,
    batch_max: batchMax,
    burst: {
      requests: bodies.length,
      seconds: (burstEnded - burstStarted) / 1000,
      statuses,
      accepted,
    },
    all_removed: allRemoved,
    destinations: perDestination,
    worker: workerFig,
    api: apiFig,
    fakes: { peak_rss_mib: report.maxRssKiB / 1024, cpu_seconds: report.cpuSeconds },
    redis_cpu_seconds: redisCpu,
  };
  process.stdout.write(`${JSON.stringify(json)}\n`);
}

// --- figures --------------------------------------------------------------------------------------

interface Quantiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

interface RunFigures {
  run_id: string;
  status: string;
  started_at: string;
  finished_at: string | undefined;
  people: number;
  unresolved: number;
  plan_remove: number;
  requests: number;
  batch_size: number;
  lag_ms: Quantiles;
}

interface DestinationFigures {
  removed: number;
  acked: number;
  lagToRemoval: Quantiles;
  lagToAck: Quantiles;
  /** Same, from the response of the request that carried the event (a lower bound of the lag). */
  lagFromResponseToAck: Quantiles;
  runs: RunFigures[];
  planRemoved: number;
  engineRequests: number;
  /** Σ ceil(people / capabilities.maxBatchSize) + 1 over the runs. */
  budget: number;
  overBudgetRuns: string[];
  /** Σ ceil(people / the run's batch size) + 1 over the runs. */
  budgetRunBatch: number;
  runBatchSizes: number[];
  overRunBatchBudget: string[];
  fakeRequests: number;
  requestKinds: Record<string, number>;
  lastRemovalSeconds: number | null;
  lastRunEndSeconds: number | null;
  unassigned: number;
  assignmentMismatch: string[];
}

/** Nearest rank, as the run records compute theirs (src/realtime/flush.ts). */
function quantiles(values: number[]): Quantiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted.at(-1) ?? Number.NaN };
}

function destinationFigures(
  n: number,
  sentAt: Float64Array,
  acceptedAt: Float64Array,
  removedAt: (number | null)[],
  records: SyncRunRecord[],
  requests: LoggedRequest[],
  batchMax: number,
  burstStarted: number,
): DestinationFigures {
  const runs = records
    .map((r) => ({
      record: r,
      start: Date.parse(r.started_at),
      end: Date.parse(r.finished_at ?? r.updated_at),
    }))
    .sort((a, b) => a.start - b.start);
  const lagToRemoval: number[] = [];
  const lagToAck: number[] = [];
  const lagFromResponse: number[] = [];
  const seenPerRun = new Map<string, number>();
  let unassigned = 0;
  let lastRemoval: number | null = null;
  for (let i = 0; i < n; i++) {
    const at = removedAt[i];
    if (at === null || at === undefined) continue;
    lagToRemoval.push(at - sentAt[i]!);
    lastRemoval = lastRemoval === null ? at : Math.max(lastRemoval, at);
    // The run that carried the person: the last one that started before the removal was seen.
    let carrier: (typeof runs)[number] | undefined;
    for (const r of runs) if (r.start <= at) carrier = r;
    if (!carrier) {
      unassigned += 1;
      continue;
    }
    seenPerRun.set(carrier.record.run_id, (seenPerRun.get(carrier.record.run_id) ?? 0) + 1);
    lagToAck.push(carrier.end - sentAt[i]!);
    lagFromResponse.push(carrier.end - acceptedAt[i]!);
  }
  const runFigures: RunFigures[] = runs.map(({ record }) => ({
    run_id: record.run_id,
    status: record.status,
    started_at: record.started_at,
    finished_at: record.finished_at,
    people: record.realtime?.people ?? 0,
    unresolved: record.realtime?.unresolved ?? 0,
    plan_remove: record.plan.remove,
    requests: record.requests,
    batch_size: record.plan.batch_size,
    lag_ms: record.realtime?.lag_ms ?? { p50: Number.NaN, p95: Number.NaN, p99: Number.NaN, max: Number.NaN },
  }));
  const budgetOf = (r: RunFigures) => Math.ceil(r.people / batchMax) + 1;
  const runBudgetOf = (r: RunFigures) => Math.ceil(r.people / r.batch_size) + 1;
  const requestKinds: Record<string, number> = {};
  for (const r of requests) {
    const kind = `${r.method} ${r.path.replace(/\d{3,}/g, 'N')}`;
    requestKinds[kind] = (requestKinds[kind] ?? 0) + 1;
  }
  const ends = runs.map((r) => r.end);
  return {
    removed: lagToRemoval.length,
    acked: lagToAck.length,
    lagToRemoval: quantiles(lagToRemoval),
    lagToAck: quantiles(lagToAck),
    lagFromResponseToAck: quantiles(lagFromResponse),
    runs: runFigures,
    planRemoved: runFigures.reduce((a, r) => a + r.plan_remove, 0),
    engineRequests: runFigures.reduce((a, r) => a + r.requests, 0),
    budget: runFigures.reduce((a, r) => a + budgetOf(r), 0),
    overBudgetRuns: runFigures
      .filter((r) => r.requests > budgetOf(r))
      .map((r) => `${r.run_id} (${r.requests} > ${budgetOf(r)})`),
    budgetRunBatch: runFigures.reduce((a, r) => a + runBudgetOf(r), 0),
    runBatchSizes: [...new Set(runFigures.map((r) => r.batch_size))],
    overRunBatchBudget: runFigures
      .filter((r) => r.requests > runBudgetOf(r))
      .map((r) => `${r.run_id} (${r.requests} > ${runBudgetOf(r)})`),
    fakeRequests: requests.length,
    requestKinds,
    lastRemovalSeconds: lastRemoval === null ? null : (lastRemoval - burstStarted) / 1000,
    lastRunEndSeconds: ends.length === 0 ? null : (Math.max(...ends) - burstStarted) / 1000,
    unassigned,
    assignmentMismatch: runFigures
      .filter((r) => (seenPerRun.get(r.run_id) ?? 0) !== r.plan_remove)
      .map((r) => `${r.run_id}: seen ${seenPerRun.get(r.run_id) ?? 0}, plan.remove ${r.plan_remove}`),
  };
}

function quantileCells(q: Quantiles): string[] {
  return [q.p50, q.p95, q.p99, q.max].map((v) => (Number.isNaN(v) ? 'n/a' : fmt(Math.round(v))));
}

/** Realtime run records per destination, once they account for `n` people each (or at `until`). */
async function waitForRuns(
  store: FsObjectStore,
  n: number,
  until: number,
): Promise<Partial<Record<Platform, SyncRunRecord[]>>> {
  let out: Partial<Record<Platform, SyncRunRecord[]>> = {};
  for (;;) {
    out = {};
    for (const p of PLATFORMS) {
      const refs = (await listRuns(store, p, AUDIENCE)).filter((r) => r.runId.startsWith('realtime-'));
      const records: SyncRunRecord[] = [];
      for (const ref of refs) {
        const record = await readJsonIfExists<SyncRunRecord>(store, ref.key);
        if (record) records.push(record);
      }
      out[p] = records;
    }
    const done = PLATFORMS.every((p) => {
      const records = out[p] ?? [];
      return (
        records.every((r) => r.status === 'completed' && r.realtime) &&
        records.reduce((a, r) => a + (r.realtime?.people ?? 0), 0) >= n
      );
    });
    if (done || Date.now() >= until) {
      if (!done) warn('the realtime run records do not account for every member (partial figures below)');
      return out;
    }
    await sleep(250);
  }
}

// --- processes ------------------------------------------------------------------------------------

interface Fakes {
  ready: FakesReady;
  watch(hashes: Record<Platform, string[]>): Promise<FakesWatching>;
  status(): Promise<FakesStatus>;
  report(): Promise<FakesReport>;
  close(): Promise<void>;
}

async function startFakes(): Promise<Fakes> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('./_realtime-fakes.ts', import.meta.url).pathname],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const { next, ask, close } = ipcChild(child, 'the fakes process');
  const ready = await next<FakesReady>('ready');
  if (ready.tiktok.advertiserId !== TIKTOK_ADVERTISER)
    throw new Error(`the TikTok fake's advertiser is ${ready.tiktok.advertiserId}, not ${TIKTOK_ADVERTISER}`);
  return {
    ready,
    watch: (hashes) => ask<FakesWatching>('watching', { type: 'watch', hashes }),
    status: () => ask<FakesStatus>('status', { type: 'status' }),
    report: () => ask<FakesReport>('report', { type: 'report' }),
    close,
  };
}

interface Child {
  pid: number;
  waitForLog(text: string, timeoutMs: number): Promise<void>;
  logLines(): string[];
  stop(): Promise<void>;
}

/** `audience-sync <args>` as its own process, its output in `<root>/<name>.log`. */
async function startChild(
  runtime: Runtime,
  name: string,
  args: string[],
  root: string,
  set: Record<string, string>,
): Promise<Child> {
  const logFile = join(root, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, [...runtime.entry, ...args], {
    env: childEnv(process.env, set),
    stdio: ['ignore', fd, fd],
    cwd: ROOT,
  });
  closeSync(fd);
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = signal ?? `code ${code}`;
  });
  const logLines = () => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  return {
    pid: child.pid!,
    logLines,
    async waitForLog(text, timeoutMs) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        if (exited)
          throw new Error(`${name} exited (${exited}): ${logLines().slice(-3).join(' | ').slice(0, 600)}`);
        if (logLines().some((l) => l.includes(text))) return;
        await sleep(100);
      }
      throw new Error(`${name}: no "${text}" after ${timeoutMs} ms`);
    },
    async stop() {
      if (exited) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** This process's environment without anything that would point the child elsewhere, plus `set`. */
function childEnv(base: NodeJS.ProcessEnv, set: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const foreign =
    /^(REDIS_URL|QUEUE_PREFIX|CONFIG|STORE_URL|LOG_LEVEL|NODE_OPTIONS|PORT|HOST|API_KEYS|ADMIN_API_KEYS|INGEST_.*|EXPORT_.*|S3_.*|AWS_.*|META_.*|GOOGLE_.*|TIKTOK_.*|CIO_.*|BENCH_.*)$/;
  for (const [k, v] of Object.entries(base)) if (!foreign.test(k)) env[k] = v;
  return { ...env, ...set };
}

interface ProcUsage {
  rssMiB: number;
  hwmMiB: number;
  cpuSeconds: number;
}

/** RSS, peak RSS and CPU time of a process, from /proc (zeros where /proc is not there). */
function procUsage(pid: number): ProcUsage {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024, cpuSeconds: ticks / 100 };
  } catch {
    return { rssMiB: 0, hwmMiB: 0, cpuSeconds: 0 };
  }
}

function startSampler(children: Child[]): { stop(): void; maxRssMiB(pid: number): number } {
  const max = new Map<number, number>();
  const sample = () => {
    for (const c of children) max.set(c.pid, Math.max(max.get(c.pid) ?? 0, procUsage(c.pid).rssMiB));
  };
  sample();
  const timer = setInterval(sample, 100);
  return {
    stop() {
      clearInterval(timer);
      sample();
    },
    maxRssMiB: (pid) => max.get(pid) ?? 0,
  };
}

async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const value = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? 0);
  return value('used_cpu_user') + value('used_cpu_sys');
}

async function deleteKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [nextCursor, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 5000);
    cursor = nextCursor;
    if (found.length > 0) deleted += await redis.unlink(...found);
  } while (cursor !== '0');
  return deleted;
}

// --- HTTP -----------------------------------------------------------------------------------------

function post(agent: Agent, port: number, payload: unknown): Promise<{ status: number; body: string }> {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/track',
        agent,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${API_KEY}`,
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.text();
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() >= until) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
    await sleep(200);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

// --- configuration --------------------------------------------------------------------------------

function configYaml(flushSeconds: number | undefined, batchSize: number | undefined): string {
  const size = batchSize !== undefined ? `\n    batch_size: ${batchSize}` : '';
  return `version: 1
destinations:
  meta:
    type: meta
    ad_account_id: act_1234
    access_token: "\${BENCH_META_TOKEN}"${size}
  google:
    type: google_ads
    customer_id: "1234567890"
    developer_token: "\${BENCH_GOOGLE_DEVELOPER_TOKEN}"
    client_id: "\${BENCH_GOOGLE_CLIENT_ID}"
    client_secret: "\${BENCH_GOOGLE_CLIENT_SECRET}"
    refresh_token: "\${BENCH_GOOGLE_REFRESH_TOKEN}"${size}
  tiktok:
    type: tiktok
    advertiser_id: "${TIKTOK_ADVERTISER}"
    access_token: "\${BENCH_TIKTOK_TOKEN}"${size}
audiences:
  - id: ${AUDIENCE}
    type: segment
    when:
      all:
        - { event: checkout_started, within_days: 7 }
        - not: { event: order_completed, within_days: 7 }
    sync: [meta, google, tiktok]
realtime:
  - on: { event: order_completed }
    remove_from: [${AUDIENCE}]
${flushSeconds !== undefined ? `sync_settings: { realtime_flush_seconds: ${flushSeconds} }\n` : ''}# No daily refresh fires during the bench.
schedule: { enabled: false }
`;
}

function fakeEnv(ready: FakesReady): Record<string, string> {
  return {
    META_GRAPH_URL: ready.meta.url,
    BENCH_META_TOKEN: ready.meta.token,
    GOOGLE_ADS_API_URL: ready.google.url,
    GOOGLE_OAUTH_TOKEN_URL: ready.google.tokenUrl,
    BENCH_GOOGLE_DEVELOPER_TOKEN: ready.google.credentials.developer_token,
    BENCH_GOOGLE_CLIENT_ID: ready.google.credentials.client_id,
    BENCH_GOOGLE_CLIENT_SECRET: ready.google.credentials.client_secret,
    BENCH_GOOGLE_REFRESH_TOKEN: ready.google.credentials.refresh_token,
    TIKTOK_API_URL: ready.tiktok.url,
    BENCH_TIKTOK_TOKEN: ready.tiktok.token,
  };
}

// --- output ---------------------------------------------------------------------------------------

function commit(): string {
  try {
    const git = (args: string[]) =>
      execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const hash = git(['rev-parse', '--short', 'HEAD']);
    const dirty = git(['status', '--porcelain', '--', 'src', 'connectors', 'bench']);
    return dirty ? `${hash} (uncommitted changes in src/, connectors/ or bench/)` : hash;
  } catch {
    return process.env.BENCH_COMMIT ?? 'unknown (not a git checkout; BENCH_COMMIT names it)';
  }
}

function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const render = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  line(render(header));
  for (const r of rows) line(render(r));
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function line(text: string): void {
  process.stdout.write(`${text}\n`);
}

function warn(text: string): void {
  process.stdout.write(`WARNING ${text}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
