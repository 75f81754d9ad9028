import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { metaConnector } from '../../connectors/meta/index.js';
import { buildApp } from '../../src/api/app.js';
import { readMembers } from '../../src/audiences/members.js';
import { type Env, parseEnv } from '../../src/config/env.js';
import { addDays, today } from '../../src/contract/days.js';
import { drainBuffers } from '../../src/export/drain.js';
import { createLogger } from '../../src/log.js';
import { enqueueRefresh, getRunStatus, type RunStatus } from '../../src/pipeline/flow.js';
import { QUEUES } from '../../src/pipeline/queues.js';
import { createBullConnection } from '../../src/pipeline/redis.js';
import { type RunningWorkers, startWorkers } from '../../src/pipeline/worker.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { openStore } from '../../src/storage/open-store.js';
import { dayRecords } from '../compaction/helpers.js';
import { startFakeGoogleAds } from '../fakes/google-ads.js';
import { type FakeMeta, startFakeMeta } from '../fakes/meta.js';
import { startFakeTiktok } from '../fakes/tiktok.js';
import { TEST_S3_CREDENTIALS, uniqueName } from '../helpers/stores.js';
import { HttpFaultLayer, TcpFaultProxy } from './proxy.js';
import type { OwnRedis } from './redis-server.js';
import { EXPORT_CHUNK_RECORDS, EXPORT_LEASE_MS, KILL_WORKER_TIMINGS, shortSleep } from './timings.js';

/**
 * One fault episode: a fresh bucket, queue prefix and fake Meta (and, when asked, fake Google Ads
 * and TikTok); ingest through the API, export, the daily refresh as a BullMQ flow, then what the
 * suite asserts. Every connection of the product goes through a fault proxy: Redis (TCP), S3 (TCP
 * proxy → HTTP layer → s3rver) and each platform (TCP proxy → HTTP layer → fake).
 */

/** Closed (compaction grace 0) and inside every audience window. */
export const DAY = addDays(today(), -2);
const TS = `${DAY}T12:00:00.000Z`;
export const PEOPLE = 60;
/** Destinations an episode can sync to besides Meta (their names in the YAML). */
export type ExtraPlatform = 'google' | 'tiktok';
const DESTINATIONS: Record<'meta' | ExtraPlatform, string> = {
  meta: `
  meta:
    type: meta
    ad_account_id: act_1234
    access_token: "\${FAULTS_META_TOKEN}"
    batch_size: 5`,
  google: `
  google:
    type: google_ads
    customer_id: "1234567890"
    developer_token: "\${FAULTS_GOOGLE_DEVELOPER_TOKEN}"
    client_id: "\${FAULTS_GOOGLE_CLIENT_ID}"
    client_secret: "\${FAULTS_GOOGLE_CLIENT_SECRET}"
    refresh_token: "\${FAULTS_GOOGLE_REFRESH_TOKEN}"
    poll_interval_seconds: 1
    batch_size: 5`,
  tiktok: `
  tiktok:
    type: tiktok
    advertiser_id: 7000000000
    access_token: "\${FAULTS_TIKTOK_TOKEN}"
    # TikTok's throttling answer names no wait: 1 s here, as the other fakes ask (default 60 s).
    throttle_delay_seconds: 1
    batch_size: 5`,
};

function configFor(destinations: readonly ('meta' | ExtraPlatform)[]): string {
  return CONFIG.replaceAll('SYNC_TO', destinations.join(', ')).replace(
    'DESTINATIONS',
    destinations.map((d) => DESTINATIONS[d]).join(''),
  );
}

const CONFIG = `
version: 1
destinations:DESTINATIONS
audiences:
  - id: buyers
    type: segment
    when: { event: order_completed, within_days: 7 }
    sync: [SYNC_TO]
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
    holdout: { fraction: 0.3, salt: fault-suite }
    sync: [SYNC_TO]
compaction: { grace_hours: 0 }
schedule: { cron: "0 6 * * *", timezone: UTC }
`;
const AUDIENCES = ['buyers', 'abandoners'] as const;
/** A run slower than this prints its stage history. */
const SLOW_RUN_MS = 30_000;
const CHILD = new URL('./worker-child.ts', import.meta.url).pathname;

/** What every episode shares: the suite's own redis-server and the test setup's s3rver. */
export interface Suite {
  redis: OwnRedis;
  s3Endpoint: string;
}

