import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { inject } from 'vitest';
import { metaConnector } from '../../connectors/meta/index.js';
import { type App, buildApp } from '../../src/api/app.js';
import { buildAudiences } from '../../src/audiences/build.js';
import type { AudienceManifest } from '../../src/audiences/manifest.js';
import { readMembers } from '../../src/audiences/members.js';
import { compactDay } from '../../src/compaction/compact.js';
import { parseEnv } from '../../src/config/env.js';
import { loadAudienceSyncConfig } from '../../src/config-file.js';
import { addDays, today } from '../../src/contract/days.js';
import type { AlertState } from '../../src/health/alerts.js';
import { profileDay } from '../../src/health/profile.js';
import { createLogger } from '../../src/log.js';
import { runMeasureStage } from '../../src/measure/stage.js';
import { readPeopleSnapshot } from '../../src/people/snapshot.js';
import { createBullConnection } from '../../src/pipeline/redis.js';
import { type RunningWorkers, startWorkers } from '../../src/pipeline/worker.js';
import { writeJsonl } from '../../src/storage/jsonl.js';
import { keys } from '../../src/storage/keys.js';
import { type ObjectStore, readJsonIfExists, writeJson } from '../../src/storage/object-store.js';
import type { SyncRunRecord } from '../../src/sync/run-record.js';
import { type FakeMeta, startFakeMeta } from '../fakes/meta.js';
import { AUDIENCE, DESTINATION, manifestFor, seedToday, writeRun } from '../health/fixture.js';
import { writeCheckoutDay } from '../helpers/raw-days.js';
import { createFsTestStore, type TestStore, uniqueName } from '../helpers/stores.js';
import { deletePrefix, testRedis } from '../ingest/harness.js';

/**
 * A store the console reads, written the way the pipeline writes it: four days of audience
 * manifests and sync run records (from the health fixture), then a real build of the last day from
 * raw people with emails and phones — among them a canary whose email and phone must never appear
 * in any console response — and one firing alert.
 */
export const LAST_DAY = '2026-03-09';
export const FIRST_DAY = addDays(LAST_DAY, -3);
export const CANARY = {
  customer_id: 'canary-7',
  email: 'canary.person.7731@example.org',
  phone: '+14155550199',
  first_name: 'Zebulonia',
};
export const ADMIN_KEY = 'console-admin-key-0123456789';
export const SECRET = 'console-test-session-secret-0123456789abcdef';

export const CONFIG_YAML = `
version: 1
destinations:
  meta: { type: meta, ad_account_id: act_1, access_token: "\${CONSOLE_TEST_META_TOKEN}" }
audiences:
  - id: ${AUDIENCE}
    type: top_fraction
    description: People who started a checkout in the last week
    when: { event: checkout_started, within_days: 7 }
    score: [{ weight: 1, count: { event: checkout_started, within_days: 7 } }]
    top_fraction: 1
    holdout: { fraction: 0.2 }
    sync: [${DESTINATION}]
schedule: { timezone: UTC }
`;

/** Sizes of the fake earlier days (the last day's come from the real build). */
export const EARLIER: Record<string, { treatment: number; holdout: number }> = {
  [addDays(LAST_DAY, -3)]: { treatment: 4101, holdout: 1023 },
  [addDays(LAST_DAY, -2)]: { treatment: 4202, holdout: 1047 },
  [addDays(LAST_DAY, -1)]: { treatment: 4303, holdout: 1071 },
};

export const ALERT_ID = `destination_failing:${DESTINATION}`;

/** The latest run of the target: stopped by the remove-share guard before sending anything. */
export const BLOCKED_RUN = {
  runId: `${LAST_DAY}-2`,
  status: 'blocked',
  started_at: `${LAST_DAY}T09:00:00.000Z`,
  updated_at: `${LAST_DAY}T09:00:01.000Z`,
  finished_at: `${LAST_DAY}T09:00:01.000Z`,
  plan: {
    desired: 56,
    ledger: 100,
    add: 1,
    remove: 45,
    changed: 0,
    unchanged: 55,
    after: 56,
    left: 45,
    requests: 2,
    batch_size: 10_000,
  },
  guards: [
    {
      code: 'remove_share',
      message: 'the plan removes 45 of 100 people (45.0%), more than the allowed 30.0%',
    },
  ],
  requests: 0,
  match_rate: null,
  platform: undefined,
  timings_ms: { plan: 12, push: 0, total: 12 },
} satisfies Parameters<typeof writeRun>[2];

