import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rowConsent } from '../../connectors/core/consent.js';
import { ConnectorConfigError } from '../../connectors/core/errors.js';
import { sha256Hex } from '../../connectors/core/normalize.js';
import type { SyncRow } from '../../connectors/core/types.js';
import { openDestination } from '../../connectors/open.js';
import { listKeys, readJson } from '../../src/storage/object-store.js';
import { storeOutbox } from '../../src/storage/outbox.js';
import { startFakeGoogleAds } from '../fakes/google-ads.js';
import { type FakeMeta, startFakeMeta } from '../fakes/meta.js';
import { STORE_KINDS, type TestStore } from '../helpers/stores.js';
import { people, person, rawValues, silentLog } from './helpers.js';

interface OutboxFile {
  destination: string;
  platform: string;
  audience_id: string;
  op: string;
  rows: number;
  requests: Array<{ method: string; path: string; body?: unknown; query?: Record<string, string> }>;
}

describe.each(STORE_KINDS)('dry-run destination on $kind', ({ create }) => {
  let t: TestStore;
  let meta: FakeMeta;

  beforeEach(async () => {
    t = await create();
    meta = await startFakeMeta();
  });
  afterEach(async () => {
    await meta.close();
    await t.cleanup();
  });

  it('writes exactly the bodies the real Meta connector sends, and no credentials', async () => {
    const block = {
      type: 'meta',
      ad_account_id: 'act_77',
      access_token: meta.state.token,
      limited_data_use: true,
    };
    const real = openDestination({
      name: 'meta',
      config: block,
      env: { META_GRAPH_URL: meta.url },
      log: silentLog,
    });
    const dry = openDestination({
      name: 'meta',
      config: block,
      env: {},
      log: silentLog,
      dryRun: storeOutbox(t.store, 'run-42'),
    });
    expect(dry.dryRun).toBe(true);
    expect(dry.connector.id).toBe('dry_run');
    expect(dry.type).toBe('meta');
    expect(dry.batchSize).toBe(10_000);
    expect(dry.capabilities.replaceStrategy).toBe('session');

    const persons = [...people(3), person('empty')];
    const realAudience = await real.ensureAudience({ audienceId: 'high_intent', name: 'High intent' });
    const rowsFor = (d: typeof real): SyncRow[] =>
      persons.map((p) => ({ key: p.customer_id, keys: d.matchKeys(p) ?? {} }));
    const realResult = await real.push({
      audienceId: 'high_intent',
      platformAudienceId: realAudience.platformAudienceId,
      op: 'remove',
      rows: rowsFor(real),
    });

    // ensureAudience writes the creation request and answers a placeholder id; it asks nothing.
    const requestsBefore = meta.requests.length;
    const dryAudience = await dry.ensureAudience({ audienceId: 'high_intent', name: 'High intent' });
    expect(dryAudience).toEqual({ platformAudienceId: 'DRY_RUN_high_intent', created: true });
    // An audience the engine already knows is pushed to by its id, as the real connector would.
    const dryResult = await dry.push({
      audienceId: 'high_intent',
      platformAudienceId: realAudience.platformAudienceId,
      op: 'remove',
      rows: rowsFor(dry),
    });
    expect(dryResult.rows).toEqual(realResult.rows);
    expect(meta.requests).toHaveLength(requestsBefore);

    const files = await listKeys(t.store, 'outbox/');
    expect(files).toEqual([
      'outbox/meta/high_intent/run-42/000000-ensure-audience.json',
      'outbox/meta/high_intent/run-42/000001-remove.json',
    ]);
    const ensured = await readJson<OutboxFile>(t.store, files[0]!);
    const create = meta.requests.find((r) => r.method === 'POST' && r.path.endsWith('/customaudiences'))!;
    expect(ensured).toMatchObject({ op: 'ensure_audience', platform: 'meta', rows: 0 });
    expect(ensured.requests).toEqual([{ method: create.method, path: create.path, body: create.body }]);
    const written = await readJson<OutboxFile>(t.store, files[1]!);
    const sent = meta.requests.at(-1)!;
    expect(written).toMatchObject({
      destination: 'meta',
      platform: 'meta',
      audience_id: 'high_intent',
      op: 'remove',
      rows: 3,
    });
    expect(written.requests).toEqual([{ method: sent.method, path: sent.path, body: sent.body }]);
    const everything = (await Promise.all(files.map((k) => t.store.get(k)))).join('\n');
    expect(everything).not.toContain(meta.state.token);
    for (const raw of rawValues(persons)) expect(everything).not.toContain(raw);
  });

  it('emulates Google jobs (create, addOperations) and numbers batches through the session', async () => {
    const google = await startFakeGoogleAds();
    try {
      const block = {
        type: 'google_ads',
        customer_id: '1234567890',
        developer_token: '${GOOGLE_ADS_DEVELOPER_TOKEN}',
        refresh_token: '${MISSING}',
      };
      const dry = openDestination({
        name: 'google',
        config: block,
        env: {},
        log: silentLog,
        dryRun: storeOutbox(t.store, 'r1'),
      });
      const aud = await dry.ensureAudience({ audienceId: 'aud', name: 'Aud' });
      expect(aud.platformAudienceId).toBe('customers/1234567890/userLists/DRY_RUN_aud');
      const persons = people(3).map((p, i) => ({
        ...p,
        consent: i === 0 ? { ad_user_data: 'granted' as const, ad_personalization: 'granted' as const } : {},
      }));
      const rows = persons.map((p) => ({
        key: p.customer_id,
        keys: dry.matchKeys(p) ?? {},
        consent: rowConsent(p),
      }));
      const first = await dry.push({
        audienceId: 'aud',
        platformAudienceId: aud.platformAudienceId,
        op: 'add',
        rows: rows.slice(0, 2),
      });
      const second = await dry.push({
        audienceId: 'aud',
        platformAudienceId: aud.platformAudienceId,
        op: 'add',
        rows: rows.slice(2),
        session: first.session!,
      });
      const files = await listKeys(t.store, 'outbox/google/aud/r1/');
      expect(files.map((k) => k.split('/').at(-1))).toEqual([
        '000000-ensure-audience.json',
        '000001-add.json',
        '000002-add.json',
      ]);
      const one = await readJson<OutboxFile>(t.store, files[1]!);
      expect(one.requests.map((r) => r.path)).toEqual([
        '/v24/customers/1234567890/offlineUserDataJobs:create',
        '/v24/customers/1234567890/offlineUserDataJobs/DRY_RUN_1:addOperations',
        '/v24/customers/1234567890/offlineUserDataJobs:create',
        '/v24/customers/1234567890/offlineUserDataJobs/DRY_RUN_2:addOperations',
      ]);
      // The second batch reuses the open UNSPECIFIED job: no new job creation.
      const two = await readJson<OutboxFile>(t.store, files[2]!);
      expect(two.requests.map((r) => r.path)).toEqual([
        '/v24/customers/1234567890/offlineUserDataJobs/DRY_RUN_2:addOperations',
      ]);
      // Re-running a batch with the same session rewrites the same file (resumable).
      await dry.push({
        audienceId: 'aud',
        platformAudienceId: aud.platformAudienceId,
        op: 'add',
        rows: rows.slice(2),
        session: first.session!,
      });
      expect(await listKeys(t.store, 'outbox/google/aud/r1/')).toHaveLength(3);
      expect(second.session?.dry_run_batch).toBe(2);
      expect(google.requests).toHaveLength(0);
    } finally {
      await google.close();
    }
  });

  it('a `dry_run` destination in the YAML writes generic hashed rows', async () => {
    const d = openDestination({
      name: 'preview',
      config: { type: 'dry_run' },
      env: {},
      log: silentLog,
      dryRun: storeOutbox(t.store, 'r9'),
    });
    const aud = await d.ensureAudience({ audienceId: 'a', name: 'A' });
    const p = person('c1', { email: 'x@example.com' });
    await d.push({
      audienceId: 'a',
      platformAudienceId: aud.platformAudienceId,
      op: 'add',
      rows: [{ key: 'c1', keys: d.matchKeys(p)! }],
    });
    const file = await readJson<OutboxFile>(t.store, 'outbox/preview/a/r9/000001-add.json');
    expect(file).toMatchObject({ destination: 'preview', platform: 'generic', op: 'add', rows: 1 });
    expect(file.requests[0]!.body).toEqual({
      op: 'add',
      rows: [{ key: 'c1', keys: { email: sha256Hex('x@example.com') } }],
    });
  });

  it('needs an outbox, and says so', () => {
    expect(() =>
      openDestination({ name: 'preview', config: { type: 'dry_run' }, env: {}, log: silentLog }),
    ).toThrow(ConnectorConfigError);
    expect(() =>
      openDestination({ name: 'preview', config: { type: 'dry_run' }, env: {}, log: silentLog }),
    ).toThrow(/needs an object store|pass an object store/);
  });
});
