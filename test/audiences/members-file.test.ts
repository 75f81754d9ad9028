import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildAudiences } from '../../src/audiences/build.js';
import { parseAudienceSyncConfig } from '../../src/config-file.js';
import { keys } from '../../src/storage/keys.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { ev, person, writePart } from './fixtures.js';

const D = '2026-03-10';

// The engine writes members files itself (COPY … FORMAT json): these pin the bytes a reader gets,
// which JSON.stringify used to produce — field order, exact doubles, traits with their nulls.
const yaml = `version: 1
destinations:
  cio: { type: customerio, site_id: "\${CIO_SITE_ID}", api_key: "\${CIO_API_KEY}" }
traits:
  spend: { sum: { event: order, property: value, within_days: 30 } }
  top_value: { max: { event: order, property: value, within_days: 30 } }
  last_order_day: { last: { event: order, within_days: 30 } }
audiences:
  - id: buyers
    type: segment
    when: { event: order, within_days: 30 }
    write_back:
      destination: cio
      attributes: { spend_30d: { trait: spend }, top_order: { trait: top_value }, last_order: { trait: last_order_day } }
  - id: top
    type: top_fraction
    when: { event: order, within_days: 30 }
    score: [{ weight: 0.1, count: { event: order } }, { weight: 0.2, count: { event: order } }]
    top_fraction: 1
`;

describe('members files written by the engine', () => {
  let t: TestStore;
  beforeEach(async () => {
    t = await createFsTestStore();
  });
  afterEach(async () => {
    await t.cleanup();
  });

  const lines = async (id: string) =>
    gunzipSync(await t.store.get(keys.members(id, D)))
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '');

  it('writes one JSON object per member in rank order, doubles exact, a missing trait as null', async () => {
    await writePart(t.store, 'people', D, 'p', [
      person('a"1', '2026-03-01T00:00:00.000Z'),
      person('b', '2026-03-01T00:00:00.000Z'),
    ]);
    await writePart(t.store, 'events', D, 'e', [
      ev('1', 'a"1', 'order', '2026-03-09T10:00:00.000Z', { value: 0.1 }),
      ev('2', 'a"1', 'order', '2026-03-10T10:00:00.000Z', { value: 0.2 }),
      ev('3', 'b', 'order', '2026-03-10T11:00:00.000Z', { note: 'no value' }),
    ]);
    const config = parseAudienceSyncConfig(yaml, 'test.yaml', {}).config;
    await buildAudiences({ store: t.store, config, day: D, engine: { threads: 1 } });

    const buyers = (await lines('buyers')).map((l) => JSON.parse(l));
    expect(buyers).toEqual([
      {
        customer_id: 'a"1',
        group: 'treatment',
        score: 0,
        rank: 1,
        entered: D,
        traits: { spend: 0.1 + 0.2, top_value: 0.2, last_order_day: '2026-03-10' },
      },
      {
        customer_id: 'b',
        group: 'treatment',
        score: 0,
        rank: 2,
        entered: D,
        traits: { spend: 0, top_value: null, last_order_day: '2026-03-10' },
      },
    ]);
    // 0.1 + 0.2 in doubles, written to the last bit; keys in the documented order; traits by name.
    expect((await lines('buyers'))[0]).toContain('"spend":0.30000000000000004');
    expect((await lines('buyers'))[1]).toContain('"top_value":null');
    expect(Object.keys(buyers[0])).toEqual(['customer_id', 'group', 'score', 'rank', 'entered', 'traits']);

    const top = (await lines('top')).map((l) => JSON.parse(l));
    expect(top.map((m) => [m.customer_id, m.score, m.rank])).toEqual([
      ['a"1', 0.1 * 2 + 0.2 * 2, 1],
      ['b', 0.1 * 1 + 0.2 * 1, 2],
    ]);
    expect(top[0]).not.toHaveProperty('traits');
  });
});
