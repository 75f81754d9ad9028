import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AudienceGoneError,
  AuthError,
  InvalidPayloadError,
  RateLimitedError,
  RetryableError,
} from '../../connectors/core/errors.js';
import { sha256Hex } from '../../connectors/core/normalize.js';
import { withRetries } from '../../connectors/core/retry.js';
import type { ConnectorContext, PushResult } from '../../connectors/core/types.js';
import type { MetaConfig } from '../../connectors/meta/config.js';
import { metaConnector } from '../../connectors/meta/index.js';
import { type FakeMeta, startFakeMeta } from '../fakes/meta.js';
import { contextFor, people, person, recordingSleep, rowsFor } from './helpers.js';

const CONFIG = { type: 'meta', ad_account_id: 'act_1234', access_token: 'meta-test-token' };

describe('meta connector against the fake Graph API', () => {
  let fake: FakeMeta;
  let ctx: ConnectorContext<MetaConfig>;

  beforeEach(async () => {
    fake = await startFakeMeta();
    ctx = contextFor(metaConnector, CONFIG, { META_GRAPH_URL: fake.url });
  });
  afterEach(async () => {
    expect(fake.state.shapeErrors).toEqual([]);
    await fake.close();
  });

  /** A context for the fake whose requests go through `send` (which calls the real fetch). */
  function intercepting(
    send: (url: string | URL | Request, init?: RequestInit) => Promise<Response>,
  ): ConnectorContext<MetaConfig> {
    return contextFor(metaConnector, CONFIG, { META_GRAPH_URL: fake.url }, { fetch: send as typeof fetch });
  }

  async function audience(name = 'High intent'): Promise<string> {
    const r = await metaConnector.ensureAudience(ctx, {
      audienceId: 'high_intent',
      name,
      description: 'test',
    });
    return r.platformAudienceId;
  }

  it('creates the audience once with the documented body, then finds it by name', async () => {
    const first = await metaConnector.ensureAudience(ctx, {
      audienceId: 'high_intent',
      name: 'High intent',
      description: 'Cart abandoners',
    });
    expect(first.created).toBe(true);
    const create = fake.requests.find((r) => r.method === 'POST' && r.path.endsWith('/customaudiences'));
    expect(create?.path).toBe('/v24.0/act_1234/customaudiences');
    expect(create?.body).toEqual({
      name: 'High intent',
      subtype: 'CUSTOM',
      description: 'Cart abandoners',
      customer_file_source: 'USER_PROVIDED_ONLY',
    });
    expect(create?.headers.authorization).toBe('Bearer meta-test-token');
    expect(create?.rawBody).not.toContain('meta-test-token');

    const again = await metaConnector.ensureAudience(ctx, { audienceId: 'high_intent', name: 'High intent' });
    expect(again).toEqual({ platformAudienceId: first.platformAudienceId, created: false });
    expect(fake.state.audiences.size).toBe(1);
  });

  it('never creates two audiences with one name when calls race', async () => {
    const results = await Promise.all(
      [1, 2, 3, 4].map(() => metaConnector.ensureAudience(ctx, { audienceId: 'a', name: 'Racing' })),
    );
    expect(new Set(results.map((r) => r.platformAudienceId)).size).toBe(1);
    expect([...fake.state.audiences.values()].filter((a) => !a.deleted && a.name === 'Racing')).toHaveLength(
      1,
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
  });

  it('resolves a duplicate created by another worker: the smallest id wins, ours is deleted', async () => {
    const other = contextFor(metaConnector, CONFIG, { META_GRAPH_URL: fake.url });
    // Two separate "processes": the in-process lock cannot help, the post-create check must.
    const [a, b] = await Promise.all([
      metaConnector.ensureAudience(ctx, { audienceId: 'x', name: 'Shared name' }),
      metaConnector.ensureAudience(other, { audienceId: 'x', name: 'Shared name' }),
    ]);
    expect(a.platformAudienceId).toBe(b.platformAudienceId);
    expect([...fake.state.audiences.values()].filter((x) => !x.deleted)).toHaveLength(1);
  });

  it('with ctx.retry, retries the request that failed, not the lookup before it', async () => {
    let creations = 0;
    const flaky = intercepting(async (url, init) => {
      if (init?.method === 'POST' && String(url).endsWith('/customaudiences') && ++creations === 1)
        fake.controls.failServer(1);
      return fetch(url, init);
    });
    const { sleep, waits } = recordingSleep();
    const result = await metaConnector.ensureAudience(
      { ...flaky, retry: { maxAttempts: 3, sleep } },
      { audienceId: 'x', name: 'Flaky' },
    );
    expect(result.created).toBe(true);
    expect(waits).toEqual([30_000]);
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /v24.0/act_1234/customaudiences',
      'POST /v24.0/act_1234/customaudiences',
      'POST /v24.0/act_1234/customaudiences',
      'GET /v24.0/act_1234/customaudiences',
    ]);
  });

  it('a duplicate removal retried after its answer was lost finds the duplicate gone, and is done', async () => {
    let raced = false;
    let removals = 0;
    const racing = intercepting(async (url, init) => {
      // Another worker creates the same name between our lookup and our creation (a smaller id):
      // the same creation request, sent first.
      if (init?.method === 'POST' && String(url).endsWith('/customaudiences') && !raced) {
        raced = true;
        await fetch(url, init);
      }
      const response = await fetch(url, init);
      // The first removal is applied, but its answer is lost on the way back.
      if (init?.method === 'DELETE' && ++removals === 1) throw new TypeError('fetch failed');
      return response;
    });
    const result = await metaConnector.ensureAudience(
      { ...racing, retry: { maxAttempts: 3, sleep: async () => {} } },
      { audienceId: 'x', name: 'Shared name' },
    );
    const live = [...fake.state.audiences.values()].filter((a) => !a.deleted);
    expect(live.map((a) => a.id)).toEqual([result.platformAudienceId]);
    expect(result.created).toBe(false);
    expect(removals).toBe(2);
  });

  it('adds with the multi-key schema and exact hashed rows', async () => {
    const id = await audience();
    const ppl = [
      person('c1', {
        email: ' User1@Example.com ',
        phone: '+1-555-123-4567',
        first_name: 'Jane',
        last_name: 'Doe',
        city: 'San Francisco',
        region: 'California',
        postal_code: '92000',
        country: 'US',
      }),
      person('c2', { email: 'only@example.org' }),
      person('c3', {}),
    ];
    const result = await metaConnector.push(ctx, {
      audienceId: 'high_intent',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(metaConnector, ppl),
    });
    const sent = fake.requests.at(-1)!;
    expect(sent.method).toBe('POST');
    expect(sent.path).toBe(`/v24.0/${id}/users`);
    expect(sent.query).toEqual({});
    expect(sent.body).toEqual({
      payload: {
        schema: ['EMAIL', 'PHONE', 'LN', 'FN', 'FI', 'CT', 'ST', 'ZIP', 'COUNTRY'],
        data: [
          [
            'b36a83701f1c3191e19722d6f90274bc1b5501fe69ebf33313e440fe4b0fe210',
            'd6736136ea896c1bfdc553e0e86e702c70d060d805696ca3e4e9e0961353860a',
            '799ef92a11af918e3fb741df42934f3b568ed2d93ac1df74f1b8d41a27932a6f',
            sha256Hex('jane'),
            sha256Hex('j'),
            '1a6bd4d9d79dc0a79b53795c70d3349fa9e38968a3fbefbfe8783efb1d2b6aac',
            '6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126',
            'ad16c1a6866c5887c5b59c1803cb1fc09769f1b403b6f1d9d0f10ad6ab4d5d50',
            '79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621',
          ],
          [sha256Hex('only@example.org'), '', '', '', '', '', '', '', ''],
        ],
      },
    });
    expect(result.rows).toEqual([
      { key: 'c1', status: 'accepted' },
      { key: 'c2', status: 'accepted' },
      { key: 'c3', status: 'skipped', code: 'no_identifiers', reason: 'no identifier Meta can match on' },
    ]);
    expect(result.unattributed).toEqual([]);
    expect(fake.state.audiences.get(id)!.members.size).toBe(2);
  });

  it('removes with DELETE and the payload in the body', async () => {
    const id = await audience();
    const ppl = people(5);
    await metaConnector.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(metaConnector, ppl),
    });
    const result = await metaConnector.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'remove',
      rows: rowsFor(metaConnector, ppl.slice(0, 2)),
    });
    const sent = fake.requests.at(-1)!;
    expect(sent.method).toBe('DELETE');
    expect(sent.query).toEqual({});
    expect((sent.body as { payload: { data: unknown[] } }).payload.data).toHaveLength(2);
    expect(result.rows.map((r) => r.status)).toEqual(['accepted', 'accepted']);
    expect(fake.state.audiences.get(id)!.members.size).toBe(3);
  });

  it('replaces everything through one usersreplace session', async () => {
    const id = await audience();
    await metaConnector.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(metaConnector, people(4, 'old')),
    });
    const fresh = people(5, 'new');
    const first = await metaConnector.replace!(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      rows: rowsFor(metaConnector, fresh.slice(0, 3)),
      last: false,
      estimatedTotal: 5,
    });
    const second = await metaConnector.replace!(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      rows: rowsFor(metaConnector, fresh.slice(3)),
      last: true,
      estimatedTotal: 5,
      session: first.session!,
    });
    const calls = fake.requests.filter((r) => r.path.endsWith('/usersreplace'));
    const sessions = calls.map((r) => (r.body as { session: Record<string, unknown> }).session);
    expect(sessions[0]).toMatchObject({ batch_seq: 1, last_batch_flag: false, estimated_num_total: 5 });
    expect(sessions[1]).toMatchObject({
      batch_seq: 2,
      last_batch_flag: true,
      estimated_num_total: 5,
      session_id: sessions[0]!.session_id,
    });
    expect(second.rows.every((r) => r.status === 'accepted')).toBe(true);
    const members = [...fake.state.audiences.get(id)!.members.values()].map((m) => m.EMAIL);
    expect(members.sort()).toEqual(fresh.map((p) => sha256Hex(p.email!)).sort());
  });

  it('throttling (code 17 / 613) is a rate-limited error with the delay Meta reports, and recovers', async () => {
    const id = await audience();
    const rows = rowsFor(metaConnector, people(3));
    fake.controls.throttle(1, {
      code: 613,
      subcode: 1487742,
      headers: {
        'x-business-use-case-usage': JSON.stringify({
          '1234': [{ type: 'custom_audience', estimated_time_to_regain_access: 2 }],
        }),
      },
    });
    const error = await metaConnector
      .push(ctx, { audienceId: 'a', platformAudienceId: id, op: 'add', rows })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).delayMs).toBe(120_000);
    expect((error as RateLimitedError).code).toBe(613);

    fake.controls.throttle(2);
    const { sleep, waits } = recordingSleep();
    const result = await withRetries(
      () => metaConnector.push(ctx, { audienceId: 'a', platformAudienceId: id, op: 'add', rows }),
      { sleep },
    );
    expect(waits).toEqual([300_000, 600_000]);
    expect(result.rows.every((r) => r.status === 'accepted')).toBe(true);
    expect(fake.state.audiences.get(id)!.members.size).toBe(3);
  });

  it('a server failure is retryable', async () => {
    const id = await audience();
    fake.controls.failServer(1);
    const error = await metaConnector
      .push(ctx, {
        audienceId: 'a',
        platformAudienceId: id,
        op: 'add',
        rows: rowsFor(metaConnector, people(1)),
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetryableError);
  });

  it('maps invalid_entry_samples back to rows and reports the rest as unattributed', async () => {
    const id = await audience();
    const ppl = people(6);
    const rows = rowsFor(metaConnector, ppl);
    fake.controls.rejectValues(
      [rows[1]!.keys.email!, rows[4]!.keys.email!, rows[5]!.keys.email!],
      'Invalid email hash',
      2,
    );
    const result: PushResult = await metaConnector.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows,
    });
    expect(result.rows.map((r) => r.status)).toEqual([
      'accepted',
      'rejected',
      'accepted',
      'accepted',
      'rejected',
      'accepted',
    ]);
    expect(result.rows[1]).toMatchObject({ code: 'invalid_entry', reason: 'Meta: Invalid email hash' });
    expect(result.unattributed).toEqual([
      { count: 1, code: 'invalid_entries', message: 'Meta counted 1 more invalid rows without naming them' },
    ]);
  });

  it('a sample keyed by a value several rows share is not pinned on any one row', async () => {
    const id = await audience();
    const rows = rowsFor(metaConnector, people(3));
    fake.controls.rejectValues([sha256Hex('us')], 'Invalid country');
    const result = await metaConnector.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows,
    });
    expect(result.rows.map((r) => r.status)).toEqual(['accepted', 'accepted', 'accepted']);
    expect(result.unattributed).toEqual([
      { count: 3, code: 'invalid_entries', message: 'Meta counted 3 more invalid rows without naming them' },
    ]);
  });

  it('an expired token is a fatal auth error that names the fix and not the token', async () => {
    const id = await audience();
    fake.controls.expireToken();
    const error = await metaConnector
      .push(ctx, {
        audienceId: 'a',
        platformAudienceId: id,
        op: 'add',
        rows: rowsFor(metaConnector, people(1)),
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).retry).toBe(false);
    expect((error as Error).message).toMatch(/token has expired \(code 190\/463\)/);
    expect((error as Error).message).not.toContain('meta-test-token');
  });

  it('an audience deleted on the platform: describe and push say so, ensureAudience makes a new one', async () => {
    const id = await audience();
    fake.controls.deleteAudience(id);
    // describe is how the sync engine checks an audience it knows.
    const gone = await metaConnector.describe(ctx, id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(AudienceGoneError);
    expect(gone).toMatchObject({ kind: 'audience_gone', retry: false, platformAudienceId: id });
    expect(fake.requests.at(-1)).toMatchObject({ method: 'GET', path: `/v24.0/${id}` });
    const error = await metaConnector
      .push(ctx, {
        audienceId: 'a',
        platformAudienceId: id,
        op: 'add',
        rows: rowsFor(metaConnector, people(1)),
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AudienceGoneError);
    expect((error as AudienceGoneError).platformAudienceId).toBe(id);
    // Find-or-create by name no longer finds the deleted one, so it creates a new audience.
    const again = await metaConnector.ensureAudience(ctx, { audienceId: 'high_intent', name: 'High intent' });
    expect(again.created).toBe(true);
    expect(again.platformAudienceId).not.toBe(id);
    expect(fake.state.audiences.get(id)?.deleted).toBe(true);
    expect(
      [...fake.state.audiences.values()]
        .filter((a) => !a.deleted && a.name === 'High intent')
        .map((a) => a.id),
    ).toEqual([again.platformAudienceId]);
    await expect(metaConnector.describe(ctx, again.platformAudienceId)).resolves.toMatchObject({
      platformAudienceId: again.platformAudienceId,
      name: 'High intent',
    });
  });

  it('a restricted audience (471) fails with a clear, non-retryable message', async () => {
    const id = await audience();
    fake.controls.restrictAudience(id);
    const error = await metaConnector
      .push(ctx, {
        audienceId: 'a',
        platformAudienceId: id,
        op: 'remove',
        rows: rowsFor(metaConnector, people(1)),
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect((error as Error).message).toMatch(/flagged for restricted data \(operation_status 471/);
  });

  it('Limited Data Use adds DATA_PROCESSING_OPTIONS per row, optionally only for listed states', async () => {
    const ldu = contextFor(
      metaConnector,
      { ...CONFIG, limited_data_use_states: ['ca'] },
      { META_GRAPH_URL: fake.url },
    );
    const id = await audience();
    const ppl = [
      person('ca', { email: 'a@example.com', region: 'California', country: 'US' }),
      person('ny', { email: 'b@example.com', region: 'NY', country: 'US' }),
    ];
    await metaConnector.push(ldu, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(metaConnector, ppl),
    });
    const payload = (fake.requests.at(-1)!.body as { payload: { schema: string[]; data: unknown[][] } })
      .payload;
    expect(payload.schema.at(-1)).toBe('DATA_PROCESSING_OPTIONS');
    expect(payload.data.map((row) => row.at(-1))).toEqual([['LDU'], []]);
  });

  it('sends EXTERN_ID unhashed only when configured', async () => {
    const withId = contextFor(
      metaConnector,
      { ...CONFIG, send_extern_id: true },
      { META_GRAPH_URL: fake.url },
    );
    const id = await audience();
    const p = [person('cust-42', { email: 'x@example.com' })];
    await metaConnector.push(withId, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(metaConnector, p, withId.config),
    });
    expect((fake.requests.at(-1)!.body as { payload: unknown }).payload).toEqual({
      schema: ['EXTERN_ID', 'EMAIL'],
      data: [['cust-42', sha256Hex('x@example.com')]],
    });
    expect(metaConnector.matchKeys(person('only-id'), withId.config)).toEqual({ external_id: 'only-id' });
    expect(metaConnector.matchKeys(person('only-id'))).toBeNull();
  });

  it('describes size and match rate as Meta reports them', async () => {
    const id = await audience();
    await metaConnector.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(metaConnector, people(1500)),
    });
    const d = await metaConnector.describe(ctx, id);
    expect(d.platformAudienceId).toBe(id);
    expect(d.sizeLowerBound).toBe(1350);
    expect(d.sizeUpperBound).toBe(1650);
    expect(d.matchRate).toBeCloseTo(0.6, 2);
    expect(d.status).toBe('200 Normal');
  });

  it('a platform that does not answer in time is a retryable timeout', async () => {
    const id = await audience();
    const slow = contextFor(metaConnector, CONFIG, { META_GRAPH_URL: fake.url }, { timeoutMs: 100 });
    fake.controls.setLatency(1_000);
    const error = await metaConnector
      .push(slow, {
        audienceId: 'a',
        platformAudienceId: id,
        op: 'add',
        rows: rowsFor(metaConnector, people(1)),
      })
      .catch((e: unknown) => e);
    fake.controls.setLatency(0);
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).message).toMatch(/timed out after 100 ms/);
  });
});
