import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthError, RateLimitedError } from '../../connectors/core/errors.js';
import { withRetries } from '../../connectors/core/retry.js';
import type { ConnectorContext, SyncRow } from '../../connectors/core/types.js';
import { writeBackAttributes } from '../../connectors/customerio/attributes.js';
import type { CioConfig } from '../../connectors/customerio/config.js';
import { customerioConnector } from '../../connectors/customerio/index.js';
import type { MemberRecord } from '../../src/contract/records.js';
import { writeBackMappingSchema } from '../../src/contract/write-back.js';
import { type FakeCustomerio, startFakeCustomerio } from '../fakes/customerio.js';
import { contextFor, recordingSleep } from './helpers.js';

const cio = customerioConnector;
const mapping = writeBackMappingSchema.parse({
  paid_group: 'group',
  recovery_score: 'score',
  recovery_decile: 'decile',
  in_paid_audience: 'member',
});

function member(id: string, rank: number, group: 'treatment' | 'holdout' = 'treatment'): MemberRecord {
  return { customer_id: id, group, score: 10 - rank / 10, rank, entered: '2026-11-20' };
}

function rows(members: MemberRecord[], size: number): SyncRow[] {
  return members.map((m) => ({
    key: m.customer_id,
    keys: { external_id: m.customer_id },
    attributes: writeBackAttributes(mapping, m, { audienceId: 'high_intent', audienceSize: size }),
  }));
}

