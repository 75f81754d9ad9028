import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { googleAdsConnector } from '../../connectors/google-ads/index.js';
import { metaConnector } from '../../connectors/meta/index.js';
import { tiktokConnector } from '../../connectors/tiktok/index.js';
import { buildApp } from '../../src/api/app.js';
import { compactDay } from '../../src/compaction/compact.js';
import { parseEnv } from '../../src/config/env.js';
import { loadAudienceSyncConfig } from '../../src/config-file.js';
import { Engine, sqlString } from '../../src/engine/duckdb.js';
import { drainBuffers } from '../../src/export/drain.js';
import { createLogger } from '../../src/log.js';
import { createBullConnection } from '../../src/pipeline/redis.js';
import { runBuildStage, runPeopleStage, runSyncStage, type StageContext } from '../../src/pipeline/stages.js';
import { syncTargets } from '../../src/pipeline/targets.js';
import { type RunningWorkers, startWorkers } from '../../src/pipeline/worker.js';
import type { ErasureRecord } from '../../src/privacy/erasure.js';
import { hashCustomerId, hashEmail, hashPhone } from '../../src/privacy/identifiers.js';
import { writeJsonl } from '../../src/storage/jsonl.js';
import { keys } from '../../src/storage/keys.js';
import { listKeys, type ObjectStore } from '../../src/storage/object-store.js';
import { startFakeCustomerio } from '../fakes/customerio.js';
import { startFakeGoogleAds } from '../fakes/google-ads.js';
import { startFakeMeta } from '../fakes/meta.js';
import { startFakeTiktok } from '../fakes/tiktok.js';
import {
  createFsTestStore,
  createS3TestStore,
  TEST_S3_CREDENTIALS,
  type TestStore,
} from '../helpers/stores.js';
import { SIGNING_KEY, signedHeaders, uniquePrefix } from '../ingest/harness.js';

/**
 * Erasure end to end (docs/privacy.md), on both stores: a person with a known email and phone is
 * ingested through the API with five others, exported, built, synced to the Meta, Google Ads and
 * TikTok fakes and written back to the Customer.io fake (and a dry run leaves request bodies in the
 * outbox), then erased through `POST /v1/privacy/erasures` and a worker. Afterwards no object in the
 * store holds their customer id, email or phone in plain form, and their platform hashes only under
 * `privacy/` (the audit entry and the suppression list); every fake received the removal; the
 * others are untouched; and a late webhook about them is refused.
 */
const DAY = '2026-11-20';
const TS = `${DAY}T10:00:00.000Z`;
const TARGET = {
  customer_id: 'zq-erase-target-31',
  email: 'Erase.Me.Person@Example.org',
  phone: '+14155550123',
};
const OTHERS = Array.from({ length: 5 }, (_, i) => ({
  customer_id: `keep-${i}`,
  email: `keep.${i}@example.com`,
  phone: `+1415555010${i}`,
}));
const ADMIN = 'erasure-admin-key-0123456789';

const CONFIG = `
version: 1
destinations:
  meta: { type: meta, ad_account_id: act_1, access_token: "\${E2E_META_TOKEN}" }
  google:
    type: google_ads
    customer_id: "1234567890"
    developer_token: "\${E2E_GOOGLE_DEV}"
    client_id: "\${E2E_GOOGLE_ID}"
    client_secret: "\${E2E_GOOGLE_SECRET}"
    refresh_token: "\${E2E_GOOGLE_REFRESH}"
    poll_interval_seconds: 1
  tiktok: { type: tiktok, advertiser_id: "7000000000", access_token: "\${E2E_TIKTOK_TOKEN}" }
  cio: { type: customerio, site_id: "\${E2E_CIO_SITE}", api_key: "\${E2E_CIO_KEY}" }
audiences:
  - id: buyers
    type: segment
    when: { event: order_completed, within_days: 30 }
    sync: [meta, google, tiktok]
    write_back: { destination: cio, attributes: { paid_group: group } }
schedule: { timezone: UTC }
`;

