import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rowConsent } from '../../connectors/core/consent.js';
import {
  AudienceGoneError,
  AuthError,
  RateLimitedError,
  RetryableError,
} from '../../connectors/core/errors.js';
import { sha256Hex } from '../../connectors/core/normalize.js';
import { withRetries } from '../../connectors/core/retry.js';
import type { ConnectorContext, SyncRow } from '../../connectors/core/types.js';
import type { GoogleConfig } from '../../connectors/google-ads/config.js';
import { addOperationsDrafts, planGroups } from '../../connectors/google-ads/drafts.js';
import { googleAdsConnector } from '../../connectors/google-ads/index.js';
import { type FakeGoogleAds, startFakeGoogleAds } from '../fakes/google-ads.js';
import { contextFor, people, person, recordingSleep, rowsFor } from './helpers.js';

const google = googleAdsConnector;

describe('google ads connector against the fake REST API', () => {
  let fake: FakeGoogleAds;
  let ctx: ConnectorContext<GoogleConfig>;
  let config: Record<string, unknown>;
  let env: Record<string, string>;

  beforeEach(async () => {
    fake = await startFakeGoogleAds();
    config = {
      type: 'google_ads',
      customer_id: '123-456-7890',
      developer_token: fake.credentials.developer_token,
      client_id: fake.credentials.client_id,
      client_secret: fake.credentials.client_secret,
      refresh_token: fake.credentials.refresh_token,
      poll_interval_seconds: 5,
    };
    env = { GOOGLE_ADS_API_URL: fake.url, GOOGLE_OAUTH_TOKEN_URL: fake.tokenUrl };
    ctx = contextFor(google, config, env);
  });
  afterEach(async () => {
    expect(fake.state.shapeErrors).toEqual([]);
    await fake.close();
  });

  async function list(name = 'High intent'): Promise<string> {
    return (await google.ensureAudience(ctx, { audienceId: 'high_intent', name })).platformAudienceId;
  }

  /** A new list, and `n` people's additions staged for it in one job (not run yet). */
  async function addsStaged(n = 2) {
    const id = await list();
    const pushed = await google.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(google, people(n)),
    });
    return { id, pushed };
  }

  function bodiesTo(suffix: string): unknown[] {
    return fake.requests.filter((r) => r.path.endsWith(suffix)).map((r) => r.body);
  }

  it('creates the CRM list once (life span 540), then finds it; OAuth and developer token are sent', async () => {
    const created = await google.ensureAudience(ctx, {
      audienceId: 'high_intent',
      name: 'High intent',
      description: 'Cart abandoners',
    });
    expect(created.created).toBe(true);
    expect(created.platformAudienceId).toMatch(/^customers\/1234567890\/userLists\/\d+$/);
    expect(bodiesTo('userLists:mutate')).toEqual([
      {
        operations: [
          {
            create: {
              name: 'High intent',
              description: 'Cart abandoners',
              membershipLifeSpan: 540,
              crmBasedUserList: { uploadKeyType: 'CONTACT_INFO' },
            },
          },
        ],
      },
    ]);
    const tokenRequest = fake.requests.find((r) => r.path === '/token')!;
    expect(tokenRequest.body).toEqual({
      grant_type: 'refresh_token',
      client_id: fake.credentials.client_id,
      client_secret: fake.credentials.client_secret,
      refresh_token: fake.credentials.refresh_token,
    });
    const search = fake.requests.find((r) => r.path.endsWith('googleAds:search'))!;
    expect(search.headers['developer-token']).toBe(fake.credentials.developer_token);
    expect(search.headers.authorization).toMatch(/^Bearer ya29\./);

    const again = await google.ensureAudience(ctx, { audienceId: 'high_intent', name: 'High intent' });
    expect(again).toEqual({ platformAudienceId: created.platformAudienceId, created: false });
    expect(fake.state.lists.size).toBe(1);
    expect(fake.state.tokenRefreshes).toBe(1);
  });

  it('two workers racing for one name end on one list (NAME_ALREADY_USED is resolved by a lookup)', async () => {
    const other = contextFor(google, config, env);
    const [a, b] = await Promise.all([
      google.ensureAudience(ctx, { audienceId: 'a', name: 'Race' }),
      google.ensureAudience(other, { audienceId: 'a', name: 'Race' }),
    ]);
    expect(a.platformAudienceId).toBe(b.platformAudienceId);
    expect(fake.state.lists.size).toBe(1);
  });

  it('adds one UserData per person in consent-grouped jobs, runs them and polls to SUCCESS', async () => {
    const id = await list();
    const ppl = [
      person('us1', {
        email: 'Jane.Doe+promo@GMail.com',
        phone: '(800) 555-0100',
        first_name: ' Jane ',
        last_name: 'Doe',
        country: 'US',
        postal_code: '94105-1234',
        consent: { ad_user_data: 'granted', ad_personalization: 'granted' },
      }),
      person('us2', { email: 'test@gmail.com', country: 'US' }),
      person('de1', {
        email: 'anna@example.de',
        country: 'DE',
        consent: { ad_user_data: 'granted', ad_personalization: 'granted' },
      }),
      person('de2', { email: 'ben@example.de', country: 'DE' }),
      person('fr1', {
        email: 'cleo@example.fr',
        country: 'FR',
        consent: { ad_user_data: 'granted', ad_personalization: 'denied' },
      }),
      person('none', { first_name: 'No', last_name: 'Address' }),
    ];
    const result = await google.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(google, ppl),
    });
    expect(result.rows).toEqual([
      { key: 'us1', status: 'accepted' },
      { key: 'us2', status: 'accepted' },
      { key: 'de1', status: 'accepted' },
      expect.objectContaining({ key: 'de2', status: 'rejected', code: 'consent_required' }),
      expect.objectContaining({ key: 'fr1', status: 'rejected', code: 'consent_required' }),
      expect.objectContaining({ key: 'none', status: 'skipped', code: 'no_identifiers' }),
    ]);
    expect(bodiesTo('offlineUserDataJobs:create')).toEqual([
      {
        job: {
          type: 'CUSTOMER_MATCH_USER_LIST',
          customerMatchUserListMetadata: {
            userList: id,
            consent: { adUserData: 'GRANTED', adPersonalization: 'GRANTED' },
          },
        },
      },
      {
        job: {
          type: 'CUSTOMER_MATCH_USER_LIST',
          customerMatchUserListMetadata: {
            userList: id,
            consent: { adUserData: 'UNSPECIFIED', adPersonalization: 'UNSPECIFIED' },
          },
        },
      },
    ]);
    const adds = bodiesTo(':addOperations');
    expect(adds[0]).toEqual({
      enablePartialFailure: true,
      operations: [
        {
          create: {
            userIdentifiers: [
              { hashedEmail: sha256Hex('janedoe@gmail.com') },
              { hashedPhoneNumber: 'fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30' },
              {
                addressInfo: {
                  hashedFirstName: sha256Hex('jane'),
                  hashedLastName: sha256Hex('doe'),
                  countryCode: 'US',
                  postalCode: '94105',
                },
              },
            ],
          },
        },
        { create: { userIdentifiers: [{ hashedEmail: sha256Hex('anna@example.de') }] } },
      ],
    });
    expect(adds[1]).toEqual({
      enablePartialFailure: true,
      operations: [
        {
          create: {
            userIdentifiers: [
              { hashedEmail: '87924606b4131a8aceeeae8868531fbb9712aaa07a5d3a756b26ce0f5d6ca674' },
            ],
          },
        },
      ],
    });
    // Nothing happens on the list until the jobs run.
    expect(fake.state.lists.get(id)!.members.size).toBe(0);
    const done = await google.finalize(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      session: result.session!,
    });
    expect(done.status).toBe('complete');
    expect([...fake.state.lists.get(id)!.members].filter((m) => m.startsWith('hashedEmail:'))).toHaveLength(
      3,
    );
    expect(fake.requests.filter((r) => r.path.endsWith(':run'))).toHaveLength(2);
  });

  it('removes in a separate job without consent, run before additions', async () => {
    const id = await list();
    const ppl = people(4);
    let session = (
      await google.push(ctx, {
        audienceId: 'a',
        platformAudienceId: id,
        op: 'add',
        rows: rowsFor(google, ppl),
      })
    ).session;
    session = (await google.finalize(ctx, { audienceId: 'a', platformAudienceId: id, session: session! }))
      .session;
    const removed = await google.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'remove',
      rows: rowsFor(google, ppl.slice(0, 2)),
      session: session!,
    });
    const readd = await google.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(google, ppl.slice(0, 1)),
      session: removed.session!,
    });
    expect(bodiesTo('offlineUserDataJobs:create').at(-2)).toEqual({
      job: { type: 'CUSTOMER_MATCH_USER_LIST', customerMatchUserListMetadata: { userList: id } },
    });
    expect(
      (bodiesTo(':addOperations').at(-2) as { operations: Array<Record<string, unknown>> }).operations.every(
        (o) => 'remove' in o,
      ),
    ).toBe(true);
    const done = await google.finalize(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      session: readd.session!,
    });
    expect(done.status).toBe('complete');
    // Removal ran first, so the person removed and re-added in one run ends up present.
    const runs = fake.requests.filter((r) => r.path.endsWith(':run')).map((r) => r.path);
    const removeJob = (done.details!.google as { jobs: Array<{ name: string; op: string }> }).jobs.find(
      (j) => j.op === 'remove',
    )!;
    expect(runs.at(-2)).toContain(removeJob.name);
    const emails = fake.state.lists.get(id)!.members;
    expect(emails.has(`hashedEmail:${sha256Hex(ppl[0]!.email!)}`)).toBe(true);
    expect(emails.has(`hashedEmail:${sha256Hex(ppl[1]!.email!)}`)).toBe(false);
    expect(emails.has(`hashedEmail:${sha256Hex(ppl[2]!.email!)}`)).toBe(true);
  });

  it('replaces the list with a job whose first operation is removeAll', async () => {
    const id = await list();
    let s = (
      await google.push(ctx, {
        audienceId: 'a',
        platformAudienceId: id,
        op: 'add',
        rows: rowsFor(google, people(3, 'old')),
      })
    ).session;
    s = (await google.finalize(ctx, { audienceId: 'a', platformAudienceId: id, session: s! })).session;
    const fresh = people(4, 'new');
    const first = await google.replace!(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      rows: rowsFor(google, fresh.slice(0, 2)),
      last: false,
      estimatedTotal: 4,
    });
    const second = await google.replace!(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      rows: rowsFor(google, fresh.slice(2)),
      last: true,
      estimatedTotal: 4,
      session: first.session!,
    });
    const ops = bodiesTo(':addOperations').slice(-2) as Array<{ operations: Array<Record<string, unknown>> }>;
    expect(ops[0]!.operations[0]).toEqual({ removeAll: true });
    expect(ops[1]!.operations.some((o) => 'removeAll' in o)).toBe(false);
    const done = await google.finalize(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      session: second.session!,
    });
    expect(done.status).toBe('complete');
    const members = fake.state.lists.get(id)!.members;
    expect([...members].filter((m) => m.startsWith('hashedEmail:')).sort()).toEqual(
      fresh.map((p) => `hashedEmail:${sha256Hex(p.email!)}`).sort(),
    );
  });

  it('throttling (429 RESOURCE_EXHAUSTED) carries the quota retry delay and recovers', async () => {
    const id = await list();
    fake.controls.throttle(1, 7);
    const rows = rowsFor(google, people(2));
    const error = await google
      .push(ctx, { audienceId: 'a', platformAudienceId: id, op: 'add', rows })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).delayMs).toBe(7_000);
    fake.controls.throttle(1, 3);
    const { sleep, waits } = recordingSleep();
    const result = await withRetries(
      () => google.push(ctx, { audienceId: 'a', platformAudienceId: id, op: 'add', rows }),
      { sleep },
    );
    expect(waits).toEqual([3_000]);
    expect(result.rows.every((r) => r.status === 'accepted')).toBe(true);
  });

  it('CONCURRENT_MODIFICATION on run is retryable, and a later finalize completes', async () => {
    const { id, pushed } = await addsStaged();
    fake.controls.concurrentModification(1);
    const error = await google
      .finalize(ctx, { audienceId: 'a', platformAudienceId: id, session: pushed.session! })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as RetryableError).code).toBe('CONCURRENT_MODIFICATION');
    const done = await google.finalize(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      session: pushed.session!,
    });
    expect(done.status).toBe('complete');
    expect([...fake.state.lists.get(id)!.members].filter((m) => m.startsWith('hashedEmail:'))).toHaveLength(
      2,
    );
  });

  it('maps partial failures to rows by operation index', async () => {
    const id = await list();
    const ppl = people(4);
    fake.controls.rejectValues([sha256Hex(ppl[2]!.email!)]);
    const result = await google.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(google, ppl),
    });
    expect(result.rows.map((r) => r.status)).toEqual(['accepted', 'accepted', 'rejected', 'accepted']);
    expect(result.rows[2]).toMatchObject({ key: 'p2', code: 'INVALID_SHA256_FORMAT' });
    expect(result.unattributed).toEqual([]);
  });

  it('an expired access token is refreshed transparently; a revoked refresh token is a clear auth error', async () => {
    const id = await list();
    fake.controls.expireAccessTokens();
    const ok = await google.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(google, people(1)),
    });
    expect(ok.rows[0]!.status).toBe('accepted');
    expect(fake.state.tokenRefreshes).toBe(2);

    fake.controls.revokeRefreshToken();
    const error = await google
      .push(ctx, { audienceId: 'a', platformAudienceId: id, op: 'add', rows: rowsFor(google, people(1)) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as Error).message).toMatch(/invalid_grant/);
    for (const secret of Object.values(fake.credentials))
      expect((error as Error).message).not.toContain(secret);
  });

  it('a list deleted on the platform: describe and staging say so, ensureAudience creates a new one', async () => {
    const id = await list();
    fake.controls.removeList(id);
    // describe is how the sync engine checks a list it knows.
    const gone = await google.describe(ctx, id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(AudienceGoneError);
    expect(gone).toMatchObject({ kind: 'audience_gone', retry: false, platformAudienceId: id });
    const lookup = fake.requests.at(-1)!;
    expect(lookup.path).toBe('/v24/customers/1234567890/googleAds:search');
    expect(String((lookup.body as { query?: string }).query)).toContain(`user_list.resource_name = '${id}'`);
    const error = await google
      .push(ctx, { audienceId: 'a', platformAudienceId: id, op: 'add', rows: rowsFor(google, people(1)) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AudienceGoneError);
    // Find-or-create by name no longer finds the removed list, so it creates a new one.
    const again = await google.ensureAudience(ctx, { audienceId: 'high_intent', name: 'High intent' });
    expect(again.created).toBe(true);
    expect(again.platformAudienceId).not.toBe(id);
    expect(fake.state.lists.get(id)?.removed).toBe(true);
    expect(
      [...fake.state.lists.values()]
        .filter((l) => !l.removed && l.name === 'High intent')
        .map((l) => l.resourceName),
    ).toEqual([again.platformAudienceId]);
    await expect(google.describe(ctx, again.platformAudienceId)).resolves.toMatchObject({
      platformAudienceId: again.platformAudienceId,
      name: 'High intent',
    });
  });

  it('a list closed to new members: describe and ensureAudience say so; an open one carries no such note', async () => {
    const id = await list();
    expect(await google.describe(ctx, id)).not.toHaveProperty('closed');
    fake.controls.setMembershipStatus(id, 'CLOSED');
    const reason = 'membership status CLOSED: Google Ads adds no new members to it and it cannot be targeted';
    await expect(google.describe(ctx, id)).resolves.toMatchObject({ status: 'CLOSED', closed: reason });
    // Find-or-create by name asks for the status too, and returns the closed list rather than a new one.
    await expect(
      google.ensureAudience(ctx, { audienceId: 'high_intent', name: 'High intent' }),
    ).resolves.toEqual({
      platformAudienceId: id,
      created: false,
      closed: reason,
    });
    const lookup = fake.requests.at(-1)!;
    expect((lookup.body as { query?: string }).query).toBe(
      "SELECT user_list.resource_name, user_list.name, user_list.membership_status FROM user_list WHERE user_list.name = 'High intent' AND user_list.type = 'CRM_BASED'",
    );
  });

  it('finalize answers pending while a job runs, and continues from the returned session', async () => {
    const id = await list();
    fake.controls.setJobPolls(4);
    const pushed = await google.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(google, people(2)),
    });
    const first = await google.finalize(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      session: pushed.session!,
    });
    expect(first.status).toBe('pending');
    const { sleep, waits } = recordingSleep();
    const waiting = contextFor(google, config, env, { sleep });
    const second = await google.finalize(waiting, {
      audienceId: 'a',
      platformAudienceId: id,
      session: first.session!,
      maxWaitMs: 60_000,
    });
    expect(second.status).toBe('complete');
    expect(waits).toEqual([5_000, 5_000]);
    expect(fake.requests.filter((r) => r.path.endsWith(':run'))).toHaveLength(1);
  });

  it('a status poll that fails for now answers pending with the job running, and the next finalize does not run it again', async () => {
    const { id, pushed } = await addsStaged();
    // The run goes through; the look at the job right after it is throttled.
    const throttledAfterRun: typeof fetch = async (url, init) => {
      const response = await fetch(url, init);
      if (String(url).endsWith(':run') && response.ok) fake.controls.throttle(1, 1);
      return response;
    };
    const first = await google.finalize(contextFor(google, config, env, { fetch: throttledAfterRun }), {
      audienceId: 'a',
      platformAudienceId: id,
      session: pushed.session!,
    });
    expect(first.status).toBe('pending');
    expect(first.details).toMatchObject({ google: { jobs: [{ state: 'running', operations: 2 }] } });
    const second = await google.finalize(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      session: first.session!,
    });
    expect(second.status).toBe('complete');
    expect(fake.requests.filter((r) => r.path.endsWith(':run'))).toHaveLength(1);
    expect(fake.state.shapeErrors).toEqual([]);
  });

  it('a failed job is reported by finalize', async () => {
    const { id, pushed } = await addsStaged(3);
    fake.controls.failNextJob('INSUFFICIENT_MATCHED_TRANSACTIONS');
    const done = await google.finalize(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      session: pushed.session!,
    });
    expect(done.status).toBe('failed');
    expect(done.failures).toEqual([
      expect.objectContaining({ count: 3, code: 'INSUFFICIENT_MATCHED_TRANSACTIONS' }),
    ]);
  });

  it('describes size and match rate as Google reports them', async () => {
    const { id, pushed } = await addsStaged(1200);
    await google.finalize(ctx, { audienceId: 'a', platformAudienceId: id, session: pushed.session! });
    const d = await google.describe(ctx, id);
    expect(d).toMatchObject({ platformAudienceId: id, name: 'High intent', matchRate: 0.55, status: 'OPEN' });
    expect(d.size).toBeGreaterThanOrEqual(1200);
  });

  it('CRM_ID lists send our customer_id as thirdPartyUserId', async () => {
    const crm = contextFor(google, { ...config, upload_key_type: 'CRM_ID' }, env);
    const id = (await google.ensureAudience(crm, { audienceId: 'crm', name: 'CRM list' })).platformAudienceId;
    const ppl = [person('cust-1', { email: 'a@example.com' }), person('cust-2')];
    await google.push(crm, {
      audienceId: 'crm',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(google, ppl, crm.config),
    });
    expect((bodiesTo(':addOperations').at(-1) as { operations: unknown[] }).operations).toEqual([
      { create: { userIdentifiers: [{ thirdPartyUserId: 'cust-1' }] } },
      { create: { userIdentifiers: [{ thirdPartyUserId: 'cust-2' }] } },
    ]);
  });
});

