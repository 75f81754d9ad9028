import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rowConsent } from '../../connectors/core/consent.js';
import { createConnectorContext } from '../../connectors/core/context.js';
import { ConnectorConfigError, ConnectorError } from '../../connectors/core/errors.js';
import type { AnyConnector, ConnectorContext, ConnectorId, SyncRow } from '../../connectors/core/types.js';
import { CONNECTOR_IDS, CONNECTORS } from '../../connectors/registry.js';
import { DESTINATION_TYPES } from '../../src/config/schema.js';
import type { PersonRecord } from '../../src/contract/records.js';
import { listKeys } from '../../src/storage/object-store.js';
import { storeOutbox } from '../../src/storage/outbox.js';
import { startFakeCustomerio } from '../fakes/customerio.js';
import { startFakeGoogleAds } from '../fakes/google-ads.js';
import type { RecordedRequest } from '../fakes/http.js';
import { startFakeMeta } from '../fakes/meta.js';
import { startFakeTiktok } from '../fakes/tiktok.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { people, person, rawValues } from './helpers.js';

/**
 * One suite, every connector: what the sync engine relies on whatever the platform.
 * Each connector runs against its fake (dry-run against a real object store).
 */

interface Harness {
  config: Record<string, unknown>;
  env: Record<string, string>;
  /** What went over the wire (dry-run: what was written). */
  wire(): Promise<string[]>;
  requestCount(): number;
  /** Makes the next calls fail with the platform's credential error. */
  breakCredentials(): void;
  outbox?: { store: TestStore['store']; runId: string };
  close(): Promise<void>;
}

const SMALL_BATCH = 25;

async function harness(id: ConnectorId): Promise<Harness> {
  const bodies = (requests: RecordedRequest[]) => async () =>
    requests.map((r) => `${r.path}?${JSON.stringify(r.query)} ${r.rawBody}`);
  switch (id) {
    case 'meta': {
      const fake = await startFakeMeta();
      return {
        config: {
          type: 'meta',
          ad_account_id: 'act_42',
          access_token: fake.state.token,
          batch_size: SMALL_BATCH,
        },
        env: { META_GRAPH_URL: fake.url },
        wire: bodies(fake.requests),
        requestCount: () => fake.requests.length,
        breakCredentials: () => fake.controls.expireToken(),
        close: fake.close,
      };
    }
    case 'google_ads': {
      const fake = await startFakeGoogleAds();
      return {
        config: {
          type: 'google_ads',
          customer_id: '1234567890',
          ...fake.credentials,
          batch_size: SMALL_BATCH,
        },
        env: { GOOGLE_ADS_API_URL: fake.url, GOOGLE_OAUTH_TOKEN_URL: fake.tokenUrl },
        wire: bodies(fake.requests),
        requestCount: () => fake.requests.length,
        breakCredentials: () => fake.controls.revokeRefreshToken(),
        close: fake.close,
      };
    }
    case 'tiktok': {
      const fake = await startFakeTiktok();
      return {
        config: {
          type: 'tiktok',
          advertiser_id: fake.state.advertiserId,
          access_token: fake.state.token,
          batch_size: SMALL_BATCH,
        },
        env: { TIKTOK_API_URL: fake.url },
        wire: bodies(fake.requests),
        requestCount: () => fake.requests.length,
        breakCredentials: () => fake.controls.expireToken(),
        close: fake.close,
      };
    }
    case 'customerio': {
      const fake = await startFakeCustomerio();
      return {
        config: {
          type: 'customerio',
          site_id: fake.state.siteId,
          api_key: fake.state.apiKey,
          batch_size: SMALL_BATCH,
        },
        env: { CIO_TRACK_URL: fake.url },
        wire: bodies(fake.requests),
        requestCount: () => fake.requests.length,
        breakCredentials: () => fake.controls.revokeKey(),
        close: fake.close,
      };
    }
    case 'dry_run': {
      const t = await createFsTestStore();
      const h: Harness = {
        config: {
          type: 'dry_run',
          platform: 'meta',
          options: { ad_account_id: 'act_42' },
          batch_size: SMALL_BATCH,
        },
        env: {},
        outbox: { store: t.store, runId: 'run-1' },
        wire: async () =>
          Promise.all(
            (await listKeys(t.store, 'outbox/')).map(async (k) => (await t.store.get(k)).toString()),
          ),
        requestCount: () => 0,
        // A dry run has no credentials; losing its outbox is the equivalent failure.
        breakCredentials: () => {
          delete h.outbox;
        },
        close: t.cleanup,
      };
      return h;
    }
  }
}

