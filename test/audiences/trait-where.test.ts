import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildAudiences } from '../../src/audiences/build.js';
import { explainPerson, formatExplanation } from '../../src/audiences/explain.js';
import { readMembers } from '../../src/audiences/members.js';
import { DIALECTS } from '../../src/audiences/sql/dialects/index.js';
import { sqlScript } from '../../src/cli/commands/sql.js';
import { type AudienceSyncConfig, parseAudienceSyncConfig } from '../../src/config-file.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { configErrorOf } from '../helpers/config-error.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { definitionHashes } from './definition-hashes.js';
import { expectScriptAgreesWithBuild } from './duckdb-script.js';
import { ev, msg, person, writePart } from './fixtures.js';

/**
 * Traits as operands of a records condition's `where` (docs/traits.md#traits-in-where): the build
 * aggregates those records after the traits they read (stage tables), the DuckDB script printed by
 * `audience-sync sql` computes the same members, the warehouse scripts are golden files, explain
 * shows the trait values, and the configuration is checked when it loads.
 */

const D = '2026-03-10';
const GOLDEN = new URL('./golden/', import.meta.url).pathname;

const YAML = `version: 1
traits:
  aov: { avg: { event: order, property: value, within_days: 30 } }
  # Stage 1: orders above the person's own average.
  big_orders: { count: { event: order, within_days: 30, where: { value: { gt: { trait: aov } } } } }
  last_sku: { last: { event: order, property: sku, within_days: 30 }, type: string }
  # Stage 2: reads big_orders, itself counted after aov.
  small_orders: { count: { event: order, within_days: 30, where: { value: { lte: { trait: aov } }, n: { lt: { trait: big_orders } } } } }
  big_gap: { median_gap_days: { event: order, within_days: 30, where: { value: { lte: { trait: aov } } } } }
  fav_campaign:
    case:
      - { when: { person: { country: FR } }, value: "501" }
      - else: "502"
audiences:
  # Orders of the last 3 days worth at least the person's 30-day average.
  - id: above_average
    type: segment
    when: { event: order, within_days: 3, where: { value: { gte: { trait: aov } } } }
  # Views of another product than the last one ordered, and clicks on the person's campaign.
  - id: browsing_on
    type: top_fraction
    when:
      all:
        - { event: product_viewed, within_days: 7, where: { sku: { ne: { trait: last_sku } } } }
        - { message: { channel: email, metric: clicked }, within_days: 7, where: { campaign_id: { trait: fav_campaign } } }
    score: [{ weight: 1, trait: big_orders }, { weight: 0.5, trait: small_orders }, { weight: 0.1, trait: big_gap }]
    top_fraction: 1
`;

function config(yaml: string): AudienceSyncConfig {
  return parseAudienceSyncConfig(yaml, 'test.yaml', {}).config;
}

async function members(store: ObjectStore, id: string) {
  const out = [];
  for await (const m of readMembers(store, id, D)) out.push(m);
  return out;
}

