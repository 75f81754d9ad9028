import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { latestBuiltDay, readManifest } from '../audiences/members.js';
import type { AudienceSyncConfig } from '../config-file.js';
import { today } from '../contract/days.js';
import { DATASETS, type Dataset } from '../contract/records.js';
import { DEFAULT_REDIS_PREFIX, type IngestKeys, ingestKeys } from '../ingest/redis-keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { readJsonIfExists } from '../storage/object-store.js';
import type { SyncRunRecord } from '../sync/run-record.js';
import { syncTargets } from '../sync/targets.js';
import { ALERT_STATE_KEY, type AlertState } from './alerts.js';
import { oldestBufferedMs } from './checks/freshness.js';
import { newestRawPart } from './parts.js';
import { type DayProfile, profileDay } from './profile.js';
import { coverageOf, reportedMatches, runRecordKeys } from './sync-runs.js';

/**
 * Prometheus metrics. Two kinds:
 *  - in-process counters the API increments (ingest outcomes, HTTP requests);
 *  - gauges read at scrape time from DURABLE state — the Redis buffers, the object store (raw and
 *    quarantine parts, audience manifests, sync run records, the alert state) and the BullMQ queues —
 *    so nothing else has to remember to increment them, and every process (or none) can serve them.
 * Scrape-time reads are cached for a short TTL so scrapes stay cheap.
 * Label values are dataset / audience / destination / queue names and codes: never identifiers.
 */
const INGEST_OUTCOMES = ['accepted', 'duplicate', 'rejected'] as const;
export type IngestOutcome = (typeof INGEST_OUTCOMES)[number];

export interface Metrics {
  registry: Registry;
  ingestRecords: Counter<'dataset' | 'outcome'>;
  httpRequests: Counter<'method' | 'route' | 'status_code'>;
  httpDuration: Histogram<'method' | 'route'>;
  bufferRecords: Gauge<'dataset'>;
  bufferOldestAge: Gauge<'dataset'>;
  exportLag: Gauge<'dataset'>;
  quarantineToday: Gauge<'dataset' | 'reason'>;
  audienceSize: Gauge<'audience' | 'group'>;
  audienceEligible: Gauge<'audience'>;
  buildDuration: Gauge<'audience'>;
  audienceBuiltDay: Gauge<'audience'>;
  identifierCoverage: Gauge<'destination' | 'audience' | 'identifier'>;
  syncRequests: Gauge<'destination' | 'audience'>;
  syncErrors: Gauge<'destination' | 'audience' | 'code'>;
  syncStatus: Gauge<'destination' | 'audience' | 'status'>;
  syncRetries: Gauge<'destination' | 'audience'>;
  syncFinished: Gauge<'destination' | 'audience'>;
  platformSize: Gauge<'destination' | 'audience'>;
  platformMatchRate: Gauge<'destination' | 'audience'>;
  platformMatched: Gauge<'destination' | 'audience'>;
  realtimeLag: Gauge<'destination' | 'audience' | 'quantile'>;
  realtimeLastRun: Gauge<'destination' | 'audience'>;
  queueJobs: Gauge<'queue' | 'state'>;
  queueRetrying: Gauge<'queue'>;
  alertsFiring: Gauge<'kind' | 'severity'>;
  sourceUp: Gauge<'source'>;
  /** Counts ingest outcomes (the metrics plugin calls it for the ingest routes). */
  recordIngest(dataset: Dataset, outcome: IngestOutcome, n: number): void;
}

const P = 'audience_sync_';

