import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { customerioConnector } from '../../connectors/customerio/index.js';
import { buildAudiences } from '../../src/audiences/build.js';
import { type AudienceSyncConfig, parseAudienceSyncConfig } from '../../src/config-file.js';
import { addDays } from '../../src/contract/days.js';
import { syncAudience } from '../../src/sync/execute.js';
import { ev, person, writePart } from '../audiences/fixtures.js';
import { type FakeCustomerio, startFakeCustomerio } from '../fakes/customerio.js';
import { configErrorOf } from '../helpers/config-error.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { fakeCioContext } from './helpers.js';

const D = '2026-03-10';

const yaml = (attributes: string) => `version: 1
destinations:
  cio: { type: customerio, site_id: "\${CIO_SITE_ID}", api_key: "\${CIO_API_KEY}" }
traits:
  spend: { sum: { event: order, property: value, within_days: 90 } }
  last_order_day: { last: { event: order, within_days: 90 } }
  gap: { median_gap_days: { event: order, within_days: 90 } }
  predicted_next_order_date: { expr: "last_order_day + gap" }
  since: { days_since: { event: order, within_days: 90 } }
  winback_offer_tier:
    bucket: { of: since, tiers: [{ below: 14, value: none }, { below: 45, value: gentle }, { value: strong }] }
audiences:
  - id: customers
    type: segment
    when: { event: order, within_days: 90 }
    write_back:
      destination: cio
      attributes: { ${attributes} }
`;

const ALL =
  'offer_tier: { trait: winback_offer_tier }, next_order_at: { trait: predicted_next_order_date }, spend_90d: { trait: spend }';

function config(text: string): AudienceSyncConfig {
  return parseAudienceSyncConfig(text, 'test.yaml', {}).config;
}

