import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type App, buildApp } from '../../src/api/app.js';
import { buildAudiences } from '../../src/audiences/build.js';
import { readMembers } from '../../src/audiences/members.js';
import { parseEnv } from '../../src/config/env.js';
import { loadAudienceSyncConfig } from '../../src/config-file.js';
import { createLogger } from '../../src/log.js';
import { writeJsonl } from '../../src/storage/jsonl.js';
import { createFsTestStore, type TestStore, uniqueName } from '../helpers/stores.js';
import { deletePrefix, testRedis } from '../ingest/harness.js';

/** `GET /v1/audiences/:id/explain` through `inject`: auth, the answer's shape, 404s and 400s. */
const DAY = '2026-11-20';
const CONFIG = `
version: 1
traits:
  checkouts: { count: { event: checkout_started, within_days: 7 } }
  tier: { bucket: { of: checkouts, tiers: [{ below: 2, value: one }, { value: many }] } }
audiences:
  - id: buyers
    type: segment
    when: { event: order_completed, within_days: 7 }
  - id: abandoners
    type: top_fraction
    exclude: [buyers]
    when:
      all:
        - { event: checkout_started, within_days: 7 }
        - person: { email: { ne: null } }
    score: [{ weight: 2, count: { event: checkout_started, within_days: 7 } }]
    top_fraction: 1
    holdout: { fraction: 0.5 }
  - id: repeaters
    type: top_fraction
    when: { trait: { tier: many } }
    score: [{ weight: 1, trait: checkouts }]
    top_fraction: 1
`;
const ADMIN = { authorization: 'Bearer admin-key-1' };

