import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildAudiences } from '../../src/audiences/build.js';
import { explainPerson } from '../../src/audiences/explain.js';
import { readMembers } from '../../src/audiences/members.js';
import { openBuildSession } from '../../src/audiences/session.js';
import { duckdb } from '../../src/audiences/sql/dialect.js';
import { DIALECTS } from '../../src/audiences/sql/dialects/index.js';
import { compileBuildPlan } from '../../src/audiences/sql/plan.js';
import { sqlScript } from '../../src/cli/commands/sql.js';
import { type AudienceSyncConfig, parseAudienceSyncConfig } from '../../src/config-file.js';
import { updatePeopleSnapshot } from '../../src/people/snapshot.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { configErrorOf } from '../helpers/config-error.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { definitionHashes } from './definition-hashes.js';
import { expectScriptAgreesWithBuild } from './duckdb-script.js';
import { ev, person, writePart } from './fixtures.js';

const D = '2026-03-10';
const GOLDEN = new URL('./golden/', import.meta.url).pathname;

/** Every kind of trait, read by an audience's when and score. */
const SQL_YAML = `traits:
  orders: { count: { event: order, within_days: 365 } }
  spend: { sum: { event: order, property: value, within_days: 365 } }
  aov: { avg: { event: order, property: value, within_days: 365 } }
  top_order: { max: { event: order, property: value, within_days: 365 } }
  last_sku: { last: { event: order, property: sku, within_days: 365 }, type: string }
  first_value: { first: { event: order, property: value, within_days: 365 } }
  last_order_day: { last: { event: order, within_days: 365 } }
  gap: { median_gap_days: { event: order, within_days: 365 } }
  next_order: { expr: "last_order_day + coalesce(gap, 30)" }
  since: { days_since: { event: order, within_days: 365 }, default: 999 }
  tier:
    bucket: { of: since, tiers: [{ below: 30, value: active }, { below: 90, value: cooling }, { value: lapsed }] }
  value_tier:
    case:
      - when: { all: [{ trait: { spend: { gte: 100 } } }, { message: { channel: email, metric: opened }, within_days: 30 }] }
        value: engaged_vip
      - else: standard
audiences:
  - id: winback
    type: top_fraction
    when: { trait: { tier: { ne: active }, next_order: { lte: "2026-03-20" } } }
    score:
      - { weight: 1, trait: spend }
      - { weight: 0.1, trait: aov }
    top_fraction: 1
  - id: vips
    type: segment
    when: { trait: { value_tier: engaged_vip } }
`;

function config(yaml: string): AudienceSyncConfig {
  return parseAudienceSyncConfig(`version: 1\n${yaml}`, 'test.yaml', {}).config;
}

function configError(yaml: string): string {
  return configErrorOf(`version: 1\n${yaml}`);
}

/** Every trait of the file for every person the build sees, computed by the build's SQL. */
async function traitValues(
  store: ObjectStore,
  c: AudienceSyncConfig,
): Promise<Record<string, Record<string, unknown>>> {
  await updatePeopleSnapshot({ store, day: D });
  const plan = compileBuildPlan({
    dialect: duckdb,
    day: D,
    audiences: [],
    neverSend: undefined,
    traits: c.traits,
    extraTraits: Object.keys(c.traits ?? {}),
  });
  const session = await openBuildSession({ store, plan, engine: { threads: 1 } });
  try {
    const rows = await session.engine.all<Record<string, unknown>>(
      'SELECT * FROM traits ORDER BY customer_id',
    );
    const out: Record<string, Record<string, unknown>> = {};
    for (const row of rows) {
      const values: Record<string, unknown> = {};
      for (const t of plan.traits) values[t.name] = row[t.column] ?? null;
      out[row.customer_id as string] = values;
    }
    return out;
  } finally {
    await session.close();
  }
}