export async function seedConsoleStore(store: ObjectStore, configPath: string): Promise<AudienceManifest> {
  await writeRun(store, addDays(LAST_DAY, -3), { match_rate: 0.61 });
  await writeRun(store, addDays(LAST_DAY, -2), {
    match_rate: 0.58,
    emailCoverage: 0.82,
    rejected_by_code: { '2650': 7 },
    rejected_sample: [{ customer_id: 'c0042', op: 'add', code: '2650', reason: 'invalid row' }],
    resumed: [{ at: `${addDays(LAST_DAY, -2)}T06:03:00.000Z`, next_batch: 1, possibly_repeated_batches: 1 }],
  });
  await writeRun(store, addDays(LAST_DAY, -1), {
    status: 'failed',
    match_rate: null,
    error: { kind: 'auth', code: 190, message: 'token expired' },
  });

  // The last day, built for real from raw people and events.
  const ts = `${LAST_DAY}T10:00:00.000Z`;
  const people = [
    {
      customer_id: CANARY.customer_id,
      email: CANARY.email,
      phone: CANARY.phone,
      first_name: CANARY.first_name,
      ts,
    },
    ...Array.from({ length: 40 }, (_, i) => ({
      customer_id: `p${String(i).padStart(3, '0')}`,
      email: `person${i}@example.com`,
      ts,
    })),
  ];
  await writeCheckoutDay(store, LAST_DAY, people);
  const loaded = await loadAudienceSyncConfig(configPath, {});
  const built = await buildAudiences({ store, config: loaded.config, day: LAST_DAY });
  // The measure stage of the last day: a lift report (JSON and HTML) for the audience with a holdout.
  const measured = await runMeasureStage({
    store,
    audiences: loaded.config.audiences.filter((a) => a.holdout),
    asOf: LAST_DAY,
  });
  if (measured[0]?.status !== 'written') throw new Error(`no lift report: ${JSON.stringify(measured[0])}`);
  // The closed day compacted, as the refresh does: the overview shows its compaction.
  for (const dataset of ['events', 'people'] as const) await compactDay({ store, dataset, day: LAST_DAY });
  await writeRun(store, LAST_DAY, { match_rate: 0.64 });
  // A forced second attempt of the last day that the remove-share guard stopped: the latest run.
  await writeRun(store, LAST_DAY, BLOCKED_RUN);
  // Earlier days' manifests, written after the build so it does not look for their members.
  for (const [day, sizes] of Object.entries(EARLIER)) {
    const m = manifestFor(day);
    m.counts = {
      ...m.counts,
      treatment: sizes.treatment,
      holdout: sizes.holdout,
      selected: sizes.treatment + sizes.holdout,
    };
    await writeJson(store, keys.manifest(AUDIENCE, day), m);
    // Members files as the build writes them (empty here): the engine's explain reads the previous
    // day's members for `entered`.
    await writeJsonl(store, keys.members(AUDIENCE, day), []);
  }

  // A quarantined person: the canary again, with a bad phone. Only the reason code and the count may
  // show; the record and the message (which quotes the value) never.
  await writeJsonl(store, keys.quarantinePart('people', LAST_DAY, 'q-canary'), [
    {
      dataset: 'people',
      rejected: false,
      reasons: [{ code: 'bad_phone', path: 'phone', message: `not a phone number: ${CANARY.phone}x` }],
      record: { customer_id: CANARY.customer_id, email: CANARY.email, first_name: CANARY.first_name },
      received_at: `${LAST_DAY}T10:00:00.000Z`,
    },
  ]);
  // Today's first parts (arrived 5 minutes ago), then the day profiles a health run keeps.
  await seedToday(store, new Date());
  for (const dataset of ['events', 'people'] as const) {
    await profileDay(store, dataset, LAST_DAY);
    await profileDay(store, dataset, today());
  }

  const state: AlertState = {
    version: 1,
    updated_at: `${LAST_DAY}T12:00:00.000Z`,
    alerts: {
      [ALERT_ID]: {
        id: ALERT_ID,
        kind: 'destination_failing',
        severity: 'critical',
        subject: { destination: DESTINATION },
        message: `${AUDIENCE}: auth (190)`,
        status: 'firing',
        fired_at: `${addDays(LAST_DAY, -1)}T07:00:00.000Z`,
        last_seen_at: `${LAST_DAY}T12:00:00.000Z`,
        notified: {},
      },
      'freshness:people': {
        id: 'freshness:people',
        kind: 'freshness',
        severity: 'critical',
        subject: { dataset: 'people' },
        message: 'old news',
        status: 'resolved',
        fired_at: `${addDays(LAST_DAY, -2)}T07:00:00.000Z`,
        last_seen_at: `${addDays(LAST_DAY, -2)}T08:00:00.000Z`,
        resolved_at: `${addDays(LAST_DAY, -2)}T08:00:00.000Z`,
        notified: {},
      },
    },
  };
  await writeJson(store, 'health/alerts.json', state);
  return built.audiences.find((a) => a.audience === AUDIENCE)!;
}