/** Captures every log line the connector writes, at debug level. */
function capturingLogger(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

/** The credential values of a config, by the connector's own list of secret fields. */
function secretsOf(connector: AnyConnector, config: Record<string, unknown>): string[] {
  return connector.secretFields.map((f) => config[f]).filter((v): v is string => typeof v === 'string');
}

function rowsOf(connector: AnyConnector, ctx: ConnectorContext, persons: readonly PersonRecord[]): SyncRow[] {
  return persons.map((p) => ({
    key: p.customer_id,
    keys: connector.matchKeys(p, ctx.config) ?? {},
    consent: rowConsent(p),
    attributes: { paid_group: 'treatment', recovery_score: 1.5 },
  }));
}

it('the registry covers exactly the YAML destination types', () => {
  expect([...CONNECTOR_IDS].sort()).toEqual([...DESTINATION_TYPES].sort());
  for (const id of CONNECTOR_IDS) expect(CONNECTORS[id].id).toBe(id);
});

describe.each(CONNECTOR_IDS)('connector contract: %s', (id) => {
  const connector = CONNECTORS[id];
  let h: Harness;
  let ctx: ConnectorContext;
  let logs: string[];

  beforeEach(async () => {
    h = await harness(id);
    const captured = capturingLogger();
    logs = captured.lines;
    ctx = createConnectorContext(connector, {
      destination: 'dest',
      config: h.config,
      env: h.env,
      log: captured.log,
      sleep: async () => {},
      ...(h.outbox ? { outbox: storeOutbox(h.outbox.store, h.outbox.runId) } : {}),
    });
  });
  afterEach(() => h.close());

  it('declares its static facts', () => {
    expect(connector.apiVersion).toMatch(/\S/);
    expect(connector.capabilities.maxBatchSize).toBeGreaterThan(0);
    expect(connector.capabilities.identifierTypes.length).toBeGreaterThan(0);
    expect(Boolean(connector.replace)).toBe(connector.capabilities.replaceStrategy !== 'none');
  });

  it('rejects an empty config, naming the destination and not echoing values', () => {
    expect(connector.configSchema.safeParse({}).success).toBe(false);
    expect(connector.configSchema.safeParse({ type: id }).success).toBe(id === 'dry_run');
    expect(() => createConnectorContext(connector, { destination: 'broken', config: {}, env: {} })).toThrow(
      ConnectorConfigError,
    );
    expect(() => createConnectorContext(connector, { destination: 'broken', config: {}, env: {} })).toThrow(
      /destination "broken"/,
    );
    const withSecrets = { ...h.config, unexpected_key: 1 };
    try {
      createConnectorContext(connector, { destination: 'x', config: withSecrets, env: {} });
      expect.unreachable();
    } catch (error) {
      for (const secret of secretsOf(connector, h.config)) expect(String(error)).not.toContain(secret);
    }
  });

  it('refuses a batch above its limit before sending anything, and takes one at the limit', async () => {
    const audience = await connector.ensureAudience(ctx, { audienceId: 'aud', name: `Contract ${id}` });
    const before = h.requestCount();
    const tooMany = rowsOf(connector, ctx, people(SMALL_BATCH + 1));
    await expect(
      connector.push(ctx, {
        audienceId: 'aud',
        platformAudienceId: audience.platformAudienceId,
        op: 'add',
        rows: tooMany,
      }),
    ).rejects.toThrow(new RegExp(`at most ${SMALL_BATCH} rows`));
    expect(h.requestCount()).toBe(before);
    const full = await connector.push(ctx, {
      audienceId: 'aud',
      platformAudienceId: audience.platformAudienceId,
      op: 'add',
      rows: tooMany.slice(1),
    });
    expect(full.rows).toHaveLength(SMALL_BATCH);
  });

  it('gives every input row exactly one result, in order, and sends only hashed or plain keys', async () => {
    const audience = await connector.ensureAudience(ctx, { audienceId: 'aud', name: `Contract ${id}` });
    const persons = [
      ...people(5),
      person('nothing-usable'),
      person('gmail', { email: 'Some.One+tag@gmail.com', country: 'DE' }),
    ];
    const rows = rowsOf(connector, ctx, persons);
    rows[5]!.attributes = {};
    for (const op of ['add', 'remove'] as const) {
      const result = await connector.push(ctx, {
        audienceId: 'aud',
        platformAudienceId: audience.platformAudienceId,
        op,
        rows,
      });
      expect(result.rows.map((r) => r.key)).toEqual(rows.map((r) => r.key));
      for (const r of result.rows) expect(['accepted', 'rejected', 'skipped']).toContain(r.status);
      if (id !== 'customerio') expect(result.rows[5]!.status).toBe('skipped');
      const finalized = await connector.finalize(ctx, {
        audienceId: 'aud',
        platformAudienceId: audience.platformAudienceId,
        ...(result.session ? { session: result.session } : {}),
      });
      expect(['complete', 'pending']).toContain(finalized.status);
    }
    const wire = (await h.wire()).join('\n');
    for (const raw of [...rawValues(persons), 'Some.One+tag@gmail.com', 'someone@gmail.com'])
      expect(wire).not.toContain(raw);
    for (const line of logs) for (const raw of rawValues(persons)) expect(line).not.toContain(raw);
  });

  it('never puts raw PII or credentials into thrown errors', async () => {
    const audience = await connector.ensureAudience(ctx, { audienceId: 'aud', name: `Contract ${id}` });
    const persons = people(3);
    h.breakCredentials();
    const broken = createConnectorContext(connector, {
      destination: 'dest',
      config: h.config,
      env: h.env,
      log: pino({ level: 'silent' }),
      ...(h.outbox ? { outbox: storeOutbox(h.outbox.store, h.outbox.runId) } : {}),
    });
    const error = await connector
      .push(broken, {
        audienceId: 'aud',
        platformAudienceId: audience.platformAudienceId,
        op: 'add',
        rows: rowsOf(connector, broken, persons),
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectorError);
    expect((error as ConnectorError).retry).toBe(false);
    const text = `${String(error)} ${JSON.stringify(error)} ${(error as Error).stack ?? ''}`;
    for (const raw of rawValues(persons)) expect(text).not.toContain(raw);
    for (const secret of secretsOf(connector, h.config)) expect(text).not.toContain(secret);
  });

  it('describes the audience without failing', async () => {
    const audience = await connector.ensureAudience(ctx, { audienceId: 'aud', name: `Contract ${id}` });
    const d = await connector.describe(ctx, audience.platformAudienceId);
    expect(d.platformAudienceId).toBe(audience.platformAudienceId);
    // A fresh audience: Google and TikTok report 0 members; Meta's estimate is unknown (-1 bounds),
    // and Customer.io segments and dry runs have no size.
    const freshSize: Record<string, number | null> = {
      meta: null,
      google_ads: 0,
      tiktok: 0,
      customerio: null,
      dry_run: null,
    };
    expect(d.size).toBe(freshSize[id]);
  });
});
