import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Queue, Worker } from 'bullmq';
import type { InjectOptions } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createConnectorContext } from '../../connectors/core/context.js';
import { metaConnector } from '../../connectors/meta/index.js';
import { buildApp } from '../../src/api/app.js';
import { metricsPlugin } from '../../src/api/plugins/metrics.js';
import { buildAudiences } from '../../src/audiences/build.js';
import { parseEnv } from '../../src/config/env.js';
import { parseAudienceSyncConfig } from '../../src/config-file.js';
import { addDays, today } from '../../src/contract/days.js';
import { drainBuffers } from '../../src/export/drain.js';
import { defaultMetrics } from '../../src/health/metrics.js';
import { runHealth } from '../../src/health/run.js';
import { signCioWebhook } from '../../src/ingest/signature.js';
import { createLogger, log, redirectLogs } from '../../src/log.js';
import { syncAudience } from '../../src/sync/execute.js';
import { type FakeMeta, startFakeMeta } from '../fakes/meta.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';

/**
 * One run of the whole pipeline — ingest through the HTTP API, export, build, sync to the fake Meta
 * (one destination working, one with a revoked token), health checks with alerts — with
 * recognizable personal data in the input. Afterwards none of it may appear in the logs (captured
 * at trace level), the metrics, the error responses, the findings or the alert state; and
 * `/metrics` shows every documented series with the values this run produced.
 */

const EMAIL = 'Zebediah.Quuxington@Example.org';
const PHONE = '+1 (415) 555-0199';
const FIRST = 'Zebediah';
const LAST = 'Quuxington';
const BAD_EMAIL = 'zebediah@@quux-broken';
const API_KEY = 'ingest-key-9f8e7d6c5b4a';
const SIGNING_KEY = 'cio-signing-key-7a6b5c4d';
const META_TOKEN = 'EAAGm0PX4ZCpsBAKZAsecrettoken1234567890';
const WRONG_TOKEN = 'EAAGm0PX4ZCpsBAKZArevokedtoken987654321';
const PII = [
  EMAIL,
  EMAIL.toLowerCase(),
  'zebediah.quuxington',
  '415) 555-0199',
  '+14155550199',
  '4155550199',
  '555-0199',
  FIRST,
  LAST,
  BAD_EMAIL,
  API_KEY,
  SIGNING_KEY,
  META_TOKEN,
  WRONG_TOKEN,
];

const AUD = 'cart_abandoners';