describe('traits', () => {
  let t: TestStore & { root: string };
  let store: ObjectStore;
  beforeEach(async () => {
    t = await createFsTestStore();
    store = t.store;
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('aggregates over a window: edges by event time, distinct records, missing values', async () => {
    await writePart(store, 'people', D, 'p', [
      person('a', '2026-03-01T00:00:00.000Z'),
      person('b', '2026-03-01T00:00:00.000Z'),
    ]);
    await writePart(store, 'events', '2026-03-07', 'p', [
      // One millisecond before the 3-day window [03-08, 03-10].
      ev('o0', 'a', 'order', '2026-03-07T23:59:59.999Z', { value: 1000, sku: 'early' }),
    ]);
    await writePart(store, 'events', '2026-03-08', 'p', [
      ev('o1', 'a', 'order', '2026-03-08T00:00:00.000Z', { value: 10, sku: 'first' }),
      ev('o1', 'a', 'order', '2026-03-08T00:00:00.000Z', { value: 10, sku: 'first' }), // the same record again
    ]);
    await writePart(store, 'events', D, 'p', [
      ev('o2', 'a', 'order', '2026-03-10T08:00:00.000Z', { value: 'n/a', sku: 'no-value' }),
      ev('o3', 'a', 'order', '2026-03-10T23:59:59.999Z', { value: '30', sku: 'last' }),
      // In D's partition but after the end of D.
      ev('o4', 'a', 'order', '2026-03-11T00:00:00.000Z', { value: 5000, sku: 'late' }),
      ev('x1', 'b', 'view', '2026-03-10T01:00:00.000Z'),
    ]);
    const w = 'event: order, within_days: 3';
    const c = config(`traits:
  n: { count: { ${w} } }
  total: { sum: { ${w}, property: value } }
  low: { min: { ${w}, property: value } }
  high: { max: { ${w}, property: value } }
  mean: { avg: { ${w}, property: value } }
  first_value: { first: { ${w}, property: value } }
  last_value: { last: { ${w}, property: value } }
  last_sku: { last: { ${w}, property: sku }, type: string }
  first_day: { first: { ${w} } }
  last_day: { last: { ${w} } }
  since: { days_since: { ${w} } }
  since_or_99: { days_since: { ${w} }, default: 99 }
`);
    const v = await traitValues(store, c);
    expect(v.a).toEqual({
      n: 3,
      total: 40,
      low: 10,
      high: 30,
      mean: 20,
      first_value: 10,
      // The latest record with a numeric value: o2's "n/a" is not one.
      last_value: 30,
      last_sku: 'last',
      first_day: '2026-03-08',
      last_day: D,
      since: 0,
      since_or_99: 0,
    });
    // No record in the window: count and sum are 0, everything else is missing (or its default).
    expect(v.b).toEqual({
      n: 0,
      total: 0,
      low: null,
      high: null,
      mean: null,
      first_value: null,
      last_value: null,
      last_sku: null,
      first_day: null,
      last_day: null,
      since: null,
      since_or_99: 99,
    });
  });

  it('median gap between orders and a date expression: predicted next order', async () => {
    await writePart(store, 'people', D, 'p', [
      person('a', '2026-01-01T00:00:00.000Z'),
      person('b', '2026-01-01T00:00:00.000Z'),
      person('c', '2026-01-01T00:00:00.000Z'),
    ]);
    await writePart(store, 'events', '2026-02-01', 'p', [ev('a1', 'a', 'order', '2026-02-01T10:00:00.000Z')]);
    await writePart(store, 'events', '2026-02-11', 'p', [ev('a2', 'a', 'order', '2026-02-11T10:00:00.000Z')]);
    await writePart(store, 'events', '2026-02-14', 'p', [ev('a3', 'a', 'order', '2026-02-14T10:00:00.000Z')]);
    await writePart(store, 'events', '2026-03-01', 'p', [
      ev('a4', 'a', 'order', '2026-03-01T10:00:00.000Z'),
      ev('b1', 'b', 'order', '2026-03-01T10:00:00.000Z'),
    ]);
    const c = config(`traits:
  last_order_day: { last: { event: order, within_days: 365 } }
  order_gap: { median_gap_days: { event: order, within_days: 365 } }
  predicted_next_order_date: { expr: "last_order_day + order_gap" }
  days_to_next: { expr: "predicted_next_order_date - today" }
  week_before: { expr: "predicted_next_order_date - 7" }
`);
    const v = await traitValues(store, c);
    // Gaps 10, 3, 15 days: median 10.
    expect(v.a).toEqual({
      last_order_day: '2026-03-01',
      order_gap: 10,
      predicted_next_order_date: '2026-03-11',
      days_to_next: 1,
      week_before: '2026-03-04',
    });
    // One order: no gap, so no prediction.
    expect(v.b).toMatchObject({
      last_order_day: '2026-03-01',
      order_gap: null,
      predicted_next_order_date: null,
    });
    expect(v.c).toMatchObject({ last_order_day: null, order_gap: null, predicted_next_order_date: null });
  });

  it('bucket tiers: a bound belongs to the next tier; missing values take `missing`', async () => {
    const people = ['p29', 'p30', 'p89', 'p90', 'p400', 'none'];
    await writePart(
      store,
      'people',
      D,
      'p',
      people.map((id) => person(id, '2026-01-01T00:00:00.000Z')),
    );
    const days: Record<string, number> = { p29: 29, p30: 30, p89: 89, p90: 90, p400: 400 };
    let i = 0;
    for (const [id, ago] of Object.entries(days)) {
      const day = new Date(Date.parse(`${D}T12:00:00.000Z`) - ago * 86_400_000).toISOString();
      await writePart(store, 'events', day.slice(0, 10), `p${i++}`, [ev(`o-${id}`, id, 'order', day)]);
    }
    const c = config(`traits:
  since: { days_since: { event: order, within_days: 730 } }
  tier:
    bucket:
      of: since
      tiers:
        - { below: 30, value: active }
        - { below: 90, value: cooling }
        - { value: lapsed }
      missing: never_bought
  capped:
    bucket:
      of: since
      tiers: [{ below: 30, value: 1 }, { below: 90, value: 2 }]
`);
    const v = await traitValues(store, c);
    expect(Object.fromEntries(people.map((p) => [p, [v[p]!.tier, v[p]!.capped]]))).toEqual({
      p29: ['active', 1],
      p30: ['cooling', 2],
      p89: ['cooling', 2],
      p90: ['lapsed', null],
      p400: ['lapsed', null],
      none: ['never_bought', null],
    });
  });

  it('case tiers over conditions and traits; arithmetic with division by zero missing', async () => {
    await writePart(store, 'people', D, 'p', [
      person('vip', '2026-01-01T00:00:00.000Z', { country: 'FR' }),
      person('new', '2026-01-01T00:00:00.000Z'),
      person('idle', '2026-01-01T00:00:00.000Z'),
    ]);
    await writePart(store, 'events', D, 'p', [
      ev('1', 'vip', 'order', '2026-03-10T01:00:00.000Z', { value: 300 }),
      ev('2', 'vip', 'order', '2026-03-10T02:00:00.000Z', { value: 300 }),
      ev('3', 'new', 'order', '2026-03-10T01:00:00.000Z', { value: 20 }),
    ]);
    const c = config(`traits:
  orders: { count: { event: order, within_days: 30 } }
  spend: { sum: { event: order, property: value, within_days: 30 } }
  per_order: { expr: "spend / orders" }
  doubled: { expr: "round(coalesce(per_order, 0) * 2 + -1)" }
  tier:
    case:
      - when: { all: [{ trait: { spend: { gte: 500 } } }, { person: { country: FR } }] }
        value: gold
      - when: { trait: { orders: { gte: 1 } } }
        value: silver
      - else: none
`);
    const v = await traitValues(store, c);
    expect(v.vip).toEqual({ orders: 2, spend: 600, per_order: 300, doubled: 599, tier: 'gold' });
    expect(v.new).toEqual({ orders: 1, spend: 20, per_order: 20, doubled: 39, tier: 'silver' });
    expect(v.idle).toEqual({ orders: 0, spend: 0, per_order: null, doubled: -1, tier: 'none' });
  });

  it('traits in when and score, and in explain', async () => {
    await writePart(
      store,
      'people',
      D,
      'p',
      ['a', 'b', 'c'].map((id) => person(id, '2026-01-01T00:00:00.000Z')),
    );
    await writePart(store, 'events', D, 'p', [
      ev('1', 'a', 'order', '2026-03-10T01:00:00.000Z', { value: 50 }),
      ev('2', 'b', 'order', '2026-03-10T01:00:00.000Z', { value: 500 }),
      ev('3', 'c', 'view', '2026-03-10T01:00:00.000Z'),
    ]);
    const c = config(`traits:
  spend: { sum: { event: order, property: value, within_days: 30 } }
  tier:
    bucket: { of: spend, tiers: [{ below: 100, value: low }, { value: high }] }
audiences:
  - id: spenders
    type: top_fraction
    when: { trait: { tier: { in: [low, high] }, spend: { gt: 0 } } }
    score: [{ weight: 1, trait: spend }]
    top_fraction: 0.5
`);
    await buildAudiences({ store, config: c, day: D, engine: { threads: 1 } });
    const members = [];
    for await (const m of readMembers(store, 'spenders', D)) members.push(m);
    expect(members.map((m) => [m.customer_id, m.score])).toEqual([['b', 500]]);
    const e = await explainPerson({
      store,
      config: c,
      customerId: 'a',
      day: D,
      updateSnapshot: false,
      engine: { threads: 1 },
    });
    const a = e.audiences[0]!;
    expect(a.traits).toEqual({ tier: 'low', spend: 50 });
    expect(a.condition).toMatchObject({
      kind: 'all',
      matched: true,
      parts: [
        { kind: 'trait', trait: 'tier', value: 'low', matched: true },
        { kind: 'trait', trait: 'spend', value: 50, matched: true },
      ],
    });
    expect(a.score?.terms).toEqual([
      { kind: 'trait', trait: 'spend', weight: 1, value: 50, contribution: 50 },
    ]);
    expect(a.selected).toBe(false);
  });

  it('never_send tests traits too: its people leave every audience', async () => {
    await writePart(
      store,
      'people',
      D,
      'p',
      ['a', 'b'].map((id) => person(id, '2026-01-01T00:00:00.000Z')),
    );
    await writePart(store, 'events', D, 'p', [
      ev('1', 'a', 'refund', '2026-03-10T01:00:00.000Z'),
      ev('2', 'a', 'refund', '2026-03-10T02:00:00.000Z'),
      ev('3', 'a', 'view', '2026-03-10T02:00:00.000Z'),
      ev('4', 'b', 'view', '2026-03-10T02:00:00.000Z'),
    ]);
    const c = config(`traits:
  refunds: { count: { event: refund, within_days: 30 } }
never_send: { trait: { refunds: { gte: 2 } } }
audiences:
  - { id: viewers, type: segment, when: { event: view, within_days: 7 } }
`);
    const result = await buildAudiences({ store, config: c, day: D, engine: { threads: 1 } });
    const ids = [];
    for await (const m of readMembers(store, 'viewers', D)) ids.push(m.customer_id);
    expect(ids).toEqual(['b']);
    expect(result.audiences[0]!.counts.excluded).toEqual({ never_send: 1 });
  });

  it('sql prints the traits: the DuckDB script gives the members the build writes', async () => {
    await writePart(
      store,
      'people',
      D,
      'p',
      ['a', 'b', 'c'].map((id) => person(id, '2026-01-01T00:00:00.000Z')),
    );
    await writePart(store, 'events', '2026-01-05', 'p', [
      ev('1', 'a', 'order', '2026-01-05T01:00:00.000Z', { value: 80, sku: 'x' }),
      ev('2', 'b', 'order', '2026-01-05T01:00:00.000Z', { value: 20, sku: 'y' }),
    ]);
    await writePart(store, 'events', '2026-02-04', 'p', [
      ev('3', 'a', 'order', '2026-02-04T01:00:00.000Z', { value: 40, sku: 'z' }),
      ev('4', 'c', 'order', '2026-02-04T01:00:00.000Z', { value: 5, sku: 'w' }),
    ]);
    await writePart(store, 'events', '2026-03-09', 'p', [
      ev('5', 'd', 'order', '2026-03-09T01:00:00.000Z', { value: 1000, sku: 'v' }),
    ]);
    const c = config(SQL_YAML);
    await buildAudiences({ store, config: c, day: D, engine: { threads: 1 } });
    const script = await expectScriptAgreesWithBuild(store, c, D, ['winback', 'vips']);
    expect(script).toContain('CREATE OR REPLACE TEMP TABLE traits AS');
    // a: orders 01-05 and 02-04 (gap 30) → next 03-06, cooling; b, c: one order, next = it + 30;
    // d ordered yesterday: active, not a win-back. Ranked by spend + 0.1 × average order value.
    const winback = [];
    for await (const m of readMembers(store, 'winback', D)) winback.push(m.customer_id);
    expect(winback).toEqual(['a', 'b', 'c']);
  });

  for (const name of ['athena', 'bigquery', 'snowflake'] as const) {
    it(`sql prints the traits for ${name} (golden; not run against the engine)`, async () => {
      const script = await sqlScript({
        config: config(SQL_YAML),
        day: D,
        dialect: DIALECTS[name],
        warehouse: { location: 's3://acme-audiences/prod' },
      });
      const file = join(GOLDEN, `${name}-traits.sql`);
      if (process.env.UPDATE_GOLDEN === '1') {
        await mkdir(GOLDEN, { recursive: true });
        await writeFile(file, script);
      }
      expect(script, `${name}-traits.sql differs: rerun with UPDATE_GOLDEN=1 and review the diff`).toBe(
        await readFile(file, 'utf8'),
      );
      expect(script).toMatch(/traits \(table traits, one column each\): orders number/);
    });
  }

  it('type errors and unknown names are configuration errors naming the YAML path', () => {
    const base = `traits:
  tier: { bucket: { of: orders, tiers: [{ below: 2, value: low }, { value: high }] } }
  orders: { count: { event: order, within_days: 30 } }
`;
    expect(
      configError(`${base}audiences:\n  - { id: x, type: segment, when: { trait: { tier: { gt: 3 } } } }`),
    ).toBe('test.yaml: audiences[0].when.trait.tier.gt: trait "tier" is a string; 3 is not a string');
    expect(
      configError(`${base}audiences:\n  - { id: x, type: segment, when: { trait: { orders: high } } }`),
    ).toBe('test.yaml: audiences[0].when.trait.orders: trait "orders" is a number; "high" is not a number');
    expect(configError(`${base}audiences:\n  - { id: x, type: segment, when: { trait: { nope: 1 } } }`)).toBe(
      'test.yaml: audiences[0].when: unknown trait "nope" (defined: tier, orders)',
    );
    expect(
      configError(
        `${base}audiences:\n  - { id: x, type: top_fraction, top_fraction: 0.1, when: { event: order }, score: [{ weight: 1, trait: tier }] }`,
      ),
    ).toBe('test.yaml: audiences[0].score[0].trait: trait "tier" is a string; a score term needs a number');
    expect(configError(`${base}  bad: { expr: "tier * 2" }`)).toMatch(
      /^test\.yaml: traits\.bad\.expr: cannot compute string \* number/,
    );
    expect(configError(`${base}  bad: { expr: "orders +" }`)).toBe(
      'test.yaml: traits.bad.expr: expected a value at the end of "orders +"',
    );
    expect(configError(`traits:\n  a: { expr: "b + 1" }\n  b: { expr: "a * 2" }`)).toBe(
      'test.yaml: traits.a: traits depend on each other in a cycle: a → b → a',
    );
    expect(configError(`${base}  t2: { bucket: { of: tier, tiers: [{ value: 1 }] } }`)).toBe(
      'test.yaml: traits.t2.bucket.of: bucket tiers a number, and "tier" is a string',
    );
    expect(
      configError(
        `${base}  t3: { bucket: { of: orders, tiers: [{ below: 5, value: a }, { below: 5, value: b }] } }`,
      ),
    ).toBe('test.yaml: traits.t3.bucket.tiers[1].below: tier bounds must increase (5 is not above 5)');
    expect(configError(`${base}  t4: { count: { event: order }, default: none }`)).toBe(
      'test.yaml: traits.t4.default: default "none" is not a number (the trait is a number)',
    );
    expect(configError(`${base}  Bad: { count: { event: order } }`)).toMatch(
      /^test\.yaml: traits\.Bad: trait names use/,
    );
    expect(configError(`${base}  t5: { sum: { event: order } }`)).toBe(
      'test.yaml: traits.t5.sum.property: sum needs the property to aggregate (e.g. property: value)',
    );
  });
});

describe('the definition hash of an audience that reads traits', () => {
  const hashes = (yaml: string) => definitionHashes(config(yaml), D);

  it('changes with a trait it reads, directly or through another trait, and not with one it does not', () => {
    const before = hashes(SQL_YAML);
    const spend = hashes(
      SQL_YAML.replace(
        'property: value, within_days: 365 } }\n  aov',
        'property: value, within_days: 180 } }\n  aov',
      ),
    );
    expect(spend.winback).not.toBe(before.winback);
    // vips reads value_tier, which reads spend.
    expect(spend.vips).not.toBe(before.vips);
    const unread = hashes(
      SQL_YAML.replace('property: sku, within_days: 365', 'property: sku, within_days: 90'),
    );
    expect(unread).toEqual(before);
  });

  it('changes with the window of the only source a trait reads (its column name stays the same)', () => {
    const yaml = (days: number) => `traits:
  aov: { avg: { event: order, property: value, within_days: ${days} } }
audiences:
  - { id: big, type: segment, when: { trait: { aov: { gt: 10 } } } }
`;
    expect(hashes(yaml(60)).big).not.toBe(hashes(yaml(30)).big);
    expect(hashes(yaml(30)).big).toBe(hashes(yaml(30)).big);
  });
});