export interface Outcome {
  /** Per audience: `customer_id group rank` lines, sorted. */
  audiences: Record<string, string[]>;
  /** Per audience: the hashed emails the fake Meta audience holds, sorted. */
  platform: Record<string, string[]>;
  /** Per `<destination> <audience>` of the other platforms: the hashed emails the fake holds, sorted. */
  others: Record<string, string[]>;
  /** Per audience: the hashed emails of the treatment members, sorted. */
  treatment: Record<string, string[]>;
  lost: number;
  duplicates: number;
  /**
   * Batches a platform accepted that hold a row it had already accepted for the same audience and
   * operation (a resumed run re-batches, so bodies need not be identical): all platforms together.
   */
  resent: number;
  /** The same, per platform (`meta`, and `google` / `tiktok` when the episode syncs to them). */
  resentBy: Record<string, number>;
  /** The most resent batches in one scope (one platform, audience and operation: one sync's). */
  resentInOneScope: number;
  /** Record ids checked (events by id, people by customer id). */
  checked: number;
}

export interface ChildRun {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>;
}

interface Person {
  customer_id: string;
  email: string;
}

const persons: Person[] = Array.from({ length: PEOPLE }, (_, i) => ({
  customer_id: `p${String(i).padStart(3, '0')}`,
  email: `fault.person${i}@example.com`,
}));
const emailOf = new Map(persons.map((p) => [p.customer_id, metaConnector.matchKeys(p as never)!.email!]));

/** A platform besides Meta: its fault layer and proxy, and the hashed emails it holds per audience. */
export interface PlatformHop {
  /** HTTP fault layer in front of the fake; the product reaches it through `proxy`. */
  layer: HttpFaultLayer;
  proxy: TcpFaultProxy;
  held(audienceId: string): string[];
  /** The batches the fake accepted, in arrival order (see `countResent`). */
  batches(): AcceptedBatch[];
  /** Arms the fake's documented server error (Google: HTTP 500 INTERNAL; TikTok: code 50000) for its next call. */
  serverError(): void;
  /** Arms the fake's documented throttling answer (Google: 429 RESOURCE_EXHAUSTED, retry in 1 s; TikTok: code 40100). */
  throttle(): void;
  close(): Promise<void>;
}

/** What the fault hops need of a fake platform (started, credentials in `process.env`). */
interface FakePlatform {
  url: string;
  /** The members of the audience named for `id`, as `<identifier type>:<hash>`. */
  members(id: string): Iterable<string>;
  /** The identifier type of a hashed email among the members. */
  emailType: string;
  batches(): AcceptedBatch[];
  serverError(): void;
  throttle(): void;
  close(): Promise<void>;
  /** What points the product at the fake, given where its proxy listens. */
  env(url: string): Record<string, string>;
}

const FAKE_PLATFORMS: Record<ExtraPlatform, () => Promise<FakePlatform>> = {
  async google() {
    const fake = await startFakeGoogleAds();
    process.env.FAULTS_GOOGLE_DEVELOPER_TOKEN = fake.credentials.developer_token;
    process.env.FAULTS_GOOGLE_CLIENT_ID = fake.credentials.client_id;
    process.env.FAULTS_GOOGLE_CLIENT_SECRET = fake.credentials.client_secret;
    process.env.FAULTS_GOOGLE_REFRESH_TOKEN = fake.credentials.refresh_token;
    return {
      url: fake.url,
      members: (id) =>
        [...fake.state.lists.values()].find((l) => l.name === `audience-sync ${id}` && !l.removed)?.members ??
        [],
      emailType: 'hashedEmail',
      batches: () => fake.state.batches.map((b) => ({ scope: `${b.list} ${b.op}`, rows: b.rows })),
      serverError: () => fake.controls.failServer(1),
      throttle: () => fake.controls.throttle(1, 1),
      close: () => fake.close(),
      env: (url) => ({ GOOGLE_ADS_API_URL: url, GOOGLE_OAUTH_TOKEN_URL: `${url}/token` }),
    };
  },
  async tiktok() {
    const fake = await startFakeTiktok();
    process.env.FAULTS_TIKTOK_TOKEN = fake.state.token;
    return {
      url: fake.url,
      members: (id) =>
        [...fake.state.audiences.values()].find((a) => a.name === `audience-sync ${id}` && !a.deleted)
          ?.members ?? [],
      emailType: 'EMAIL_SHA256',
      batches: () =>
        fake.state.batches.map((b) => ({ scope: `${b.audiences.join(',')} ${b.action}`, rows: b.rows })),
      serverError: () => fake.controls.failNext(50000, 'Internal service error.'),
      throttle: () => fake.controls.throttle(1),
      close: () => fake.close(),
      env: (url) => ({ TIKTOK_API_URL: url }),
    };
  },
};