export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({ name: P + name, help, labelNames, registers });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Gauge<L>({ name: P + name, help, labelNames, registers });
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: P });

  const ingestRecords = counter(
    'ingest_records_total',
    'Records received by the ingest API, by dataset and outcome',
    ['dataset', 'outcome'],
  );
  const metrics: Metrics = {
    registry,
    ingestRecords,
    httpRequests: counter('http_requests_total', 'HTTP requests by route pattern and status code', [
      'method',
      'route',
      'status_code',
    ]),
    httpDuration: new Histogram({
      name: `${P}http_request_duration_seconds`,
      help: 'HTTP request duration by route pattern',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    bufferRecords: gauge('buffer_records', 'Records waiting in the Redis ingest buffer', ['dataset']),
    bufferOldestAge: gauge(
      'buffer_oldest_age_seconds',
      'Age of the oldest record waiting in the Redis ingest buffer (0 when empty)',
      ['dataset'],
    ),
    exportLag: gauge(
      'export_lag_seconds',
      'Seconds since the newest raw part of the dataset arrived (a lower bound when none is in the recent partitions)',
      ['dataset'],
    ),
    quarantineToday: gauge(
      'quarantine_records_today',
      "Quarantine lines in today's (UTC) partitions, by reason code",
      ['dataset', 'reason'],
    ),
    audienceSize: gauge('audience_members', 'Members of the latest audience snapshot, by group', [
      'audience',
      'group',
    ]),
    audienceEligible: gauge('audience_eligible', 'Eligible people in the latest audience snapshot', [
      'audience',
    ]),
    buildDuration: gauge('build_duration_seconds', 'Duration of the latest audience build', ['audience']),
    audienceBuiltDay: gauge(
      'audience_snapshot_day_timestamp_seconds',
      'Day (start, UTC) of the latest audience snapshot',
      ['audience'],
    ),
    identifierCoverage: gauge(
      'identifier_coverage_ratio',
      'Share of eligible members with a usable identifier in the latest sync (identifier="any" for any type)',
      ['destination', 'audience', 'identifier'],
    ),
    syncRequests: gauge('sync_requests', 'Platform requests made by the latest sync run', [
      'destination',
      'audience',
    ]),
    syncErrors: gauge(
      'sync_errors',
      'Errors of the latest sync run by platform code: rejected rows, unattributed failures, the run error',
      ['destination', 'audience', 'code'],
    ),
    syncStatus: gauge('sync_status', 'Status of the latest sync run (1 for the current status)', [
      'destination',
      'audience',
      'status',
    ]),
    syncRetries: gauge('sync_retries', 'Retried platform calls in the latest sync run', [
      'destination',
      'audience',
    ]),
    syncFinished: gauge('sync_last_finished_timestamp_seconds', 'When the latest sync run finished', [
      'destination',
      'audience',
    ]),
    platformSize: gauge('platform_audience_size', 'Audience size as the platform reports it', [
      'destination',
      'audience',
    ]),
    platformMatchRate: gauge('platform_match_rate', 'Match rate as the platform reports it (0..1)', [
      'destination',
      'audience',
    ]),
    realtimeLag: gauge(
      'realtime_lag_seconds',
      'Ingest to platform acknowledgement in the latest real-time run (quantile: p50, p95, p99, max)',
      ['destination', 'audience', 'quantile'],
    ),
    realtimeLastRun: gauge('realtime_last_run_timestamp_seconds', 'When the latest real-time run finished', [
      'destination',
      'audience',
    ]),
    platformMatched: gauge(
      'platform_matched_people',
      'Matched people as the platform reports them (Meta: latest upload session)',
      ['destination', 'audience'],
    ),
    queueJobs: gauge('queue_jobs', 'BullMQ jobs by queue and state (failed = retained failed jobs)', [
      'queue',
      'state',
    ]),
    queueRetrying: gauge(
      'queue_retrying_jobs',
      'Jobs waiting, delayed or active after at least one failed attempt (sampled, up to 200 per queue)',
      ['queue'],
    ),
    alertsFiring: gauge('alerts_firing', 'Health alerts currently firing, by kind and severity', [
      'kind',
      'severity',
    ]),
    sourceUp: gauge('metrics_source_up', '1 when the last scrape-time read of the source worked', ['source']),
    recordIngest(dataset, outcome, n) {
      if (n > 0) ingestRecords.inc({ dataset, outcome }, n);
    },
  };
  return metrics;
}

let defaultInstance: Metrics | undefined;

/** The process-wide metrics (the API's `/metrics` uses them unless given others). */
export function defaultMetrics(): Metrics {
  defaultInstance ??= createMetrics();
  return defaultInstance;
}

// --- scrape-time collection -------------------------------------------------------------------------

export interface CollectorSources {
  store?: ObjectStore;
  /** The audience configuration (audiences, destinations); audience and sync gauges need it. */
  loadConfig?: () => Promise<Pick<AudienceSyncConfig, 'audiences' | 'destinations'>>;
  /** The ingest Redis and its key prefix. */
  redis?: Redis;
  redisPrefix?: string;
  /**
   * BullMQ connection and prefix, and the queues to count given the configured destinations (the
   * pipeline's queue registry, `queueNames` in `src/pipeline/queues.ts`).
   */
  queues?: {
    connection: Redis;
    prefix: string;
    names: (destinations: readonly string[]) => readonly string[];
  };
  /** How long scrape-time reads are reused (default 15 s). */
  ttlMs?: number;
  /** Per-source read timeout (default 5 s): a slow store must not hang the scrape. */
  timeoutMs?: number;
  now?: () => Date;
}

export interface Collector {
  /** Reads durable state into the gauges, unless the last read is younger than the TTL. */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

type CollectorConfig = Pick<AudienceSyncConfig, 'audiences' | 'destinations'>;
type Manifest = Awaited<ReturnType<typeof readManifest>>;

/**
 * Runs one source's read with a timeout and records whether it worked in `metrics_source_up`;
 * a failed read keeps the values of the last good one.
 */
async function readSource(
  metrics: Metrics,
  source: string,
  timeoutMs: number,
  fn: () => Promise<void>,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), timeoutMs);
      }),
    ]);
    metrics.sourceUp.set({ source }, 1);
  } catch {
    metrics.sourceUp.set({ source }, 0);
  } finally {
    clearTimeout(timer);
  }
}