describe('traits in where', () => {
  let t: TestStore & { root: string };
  let store: ObjectStore;
  beforeEach(async () => {
    t = await createFsTestStore();
    store = t.store;
    await writePart(store, 'people', D, 'p', [
      person('a', '2026-01-01T00:00:00.000Z', { country: 'FR' }),
      person('b', '2026-01-01T00:00:00.000Z'),
      person('c', '2026-01-01T00:00:00.000Z'),
      person('d', '2026-01-01T00:00:00.000Z'),
    ]);
    // a: orders 10 (02-20), 20 (03-01), 60 (03-08 00:00, the first instant of the 3-day window):
    // aov 30, one order above it, the last sku "s3".
    await writePart(store, 'events', '2026-02-20', 'p', [
      ev('a1', 'a', 'order', '2026-02-20T10:00:00.000Z', { value: 10, sku: 's1', n: 0 }),
    ]);
    await writePart(store, 'events', '2026-03-01', 'p', [
      ev('a2', 'a', 'order', '2026-03-01T10:00:00.000Z', { value: 20, sku: 's2', n: 0 }),
    ]);
    await writePart(store, 'events', '2026-03-07', 'p', [
      // b: a large order one millisecond before the 3-day window [03-08, 03-10]: in aov, not in
      // above_average.
      ev('b1', 'b', 'order', '2026-03-07T23:59:59.999Z', { value: 100, sku: 'x' }),
    ]);
    await writePart(store, 'events', '2026-03-08', 'p', [
      ev('a3', 'a', 'order', '2026-03-08T00:00:00.000Z', { value: 60, sku: 's3', n: 0 }),
      ev('b2', 'b', 'order', '2026-03-08T12:00:00.000Z', { value: 50, sku: 'y' }),
    ]);
    await writePart(store, 'events', D, 'p', [
      // c: no order at all, so aov is missing: every test against it fails, ne included.
      ev('c1', 'c', 'product_viewed', '2026-03-10T09:00:00.000Z', { sku: 'z' }),
      ev('a4', 'a', 'product_viewed', '2026-03-10T09:00:00.000Z', { sku: 's3' }),
      ev('a5', 'a', 'product_viewed', '2026-03-10T10:00:00.000Z', { sku: 's1' }),
      ev('b3', 'b', 'product_viewed', '2026-03-10T10:00:00.000Z', { sku: 'y' }),
      ev('b4', 'b', 'product_viewed', '2026-03-10T11:00:00.000Z', {}),
      // d: an order without a value: aov is missing, and so is the value.
      ev('d1', 'd', 'order', '2026-03-10T11:00:00.000Z', { sku: 'q' }),
    ]);
    await writePart(store, 'messages', D, 'p', [
      msg('m1', 'a', 'email', 'clicked', '2026-03-10T12:00:00.000Z', { campaign_id: '501' }),
      msg('m2', 'b', 'email', 'clicked', '2026-03-10T12:00:00.000Z', { campaign_id: '501' }),
      msg('m3', 'b', 'email', 'clicked', '2026-03-10T13:00:00.000Z', { campaign_id: '502' }),
      msg('m4', 'c', 'email', 'clicked', '2026-03-10T12:00:00.000Z', { campaign_id: '502' }),
    ]);
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('builds members from records compared with their person’s traits; the DuckDB script agrees', async () => {
    const c = config(YAML);
    const built = await buildAudiences({ store, config: c, day: D, engine: { threads: 1 } });
    // The hashes the definition-hash tests compute are those the build writes in its manifests.
    expect(Object.fromEntries(built.audiences.map((m) => [m.audience, m.definition_hash]))).toEqual(
      definitionHashes(c, D),
    );
    // a: 60 >= aov 30 on 03-08 (the window's first instant). b: aov 75; 100 is before the window,
    // 50 < 75. c, d: aov missing.
    expect((await members(store, 'above_average')).map((m) => m.customer_id)).toEqual(['a']);
    // a: viewed s1 (not s3, the last sku ordered) and clicked campaign 501 (FR). b: viewed y, its
    // last sku, and a product without a sku (a missing value is not equal to the trait: it counts),
    // and clicked 502. c: no order, so no last sku: ne fails.
    // Scores: a: big_orders 1 (60 > 30) + 0.5 × small_orders 2 (10 and 20 <= 30, n 0 < 1) + 0.1 ×
    // big_gap 9 (02-20 to 03-01); b: big_orders 1 (100 > 75), small_orders 0 (no n: the test fails),
    // big_gap missing (one order <= 75), counted 0.
    expect((await members(store, 'browsing_on')).map((m) => [m.customer_id, m.score])).toEqual([
      ['a', 2.9],
      ['b', 1],
    ]);

    const script = await expectScriptAgreesWithBuild(store, c, D, ['above_average', 'browsing_on']);
    expect(script).toContain('CREATE OR REPLACE TEMP TABLE features_2 AS');
  });

  it('never_send and case tiers read traits in where too', async () => {
    const c = config(`version: 1
never_send: { event: refund, within_days: 30, where: { amount: { gte: { trait: aov } } } }
traits:
  aov: { avg: { event: order, property: value, within_days: 30 } }
  refunder:
    case:
      - { when: { event: refund, within_days: 30, where: { amount: { gt: { trait: half_aov } } } }, value: "yes" }
      - else: "no"
  half_aov: { expr: "aov / 2" }
audiences:
  - id: buyers
    type: segment
    when: { event: order, within_days: 30 }
  - id: not_refunders
    type: segment
    when: { trait: { refunder: "no" } }
`);
    // a: refund 40 >= aov 30: never sent. b: refund 50 < aov 75 but > 37.5: a refunder.
    // c: a refund but no order: aov missing, so neither blocked nor a refunder. d: orders only.
    await writePart(store, 'events', D, 'r', [
      ev('r1', 'a', 'refund', '2026-03-10T12:00:00.000Z', { amount: 40 }),
      ev('r2', 'b', 'refund', '2026-03-10T12:00:00.000Z', { amount: 50 }),
      ev('r3', 'c', 'refund', '2026-03-10T12:00:00.000Z', { amount: 1 }),
    ]);
    await buildAudiences({ store, config: c, day: D, engine: { threads: 1 } });
    expect((await members(store, 'buyers')).map((m) => m.customer_id)).toEqual(['b', 'd']);
    expect((await members(store, 'not_refunders')).map((m) => m.customer_id)).toEqual(['c', 'd']);
    await expectScriptAgreesWithBuild(store, c, D, ['buyers', 'not_refunders']);
  });

  it('an audience whose where reads a score table fails with it when it is stale, and uses it when fresh', async () => {
    const yaml = (max: number) => `version: 1
score_tables:
  budget: { prefix: models/budget, format: csv, max_age_days: ${max}, columns: { limit: number } }
traits:
  limit: { score_table: budget, column: limit }
  over_limit: { count: { event: order, within_days: 30, where: { value: { gt: { trait: limit } } } } }
audiences:
  - id: over_budget_now
    type: segment
    when: { event: order, within_days: 30, where: { value: { gt: { trait: limit } } } }
  - id: over_budget_count
    type: segment
    when: { trait: { over_limit: { gte: 1 } } }
  - id: buyers
    type: segment
    when: { event: order, within_days: 30 }
`;
    // a's largest order is 60, b's 100; c has no row: its limit is missing, no order passes.
    await store.put('models/budget/dt=2026-03-08/part-0.csv', 'customer_id,limit\na,50\nb,100\nc,\n');
    await store.put('models/budget/dt=2026-03-08/_SUCCESS', '');
    const stale = await buildAudiences({ store, config: config(yaml(1)), day: D, engine: { threads: 1 } });
    expect(stale.failed.map((f) => [f.audience, f.reason])).toEqual([
      ['over_budget_now', 'stale'],
      ['over_budget_count', 'stale'],
    ]);
    expect(stale.audiences.map((m) => m.audience)).toEqual(['buyers']);
    const fresh = await buildAudiences({ store, config: config(yaml(2)), day: D, engine: { threads: 1 } });
    expect(fresh.failed).toEqual([]);
    expect((await members(store, 'over_budget_now')).map((m) => m.customer_id)).toEqual(['a']);
    expect((await members(store, 'over_budget_count')).map((m) => m.customer_id)).toEqual(['a']);
  });

  it('explain shows the trait values a where compares with', async () => {
    const explain = (customerId: string) =>
      explainPerson({ store, config: config(YAML), customerId, day: D, engine: { threads: 1 } });
    const e = await explain('c');
    const browsing = e.audiences.find((a) => a.id === 'browsing_on')!;
    expect(browsing.condition).toMatchObject({
      kind: 'all',
      matched: false,
      parts: [
        { kind: 'records', matched: false, count: 0, trait_values: { last_sku: null } },
        { kind: 'records', matched: true, count: 1, trait_values: { fav_campaign: '502' } },
      ],
    });
    const text = formatExplanation(e).join('\n');
    expect(text).toContain(
      '✗ event product_viewed where {"sku":{"ne":{"trait":"last_sku"}}} in 2026-03-04..2026-03-10 (7 days): 0 seen, min_count 1 (trait last_sku = missing)',
    );
    const a = await explain('a');
    expect(a.audiences.find((x) => x.id === 'above_average')!.condition).toMatchObject({
      kind: 'records',
      matched: true,
      count: 1,
      trait_values: { aov: 30 },
    });
  });

  for (const name of ['athena', 'bigquery', 'snowflake'] as const) {
    it(`sql prints the stages for ${name} (golden; not run against the engine)`, async () => {
      const script = await sqlScript({
        config: config(YAML),
        day: D,
        dialect: DIALECTS[name],
        warehouse: { location: 's3://acme-audiences/prod' },
      });
      const file = join(GOLDEN, `${name}-trait-where.sql`);
      if (process.env.UPDATE_GOLDEN === '1') {
        await mkdir(GOLDEN, { recursive: true });
        await writeFile(file, script);
      }
      expect(script, `${name}-trait-where.sql differs: rerun with UPDATE_GOLDEN=1 and review the diff`).toBe(
        await readFile(file, 'utf8'),
      );
    });
  }
});

describe('traits in where: the definition hash', () => {
  const hashes = (yaml: string) => definitionHashes(config(yaml), D);

  it('changes with a trait a where reads, in the condition or inside a trait it reads', () => {
    const before = hashes(YAML);
    // aov: read by above_average's where, and by the wheres of big_orders (browsing_on's score).
    const aov = hashes(YAML.replace('aov: { avg:', 'aov: { max:'));
    expect(aov.above_average).not.toBe(before.above_average);
    expect(aov.browsing_on).not.toBe(before.browsing_on);
    // fav_campaign: read by browsing_on's message where only.
    const campaign = hashes(YAML.replace('value: "501"', 'value: "503"'));
    expect(campaign.browsing_on).not.toBe(before.browsing_on);
    expect(campaign.above_average).toBe(before.above_average);
  });
});

describe('traits in where: configuration errors', () => {
  const base = `version: 1
traits:
  aov: { avg: { event: order, property: value, within_days: 30 } }
  tier: { bucket: { of: aov, tiers: [{ below: 50, value: low }, { value: high }] } }
`;

  it('a trait operand of the wrong kind names the YAML path', () => {
    expect(
      configErrorOf(
        `${base}audiences:\n  - { id: x, type: segment, when: { event: order, where: { value: { gt: 10, lt: { trait: tier } } } } }`,
      ),
    ).toBe(
      'test.yaml: audiences[0].when.where.value.lt: trait "tier" is a string; value is compared with a number here (value.gt: 10 is a number)',
    );
    expect(
      configErrorOf(
        `${base}  big: { sum: { event: order, property: value, where: { value: { gt: { trait: tier } } } } }\naudiences: []`,
      ),
    ).toBe(
      'test.yaml: traits.big.sum.where.value.gt: trait "tier" is a string; value is a number property here (the trait\'s sum reads it as a number)',
    );
  });

  it('an unknown trait, a trait operand where none is allowed, and in with a trait', () => {
    expect(
      configErrorOf(
        `${base}audiences:\n  - { id: x, type: segment, when: { any: [{ event: order, where: { value: { trait: nope } } }] } }`,
      ),
    ).toBe(
      'test.yaml: audiences[0].when.any[0].where.value.trait: unknown trait "nope" (defined: aov, tier)',
    );
    expect(
      configErrorOf(
        `${base}audiences:\n  - { id: x, type: top_fraction, top_fraction: 1, when: { event: order }, score: [{ weight: 1, count: { event: order, where: { value: { gt: { trait: aov } } } } }] }`,
      ),
    ).toBe(
      'test.yaml: audiences[0].score[0].count.where.value.gt: a trait operand ({ trait: name }) is allowed in the where of event and message conditions and of trait aggregates only',
    );
    expect(
      configErrorOf(
        `${base}audiences:\n  - { id: x, type: segment, when: { event: order, where: { value: { in: [{ trait: aov }] } } } }`,
      ),
    ).toBe('test.yaml: audiences[0].when.where.value.in[0]: must be a string, number, boolean or null');
  });

  it('a trait whose where reads itself, directly or not, is a cycle', () => {
    expect(
      configErrorOf(
        `${base}  big: { count: { event: order, where: { value: { gt: { trait: big } } } } }\naudiences: []`,
      ),
    ).toBe('test.yaml: traits.big: traits depend on each other in a cycle: big → big');
    expect(
      configErrorOf(
        `${base}  big: { count: { event: order, where: { value: { gt: { trait: ratio } } } } }\n  ratio: { expr: "big / 2" }\naudiences: []`,
      ),
    ).toBe('test.yaml: traits.big: traits depend on each other in a cycle: big → ratio → big');
  });
});