/** Starts a fake platform behind its own TCP proxy and HTTP fault layer; `env`: what points the product at it. */
async function platformHop(name: ExtraPlatform): Promise<{ hop: PlatformHop; env: Record<string, string> }> {
  const fake = await FAKE_PLATFORMS[name]();
  const layer = await HttpFaultLayer.start(fake.url);
  const proxy = await TcpFaultProxy.start({ host: '127.0.0.1', port: Number(new URL(layer.url).port) });
  // These plain addresses hash alike on every platform, so they compare with Meta's treatment hashes.
  const prefix = `${fake.emailType}:`;
  const held = (id: string) =>
    [...fake.members(id)]
      .filter((m) => m.startsWith(prefix))
      .map((m) => m.slice(prefix.length))
      .sort();
  return {
    hop: {
      layer,
      proxy,
      held,
      batches: fake.batches,
      serverError: fake.serverError,
      throttle: fake.throttle,
      close: fake.close,
    },
    env: fake.env(`http://127.0.0.1:${proxy.port}`),
  };
}

export class Episode {
  readonly acked = { events: new Set<string>(), people: new Set<string>() };
  kills = 0;
  /** Redis key prefix of the ingest buffer. */
  get ingestPrefix(): string {
    return `${this.prefix}-ingest`;
  }
  private workers: RunningWorkers | undefined;
  private children: ChildProcess[] = [];

  private constructor(
    readonly prefix: string,
    readonly suite: Suite,
    readonly env: Env,
    readonly childEnv: Record<string, string>,
    readonly store: ObjectStore,
    readonly fake: FakeMeta,
    /** Between the episode's processes and Redis. */
    readonly redisProxy: TcpFaultProxy,
    /** HTTP fault layer in front of s3rver; the product reaches it through `s3Proxy`. */
    readonly s3Layer: HttpFaultLayer,
    readonly s3Proxy: TcpFaultProxy,
    /** HTTP fault layer in front of the fake Meta; the product reaches it through `metaProxy`. */
    readonly metaLayer: HttpFaultLayer,
    readonly metaProxy: TcpFaultProxy,
    readonly connection: Redis,
    private readonly dir: string,
    /** The platforms besides Meta this episode syncs to. */
    readonly platforms: Partial<Record<ExtraPlatform, PlatformHop>>,
  ) {}

  /** The destinations every audience syncs to. */
  get destinations(): ('meta' | ExtraPlatform)[] {
    return ['meta', ...(Object.keys(this.platforms) as ExtraPlatform[])];
  }

  /** `alsoSyncTo`: platforms every audience syncs to besides Meta, each behind its own fault hops. */
  static async open(suite: Suite, options: { alsoSyncTo?: readonly ExtraPlatform[] } = {}): Promise<Episode> {
    process.env.FAULTS_META_TOKEN = 'meta-test-token';
    const platforms: Partial<Record<ExtraPlatform, PlatformHop>> = {};
    const platformEnv: Record<string, string> = {};
    for (const name of options.alsoSyncTo ?? []) {
      const { hop, env } = await platformHop(name);
      platforms[name] = hop;
      Object.assign(platformEnv, env);
    }
    const fake = await startFakeMeta();
    // Client → TCP proxy → HTTP layer → server: the layer records what the server answered even
    // when the proxy then resets the connection before the client gets it.
    const metaLayer = await HttpFaultLayer.start(fake.url);
    const metaProxy = await TcpFaultProxy.start({
      host: '127.0.0.1',
      port: Number(new URL(metaLayer.url).port),
    });
    const redisProxy = await TcpFaultProxy.start({ host: '127.0.0.1', port: suite.redis.port });
    const s3Layer = await HttpFaultLayer.start(suite.s3Endpoint);
    const s3Proxy = await TcpFaultProxy.start({ host: '127.0.0.1', port: Number(new URL(s3Layer.url).port) });
    const bucket = uniqueName('faults').toLowerCase();
    const admin = new S3Client({
      region: 'us-east-1',
      endpoint: suite.s3Endpoint,
      forcePathStyle: true,
      credentials: TEST_S3_CREDENTIALS,
    });
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    admin.destroy();
    const dir = await mkdtemp(join(tmpdir(), 'audience-sync-faults-'));
    await writeFile(join(dir, 'audience-sync.yaml'), configFor(['meta', ...(options.alsoSyncTo ?? [])]));
    const prefix = uniqueName('faults');
    const childEnv: Record<string, string> = {
      CONFIG: join(dir, 'audience-sync.yaml'),
      STORE_URL: `s3://${bucket}/acme`,
      S3_ENDPOINT: `http://127.0.0.1:${s3Proxy.port}`,
      AWS_ACCESS_KEY_ID: TEST_S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_S3_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
      REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`,
      META_GRAPH_URL: `http://127.0.0.1:${metaProxy.port}`,
      ...platformEnv,
      API_KEYS: 'ingest-key',
      QUEUE_PREFIX: prefix,
      CACHE_DIR: join(dir, 'cache'),
      DUCKDB_THREADS: '1',
      LOG_LEVEL: 'silent',
    };
    const env = parseEnv(childEnv);
    const store = openStore(env.STORE_URL, env);
    const connection = createBullConnection(env.REDIS_URL);
    return new Episode(
      prefix,
      suite,
      env,
      childEnv,
      store,
      fake,
      redisProxy,
      s3Layer,
      s3Proxy,
      metaLayer,
      metaProxy,
      connection,
      dir,
      platforms,
    );
  }

