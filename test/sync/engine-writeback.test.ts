import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { customerioConnector } from '../../connectors/customerio/index.js';
import { syncAudience } from '../../src/sync/execute.js';
import { type FakeCustomerio, startFakeCustomerio } from '../fakes/customerio.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { fakeCioContext, personFor, writeDay } from './helpers.js';

/** Write-back through the sync engine: every member (both groups) gets its attributes; leavers are cleared. */
describe('write-back to the fake Customer.io Track API', () => {
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

  it('sets group, score and decile on members, holdout included, and clears them when people leave', async () => {
    const ctx = fakeCioContext(fake);
    const run = (day: string) =>
      syncAudience({
        store: t.store,
        audienceId: 'high_intent',
        day,
        destination: 'cio',
        connector: customerioConnector,
        ctx,
        mode: {
          kind: 'write_back',
          attributes: { paid_group: 'group', recovery_score: 'score', decile: 'decile' },
        },
        runId: day,
        confirm: true,
      });
    const persons = Array.from({ length: 10 }, (_, i) => personFor(i));
    await writeDay(
      t.store,
      '2026-11-27',
      'high_intent',
      persons,
      persons.map((p, i) => ({
        customer_id: p.customer_id,
        group: i < 2 ? ('holdout' as const) : ('treatment' as const),
      })),
    );
    const first = await run('2026-11-27');
    expect(first.status).toBe('completed');
    expect(fake.state.people.size).toBe(10);
    expect(fake.state.people.get(persons[0]!.customer_id)).toMatchObject({
      paid_group: 'holdout',
      recovery_score: 0,
      decile: 1,
    });
    expect(fake.state.people.get(persons[9]!.customer_id)).toMatchObject({
      paid_group: 'treatment',
      decile: 10,
    });

    // Day 2: two people leave the audience: their attributes are cleared, the others untouched.
    const stay = persons.slice(2);
    await writeDay(
      t.store,
      '2026-11-28',
      'high_intent',
      persons,
      stay.map((p) => ({ customer_id: p.customer_id, group: 'treatment' as const })),
    );
    const second = await run('2026-11-28');
    // Deciles and ranks moved for the others: they are updated in place (no clear first).
    expect(second.plan).toMatchObject({ remove: 2, changed: 4, add: 4, requests: 1 });
    expect(fake.state.people.get(persons[0]!.customer_id)).toEqual({});
    expect(fake.state.people.get(persons[5]!.customer_id)).toMatchObject({ paid_group: 'treatment' });
  });
});
