import { describe, expect, it } from 'vitest';
import {
  applyUpdate,
  emptyPerson,
  flattenSnapshotPerson,
  mergeFields,
  toSnapshotPerson,
} from '../../src/people/merge.js';

describe('the snapshot line of a folded person', () => {
  it('writes fields in one fixed order, with field_ts for the older ones in that order', () => {
    const person = emptyPerson('cus_1');
    // Attributes first, then scalars, then consent: the line's order does not follow the updates'.
    applyUpdate(person, {
      customer_id: 'cus_1',
      ts: '2026-03-01T00:00:00.000Z',
      attributes: { plan: 'free', '10': 'ten', beta: true },
    });
    applyUpdate(person, {
      customer_id: 'cus_1',
      ts: '2026-03-02T00:00:00.000Z',
      phone: '+15555550100',
      email: 'a@example.com',
      consent: { ad_personalization: 'denied', ad_user_data: 'granted' },
    });
    applyUpdate(person, {
      customer_id: 'cus_1',
      ts: '2026-03-03T00:00:00.000Z',
      unsubscribed: true,
      attributes: { plan: 'pro', '2': 'two' },
    });
    person.merged = new Set(['cus_z', 'cus_0']);
    const line = JSON.stringify(toSnapshotPerson(person));
    expect(line).toBe(
      '{"customer_id":"cus_1","email":"a@example.com","phone":"+15555550100","unsubscribed":true,' +
        '"consent":{"ad_user_data":"granted","ad_personalization":"denied"},' +
        '"attributes":{"2":"two","10":"ten","plan":"pro","beta":true},"ts":"2026-03-03T00:00:00.000Z",' +
        '"merged_ids":["cus_0","cus_z"],' +
        '"field_ts":{"email":"2026-03-02T00:00:00.000Z","phone":"2026-03-02T00:00:00.000Z",' +
        '"consent.ad_user_data":"2026-03-02T00:00:00.000Z","consent.ad_personalization":"2026-03-02T00:00:00.000Z",' +
        '"attributes.10":"2026-03-01T00:00:00.000Z","attributes.beta":"2026-03-01T00:00:00.000Z"}}',
    );
  });

  it('writes the same line whether a person is folded in one pass or across two snapshots', () => {
    const updates = [
      { customer_id: 'c', ts: '2026-03-01T00:00:00.000Z', email: 'old@example.com', attributes: { a: 1 } },
      { customer_id: 'c', ts: '2026-03-04T00:00:00.000Z', attributes: { b: 2, a: 3 } },
      { customer_id: 'c', ts: '2026-03-02T00:00:00.000Z', email: 'late@example.com', city: 'Lyon' },
    ];
    const once = emptyPerson('c');
    for (const u of updates) applyUpdate(once, u);

    const first = emptyPerson('c');
    applyUpdate(first, updates[0]!);
    const stored = JSON.parse(JSON.stringify(toSnapshotPerson(first)));
    const delta = emptyPerson('c');
    for (const u of updates.slice(1)) applyUpdate(delta, u);
    const twice = mergeFields(flattenSnapshotPerson(stored), delta);

    expect(JSON.stringify(toSnapshotPerson(twice))).toBe(JSON.stringify(toSnapshotPerson(once)));
    // Only the fields older than the line's ts carry a time of their own.
    expect(toSnapshotPerson(once).field_ts).toEqual({
      email: '2026-03-02T00:00:00.000Z',
      city: '2026-03-02T00:00:00.000Z',
    });
  });

  it('leaves out consent, attributes and field_ts when there are none', () => {
    const person = emptyPerson('c');
    applyUpdate(person, { customer_id: 'c', ts: '2026-03-01T00:00:00.000Z', email: 'x@example.com' });
    expect(JSON.stringify(toSnapshotPerson(person))).toBe(
      '{"customer_id":"c","email":"x@example.com","ts":"2026-03-01T00:00:00.000Z"}',
    );
  });
});