async function readBuffers(metrics: Metrics, redis: Redis, keys: IngestKeys, at: number): Promise<void> {
  const values = await Promise.all(
    DATASETS.map(async (d) => ({
      d,
      pending: Number((await redis.hget(keys.pending, d)) ?? 0),
      oldest: await oldestBufferedMs(redis, keys.stream(d)),
    })),
  );
  for (const v of values) {
    metrics.bufferRecords.set({ dataset: v.d }, v.pending);
    metrics.bufferOldestAge.set(
      { dataset: v.d },
      v.oldest === undefined ? 0 : Math.max(0, (at - v.oldest) / 1000),
    );
  }
}

async function readExportLag(metrics: Metrics, store: ObjectStore, at: Date): Promise<void> {
  const lookbackDays = 3;
  for (const d of DATASETS) {
    const newest = await newestRawPart(store, d, at, lookbackDays);
    const since = newest ? newest.arrivedAtMs : at.getTime() - (lookbackDays + 1) * 86_400_000;
    metrics.exportLag.set({ dataset: d }, Math.max(0, (at.getTime() - since) / 1000));
  }
}

/** Today's quarantine by reason; `cache` keeps each dataset's profile of the day between scrapes. */
async function readQuarantine(
  metrics: Metrics,
  store: ObjectStore,
  day: string,
  cache: Map<string, DayProfile>,
): Promise<void> {
  const rows: [Dataset, string, number][] = [];
  for (const d of DATASETS) {
    const key = `${d}/${day}`;
    const cached = cache.get(key);
    const { profile } = await profileDay(store, d, day, {
      persist: false,
      quarantineOnly: true,
      ...(cached ? { cached } : {}),
    });
    cache.set(key, profile);
    for (const [reason, n] of Object.entries(profile.reasons)) rows.push([d, reason, n]);
  }
  for (const k of cache.keys()) if (!k.endsWith(`/${day}`)) cache.delete(k);
  metrics.quarantineToday.reset();
  for (const d of DATASETS) metrics.quarantineToday.set({ dataset: d, reason: 'all' }, 0);
  for (const [dataset, reason, n] of rows) {
    metrics.quarantineToday.set({ dataset, reason }, n);
    metrics.quarantineToday.inc({ dataset, reason: 'all' }, n);
  }
}

/** The latest snapshot of every audience; `cache` keeps each audience's manifest until a newer day. */
async function readAudiences(
  metrics: Metrics,
  store: ObjectStore,
  config: Pick<AudienceSyncConfig, 'audiences'>,
  cache: Map<string, { day: string; manifest: Manifest }>,
): Promise<void> {
  const rows = [];
  for (const a of config.audiences) {
    const day = await latestBuiltDay(store, a.id);
    if (!day) continue;
    let entry = cache.get(a.id);
    if (!entry || entry.day !== day) {
      entry = { day, manifest: await readManifest(store, a.id, day) };
      cache.set(a.id, entry);
    }
    if (entry.manifest) rows.push({ id: a.id, day, m: entry.manifest });
  }
  for (const g of [
    metrics.audienceSize,
    metrics.audienceEligible,
    metrics.buildDuration,
    metrics.audienceBuiltDay,
  ]) {
    g.reset();
  }
  for (const { id, day, m } of rows) {
    metrics.audienceSize.set({ audience: id, group: 'treatment' }, m.counts.treatment);
    metrics.audienceSize.set({ audience: id, group: 'holdout' }, m.counts.holdout);
    metrics.audienceEligible.set({ audience: id }, m.counts.eligible);
    const t = m.timings;
    metrics.buildDuration.set(
      { audience: id },
      t.snapshot_seconds + t.scan_seconds + t.evaluate_seconds + t.write_seconds,
    );
    metrics.audienceBuiltDay.set({ audience: id }, Date.parse(`${day}T00:00:00.000Z`) / 1000);
  }
}