describe('google ads request splitting', () => {
  it('no addOperations request carries more than 100,000 identifiers', () => {
    const rows: SyncRow[] = Array.from({ length: 40_000 }, (_, i) => ({
      key: `c${i}`,
      keys: googleAdsConnector.matchKeys(
        person(`c${i}`, {
          email: `u${i}@example.com`,
          phone: `+1415555${String(i % 10_000).padStart(4, '0')}`,
          first_name: 'A',
          last_name: 'B',
          country: 'US',
          postal_code: '94105',
        }),
      )!,
      consent: rowConsent({ country: 'US' }),
    }));
    const options = {
      upload_key_type: 'CONTACT_INFO' as const,
      membership_life_span_days: 540,
      batch_size: 10_000,
      poll_interval_seconds: 30,
      customer_id: '1234567890',
    };
    const planned = planGroups(options, 'add', rows, false);
    const chunks = addOperationsDrafts('customers/1234567890/offlineUserDataJobs/1', planned.groups[0]!);
    expect(chunks.length).toBe(2);
    let total = 0;
    for (const chunk of chunks) {
      const ops = (chunk.draft.body as { operations: Array<{ create: { userIdentifiers: unknown[] } }> })
        .operations;
      const ids = ops.reduce((n, o) => n + o.create.userIdentifiers.length, 0);
      expect(ids).toBeLessThanOrEqual(100_000);
      total += ops.length;
    }
    expect(total).toBe(40_000);
  });
});