/** The run's Redis: provided by the main suite's global setup; the browser suite has none. */
function redisUrl(): string {
  let url: string | undefined;
  try {
    url = inject('redisUrl');
  } catch {
    url = undefined;
  }
  return url ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

export interface ConsoleHarness {
  app: App;
  store: ObjectStore;
  latest: AudienceManifest;
  prefix: string;
  queueRedis: Redis;
  close(): Promise<void>;
}

/** The app with the operator surface (and the queue) over a seeded store. */
export async function startConsoleApp(options: { pipeline?: boolean } = {}): Promise<ConsoleHarness> {
  const t: TestStore = await createFsTestStore();
  const dir = await mkdtemp(join(tmpdir(), 'console-config-'));
  const configPath = join(dir, 'audience-sync.yaml');
  await writeFile(configPath, CONFIG_YAML);
  const latest = await seedConsoleStore(t.store, configPath);
  const prefix = uniqueName('consoletest');
  const env = parseEnv({
    CONFIG: configPath,
    ADMIN_API_KEYS: `other-admin-key,${ADMIN_KEY}`,
    API_KEYS: 'ingest-key',
    QUEUE_PREFIX: prefix,
    REDIS_URL: redisUrl(),
    CONSOLE_SESSION_SECRET: SECRET,
  });
  const redis = testRedis(redisUrl());
  const queueRedis = createBullConnection(redisUrl());
  const app = await buildApp({
    env,
    store: t.store,
    redis,
    redisPrefix: `${prefix}-ingest`,
    logger: createLogger({ level: 'silent' }),
    operator: {
      loadConfig: () => loadAudienceSyncConfig(configPath, {}),
      ...(options.pipeline === false ? {} : { pipeline: { connection: queueRedis, prefix } }),
    },
  });
  return {
    app,
    store: t.store,
    latest,
    prefix,
    queueRedis,
    async close() {
      await app.close();
      await deletePrefix(redis, prefix);
      redis.disconnect();
      queueRedis.disconnect();
      await t.cleanup();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Signs in through the form and returns the cookie header value and a CSRF token from a page. */
export async function signIn(app: App, key = ADMIN_KEY): Promise<{ cookie: string; csrf: string }> {
  const res = await app.inject({
    method: 'POST',
    url: '/console/sign-in',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ key }).toString(),
  });
  if (res.statusCode !== 303) throw new Error(`sign-in answered ${res.statusCode}`);
  const setCookie = String(res.headers['set-cookie']);
  const cookie = setCookie.split(';')[0]!;
  const page = await app.inject({ method: 'GET', url: '/console', headers: { cookie } });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
  if (!csrf) throw new Error('no CSRF token on the overview page');
  return { cookie, csrf };
}

/**
 * What a console action hands to: pipeline workers with the console's configuration, sending to a
 * fake Meta whose token that configuration reads from CONSOLE_TEST_META_TOKEN.
 */
export interface WorkerRig {
  fake: FakeMeta;
  start(h: ConsoleHarness): Promise<void>;
  /** Polls until `current` returns a completed or failed run (or about two minutes pass). */
  waitForRun(
    h: ConsoleHarness,
    current: () => Promise<string | undefined>,
  ): Promise<SyncRunRecord | undefined>;
  /** The day's treatment members' hashed emails (expected), and what the fake Meta holds (held). */
  audienceOf(h: ConsoleHarness, day: string): Promise<{ expected: string[]; held: string[] }>;
  close(): Promise<void>;
}

export async function startWorkerRig(): Promise<WorkerRig> {
  const fake = await startFakeMeta();
  const saved = process.env.CONSOLE_TEST_META_TOKEN;
  process.env.CONSOLE_TEST_META_TOKEN = fake.state.token;
  const dir = await mkdtemp(join(tmpdir(), 'console-worker-'));
  let workers: RunningWorkers | undefined;
  return {
    fake,
    async start(h) {
      const configPath = join(dir, 'audience-sync.yaml');
      await writeFile(configPath, CONFIG_YAML);
      workers = await startWorkers({
        connection: h.queueRedis,
        prefix: h.prefix,
        env: parseEnv({ CONFIG: configPath, QUEUE_PREFIX: h.prefix, META_GRAPH_URL: fake.url }),
        store: h.store,
        log: createLogger({ level: 'silent' }),
      });
    },
    async waitForRun(h, current) {
      let record: SyncRunRecord | undefined;
      for (let i = 0; i < 480 && record?.status !== 'completed' && record?.status !== 'failed'; i++) {
        await new Promise((r) => setTimeout(r, 250));
        const key = await current();
        record = key ? await readJsonIfExists<SyncRunRecord>(h.store, key) : undefined;
      }
      return record;
    },
    async audienceOf(h, day) {
      const treatment = new Set<string>();
      for await (const m of readMembers(h.store, AUDIENCE, day)) {
        if (m.group === 'treatment') treatment.add(m.customer_id);
      }
      const expected: string[] = [];
      for await (const p of readPeopleSnapshot(h.store, day)) {
        const email = treatment.has(p.customer_id) ? metaConnector.matchKeys(p)?.email : undefined;
        if (email) expected.push(email);
      }
      const audience = [...fake.state.audiences.values()].find((a) => !a.deleted);
      const held = [...(audience?.members.values() ?? [])].map((m) => m.EMAIL!).filter(Boolean);
      return { expected: expected.sort(), held: held.sort() };
    },
    async close() {
      await workers?.close(5_000);
      await fake.close();
      await rm(dir, { recursive: true, force: true });
      if (saved === undefined) delete process.env.CONSOLE_TEST_META_TOKEN;
      else process.env.CONSOLE_TEST_META_TOKEN = saved;
    },
  };
}