/** The hashed match keys that single a person out, as each platform is sent them. */
function identifyingHashes(person: Parameters<typeof metaConnector.matchKeys>[0]): string[] {
  const out = new Set<string>();
  for (const connector of [metaConnector, googleAdsConnector, tiktokConnector]) {
    const found = (connector.matchKeys as (p: typeof person) => Record<string, unknown> | null)(person);
    for (const kind of ['email', 'phone', 'external_id', 'maid']) {
      const value = found?.[kind];
      if (typeof value === 'string' && /^[0-9a-f]{64}$/.test(value)) out.add(value);
    }
  }
  return [...out];
}

/** Every string in a JSON value. */
function stringsOf(value: unknown, out = new Set<string>()): Set<string> {
  if (typeof value === 'string') out.add(value);
  else if (Array.isArray(value)) for (const v of value) stringsOf(v, out);
  else if (value !== null && typeof value === 'object')
    for (const v of Object.values(value)) stringsOf(v, out);
  return out;
}

/** Every object as text: gunzipped, Parquet rows as JSON through the SQL engine. */
async function objectTexts(store: ObjectStore, engine: Engine, dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const key of await listKeys(store, '')) {
    const bytes = await store.get(key);
    if (key.endsWith('.parquet')) {
      const local = join(dir, 'read.parquet');
      await writeFile(local, bytes);
      const rows = await engine.all<{ j: string }>(
        `SELECT to_json(t)::VARCHAR AS j FROM read_parquet(${sqlString(local)}) t`,
      );
      out.set(key, rows.map((r) => r.j).join('\n'));
    } else out.set(key, (key.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8'));
  }
  return out;
}

describe.each([
  { kind: 'fs', create: createFsTestStore },
  { kind: 's3', create: createS3TestStore },
] as const)('erasure end to end ($kind store)', ({ kind, create }) => {
  let t: TestStore & { bucket?: string; endpoint?: string };
  let dir: string;
  let workers: RunningWorkers | undefined;
  const prefix = uniquePrefix('erasure');
  const ingestPrefix = `${prefix}-ingest`;
  const fakes = {} as {
    meta: Awaited<ReturnType<typeof startFakeMeta>>;
    google: Awaited<ReturnType<typeof startFakeGoogleAds>>;
    tiktok: Awaited<ReturnType<typeof startFakeTiktok>>;
    cio: Awaited<ReturnType<typeof startFakeCustomerio>>;
  };

  beforeAll(async () => {
    fakes.meta = await startFakeMeta();
    fakes.google = await startFakeGoogleAds();
    fakes.tiktok = await startFakeTiktok();
    fakes.cio = await startFakeCustomerio();
    Object.assign(process.env, {
      E2E_META_TOKEN: fakes.meta.state.token,
      E2E_GOOGLE_DEV: fakes.google.credentials.developer_token,
      E2E_GOOGLE_ID: fakes.google.credentials.client_id,
      E2E_GOOGLE_SECRET: fakes.google.credentials.client_secret,
      E2E_GOOGLE_REFRESH: fakes.google.credentials.refresh_token,
      E2E_TIKTOK_TOKEN: fakes.tiktok.state.token,
      E2E_CIO_SITE: fakes.cio.state.siteId,
      E2E_CIO_KEY: fakes.cio.state.apiKey,
    });
    t = await create();
    dir = await mkdtemp(join(tmpdir(), 'erasure-e2e-'));
  });
  afterAll(async () => {
    await workers?.close(5_000);
    for (const f of Object.values(fakes)) await f?.close();
    await t?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('erases a person everywhere, and nothing about them comes back', async () => {
    const configPath = join(dir, 'audience-sync.yaml');
    await writeFile(configPath, CONFIG);
    const env = parseEnv({
      CONFIG: configPath,
      ...(kind === 's3'
        ? {
            STORE_URL: `s3://${t.bucket}/acme/test`,
            S3_ENDPOINT: t.endpoint!,
            AWS_ACCESS_KEY_ID: TEST_S3_CREDENTIALS.accessKeyId,
            AWS_SECRET_ACCESS_KEY: TEST_S3_CREDENTIALS.secretAccessKey,
          }
        : {}),
      REDIS_URL: inject('redisUrl'),
      API_KEYS: 'ingest-key',
      ADMIN_API_KEYS: ADMIN,
      CIO_WEBHOOK_SIGNING_KEYS: SIGNING_KEY,
      QUEUE_PREFIX: prefix,
      META_GRAPH_URL: fakes.meta.url,
      GOOGLE_ADS_API_URL: fakes.google.url,
      GOOGLE_OAUTH_TOKEN_URL: fakes.google.tokenUrl,
      TIKTOK_API_URL: fakes.tiktok.url,
      CIO_TRACK_URL: fakes.cio.url,
      LOG_LEVEL: 'silent',
    });
    const log = createLogger({ level: 'silent' });
    const redis = new Redis(env.REDIS_URL);
    const connection = createBullConnection(env.REDIS_URL);
    const pipeline = { connection, prefix };
    const app = await buildApp({
      env,
      store: t.store,
      redis,
      redisPrefix: ingestPrefix,
      logger: log,
      operator: { loadConfig: () => loadAudienceSyncConfig(configPath), pipeline },
    });
    try {
      // 1. Ingest through the API, export, people, build, compact the day, sync everywhere.
      const everyone = [TARGET, ...OTHERS];
      const identify = await app.inject({
        method: 'POST',
        url: '/v1/identify',
        headers: { authorization: 'Bearer ingest-key' },
        payload: { batch: everyone.map((p) => ({ ...p, country: 'US', timestamp: TS })) },
      });
      expect(identify.statusCode).toBe(202);
      const track = await app.inject({
        method: 'POST',
        url: '/v1/track',
        headers: { authorization: 'Bearer ingest-key' },
        payload: {
          batch: everyone.map((p, i) => ({
            id: `order-${i}`,
            customer_id: p.customer_id,
            name: 'order_completed',
            data: { value: 20 + i, contact: p.email },
            timestamp: TS,
          })),
        },
      });
      expect(track.json()).toMatchObject({ accepted: everyone.length, rejected: 0 });
      await drainBuffers({ redis, store: t.store, prefix: ingestPrefix });
      const ctx: StageContext = {
        store: t.store,
        loaded: await loadAudienceSyncConfig(configPath),
        env,
        log,
      };
      await runPeopleStage(ctx, DAY);
      await runBuildStage(ctx, DAY);
      await compactDay({ store: t.store, dataset: 'events', day: DAY });
      // Built again over the compacted day: the relevant-record cache gets its entry (their rows).
      await runBuildStage(ctx, DAY);
      const cached = await listKeys(t.store, keys.relevantCachePrefix());
      expect(cached).toHaveLength(1);
      // And the people cache its entry of the day's snapshot (their email among the rows).
      const people = await listKeys(t.store, keys.peopleCachePrefix());
      expect(people).toHaveLength(1);
      cached.push(...people);
      // A quarantined line that quotes their phone, as the export writes one.
      await writeJsonl(t.store, keys.quarantinePart('people', DAY, 'q-erase'), [
        {
          dataset: 'people',
          rejected: false,
          reasons: [{ code: 'bad_phone', path: 'phone', message: `not a phone number: ${TARGET.phone}x` }],
          record: { customer_id: TARGET.customer_id, email: TARGET.email },
          received_at: TS,
        },
      ]);
      for (const target of syncTargets(ctx.loaded.config.audiences)) {
        const run = await runSyncStage(ctx, { day: DAY, target, runId: DAY, finalizeWaitMs: 60_000 });
        expect(run.status, `${target.destination}: ${JSON.stringify(run.error)}`).toBe('completed');
      }
      // A dry run's request bodies in the outbox (hashed keys of everyone).
      const meta = syncTargets(ctx.loaded.config.audiences).find((x) => x.destination === 'meta')!;
      await runSyncStage(ctx, { day: DAY, target: meta, runId: `${DAY}-dry`, dryRun: true, replace: true });

      const targetPerson = { ...TARGET, country: 'US', ts: TS };
      const metaEmail = metaConnector.matchKeys(targetPerson)!.email!;
      const googleEmail = googleAdsConnector.matchKeys(targetPerson)!.email!;
      const tiktokEmail = tiktokConnector.matchKeys(targetPerson)!.email!;
      const metaHeld = () =>
        [...fakes.meta.state.audiences.values()].flatMap((a) => [...a.members.values()].map((m) => m.EMAIL));
      const googleHeld = () => [...fakes.google.state.lists.values()].flatMap((l) => [...l.members]);
      const tiktokHeld = () => [...fakes.tiktok.state.audiences.values()].flatMap((a) => [...a.members]);
      expect(metaHeld()).toContain(metaEmail);
      expect(googleHeld()).toContain(`hashedEmail:${googleEmail}`);
      expect(tiktokHeld().some((m) => m.includes(tiktokEmail))).toBe(true);
      expect(fakes.cio.state.people.get(TARGET.customer_id)).toMatchObject({ paid_group: 'treatment' });
      const others = {
        meta: metaHeld().length - 1,
        google: googleHeld().length,
        tiktok: tiktokHeld().length,
      };

      // Every object before the erasure, to hold the others' records against afterwards.
      const engine = await Engine.open();
      const before = await objectTexts(t.store, engine, dir);
      const beforeBytes = new Map<string, Buffer>();
      for (const key of before.keys()) beforeBytes.set(key, await t.store.get(key));

      // 2. Erase by email through the API; a worker runs the job.
      const requested = await app.inject({
        method: 'POST',
        url: '/v1/privacy/erasures',
        headers: { authorization: `Bearer ${ADMIN}` },
        payload: { email: TARGET.email },
      });
      expect(requested.statusCode).toBe(202);
      expect(requested.body).not.toContain(TARGET.email);
      const id = requested.json().id as string;
      workers = await startWorkers({ connection, prefix, env, store: t.store, log });
      const finished = async (erasureId: string) => {
        let r: ErasureRecord | undefined;
        for (let i = 0; i < 600 && r?.status !== 'completed' && r?.status !== 'no_match'; i++) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          const res = await app.inject({
            method: 'GET',
            url: `/v1/privacy/erasures/${erasureId}`,
            headers: { authorization: `Bearer ${ADMIN}` },
          });
          r = res.json() as ErasureRecord;
        }
        return r;
      };
      const record = await finished(id);
      expect(record?.status, JSON.stringify(record)).toBe('completed');

      // 3. The audit entry is complete: id, when it was asked, what was named and everything they
      // were known by (hashed), each platform's confirmation, each rewritten object, when it ended.
      expect(record!.id).toBe(id);
      expect(record!.source).toBe('api');
      expect(record!.requested).toEqual({ customer_id: [], email: [hashEmail(TARGET.email)], phone: [] });
      expect(record!.matched).toEqual({
        customer_id: [hashCustomerId(TARGET.customer_id)],
        email: [hashEmail(TARGET.email)],
        phone: [hashPhone(TARGET.phone)],
        people: 1,
      });
      // Their identifying platform keys, not the country every other row carries too.
      expect([...record!.platform_hashes!].sort()).toEqual(identifyingHashes(targetPerson).sort());
      const times = [
        record!.requested_at,
        record!.resolved_at,
        record!.suppressed_at,
        record!.removals_done_at,
        record!.rewrite_done_at,
        record!.completed_at,
      ];
      for (const time of times) expect(time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect([...times].sort()).toEqual(times);
      for (const p of record!.platforms!) {
        expect(
          p.confirmed_at! >= record!.suppressed_at! && p.confirmed_at! <= record!.removals_done_at!,
        ).toBe(true);
        expect(p.requests).toBeGreaterThan(0);
      }
      for (const o of record!.objects_rewritten) expect(o.removed, o.key).toBeGreaterThan(0);
      expect(record!.objects_scanned).toBeGreaterThan(record!.objects_rewritten.length);
      expect(
        record!.platforms!.map((p) => `${p.audience_id}→${p.destination}:${p.status}:${p.removed}`).sort(),
      ).toEqual([
        'buyers→cio:completed:1',
        'buyers→google:completed:1',
        'buyers→meta:completed:1',
        'buyers→tiktok:completed:1',
      ]);
      const rewritten = record!.objects_rewritten.map((o) => o.key);
      for (const part of [
        'raw/people/',
        'raw/events/',
        'people/dt=',
        'audiences/buyers/',
        'quarantine/',
        'outbox/',
      ]) {
        expect(
          rewritten.some((k) => k.startsWith(part)),
          part,
        ).toBe(true);
      }
      expect(rewritten.some((k) => k.endsWith('.parquet'))).toBe(true);
      // The platform removals took them out of the ledgers: nothing was left there to rewrite.
      expect(rewritten.filter((k) => k.startsWith('sync/'))).toEqual([]);

      // 4. Every fake received the removal; the others are still there.
      expect(metaHeld()).not.toContain(metaEmail);
      expect(metaHeld()).toHaveLength(others.meta);
      expect(googleHeld()).not.toContain(`hashedEmail:${googleEmail}`);
      expect(googleHeld().length).toBeLessThan(others.google);
      expect(tiktokHeld().some((m) => m.includes(tiktokEmail))).toBe(false);
      expect(tiktokHeld().length).toBeLessThan(others.tiktok);
      expect(fakes.cio.state.people.get(TARGET.customer_id)?.paid_group ?? '').toBe('');
      expect(fakes.cio.state.people.get(OTHERS[0]!.customer_id)).toMatchObject({ paid_group: 'treatment' });
      for (const f of Object.values(fakes)) expect(f.state.shapeErrors).toEqual([]);

      // 5. No object holds them in plain form; their hashes only under privacy/.
      const plain = [
        TARGET.customer_id,
        TARGET.email,
        TARGET.email.toLowerCase(),
        TARGET.phone,
        TARGET.phone.slice(1),
      ];
      const hashes = [
        ...new Set([
          metaEmail,
          googleEmail,
          tiktokEmail,
          ...identifyingHashes(targetPerson),
          ...record!.matched!.customer_id,
          ...record!.matched!.email,
          ...record!.matched!.phone,
        ]),
      ];
      expect(hashes.length).toBeGreaterThanOrEqual(4);
      const aboutThem = (text: string) => [...plain, ...hashes].some((n) => text.includes(n));
      try {
        const texts = await objectTexts(t.store, engine, dir);
        for (const [key, text] of texts) {
          for (const value of plain) expect(text.includes(value), `${value} in ${key}`).toBe(false);
          if (key.startsWith('privacy/')) continue;
          for (const h of hashes) expect(text.includes(h), `a hash of theirs in ${key}`).toBe(false);
        }

        // 6. Nobody else's records changed. An object that did not hold them is the same byte for
        // byte; one that did (rewritten, or a ledger the platform removal updated) holds every other
        // record it held, unchanged and in order; nothing was deleted. The others' state and
        // compaction manifest (row count) may change; new objects are the erasure's own.
        const mayChange = (key: string) =>
          key.endsWith('/state.json') || key === `raw/events/dt=${DAY}/_compacted.json`;
        const lines = (text: string) => text.split('\n').filter((l) => l !== '');
        const changed: string[] = [];
        for (const [key, bytes] of beforeBytes) {
          const now = texts.has(key) ? await t.store.get(key) : undefined;
          // The relevant-record and people caches are derived: the erasure deletes them whole, nothing else.
          if (cached.includes(key)) {
            expect(now, `${key} was kept`).toBeUndefined();
            continue;
          }
          expect(now, `${key} was deleted`).toBeDefined();
          if (now!.equals(bytes)) continue;
          changed.push(key);
          if (mayChange(key)) continue;
          const was = before.get(key)!;
          expect(aboutThem(was), `${key} changed but did not hold them`).toBe(true);
          if (key.endsWith('.json')) {
            // A request body lost their rows, and nothing that was anybody else's.
            const kept = stringsOf(JSON.parse(texts.get(key)!));
            for (const v of stringsOf(JSON.parse(was))) {
              if (!aboutThem(v)) expect(kept.has(v), `${key} lost ${v}`).toBe(true);
            }
          } else {
            expect(lines(texts.get(key)!), key).toEqual(lines(was).filter((l) => !aboutThem(l)));
          }
        }
        expect(changed.filter((k) => !mayChange(k)).sort()).toEqual(
          [...rewritten, ...['cio', 'google', 'meta', 'tiktok'].map((d) => keys.ledger(d, 'buyers'))].sort(),
        );
        for (const key of texts.keys()) {
          if (before.has(key)) continue;
          expect(
            key.startsWith('privacy/') || /^sync\/\w+\/buyers\/runs\/erasure-/.test(key),
            `new object ${key}`,
          ).toBe(true);
        }
        // The others are still in the store, everywhere they were.
        expect([...texts.values()].some((text) => text.includes(OTHERS[0]!.email))).toBe(true);
      } finally {
        engine.close();
      }

      // 7. A late webhook about them is refused.
      const late = JSON.stringify({
        event_id: '01HLATEWEBHOOK0001',
        object_type: 'email',
        metric: 'opened',
        timestamp: Math.floor(Date.parse(TS) / 1000) + 3600,
        data: {
          identifiers: { id: TARGET.customer_id, email: TARGET.email, cio_id: 'cio-late' },
          delivery_id: 'dlv-late',
          campaign_id: 12,
          action_id: 34,
        },
      });
      // The API reloads the list every 30 s; the test does not wait for it.
      app.suppression.invalidate();
      const refused = await app.inject({
        method: 'POST',
        url: '/v1/webhooks/customerio',
        headers: signedHeaders(late),
        payload: late,
      });
      expect(refused.json()).toMatchObject({ status: 'rejected', code: 'erased_person' });
      expect(refused.body).not.toContain(TARGET.email);

      // 8. Someone nobody knows is "no person matched", not a silent success; asking again for
      // them says who erased them.
      const ask = async (payload: Record<string, string>) => {
        const res = await app.inject({
          method: 'POST',
          url: '/v1/privacy/erasures',
          headers: { authorization: `Bearer ${ADMIN}` },
          payload,
        });
        expect(res.statusCode).toBe(202);
        return (await finished(res.json().id as string))!;
      };
      const nobody = await ask({ email: 'nobody.here@example.net', phone: '+14155550999' });
      expect(nobody).toMatchObject({ status: 'no_match', objects_rewritten: [] });
      expect(nobody.message).toMatch(/^no person matched/);
      expect(nobody.platforms).toBeUndefined();
      const again = await ask({ customer_id: TARGET.customer_id });
      expect(again).toMatchObject({
        status: 'completed',
        message: `already erased by ${id}: nothing left to change`,
      });
    } finally {
      await app.close();
      redis.disconnect();
      const left = await connection.keys(`${prefix}*`);
      if (left.length) await connection.del(...left);
      connection.disconnect();
    }
  }, 240_000);
});