describe('explain route', () => {
  let t: TestStore;
  let dir: string;
  let app: App;
  let redis: Redis;
  const prefix = uniqueName('explaintest');

  beforeAll(async () => {
    t = await createFsTestStore();
    dir = await mkdtemp(join(tmpdir(), 'explain-config-'));
    const configPath = join(dir, 'audience-sync.yaml');
    await writeFile(configPath, CONFIG);
    const env = parseEnv({
      CONFIG: configPath,
      ADMIN_API_KEYS: 'admin-key-1',
      API_KEYS: 'ingest-key',
      QUEUE_PREFIX: prefix,
      REDIS_URL: inject('redisUrl'),
    });
    const ts = `${DAY}T10:00:00.000Z`;
    const ids = ['a1', 'a2', 'a3', 'b1'];
    await writeJsonl(
      t.store,
      `raw/people/dt=${DAY}/part-1-1.jsonl.gz`,
      ids.map((id) => ({ customer_id: id, email: `${id}@example.com`, phone: '+4915112345678', ts })),
    );
    await writeJsonl(
      t.store,
      `raw/events/dt=${DAY}/part-1-1.jsonl.gz`,
      [...ids, 'a1', 'b1'].map((id, i) => ({
        id: `e${i}`,
        customer_id: id,
        name: id === 'b1' && i > 3 ? 'order_completed' : 'checkout_started',
        raw_name: 'x',
        ts,
        properties: {},
        received_at: ts,
        source: 'test',
      })),
    );
    const loaded = await loadAudienceSyncConfig(configPath, {});
    await buildAudiences({ store: t.store, config: loaded.config, day: DAY, engine: { threads: 1 } });
    redis = testRedis();
    app = await buildApp({
      env,
      store: t.store,
      redis,
      redisPrefix: `${prefix}-ingest`,
      logger: createLogger({ level: 'silent' }),
      operator: { loadConfig: () => loadAudienceSyncConfig(configPath, {}) },
      adminRateLimit: 1000,
    });
  }, 60_000);
  afterAll(async () => {
    await app.close();
    await deletePrefix(redis, prefix);
    redis.disconnect();
    await t.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a missing or wrong key with 401', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Bearer ingest-key' }]) {
      const res = await app.inject({
        method: 'GET',
        url: '/v1/audiences/abandoners/explain?customer_id=a1',
        headers,
      });
      expect(res.statusCode).toBe(401);
      expect(res.body).not.toContain('admin-key-1');
    }
  });

  it('explains a member: the tree, the score, the cut, the group, as the build decided', async () => {
    const res = await app.inject({
      method: 'GET',
      url: `/v1/audiences/abandoners/explain?customer_id=a1&date=${DAY}`,
      headers: ADMIN,
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    const built = [];
    for await (const m of readMembers(t.store, 'abandoners', DAY)) built.push(m);
    const a1 = built.find((m) => m.customer_id === 'a1')!;
    expect(body).toMatchObject({ day: DAY, customer_id: 'a1', in_snapshot: true, never_send: null });
    expect(body.audiences.map((a: { id: string; requested: boolean }) => [a.id, a.requested])).toEqual([
      ['abandoners', true],
      ['buyers', false],
    ]);
    expect(body.audiences[0]).toMatchObject({
      id: 'abandoners',
      type: 'top_fraction',
      matched: true,
      eligible: true,
      selected: true,
      excluded_by: [],
      member: { rank: a1.rank, score: a1.score, group: a1.group, entered: a1.entered },
      score: {
        value: 4,
        terms: [
          { kind: 'count', weight: 2, value: 2, contribution: 4, source: { event: 'checkout_started' } },
        ],
      },
      selection: { eligible: 3, selected: 3, top_fraction: 1, cut_score: 2 },
      holdout: { fraction: 0.5 },
      condition: {
        kind: 'all',
        matched: true,
        parts: [
          { kind: 'records', matched: true, count: 2, min_count: 1 },
          { kind: 'person', matched: true, fields: [{ field: 'email', present: true, personal: true }] },
        ],
      },
    });
    expect(res.body).not.toContain('@example.com');
    expect(res.body).not.toContain('+4915112345678');
  });

  it('shows the traits an audience reads, its trait tests and trait score terms', async () => {
    const res = await app.inject({
      method: 'GET',
      url: `/v1/audiences/repeaters/explain?customer_id=a1&date=${DAY}`,
      headers: ADMIN,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().audiences[0]).toMatchObject({
      id: 'repeaters',
      selected: true,
      traits: { tier: 'many', checkouts: 2 },
      condition: { kind: 'trait', trait: 'tier', value: 'many', test: 'many', matched: true },
      score: {
        value: 2,
        terms: [{ kind: 'trait', trait: 'checkouts', weight: 1, value: 2, contribution: 2 }],
      },
    });
  });

  it('says which audience excluded a person', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/v1/audiences/abandoners/explain?customer_id=b1',
      headers: ADMIN,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().day).toBe(DAY); // the latest built day
    expect(res.json().audiences[0]).toMatchObject({
      matched: true,
      excluded_by: ['buyers'],
      selected: false,
    });
  });

  it('answers 404 for an unknown person or audience, 400 for a bad date or no customer id', async () => {
    const ghost = await app.inject({
      method: 'GET',
      url: `/v1/audiences/abandoners/explain?customer_id=ghost%40example.com&date=${DAY}`,
      headers: ADMIN,
    });
    expect(ghost.statusCode).toBe(404);
    expect(ghost.json()).toEqual({
      statusCode: 404,
      error: 'person_not_found',
      message: `the customer is not in the people snapshot of ${DAY} and has no records there`,
    });
    expect(ghost.body).not.toContain('ghost');
    const unknown = await app.inject({
      method: 'GET',
      url: '/v1/audiences/nobody/explain?customer_id=a1',
      headers: ADMIN,
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({
      error: 'not_found',
      message: 'audience nobody is not configured',
    });
    for (const url of [
      '/v1/audiences/abandoners/explain?customer_id=a1&date=yesterday',
      '/v1/audiences/abandoners/explain?customer_id=a1&date=2026-02-30',
      '/v1/audiences/abandoners/explain',
    ]) {
      const res = await app.inject({ method: 'GET', url, headers: ADMIN });
      expect(res.statusCode, url).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    }
  });

  it('is in the OpenAPI document', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.paths).toHaveProperty(['/v1/audiences/{id}/explain']);
    // Every reference resolves (a recursive schema inlined would leave a dangling one).
    for (const [, name] of JSON.stringify(doc).matchAll(/"#\/components\/schemas\/([^"]+)"/g))
      expect(doc.components?.schemas, name).toHaveProperty([name!]);
  });
});
