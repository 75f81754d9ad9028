import { hash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AudienceGoneError,
  AuthError,
  InvalidPayloadError,
  RateLimitedError,
} from '../../connectors/core/errors.js';
import { sha256Hex } from '../../connectors/core/normalize.js';
import { withRetries } from '../../connectors/core/retry.js';
import type { ConnectorContext, ConnectorSession } from '../../connectors/core/types.js';
import type { TiktokConfig } from '../../connectors/tiktok/config.js';
import { tiktokConnector } from '../../connectors/tiktok/index.js';
import type { Multipart } from '../fakes/http.js';
import { type FakeTiktok, startFakeTiktok } from '../fakes/tiktok.js';
import { contextFor, people, person, recordingSleep, rowsFor } from './helpers.js';

const tiktok = tiktokConnector;
const CONFIG = { type: 'tiktok', advertiser_id: 7000000000, access_token: 'tiktok-test-token' };

describe('tiktok connector against the fake Business API', () => {
  let fake: FakeTiktok;
  let ctx: ConnectorContext<TiktokConfig>;

  beforeEach(async () => {
    fake = await startFakeTiktok();
    ctx = contextFor(tiktok, CONFIG, { TIKTOK_API_URL: fake.url });
  });
  afterEach(async () => {
    expect(fake.state.shapeErrors).toEqual([]);
    await fake.close();
  });

  async function audience(name = 'High intent'): Promise<string> {
    return (await tiktok.ensureAudience(ctx, { audienceId: 'high_intent', name })).platformAudienceId;
  }

  it('creates the audience with the documented body, then finds it by name', async () => {
    const created = await tiktok.ensureAudience(ctx, { audienceId: 'high_intent', name: 'High intent' });
    expect(created.created).toBe(true);
    const create = fake.requests.find((r) => r.path.endsWith('/segment/audience/'))!;
    expect(create.body).toEqual({
      custom_audience_name: 'High intent',
      advertiser_id: '7000000000',
      action: 'create',
    });
    expect(create.headers['access-token']).toBe('tiktok-test-token');
    const again = await tiktok.ensureAudience(ctx, { audienceId: 'high_intent', name: 'High intent' });
    expect(again).toEqual({ platformAudienceId: created.platformAudienceId, created: false });
    const racing = await Promise.all(
      [1, 2, 3].map(() => tiktok.ensureAudience(ctx, { audienceId: 'r', name: 'Racing' })),
    );
    expect(new Set(racing.map((r) => r.platformAudienceId)).size).toBe(1);
    const other = contextFor(tiktok, CONFIG, { TIKTOK_API_URL: fake.url });
    const [a, b] = await Promise.all([
      tiktok.ensureAudience(ctx, { audienceId: 'x', name: 'Two workers' }),
      tiktok.ensureAudience(other, { audienceId: 'x', name: 'Two workers' }),
    ]);
    expect(a.platformAudienceId).toBe(b.platformAudienceId);
    expect(
      [...fake.state.audiences.values()].filter((x) => !x.deleted && x.name === 'Two workers'),
    ).toHaveLength(1);
  });

  it('adds through the mapping API with id_schema alignment and {} for missing identifiers', async () => {
    const id = await audience();
    const ppl = [
      person('a', { email: 'JaneDoe+ads@gmail.com', phone: '(657)777-0000', country: 'US' }),
      person('b', { maid: '5F3A2B18-9C4D-4E7F-B8E2-17D3A1E69B25' }),
      person('c', {}),
    ];
    const result = await tiktok.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(tiktok, ppl),
    });
    const mapping = fake.requests.at(-1)!;
    expect(mapping.path).toBe('/open_api/v1.3/segment/mapping/');
    expect(mapping.body).toEqual({
      advertiser_ids: ['7000000000'],
      action: 'add',
      id_schema: ['EMAIL_SHA256', 'PHONE_SHA256', 'IDFA_SHA256'],
      batch_data: [
        [
          { id: 'd6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69', audience_ids: [id] },
          { id: '8d7bdaaf75196f351d22942fc0dd79304ffabc3eaf3339460ef9da0773e3aec2', audience_ids: [id] },
          {},
        ],
        [
          {},
          {},
          { id: '83dc3f5f32b9472613b0f038d36f22585a609d018af6f6067f50da318bf354bd', audience_ids: [id] },
        ],
      ],
    });
    expect(result.rows).toEqual([
      { key: 'a', status: 'accepted' },
      { key: 'b', status: 'accepted' },
      { key: 'c', status: 'skipped', code: 'no_identifiers', reason: 'no email, phone or MAID for TikTok' },
    ]);
    expect(fake.state.audiences.get(id)!.members.size).toBe(3);
  });

  it('deletes through the mapping API', async () => {
    const id = await audience();
    const ppl = people(4);
    await tiktok.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(tiktok, ppl),
    });
    await tiktok.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'remove',
      rows: rowsFor(tiktok, ppl.slice(0, 3)),
    });
    expect((fake.requests.at(-1)!.body as { action: string }).action).toBe('delete');
    const members = fake.state.audiences.get(id)!.members;
    expect(members.has(`EMAIL_SHA256:${sha256Hex(ppl[3]!.email!)}`)).toBe(true);
    expect(members.has(`EMAIL_SHA256:${sha256Hex(ppl[0]!.email!)}`)).toBe(false);
  });

  it('replaces through the customer-file API: MD5-signed CSV uploads, then REPLACE stated explicitly', async () => {
    const id = await audience();
    await tiktok.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(tiktok, people(10, 'old')),
    });
    const fresh = people(1200, 'new');
    let session: ConnectorSession | undefined;
    for (const [i, slice] of [fresh.slice(0, 600), fresh.slice(600)].entries()) {
      const r = await tiktok.replace!(ctx, {
        audienceId: 'a',
        platformAudienceId: id,
        rows: rowsFor(tiktok, slice),
        last: i === 1,
        estimatedTotal: 1200,
        ...(session ? { session } : {}),
      });
      session = r.session;
      expect(r.rows.every((x) => x.status === 'accepted')).toBe(true);
    }
    const uploads = fake.requests.filter((r) => r.path.endsWith('/file/upload/'));
    expect(uploads).toHaveLength(4); // email + phone files, per batch
    const first = uploads[0]!.body as Multipart;
    expect(first.fields.calculate_type).toBe('EMAIL_SHA256');
    expect(first.fields.file_signature).toBe(hash('md5', first.files.file!.content));
    expect(first.files.file!.content.toString().split('\n')[0]).toBe(sha256Hex(fresh[0]!.email!));
    expect(fake.state.updates).toEqual([
      { audienceId: id, action: 'REPLACE', file_paths: ['tt-file-1', 'tt-file-2', 'tt-file-3', 'tt-file-4'] },
    ]);
    const emails = [...fake.state.audiences.get(id)!.members].filter((m) => m.startsWith('EMAIL_SHA256:'));
    expect(emails.sort()).toEqual(fresh.map((p) => `EMAIL_SHA256:${sha256Hex(p.email!)}`).sort());
  });

  it('refuses a replacement below 1,000 people before asking TikTok', async () => {
    const id = await audience();
    const error = await tiktok.replace!(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      rows: rowsFor(tiktok, people(20)),
      last: true,
      estimatedTotal: 20,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect((error as Error).message).toMatch(/fewer than 1000 people \(this one has 20\)/);
    expect(fake.state.updates).toEqual([]);
  });

  it('a non-zero code inside HTTP 200 is an error: throttling is rate-limited and recovers', async () => {
    const id = await audience();
    const rows = rowsFor(tiktok, people(3));
    fake.controls.throttle(1);
    const error = await tiktok
      .push(ctx, { audienceId: 'a', platformAudienceId: id, op: 'add', rows })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).code).toBe(40100);
    expect((error as RateLimitedError).status).toBe(200);
    fake.controls.throttle(2);
    const { sleep, waits } = recordingSleep();
    const result = await withRetries(
      () => tiktok.push(ctx, { audienceId: 'a', platformAudienceId: id, op: 'add', rows }),
      { sleep },
    );
    expect(waits).toEqual([60_000, 120_000]);
    expect(result.rows.every((r) => r.status === 'accepted')).toBe(true);
  });

  it('partial failure: TikTok judges whole requests, so one rejected batch fails alone and is classified by its code', async () => {
    const id = await audience();
    const ppl = people(6);
    await tiktok.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(tiktok, ppl.slice(0, 2)),
    });
    fake.controls.failNext(40002, 'Invalid parameter: batch_data');
    const error = await tiktok
      .push(ctx, {
        audienceId: 'a',
        platformAudienceId: id,
        op: 'add',
        rows: rowsFor(tiktok, ppl.slice(2, 4)),
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect((error as InvalidPayloadError).code).toBe(40002);
    const third = await tiktok.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(tiktok, [...ppl.slice(4), person('empty')]),
    });
    expect(third.rows.map((r) => r.status)).toEqual(['accepted', 'accepted', 'skipped']);
    const members = fake.state.audiences.get(id)!.members;
    expect([0, 1, 4, 5].every((i) => members.has(`EMAIL_SHA256:${sha256Hex(ppl[i]!.email!)}`))).toBe(true);
    expect([2, 3].some((i) => members.has(`EMAIL_SHA256:${sha256Hex(ppl[i]!.email!)}`))).toBe(false);
  });

  it('an expired token is a fatal auth error without the token in it', async () => {
    const id = await audience();
    fake.controls.expireToken();
    const error = await tiktok
      .push(ctx, { audienceId: 'a', platformAudienceId: id, op: 'add', rows: rowsFor(tiktok, people(1)) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).code).toBe(40105);
    expect((error as Error).message).not.toContain('tiktok-test-token');
  });

  it('an audience deleted on the platform: describe and push say so, ensureAudience creates a new one', async () => {
    const id = await audience();
    fake.controls.deleteAudience(id);
    // describe is how the sync engine checks an audience it knows.
    const gone = await tiktok.describe(ctx, id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(AudienceGoneError);
    expect(gone).toMatchObject({ kind: 'audience_gone', retry: false, platformAudienceId: id, code: 40002 });
    expect(fake.requests.at(-1)).toMatchObject({
      method: 'GET',
      path: '/open_api/v1.3/dmp/custom_audience/get/',
      query: { custom_audience_ids: JSON.stringify([id]) },
    });
    const error = await tiktok
      .push(ctx, { audienceId: 'a', platformAudienceId: id, op: 'add', rows: rowsFor(tiktok, people(1)) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AudienceGoneError);
    // Find-or-create by name no longer finds the deleted one, so it creates a new audience.
    const again = await tiktok.ensureAudience(ctx, { audienceId: 'high_intent', name: 'High intent' });
    expect(again.created).toBe(true);
    expect(again.platformAudienceId).not.toBe(id);
    expect(fake.state.audiences.get(id)?.deleted).toBe(true);
    expect(
      [...fake.state.audiences.values()]
        .filter((a) => !a.deleted && a.name === 'High intent')
        .map((a) => a.id),
    ).toEqual([again.platformAudienceId]);
    await expect(tiktok.describe(ctx, again.platformAudienceId)).resolves.toMatchObject({
      platformAudienceId: again.platformAudienceId,
      name: 'High intent',
    });
  });

  it('describes the audience size TikTok reports', async () => {
    const id = await audience();
    await tiktok.push(ctx, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(tiktok, people(600)),
    });
    const d = await tiktok.describe(ctx, id);
    expect(d).toMatchObject({ platformAudienceId: id, name: 'High intent', size: 1200, status: 'valid' });
  });

  it('uses GAID_SHA256 for MAIDs when configured', async () => {
    const gaid = contextFor(tiktok, { ...CONFIG, maid_type: 'GAID' }, { TIKTOK_API_URL: fake.url });
    const id = await audience();
    await tiktok.push(gaid, {
      audienceId: 'a',
      platformAudienceId: id,
      op: 'add',
      rows: rowsFor(tiktok, [person('m', { maid: '5f3a2b18-9c4d-4e7f-b8e2-17d3a1e69b25' })]),
    });
    expect((fake.requests.at(-1)!.body as { id_schema: string[] }).id_schema).toEqual(['GAID_SHA256']);
  });
});