/**
 * The latest finished daily run of a target (how the destination is doing; a run in progress is
 * partial) and its latest real-time run (the real-time lag), among its last 50 runs: micro-batches
 * can be many a day.
 */
async function latestRuns(
  store: ObjectStore,
  destination: string,
  audienceId: string,
): Promise<{ daily?: SyncRunRecord; realtime?: SyncRunRecord }> {
  const runKeys = await runRecordKeys(store, destination, audienceId);
  let daily: SyncRunRecord | undefined;
  let realtime: SyncRunRecord | undefined;
  for (let i = runKeys.length - 1; i >= 0 && i >= runKeys.length - 50 && !(daily && realtime); i--) {
    const r = await readJsonIfExists<SyncRunRecord>(store, runKeys[i]!);
    if (!r || r.status === 'running' || r.status === 'finalizing') continue;
    if (r.trigger === 'realtime') realtime ??= r.realtime ? r : undefined;
    else if (!r.trigger) daily ??= r;
  }
  return { ...(daily ? { daily } : {}), ...(realtime ? { realtime } : {}) };
}

function setRealtimeGauges(metrics: Metrics, r: SyncRunRecord): void {
  const labels = { destination: r.destination, audience: r.audience_id };
  for (const [quantile, ms] of Object.entries(r.realtime?.lag_ms ?? {})) {
    metrics.realtimeLag.set({ ...labels, quantile }, ms / 1000);
  }
  if (r.finished_at) metrics.realtimeLastRun.set(labels, Date.parse(r.finished_at) / 1000);
}

function setSyncGauges(metrics: Metrics, r: SyncRunRecord): void {
  const labels = { destination: r.destination, audience: r.audience_id };
  const coverage = coverageOf(r);
  if (coverage) {
    metrics.identifierCoverage.set({ ...labels, identifier: 'any' }, coverage.any);
    for (const [type, share] of Object.entries(coverage.byType)) {
      metrics.identifierCoverage.set({ ...labels, identifier: type }, share);
    }
  }
  metrics.syncRequests.set(labels, r.requests);
  metrics.syncRetries.set(labels, r.retries ?? 0);
  metrics.syncStatus.set({ ...labels, status: r.status }, 1);
  if (r.finished_at) metrics.syncFinished.set(labels, Date.parse(r.finished_at) / 1000);
  for (const [code, n] of Object.entries(syncErrorCodes(r))) metrics.syncErrors.set({ ...labels, code }, n);
  const size = r.platform?.size;
  if (typeof size === 'number' && size >= 0) metrics.platformSize.set(labels, size);
  if (typeof r.match_rate === 'number') metrics.platformMatchRate.set(labels, r.match_rate);
  const matched = reportedMatches(r);
  if (matched !== undefined) metrics.platformMatched.set(labels, matched);
}

async function readSyncs(
  metrics: Metrics,
  store: ObjectStore,
  config: Pick<AudienceSyncConfig, 'audiences'>,
): Promise<void> {
  const latest = [];
  for (const t of syncTargets(config.audiences))
    latest.push(await latestRuns(store, t.destination, t.audienceId));
  for (const g of [
    metrics.identifierCoverage,
    metrics.syncRequests,
    metrics.syncErrors,
    metrics.syncStatus,
    metrics.syncRetries,
    metrics.syncFinished,
    metrics.platformSize,
    metrics.platformMatchRate,
    metrics.platformMatched,
    metrics.realtimeLag,
    metrics.realtimeLastRun,
  ]) {
    g.reset();
  }
  for (const { realtime } of latest) if (realtime) setRealtimeGauges(metrics, realtime);
  for (const { daily } of latest) if (daily) setSyncGauges(metrics, daily);
}

/** Job counts of the queues; `open` keeps one `Queue` per name between scrapes. */
async function readQueues(
  metrics: Metrics,
  names: readonly string[],
  open: (name: string) => Queue,
): Promise<void> {
  const rows: { name: string; counts: Record<string, number>; retrying: number }[] = [];
  for (const name of new Set(names)) {
    const queue = open(name);
    const counts = await queue.getJobCounts(
      'waiting',
      'active',
      'delayed',
      'failed',
      'completed',
      'prioritized',
      'waiting-children',
    );
    const jobs = await queue.getJobs(['wait', 'delayed', 'active'], 0, 199);
    const retrying = jobs.filter((j) => (j?.attemptsMade ?? 0) > 0).length;
    rows.push({ name, counts, retrying });
  }
  metrics.queueJobs.reset();
  metrics.queueRetrying.reset();
  for (const { name, counts, retrying } of rows) {
    for (const [state, n] of Object.entries(counts)) metrics.queueJobs.set({ queue: name, state }, n);
    metrics.queueRetrying.set({ queue: name }, retrying);
  }
}