describe('customer.io write-back against the fake Track API', () => {
  let fake: FakeCustomerio;
  let ctx: ConnectorContext<CioConfig>;
  let config: Record<string, unknown>;

  beforeEach(async () => {
    fake = await startFakeCustomerio();
    config = { type: 'customerio', site_id: fake.state.siteId, api_key: fake.state.apiKey };
    ctx = contextFor(cio, config, { CIO_TRACK_URL: fake.url });
  });
  afterEach(async () => {
    expect(fake.state.shapeErrors).toEqual([]);
    await fake.close();
  });

  it('maps member fields to attributes (group, score, decile, membership flag)', () => {
    expect(
      writeBackAttributes(mapping, member('a', 15, 'holdout'), { audienceId: 'x', audienceSize: 100 }),
    ).toEqual({
      paid_group: 'holdout',
      recovery_score: 8.5,
      recovery_decile: 2,
      in_paid_audience: true,
    });
    expect(writeBackAttributes(mapping, null, { audienceId: 'x', audienceSize: 100 })).toEqual({
      paid_group: null,
      recovery_score: null,
      recovery_decile: null,
      in_paid_audience: null,
    });
    expect(() => writeBackMappingSchema.parse({ x: 'email' })).toThrow(/must be one of group, score/);
  });

  it('"ensures" the audience by checking credentials, then identifies people in one v2 batch with Basic auth', async () => {
    const ensured = await cio.ensureAudience(ctx, { audienceId: 'high_intent', name: 'High intent' });
    expect(ensured).toEqual({ platformAudienceId: 'high_intent', created: false });
    const result = await cio.push(ctx, {
      audienceId: 'high_intent',
      platformAudienceId: 'high_intent',
      op: 'add',
      rows: rows([member('c1', 1), member('c2', 2, 'holdout')], 20),
    });
    const sent = fake.requests.at(-1)!;
    expect(sent.path).toBe('/api/v2/batch');
    expect(sent.headers.authorization).toBe(
      `Basic ${Buffer.from('site-123:cio-key-abc').toString('base64')}`,
    );
    expect(sent.body).toEqual({
      batch: [
        {
          type: 'person',
          identifiers: { id: 'c1' },
          action: 'identify',
          attributes: {
            paid_group: 'treatment',
            recovery_score: 9.9,
            recovery_decile: 1,
            in_paid_audience: true,
          },
        },
        {
          type: 'person',
          identifiers: { id: 'c2' },
          action: 'identify',
          attributes: {
            paid_group: 'holdout',
            recovery_score: 9.8,
            recovery_decile: 1,
            in_paid_audience: true,
          },
        },
      ],
    });
    expect(result.rows).toEqual([
      { key: 'c1', status: 'accepted' },
      { key: 'c2', status: 'accepted' },
    ]);
    expect(fake.state.people.get('c2')).toEqual({
      paid_group: 'holdout',
      recovery_score: 9.8,
      recovery_decile: 1,
      in_paid_audience: true,
    });
  });

  it('removal clears the same attributes', async () => {
    await cio.push(ctx, {
      audienceId: 'a',
      platformAudienceId: 'a',
      op: 'add',
      rows: rows([member('c1', 1)], 10),
    });
    const leaving: SyncRow[] = [
      {
        key: 'c1',
        keys: { external_id: 'c1' },
        attributes: writeBackAttributes(mapping, null, { audienceId: 'a', audienceSize: 10 }),
      },
    ];
    await cio.push(ctx, { audienceId: 'a', platformAudienceId: 'a', op: 'remove', rows: leaving });
    expect(
      (fake.requests.at(-1)!.body as { batch: Array<{ attributes: unknown }> }).batch[0]!.attributes,
    ).toEqual({
      paid_group: '',
      recovery_score: '',
      recovery_decile: '',
      in_paid_audience: '',
    });
    expect(fake.state.people.get('c1')).toEqual({});
  });

  it('429 is rate-limited with Retry-After, and recovers', async () => {
    fake.controls.throttle(1, 3);
    const batch = rows([member('c1', 1)], 10);
    const error = await cio
      .push(ctx, { audienceId: 'a', platformAudienceId: 'a', op: 'add', rows: batch })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).delayMs).toBe(3_000);
    fake.controls.throttle(1, 4);
    const { sleep, waits } = recordingSleep();
    await withRetries(
      () => cio.push(ctx, { audienceId: 'a', platformAudienceId: 'a', op: 'add', rows: batch }),
      { sleep },
    );
    expect(waits).toEqual([4_000]);
    expect(fake.state.people.get('c1')?.paid_group).toBe('treatment');
  });

  it('a 207 partial failure marks exactly the entries Customer.io names', async () => {
    fake.controls.rejectIds(['c2']);
    const batch = [
      ...rows([member('c1', 1), member('c2', 2), member('c3', 3)], 10),
      { key: 'c4', keys: { external_id: 'c4' } },
    ];
    const result = await cio.push(ctx, { audienceId: 'a', platformAudienceId: 'a', op: 'add', rows: batch });
    expect(result.rows.map((r) => r.status)).toEqual(['accepted', 'rejected', 'accepted', 'skipped']);
    expect(result.rows[1]).toMatchObject({
      key: 'c2',
      code: 'invalid',
      reason: 'Customer.io: invalid / identifiers / person cannot be identified',
    });
    expect(fake.state.people.has('c2')).toBe(false);
    expect(fake.state.people.has('c3')).toBe(true);
  });

  it('a revoked key is a fatal auth error, found by ensureAudience before any batch', async () => {
    fake.controls.revokeKey();
    const error = await cio.ensureAudience(ctx, { audienceId: 'a', name: 'a' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as Error).message).not.toContain('cio-key-abc');
  });

  it('splits a batch of large attribute sets into requests under 500 KB', async () => {
    const big = writeBackMappingSchema.parse(
      Object.fromEntries(
        Array.from({ length: 40 }, (_, i) => [`attribute_number_${i}_with_a_long_name`, 'audience']),
      ),
    );
    const many: SyncRow[] = Array.from({ length: 1000 }, (_, i) => ({
      key: `customer-${i}`,
      keys: { external_id: `customer-${i}` },
      attributes: writeBackAttributes(big, member(`customer-${i}`, i + 1), {
        audienceId: 'an_audience_with_a_fairly_long_identifier',
        audienceSize: 1000,
      }),
    }));
    const result = await cio.push(ctx, { audienceId: 'a', platformAudienceId: 'a', op: 'add', rows: many });
    expect(result.requests).toBeGreaterThan(1);
    for (const r of fake.requests.filter((x) => x.path === '/api/v2/batch'))
      expect(Buffer.byteLength(r.rawBody)).toBeLessThan(500 * 1024);
    expect(fake.state.people.size).toBe(1000);
  });
});