describe('observability of one pipeline run', () => {
  let t: TestStore;
  let redis: Redis;
  let bull: Redis;
  let fake: FakeMeta;
  const prefix = `test-obs-${randomBytes(4).toString('hex')}`;
  const queuePrefix = `${prefix}-bull`;
  const logLines: string[] = [];
  const responses: string[] = [];
  let metricsText = '';
  let restoreRootLog: () => void;
  let rootLevel: string;
  const day = addDays(today(), -1);

  const capture = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ level: 'trace' }, capture);

  beforeAll(async () => {
    t = await createFsTestStore();
    redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
    bull = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    fake = await startFakeMeta({ token: META_TOKEN });
    // Everything that logs through the root logger is captured too, at every level.
    restoreRootLog = redirectLogs(capture);
    rootLevel = log.level;
    log.level = 'trace';

    const env = parseEnv({
      REDIS_URL: inject('redisUrl'),
      API_KEYS: API_KEY,
      CIO_WEBHOOK_SIGNING_KEYS: SIGNING_KEY,
      QUEUE_PREFIX: queuePrefix,
      META_GRAPH_URL: fake.url,
    });
    const loaded = parseAudienceSyncConfig(
      `
version: 1
destinations:
  meta: { type: meta, ad_account_id: act_100, access_token: "\${META_TOKEN}" }
  meta_eu: { type: meta, ad_account_id: act_200, access_token: "\${META_EU_TOKEN}" }
audiences:
  - id: ${AUD}
    type: top_fraction
    when: { event: checkout_started, within_days: 7 }
    score: [{ weight: 1, count: { event: checkout_started, within_days: 7 } }]
    top_fraction: 1
    holdout: { fraction: 0.2, salt: obs-test }
    sync: [meta, meta_eu]
alerts: { log: true }
`,
      'obs.yaml',
      { META_TOKEN: META_TOKEN, META_EU_TOKEN: WRONG_TOKEN },
    );
    const config = loaded.config;
    // The operator surface gives `/metrics` the configuration and the queues (a variable, not a
    // literal: apps built without that option simply ignore it, and the plugin is added below).
    const appOptions = {
      env,
      store: t.store,
      redis,
      logger,
      redisPrefix: prefix,
      operator: { loadConfig: async () => loaded, pipeline: { connection: bull, prefix: queuePrefix } },
    };
    const app = await buildApp(appOptions);
    if (!app.hasRoute({ method: 'GET', url: '/metrics' })) {
      await app.register(metricsPlugin, {
        metrics: defaultMetrics(),
        loadConfig: async () => config,
        queues: { connection: bull, prefix: queuePrefix },
        redisPrefix: prefix,
      });
    }

    const send = async (options: InjectOptions) => {
      const res = await app.inject(options);
      responses.push(`${res.statusCode} ${res.body}`);
      return res;
    };
    const auth = { authorization: `Bearer ${API_KEY}` };
    const ts = `${day}T15:00:00.000Z`;

    // Identify: 30 people, one of them our canary with every personal field; and bad values.
    const people = Array.from({ length: 30 }, (_, i) => ({
      customer_id: `cust-${i}`,
      email: i === 0 ? EMAIL : `shopper${i}@example.com`,
      ...(i === 0 ? { phone: PHONE, first_name: FIRST, last_name: LAST } : {}),
      country: 'US',
      timestamp: ts,
    }));
    const identify = await send({
      method: 'POST',
      url: '/v1/identify',
      headers: auth,
      payload: {
        batch: [
          ...people,
          { customer_id: 'cust-bad', email: BAD_EMAIL, phone: PHONE },
          { email: EMAIL, phone: PHONE },
        ],
      },
    });
    expect(identify.statusCode).toBe(202);
    expect(identify.json()).toMatchObject({ accepted: 31, rejected: 1 });

    // Track: checkout events, the canary's carrying personal data in its properties too.
    const events = people.map((p, i) => ({
      id: `evt-${i}`,
      customer_id: p.customer_id,
      name: 'Checkout Started',
      data: { value: 50 + i, ...(i === 0 ? { email: EMAIL, note: `call ${PHONE}` } : {}) },
      timestamp: ts,
    }));
    const track = await send({
      method: 'POST',
      url: '/v1/track',
      headers: auth,
      payload: {
        batch: [...events, events[0], { email: EMAIL, name: 'Checkout Started', timestamp: 'yesterday-ish' }],
      },
    });
    expect(track.statusCode).toBe(202);
    expect(track.json()).toMatchObject({ accepted: 30, duplicates: 1, rejected: 1 });

    // Customer.io webhook, signed.
    const webhook = JSON.stringify({
      event_id: '01HXYZWEBHOOK0001',
      object_type: 'email',
      metric: 'clicked',
      timestamp: Math.floor(Date.now() / 1000) - 60,
      data: {
        identifiers: { id: 'cust-1', email: EMAIL },
        recipient: EMAIL,
        delivery_id: 'dlv-1',
        href: `https://shop.example/?e=${EMAIL}`,
      },
    });
    const now = Math.floor(Date.now() / 1000);
    const signed = await send({
      method: 'POST',
      url: '/v1/webhooks/customerio',
      headers: {
        'content-type': 'application/json',
        'x-cio-timestamp': String(now),
        'x-cio-signature': signCioWebhook(SIGNING_KEY, now, webhook),
      },
      payload: webhook,
    });
    expect(signed.statusCode).toBe(200);

    // Error paths, each with personal data in the request.
    const errors = [
      await send({
        method: 'POST',
        url: '/v1/track',
        headers: { ...auth, 'content-type': 'application/json' },
        payload: `{"email": "${EMAIL}", "phone": "${PHONE}",`,
      }),
      await send({
        method: 'POST',
        url: '/v1/identify',
        headers: { authorization: `Bearer ${META_TOKEN}` },
        payload: { email: EMAIL },
      }),
      await send({ method: 'POST', url: '/v1/identify', headers: auth, payload: { batch: `${EMAIL}` } }),
      await send({
        method: 'POST',
        url: '/v1/track',
        headers: auth,
        payload: { batch: [{ email: BAD_EMAIL, first_name: FIRST }] },
      }),
      await send({
        method: 'POST',
        url: '/v1/webhooks/customerio',
        headers: {
          'content-type': 'application/json',
          'x-cio-timestamp': String(now),
          'x-cio-signature': 'ab'.repeat(32),
        },
        payload: webhook,
      }),
      await send({
        method: 'GET',
        url: `/v1/people/${encodeURIComponent(EMAIL)}?phone=${encodeURIComponent(PHONE)}`,
      }),
    ];
    expect(errors.map((r) => r.statusCode)).toEqual([400, 401, 400, 422, 401, 404]);

    // Export, build, sync (one destination works, one has a revoked token).
    const drained = await drainBuffers({ redis, store: t.store, prefix, logger });
    expect(drained.reduce((n, d) => n + d.written, 0)).toBeGreaterThan(60);
    const built = await buildAudiences({ store: t.store, config, day });
    const manifest = built.audiences[0]!;
    expect(manifest.counts.treatment + manifest.counts.holdout).toBe(30);
    const ctx = (destination: string, token: string) =>
      createConnectorContext(metaConnector, {
        destination,
        config: {
          type: 'meta',
          ad_account_id: destination === 'meta' ? 'act_100' : 'act_200',
          access_token: token,
        },
        env: { META_GRAPH_URL: fake.url },
        log: logger,
        sleep: async () => {},
      });
    const ok = await syncAudience({
      store: t.store,
      audienceId: AUD,
      day,
      destination: 'meta',
      connector: metaConnector,
      ctx: ctx('meta', META_TOKEN),
      mode: { kind: 'audience' },
      runId: day,
      log: logger,
    });
    expect(ok.status).toBe('completed');
    await expect(
      syncAudience({
        store: t.store,
        audienceId: AUD,
        day,
        destination: 'meta_eu',
        connector: metaConnector,
        ctx: ctx('meta_eu', WRONG_TOKEN),
        mode: { kind: 'audience' },
        runId: day,
        log: logger,
      }),
    ).rejects.toThrow(/190/);

    // A failed job and a job waiting for its retry in the pipeline's queues.
    const buildQueue = new Queue('build', { connection: bull, prefix: queuePrefix });
    await buildQueue.add('build', { day }, { jobId: 'build-fails', attempts: 1 });
    await buildQueue.add(
      'build',
      { day },
      { jobId: 'build-retries', attempts: 3, backoff: { type: 'fixed', delay: 3_600_000 } },
    );
    const worker = new Worker(
      'build',
      async () => {
        throw new Error(`snapshot missing for ${EMAIL}`);
      },
      { connection: bull, prefix: queuePrefix },
    );
    await new Promise<void>((resolve) => {
      let failures = 0;
      worker.on('failed', (job, error) => {
        // Logged the way the pipeline worker logs failures: error messages can quote data.
        log.error({ queue: worker.name, job_id: job?.id, err: error.message }, 'job failed');
        log.warn(error);
        failures += 1;
        if (failures === 2) resolve();
      });
    });
    await worker.close();
    await buildQueue.close();

    // Health checks with the log sink: the revoked token is one critical alert.
    const health = await runHealth({ store: t.store, config, log: logger, redis, redisPrefix: prefix });
    expect(health.alerts.fired).toEqual(['destination_failing:meta_eu']);
    responses.push(JSON.stringify(health.report), JSON.stringify(health.alerts));
    responses.push((await t.store.get('health/alerts.json')).toString());

    const scraped = await app.inject({ method: 'GET', url: '/metrics' });
    expect(scraped.statusCode).toBe(200);
    expect(scraped.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    metricsText = scraped.body;
    await app.close();
  }, 60_000);

  afterAll(async () => {
    log.level = rootLevel;
    restoreRootLog?.();
    await fake?.close();
    const keysToDrop = await redis.keys(`${prefix}*`);
    if (keysToDrop.length) await redis.del(...keysToDrop);
    redis?.disconnect();
    bull?.disconnect();
    await t?.cleanup();
  });

  it('leaks no personal data or secret into logs, metrics, error responses, findings or alert state', () => {
    expect(logLines.length).toBeGreaterThan(5);
    const haystacks = { logs: logLines.join(''), metrics: metricsText, responses: responses.join('\n') };
    for (const [where, text] of Object.entries(haystacks)) {
      for (const needle of PII) {
        expect(text.toLowerCase().includes(needle.toLowerCase()), `${where} must not contain ${needle}`).toBe(
          false,
        );
      }
    }
    // The logs still say what happened (the failed sync, the alert), with the run's bindings.
    const lines = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l.alert_id === 'destination_failing:meta_eu' && l.change === 'firing')).toBe(
      true,
    );
    expect(
      lines.some((l) => l.destination === 'meta' && l.audience === AUD && l.msg === 'sync completed'),
    ).toBe(true);
    expect(
      lines.some((l) => l.job_id === 'build-fails' && l.err === 'snapshot missing for [redacted-email]'),
    ).toBe(true);
    expect(
      lines.some((l) => l.destination === 'meta_eu' && l.status === 400 && l.msg === 'platform request'),
    ).toBe(true);
  });

  it('/metrics shows every documented series with the values of this run', () => {
    const value = (series: string) => {
      const line = metricsText.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    // Ingest by dataset and outcome (from the per-item answers).
    expect(value('audience_sync_ingest_records_total{dataset="people",outcome="accepted"}')).toBe(31);
    expect(value('audience_sync_ingest_records_total{dataset="people",outcome="rejected"}')).toBe(1);
    expect(value('audience_sync_ingest_records_total{dataset="events",outcome="accepted"}')).toBe(30);
    expect(value('audience_sync_ingest_records_total{dataset="events",outcome="duplicate"}')).toBe(1);
    expect(value('audience_sync_ingest_records_total{dataset="events",outcome="rejected"}')).toBe(2);
    expect(value('audience_sync_ingest_records_total{dataset="messages",outcome="accepted"}')).toBe(1);
    expect(
      value('audience_sync_http_requests_total{method="POST",route="/v1/track",status_code="202"}'),
    ).toBe(1);
    expect(value('audience_sync_http_requests_total{method="GET",route="unmatched",status_code="404"}')).toBe(
      1,
    );
    // Buffers drained: nothing waiting.
    expect(value('audience_sync_buffer_records{dataset="events"}')).toBe(0);
    expect(value('audience_sync_buffer_oldest_age_seconds{dataset="events"}')).toBe(0);
    // Export lag: the parts were just written.
    for (const d of ['events', 'messages', 'people']) {
      const lag = value(`audience_sync_export_lag_seconds{dataset="${d}"}`)!;
      expect(lag).toBeGreaterThanOrEqual(0);
      expect(lag).toBeLessThan(600);
    }
    // Quarantine by reason: the bad email of today's identify (its record was kept without it).
    expect(value('audience_sync_quarantine_records_today{dataset="people",reason="bad_email"}')).toBe(1);
    expect(value('audience_sync_quarantine_records_today{dataset="people",reason="all"}')).toBe(1);
    expect(value('audience_sync_quarantine_records_today{dataset="events",reason="all"}')).toBe(0);
    // Build: sizes by group and duration.
    const treatment = value(`audience_sync_audience_members{audience="${AUD}",group="treatment"}`)!;
    const holdout = value(`audience_sync_audience_members{audience="${AUD}",group="holdout"}`)!;
    expect(treatment + holdout).toBe(30);
    expect(holdout).toBeGreaterThan(0);
    expect(value(`audience_sync_build_duration_seconds{audience="${AUD}"}`)).toBeGreaterThan(0);
    // Sync: coverage per identifier type, requests, status, errors by code, platform numbers.
    expect(
      value(`audience_sync_identifier_coverage_ratio{destination="meta",audience="${AUD}",identifier="any"}`),
    ).toBe(1);
    expect(
      value(
        `audience_sync_identifier_coverage_ratio{destination="meta",audience="${AUD}",identifier="email"}`,
      ),
    ).toBe(1);
    const phone = value(
      `audience_sync_identifier_coverage_ratio{destination="meta",audience="${AUD}",identifier="phone"}`,
    )!;
    expect(phone).toBeCloseTo(1 / treatment, 6); // only the canary has a phone
    expect(value(`audience_sync_sync_requests{destination="meta",audience="${AUD}"}`)).toBeGreaterThanOrEqual(
      2,
    );
    expect(value(`audience_sync_sync_status{destination="meta",audience="${AUD}",status="completed"}`)).toBe(
      1,
    );
    expect(value(`audience_sync_sync_status{destination="meta_eu",audience="${AUD}",status="failed"}`)).toBe(
      1,
    );
    expect(value(`audience_sync_sync_errors{destination="meta_eu",audience="${AUD}",code="190"}`)).toBe(1);
    expect(value(`audience_sync_platform_match_rate{destination="meta",audience="${AUD}"}`)).toBeCloseTo(
      0.6,
      1,
    );
    expect(value(`audience_sync_platform_matched_people{destination="meta",audience="${AUD}"}`)).toBe(
      Math.floor(treatment * 0.6),
    );
    // Jobs: the failure and the retry.
    expect(value('audience_sync_queue_jobs{queue="build",state="failed"}')).toBe(1);
    expect(value('audience_sync_queue_jobs{queue="build",state="delayed"}')).toBe(1);
    expect(value('audience_sync_queue_retrying_jobs{queue="build"}')).toBe(1);
    expect(value('audience_sync_queue_jobs{queue="refresh",state="failed"}')).toBe(0);
    expect(value('audience_sync_queue_jobs{queue="sync-meta_eu",state="waiting"}')).toBe(0);
    // Health: the alert that fired.
    expect(value('audience_sync_alerts_firing{kind="destination_failing",severity="critical"}')).toBe(1);
    for (const source of ['buffer', 'store', 'audiences', 'syncs', 'queues', 'config']) {
      expect(value(`audience_sync_metrics_source_up{source="${source}"}`), source).toBe(1);
    }
  });
});