async function readAlerts(metrics: Metrics, store: ObjectStore): Promise<void> {
  const state = await readJsonIfExists<AlertState>(store, ALERT_STATE_KEY);
  metrics.alertsFiring.reset();
  for (const severity of ['warning', 'critical']) metrics.alertsFiring.set({ kind: 'all', severity }, 0);
  for (const a of Object.values(state?.alerts ?? {})) {
    if (a.status !== 'firing') continue;
    metrics.alertsFiring.inc({ kind: a.kind, severity: a.severity });
    metrics.alertsFiring.inc({ kind: 'all', severity: a.severity });
  }
}

/**
 * Scrape-time reads of durable state into the gauges: the configuration first (audiences and
 * destinations), then the buffers, the store, the audiences, the syncs and the queues at once.
 * Reads are reused for `ttlMs`, and concurrent scrapes share one read.
 */
export function createCollector(metrics: Metrics, sources: CollectorSources): Collector {
  const ttlMs = sources.ttlMs ?? 15_000;
  const timeoutMs = sources.timeoutMs ?? 5_000;
  const now = sources.now ?? (() => new Date());
  const keys: IngestKeys = ingestKeys(sources.redisPrefix ?? DEFAULT_REDIS_PREFIX);
  const quarantine = new Map<string, DayProfile>();
  const manifests = new Map<string, { day: string; manifest: Manifest }>();
  const queues = new Map<string, Queue>();
  let last = 0;
  let inflight: Promise<void> | undefined;

  const run = (source: string, fn: () => Promise<void>) => readSource(metrics, source, timeoutMs, fn);
  const openQueue = (q: NonNullable<CollectorSources['queues']>) => (name: string) => {
    let queue = queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: q.connection, prefix: q.prefix });
      queue.on('error', () => {});
      queues.set(name, queue);
    }
    return queue;
  };

  const refreshAll = async () => {
    const { store, redis, queues: q } = sources;
    let config: CollectorConfig | undefined;
    const load = sources.loadConfig;
    if (load) {
      await run('config', async () => {
        config = await load();
      });
    }
    const tasks: Promise<void>[] = [];
    if (redis) tasks.push(run('buffer', () => readBuffers(metrics, redis, keys, now().getTime())));
    if (store) {
      tasks.push(
        run('store', async () => {
          await readExportLag(metrics, store, now());
          await readQuarantine(metrics, store, today(now()), quarantine);
          await readAlerts(metrics, store);
        }),
      );
      const cfg = config;
      if (cfg) {
        tasks.push(run('audiences', () => readAudiences(metrics, store, cfg, manifests)));
        tasks.push(run('syncs', () => readSyncs(metrics, store, cfg)));
      }
    }
    if (q) {
      const names = q.names(Object.keys(config?.destinations ?? {}));
      tasks.push(run('queues', () => readQueues(metrics, names, openQueue(q))));
    }
    await Promise.all(tasks);
  };

  return {
    refresh() {
      if (inflight) return inflight;
      if (Date.now() - last < ttlMs) return Promise.resolve();
      inflight = refreshAll().finally(() => {
        last = Date.now();
        inflight = undefined;
      });
      return inflight;
    },
    async close() {
      await inflight?.catch(() => {});
      await Promise.all([...queues.values()].map((q) => q.close().catch(() => {})));
      queues.clear();
    },
  };
}

/** Error counts of a run by code: row rejections, failures the platform could not attribute, the run error. */
function syncErrorCodes(record: SyncRunRecord): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (code: string, n: number) => {
    const label = /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : 'other';
    out[label] = (out[label] ?? 0) + n;
  };
  for (const [code, n] of Object.entries(record.rejected_by_code ?? {})) add(code, n);
  for (const u of record.unattributed ?? []) add(u.code, u.count);
  for (const f of record.finalize?.failures ?? []) add(f.code, f.count);
  if (record.status === 'failed' && record.error) add(String(record.error.code ?? record.error.kind), 1);
  return out;
}