describe('traits written back to Customer.io', () => {
  let fake: FakeCustomerio;
  let t: TestStore;
  beforeEach(async () => {
    fake = await startFakeCustomerio();
    t = await createFsTestStore();
  });
  afterEach(async () => {
    expect(fake.state.shapeErrors).toEqual([]);
    await fake.close();
    await t.cleanup();
  });

  const batches = () => fake.requests.filter((r) => r.path === '/api/v2/batch');

  async function buildAndSync(c: AudienceSyncConfig, day: string, runId: string) {
    await buildAudiences({ store: t.store, config: c, day, engine: { threads: 1 } });
    const ctx = fakeCioContext(fake);
    const audience = c.audiences[0]!;
    return syncAudience({
      store: t.store,
      audienceId: audience.id,
      day,
      destination: 'cio',
      connector: customerioConnector,
      ctx,
      mode: { kind: 'write_back', attributes: audience.write_back!.attributes },
      runId,
      confirm: true,
    });
  }

  it('sends trait values, then only what changed; a rerun sends nothing; an unmapped trait is cleared', async () => {
    const s = t.store;
    await writePart(
      s,
      'people',
      D,
      'p',
      ['a', 'b'].map((id) => person(id, '2026-01-01T00:00:00.000Z')),
    );
    // a: orders every 10 days, last on 03-01 → next 03-11; b: one order 60 days ago, no gap.
    await writePart(s, 'events', '2026-02-19', 'p', [
      ev('a1', 'a', 'order', '2026-02-19T09:00:00.000Z', { value: 20 }),
    ]);
    await writePart(s, 'events', '2026-03-01', 'p', [
      ev('a2', 'a', 'order', '2026-03-01T09:00:00.000Z', { value: 30 }),
    ]);
    await writePart(s, 'events', '2026-01-09', 'p', [
      ev('b1', 'b', 'order', '2026-01-09T09:00:00.000Z', { value: 5 }),
    ]);
    const c = config(yaml(ALL));
    expect(c.audiences[0]!.write_back!.attributes.next_order_at).toEqual({
      trait: 'predicted_next_order_date',
      type: 'date',
    });

    const first = await buildAndSync(c, D, 'r1');
    expect(first.status).toBe('completed');
    expect(fake.state.people.get('a')).toEqual({
      offer_tier: 'none',
      // A date goes as Unix seconds at 00:00 UTC, as Customer.io keeps dates.
      next_order_at: Date.parse('2026-03-11T00:00:00.000Z') / 1000,
      spend_90d: 50,
    });
    // b has no predicted date: nothing is set for it.
    expect(fake.state.people.get('b')).toEqual({ offer_tier: 'strong', spend_90d: 5 });
    expect(batches()).toHaveLength(1);
    // With nothing written before, b's missing date has nothing to clear: it is not sent at all.
    const firstBody = batches()[0]!.body as { batch: { identifiers: { id: string }; attributes: object }[] };
    expect(firstBody.batch.find((e) => e.identifiers.id === 'b')!.attributes).toEqual({
      offer_tier: 'strong',
      spend_90d: 5,
    });

    // The same day again: the ledger holds every value, so no request at all.
    const rerun = await buildAndSync(c, D, 'r2');
    expect(rerun.plan).toMatchObject({ add: 0, remove: 0, changed: 0, unchanged: 2 });
    expect(batches()).toHaveLength(1);

    // Next day, a new order for a: only a's changed values are sent; b is not touched.
    const D2 = addDays(D, 1);
    await writePart(s, 'people', D2, 'p', [person('a', '2026-01-01T00:00:00.000Z')]);
    await writePart(s, 'events', D2, 'p', [
      ev('a3', 'a', 'order', '2026-03-11T09:00:00.000Z', { value: 10 }),
    ]);
    const second = await buildAndSync(c, D2, 'r3');
    expect(second.plan).toMatchObject({ add: 1, changed: 1, unchanged: 1, remove: 0 });
    const body = batches()[1]!.body as { batch: { identifiers: { id: string }; attributes: object }[] };
    // a's tier stays none: only the date and the spend changed, and only they are sent.
    expect(body.batch).toEqual([
      expect.objectContaining({
        identifiers: { id: 'a' },
        attributes: { next_order_at: Date.parse('2026-03-21T00:00:00.000Z') / 1000, spend_90d: 60 },
      }),
    ]);
    expect(fake.state.people.get('a')).toMatchObject({ offer_tier: 'none', spend_90d: 60 });

    // The spend trait taken out of the mapping: its attribute is cleared for everyone, once.
    const fewer = config(
      yaml('offer_tier: { trait: winback_offer_tier }, next_order_at: { trait: predicted_next_order_date }'),
    );
    const third = await buildAndSync(fewer, D2, 'r4');
    expect(third.plan).toMatchObject({ changed: 2 });
    const cleared = batches()[2]!.body as { batch: { attributes: object }[] };
    expect(cleared.batch.map((e) => e.attributes)).toEqual([{ spend_90d: '' }, { spend_90d: '' }]);
    expect(fake.state.people.get('a')).not.toHaveProperty('spend_90d');
    expect(fake.state.people.get('b')).toEqual({ offer_tier: 'strong' });
    await buildAndSync(fewer, D2, 'r5');
    expect(batches()).toHaveLength(3);
  });

  it('checks attribute names and trait references when the file loads', () => {
    const message = configErrorOf;
    expect(message(yaml('tier: { trait: nope }'))).toBe(
      'test.yaml: audiences[0].write_back.attributes.tier.trait: unknown trait "nope" (defined: spend, last_order_day, gap, predicted_next_order_date, since, winback_offer_tier)',
    );
    expect(message(yaml('email: { trait: spend }'))).toMatch(
      /^test\.yaml: audiences\[0\]\.write_back\.attributes\.email: is a Customer\.io reserved attribute/,
    );
    expect(message(yaml('_tier: { trait: spend }'))).toMatch(
      /^test\.yaml: audiences\[0\]\.write_back\.attributes\._tier: attribute names use letters/,
    );
    expect(message(yaml('tier: { trait: spend, type: date }'))).toBe(
      'test.yaml: audiences[0].write_back.attributes.tier.type: trait "spend" is a number, not a date',
    );
  });
});