  /**
   * Every person identified and one event each, through the API in batches of 10; a batch that
   * was not answered 202 is sent again (same ids) until it is. Acknowledged ids are recorded.
   */
  async ingest(): Promise<void> {
    const app = await buildApp({
      env: this.env,
      store: this.store,
      redisPrefix: this.ingestPrefix,
      logger: createLogger({ level: 'silent' }),
    });
    const auth = { authorization: 'Bearer ingest-key' };
    const send = async (url: string, batch: object[], ack: (index: number) => void) => {
      for (let attempt = 0; ; attempt++) {
        const answer = await app.inject({ method: 'POST', url, headers: auth, payload: { batch } });
        if (answer.statusCode === 202) {
          const body = answer.json() as { results: { index: number; status: string }[] };
          for (const r of body.results) if (r.status !== 'rejected') ack(r.index);
          if (body.results.every((r) => r.status !== 'rejected')) return;
          throw new Error(`${url}: items rejected: ${JSON.stringify(body.results)}`);
        }
        if (attempt > 200) throw new Error(`${url}: still ${answer.statusCode} after 200 attempts`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      for (let start = 0; start < persons.length; start += 10) {
        const slice = persons.slice(start, start + 10);
        await send(
          '/v1/identify',
          slice.map((p) => ({ customer_id: p.customer_id, email: p.email, country: 'US', timestamp: TS })),
          (i) => this.acked.people.add(slice[i]!.customer_id),
        );
        await send(
          '/v1/track',
          slice.map((p, i) => ({
            id: `evt-${start + i}`,
            customer_id: p.customer_id,
            // Even people bought; odd people abandoned a checkout.
            name: (start + i) % 2 === 0 ? 'Order Completed' : 'Checkout Started',
            data: { value: 10 + start + i },
            timestamp: TS,
          })),
          (i) => this.acked.events.add(`evt-${start + i}`),
        );
      }
    } finally {
      await app.close();
    }
  }

  /** Drains the ingest buffers in this process until every dataset drained (a killed export's lease expires). */
  async exportInProcess(): Promise<void> {
    const redis = createBullConnection(this.env.REDIS_URL);
    try {
      for (let round = 0; ; round++) {
        const results = await drainBuffers({
          redis,
          store: this.store,
          prefix: this.ingestPrefix,
          chunkRecords: EXPORT_CHUNK_RECORDS,
          lockTtlMs: EXPORT_LEASE_MS,
        });
        if (results.every((r) => r.status === 'drained')) return;
        if (round > 100) throw new Error('export stayed locked');
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      redis.disconnect();
    }
  }

  /** Starts the worker process (worker-child.ts) with the episode's environment. */
  startChild(mode: 'export' | 'worker', fault?: string): ChildRun {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode], {
      env: {
        ...process.env,
        ...this.childEnv,
        FAULT_INGEST_PREFIX: this.ingestPrefix,
        ...(fault ? { AUDIENCE_SYNC_FAULT: fault } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.push(child);
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>(
      (resolve) => child.on('exit', (code, signal) => resolve({ code, signal, out: out.slice(-2000) })),
    );
    return { child, exited };
  }

  async enqueue(): Promise<string> {
    const { runId } = await enqueueRefresh(
      { connection: this.connection, prefix: this.prefix },
      { day: DAY },
    );
    return runId;
  }

  /** In-process workers, as the worker command runs them (with the suite's short leases). */
  async startWorkers(timings: { lockDurationMs: number; stalledIntervalMs: number } = KILL_WORKER_TIMINGS) {
    this.workers = await startWorkers({
      connection: this.connection,
      prefix: this.prefix,
      env: this.env,
      store: this.store,
      log: createLogger({ level: 'silent' }),
      sleep: shortSleep,
      ...timings,
    });
  }

  async stopWorkers(): Promise<void> {
    await this.workers?.close(5_000);
    this.workers = undefined;
  }

  /**
   * Removes the sync / export leases a SIGKILLed worker left (never the fencing counters), as an
   * operator would once the process is known dead; otherwise a resumed sync waits out the 30 s lease.
   */
  async releaseDeadLeases(): Promise<number> {
    const stale = (await this.connection.keys(`${this.prefix}*lock*`)).filter((k) => !k.endsWith(':fence'));
    if (stale.length) await this.connection.del(...stale);
    return stale.length;
  }

  /**
   * Waits for the refresh to finish. BullMQ backoffs (30 s and 60 s in the flow's job options) are
   * skipped: delayed jobs are promoted whenever no sync lease is held, which is when the retry
   * would find nothing in its way.
   */
  async waitForRun(runId: string, timeoutMs = 120_000): Promise<RunStatus> {
    const pipeline = { connection: this.connection, prefix: this.prefix };
    const names = [
      QUEUES.compact,
      QUEUES.people,
      QUEUES.build,
      QUEUES.measure,
      QUEUES.refresh,
      ...this.destinations.map((d) => QUEUES.sync(d)),
    ];
    const queues = names.map((name) => {
      const queue = new Queue(name, { connection: this.connection, prefix: this.prefix });
      queue.on('error', () => {}); // connection errors under faults; the run's status is what counts
      return queue;
    });
    const started = Date.now();
    const until = started + timeoutMs;
    let last: RunStatus | undefined;
    // Each stage's states with when they were first seen: printed when a run is slow, to tell why.
    const history: string[] = [];
    const seen = new Set<string>();
    const track = (status: RunStatus | undefined) => {
      for (const stage of status?.stages ?? []) {
        const key = `${stage.name} ${stage.state}${stage.failed_reason ? ` (${stage.failed_reason.slice(0, 80)})` : ''}`;
        if (!seen.has(key)) {
          seen.add(key);
          history.push(`+${((Date.now() - started) / 1000).toFixed(1)}s ${key}`);
        }
      }
    };
    try {
      for (;;) {
        last = await getRunStatus(pipeline, runId).catch(() => last);
        track(last);
        if (last && (last.state === 'completed' || last.state === 'failed')) {
          // Stages and root are read one after the other: read again so they agree.
          const final = (await getRunStatus(pipeline, runId)) ?? last;
          if (Date.now() - started > SLOW_RUN_MS)
            process.stderr.write(`[faults] slow run ${this.prefix}: ${history.join('; ')}\n`);
          return final;
        }
        if (Date.now() > until)
          throw new Error(
            `refresh ${runId} did not finish: ${JSON.stringify(last?.stages.map((s) => [s.name, s.state, s.failed_reason]))}; history: ${history.join('; ')}`,
          );
        const leases = (await this.connection.keys(`${this.prefix}:lock:*`).catch(() => ['?'])).filter(
          (k) => !k.endsWith(':fence'),
        );
        if (leases.length === 0) await Promise.all(queues.map((q) => q.promoteJobs().catch(() => {})));
        await new Promise((r) => setTimeout(r, 300));
      }
    } finally {
      await Promise.all(queues.map((q) => q.close()));
    }
  }

  /** What the suite asserts on, read back from the store, the fake and the Meta fault layer. */
  async outcome(): Promise<Outcome> {
    const audiences: Record<string, string[]> = {};
    const treatment: Record<string, string[]> = {};
    const platform: Record<string, string[]> = {};
    const others: Record<string, string[]> = {};
    for (const id of AUDIENCES) {
      const lines: string[] = [];
      const treated: string[] = [];
      for await (const m of readMembers(this.store, id, DAY)) {
        lines.push(`${m.customer_id} ${m.group} ${m.rank}`);
        if (m.group === 'treatment') treated.push(emailOf.get(m.customer_id)!);
      }
      audiences[id] = lines.sort();
      treatment[id] = treated.sort();
      const held = [...this.fake.state.audiences.values()].find((a) => a.name === `audience-sync ${id}`);
      platform[id] = [...(held?.members.values() ?? [])].map((m) => m.EMAIL!).sort();
      for (const [name, hop] of Object.entries(this.platforms)) others[`${name} ${id}`] = hop.held(id);
    }

    let lost = 0;
    let duplicates = 0;
    const count = async (dataset: 'events' | 'people', field: 'id' | 'customer_id', acked: Set<string>) => {
      const seen = new Map<string, number>();
      for (const r of await dayRecords(this.store, dataset, DAY)) {
        const key = String((r.record as Record<string, unknown>)[field]);
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
      for (const id of acked) if (!seen.has(id)) lost++;
      for (const n of seen.values()) duplicates += n - 1;
    };
    await count('events', 'id', this.acked.events);
    await count('people', 'customer_id', this.acked.people);

    // Meta's accepted batches are its 2xx answers to users / usersreplace; the other fakes log theirs.
    const metaBatches: AcceptedBatch[] = [];
    for (const call of this.metaLayer.calls) {
      const edge = /^\/v[\d.]+\/([^/]+)\/(users|usersreplace)$/.exec(call.path);
      if (!edge || call.status < 200 || call.status >= 300) continue;
      const rows = metaRows(call.body);
      if (process.env.FAULT_DEBUG)
        process.stderr.write(
          `meta ${call.method} ${edge[1]} ${edge[2]} ${call.status}${call.dropped ? ' (dropped)' : ''} rows=${rows.length}\n`,
        );
      metaBatches.push({ scope: `${call.method} ${edge[1]} ${edge[2]}`, rows });
    }
    const scopes: [string, Map<string, number>][] = [['meta', countResent(metaBatches)]];
    for (const [name, hop] of Object.entries(this.platforms)) scopes.push([name, countResent(hop.batches())]);
    const resentBy: Record<string, number> = {};
    let resentInOneScope = 0;
    for (const [name, byScope] of scopes) {
      resentBy[name] = [...byScope.values()].reduce((a, b) => a + b, 0);
      resentInOneScope = Math.max(resentInOneScope, ...byScope.values());
    }
    const resent = Object.values(resentBy).reduce((a, b) => a + b, 0);
    return {
      audiences,
      platform,
      others,
      treatment,
      lost,
      duplicates,
      resent,
      resentBy,
      resentInOneScope,
      checked: this.acked.events.size + this.acked.people.size,
    };
  }

  async close(): Promise<void> {
    for (const child of this.children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await this.stopWorkers();
    const keys = await this.connection.keys(`${this.prefix}*`).catch(() => []);
    if (keys.length) await this.connection.del(...keys).catch(() => {});
    this.connection.disconnect();
    await this.store.close();
    for (const hop of [this.metaProxy, this.metaLayer, this.s3Proxy, this.s3Layer, this.redisProxy])
      await hop.close();
    for (const platform of Object.values(this.platforms)) {
      await platform.proxy.close();
      await platform.layer.close();
      await platform.close();
    }
    await this.fake.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** One request a platform accepted: what it changed (`scope`: audience and operation) and its rows. */
export interface AcceptedBatch {
  scope: string;
  rows: string[];
}

/**
 * Accepted batches that hold a row already accepted in the same scope (resent batches), per scope.
 * A resumed run re-batches, so a resent batch need not repeat an earlier body exactly.
 */
export function countResent(batches: readonly AcceptedBatch[]): Map<string, number> {
  const accepted = new Map<string, Set<string>>();
  const resent = new Map<string, number>();
  for (const { scope, rows } of batches) {
    const seen = accepted.get(scope) ?? new Set<string>();
    if (rows.some((r) => seen.has(r))) resent.set(scope, (resent.get(scope) ?? 0) + 1);
    for (const r of rows) seen.add(r);
    accepted.set(scope, seen);
  }
  return resent;
}

/** The rows of a Meta users / usersreplace body (`payload.data`, JSON or form-encoded), as strings. */
function metaRows(body: Buffer): string[] {
  const text = body.toString('utf8');
  let payload: unknown;
  try {
    payload = (JSON.parse(text) as { payload?: unknown }).payload;
  } catch {
    payload = new URLSearchParams(text).get('payload') ?? undefined;
  }
  if (typeof payload === 'string') payload = JSON.parse(payload) as unknown;
  const data = (payload as { data?: unknown[] } | undefined)?.data ?? [];
  return data.map((row) => JSON.stringify(row));
}
