import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BuildOptions, buildAudiences } from '../../src/audiences/build.js';
import { isHoldout } from '../../src/audiences/holdout.js';
import { latestManifest, readManifest, readMembers } from '../../src/audiences/members.js';
import { type AudienceSyncConfig, parseAudienceSyncConfig } from '../../src/config-file.js';
import type { MemberRecord } from '../../src/contract/records.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { STORE_KINDS, type TestStore } from '../helpers/stores.js';
import { ev, msg, person, writePart } from './fixtures.js';

const D = '2026-03-10';

function config(yaml: string): AudienceSyncConfig {
  return parseAudienceSyncConfig(`version: 1\n${yaml}`, 'test.yaml', {}).config;
}

async function members(store: ObjectStore, id: string, day = D): Promise<MemberRecord[]> {
  const out: MemberRecord[] = [];
  for await (const m of readMembers(store, id, day)) out.push(m);
  return out;
}

async function ids(store: ObjectStore, id: string, day = D): Promise<string[]> {
  return (await members(store, id, day)).map((m) => m.customer_id);
}

// Every case on both stores, with the engine on one thread and on two (results must not depend on it).
const MODES = [
  ...STORE_KINDS.map((k) => ({ ...k, threads: 1 })),
  { ...STORE_KINDS.find((k) => k.kind === 'fs')!, threads: 2 },
];

describe.each(MODES)('buildAudiences on the $kind store, $threads engine threads', ({ create, threads }) => {
  let t: TestStore;
  let store: ObjectStore;
  const build = (options: BuildOptions) => buildAudiences({ ...options, engine: { threads } });
  beforeEach(async () => {
    t = await create();
    store = t.store;
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('applies within_days at exact UTC day boundaries, by event time', async () => {
    await writePart(store, 'events', '2026-03-07', 'p1', [
      ev('b', 'before', 'x', '2026-03-07T23:59:59.999Z'),
    ]);
    await writePart(store, 'events', '2026-03-08', 'p1', [ev('a', 'first', 'x', '2026-03-08T00:00:00.000Z')]);
    await writePart(store, 'events', D, 'p1', [
      ev('c', 'last', 'x', '2026-03-10T23:59:59.999Z'),
      // Misplaced in D's partition but after the end of D: not part of "data up to the end of D".
      ev('d', 'after', 'x', '2026-03-11T00:00:00.000Z'),
    ]);
    await writePart(store, 'events', '2026-03-11', 'p1', [ev('e', 'next', 'x', '2026-03-11T00:00:00.000Z')]);
    const result = await build({
      store,
      config: config('audiences:\n  - { id: w, type: segment, when: { event: x, within_days: 3 } }'),
      day: D,
    });
    expect(await ids(store, 'w')).toEqual(['first', 'last']);
    const m = result.audiences[0]!;
    expect(m.window).toEqual({ from: '2026-03-08', to: D });
    // Only the partitions of the window are read.
    expect(m.inputs.parts.events).toEqual([
      'raw/events/dt=2026-03-08/part-p1-p1.jsonl.gz',
      'raw/events/dt=2026-03-10/part-p1-p1.jsonl.gz',
    ]);
    expect(m.records_scanned).toBe(3);
    expect(m.lookback_days).toBe(3);
  });

  it('counts distinct ids for min_count, filters with where, combines all / any / not', async () => {
    await writePart(store, 'events', D, 'p1', [
      ev('1', 'twice', 'view', '2026-03-10T01:00:00.000Z'),
      ev('2', 'twice', 'view', '2026-03-10T02:00:00.000Z'),
      ev('3', 'dup', 'view', '2026-03-10T01:00:00.000Z'),
      ev('3', 'dup', 'view', '2026-03-10T01:00:00.000Z'), // the same record twice counts once
      ev('4', 'rich', 'cart', '2026-03-10T01:00:00.000Z', { value: '60.50', currency: 'EUR' }),
      ev('5', 'poor', 'cart', '2026-03-10T01:00:00.000Z', { value: 10, currency: 'EUR' }),
      ev('6', 'usd', 'cart', '2026-03-10T01:00:00.000Z', { value: 99, currency: 'USD' }),
      ev('7', 'text', 'cart', '2026-03-10T01:00:00.000Z', { value: '60 EUR', currency: 'EUR' }),
      ev('8', 'buyer', 'cart', '2026-03-10T01:00:00.000Z', { value: 70, currency: 'EUR' }),
      ev('9', 'buyer', 'order_completed', '2026-03-10T05:00:00.000Z'),
    ]);
    await writePart(store, 'people', '2026-03-01', 'p1', [
      person('twice', '2026-03-01T00:00:00.000Z', { country: 'DE' }),
      person('idle', '2026-03-01T00:00:00.000Z', { country: 'FR' }),
    ]);
    await build({
      store,
      config: config(`audiences:
  - { id: twice, type: segment, when: { event: view, within_days: 1, min_count: 2 } }
  - id: big_eur_carts
    type: segment
    when:
      all:
        - event: cart
          within_days: 1
          where: { value: { gte: 50 }, currency: { in: [EUR, GBP] } }
        - not: { event: order_completed, within_days: 1 }
  - id: any_of
    type: segment
    when: { any: [{ person: { country: DE } }, { event: cart, where: { currency: USD } }] }
  - id: nobody_did_anything
    type: segment
    when: { not: { any: [{ event: view }, { event: cart }, { event: order_completed }] } }
`),
      day: D,
    });
    expect(await ids(store, 'twice')).toEqual(['twice']);
    expect(await ids(store, 'big_eur_carts')).toEqual(['rich']);
    expect(await ids(store, 'any_of')).toEqual(['twice', 'usd']);
    // The universe is the snapshot plus people with records the audience's rules look at.
    expect(await ids(store, 'nobody_did_anything')).toEqual(['idle']);
  });

  it('scores term by term in doubles, breaks ties by customer_id and cuts ceil(f × eligible)', async () => {
    await writePart(store, 'events', D, 'p1', [
      ev('1', 'b', 'cart', '2026-03-10T01:00:00.000Z', { value: 10 }),
      ev('2', 'a', 'cart', '2026-03-10T01:00:00.000Z', { value: 10 }),
      ev('3', 'c', 'cart', '2026-03-08T01:00:00.000Z', { value: '10.0' }),
      ev('4', 'c', 'cart', '2026-03-09T01:00:00.000Z', { value: 0.5 }),
      ev('5', 'B', 'cart', '2026-03-10T01:00:00.000Z', { value: 10 }),
    ]);
    await writePart(store, 'events', '2026-03-08', 'p1', [
      ev('3', 'c', 'cart', '2026-03-08T01:00:00.000Z', { value: '10.0' }),
    ]);
    await build({
      store,
      config: config(`audiences:
  - id: top
    type: top_fraction
    when: { event: cart, within_days: 7 }
    score:
      - { weight: 0.1, count: { event: cart } }
      - { weight: 0.2, max: { event: cart, property: value } }
      - { weight: 1, days_since: { event: nothing_like_this } }
      - { weight: -1, days_since: { event: cart } }
    top_fraction: 0.5
  - id: everyone
    type: top_fraction
    when: { event: cart, within_days: 7 }
    score: [{ weight: 1, min: { event: cart, property: value } }]
    top_fraction: 0.07
`),
      day: D,
    });
    const top = await members(store, 'top');
    // c: 2 distinct carts (the copy in dt=03-08 is the same id), max 10, latest 2026-03-09 → 1 day.
    const c = 0 + 0.1 * 2 + 0.2 * 10 + 1 * 8 + -1 * 1;
    const others = 0 + 0.1 * 1 + 0.2 * 10 + 1 * 8 + -1 * 0;
    expect(top).toEqual([
      { customer_id: 'B', group: 'treatment', score: others, rank: 1, entered: D },
      { customer_id: 'a', group: 'treatment', score: others, rank: 2, entered: D },
    ]);
    expect(others).toBeGreaterThan(c);
    const manifest = (await latestManifest(store, 'top'))!;
    expect(manifest.counts).toMatchObject({ eligible: 4, selected: 2, treatment: 2, holdout: 0 });
    expect(manifest.score).toEqual({ max: others, min: c, cutoff: others });
    // 0.07 × 4 = 0.28 → one person (ceil), the lowest min value wins nothing: scores 10, 10, 0.5, 10.
    expect(await ids(store, 'everyone')).toEqual(['B']);
  });

  it('removes excluded audiences (both groups) and never_send people, counting each reason', async () => {
    await writePart(store, 'people', '2026-03-01', 'p1', [
      person('u1', '2026-03-01T00:00:00.000Z', { unsubscribed: true }),
      person('d1', '2026-03-01T00:00:00.000Z'),
      person('d1', '2026-03-05T00:00:00.000Z', { deleted: true }),
    ]);
    const people = ['u1', 'd1', 'spam', 'buyer', 'ok1', 'ok2'];
    await writePart(store, 'events', D, 'p1', [
      ...people.map((p, i) => ev(`c${i}`, p, 'checkout_started', '2026-03-10T01:00:00.000Z')),
      ev('o1', 'buyer', 'order_completed', '2026-03-09T01:00:00.000Z'),
      ev('o2', 'u1', 'order_completed', '2026-03-09T01:00:00.000Z'),
    ]);
    await writePart(store, 'messages', '2026-01-01', 'p1', [
      msg('m1', 'spam', 'email', 'spammed', '2026-01-01T00:00:00.000Z'),
    ]);
    await writePart(store, 'messages', '2025-12-01', 'p1', [
      msg('m2', 'ok2', 'email', 'spammed', '2025-12-01T00:00:00.000Z'),
    ]);
    const result = await build({
      store,
      config: config(`never_send:
  any:
    - person: { unsubscribed: true }
    - person: { deleted: true }
    - message: { channel: email, metric: spammed }
      within_days: 90
audiences:
  - id: abandoners
    type: segment
    when: { event: checkout_started, within_days: 7 }
    exclude: [buyers]
  - { id: buyers, type: segment, when: { event: order_completed, within_days: 7 } }
`),
      day: D,
      audienceIds: ['abandoners'],
    });
    expect(await ids(store, 'abandoners')).toEqual(['ok1', 'ok2']);
    // Dependencies are built first and reported after what was asked for.
    expect(result.audiences.map((m) => m.audience)).toEqual(['abandoners', 'buyers']);
    const m = result.audiences[0]!;
    expect(m.counts.matched).toBe(6);
    // u1 also bought, but as an unsubscribed person is in no audience, buyers included.
    expect(m.counts.excluded).toEqual({ 'audience:buyers': 1, never_send: 3 });
    expect(m.counts.removed).toBe(4);
    expect(m.counts.eligible).toBe(2);
    expect(m.inputs.excluded_audiences).toEqual([{ audience: 'buyers', day: D, members: 1 }]);
    // never_send's 90-day window is read for this audience too.
    expect(m.inputs.parts.messages).toEqual(['raw/messages/dt=2026-01-01/part-p1-p1.jsonl.gz']);
    expect(await ids(store, 'buyers')).toEqual(['buyer']);
  });

  it('resolves email-only and cio_id-only records through the identity snapshot, counting the rest', async () => {
    await writePart(store, 'people', '2026-03-01', 'p1', [
      person('c1', '2026-03-01T00:00:00.000Z', { email: 'one@example.com', cio_id: 'cio1' }),
      person('c2', '2026-03-01T00:00:00.000Z', { email: 'two@example.com', cio_id: 'cio2' }),
    ]);
    await writePart(store, 'events', D, 'p1', [
      ev('e1', { email: 'one@example.com' }, 'checkout_started', '2026-03-10T01:00:00.000Z'),
      ev('e2', { email: 'stranger@example.com' }, 'checkout_started', '2026-03-10T01:00:00.000Z'),
      ev('e3', { anonymous_id: 'anon-1' }, 'checkout_started', '2026-03-10T01:00:00.000Z'),
    ]);
    await writePart(store, 'messages', D, 'p1', [
      msg('m1', { cio_id: 'cio2' }, 'email', 'clicked', '2026-03-10T01:00:00.000Z'),
    ]);
    const result = await build({
      store,
      config: config(`audiences:
  - { id: carts, type: segment, when: { event: checkout_started, within_days: 1 } }
  - { id: clicks, type: segment, when: { message: { metric: clicked }, within_days: 1 } }
`),
      day: D,
    });
    expect(await ids(store, 'carts')).toEqual(['c1']);
    expect(await ids(store, 'clicks')).toEqual(['c2']);
    expect(result.audiences[0]!.unresolved_identities).toBe(2);
    expect(result.audiences[0]!.records.events.unresolved).toBe(2);
  });

  it('de-duplicates on id: the copy received first wins, even when it is read last', async () => {
    await writePart(store, 'events', D, 'p1', [
      ev('dup', 'a', 'cart', '2026-03-10T01:00:00.000Z', { value: 100 }, '2026-03-10T02:00:00.000Z'),
    ]);
    await writePart(store, 'events', D, 'p2', [
      ev('dup', 'a', 'cart', '2026-03-10T01:00:00.000Z', { value: 5 }, '2026-03-10T01:00:00.500Z'),
      ev('same', 'b', 'cart', '2026-03-10T01:00:00.000Z', { value: 7 }, '2026-03-10T01:00:00.000Z'),
    ]);
    await writePart(store, 'events', D, 'p3', [
      // Same received_at: the earlier object key wins.
      ev('same', 'b', 'cart', '2026-03-10T01:00:00.000Z', { value: 70 }, '2026-03-10T01:00:00.000Z'),
    ]);
    const result = await build({
      store,
      config: config(`audiences:
  - id: value
    type: top_fraction
    when: { event: cart, within_days: 1 }
    score: [{ weight: 1, sum: { event: cart, property: value } }, { weight: 1000, count: { event: cart } }]
    top_fraction: 1
`),
      day: D,
    });
    const scores = Object.fromEntries((await members(store, 'value')).map((m) => [m.customer_id, m.score]));
    expect(scores).toEqual({ a: 1005, b: 1007 });
    expect(result.engine.threads).toBe(threads);
    expect(result.audiences[0]!.records.events.duplicates).toBe(2);
  });

  it('reports a malformed line with its key and line number and builds anyway', async () => {
    const key = await writePart(store, 'events', D, 'p1', [
      ev('1', 'a', 'cart', '2026-03-10T01:00:00.000Z'),
      '{"id":"broken","name":"cart",',
      ev('2', 'b', 'cart', '2026-03-10T01:00:00.000Z'),
    ]);
    const result = await build({
      store,
      config: config('audiences:\n  - { id: carts, type: segment, when: { event: cart, within_days: 1 } }'),
      day: D,
    });
    expect(await ids(store, 'carts')).toEqual(['a', 'b']);
    expect(result.audiences[0]!.malformed_lines).toBe(1);
    expect(result.audiences[0]!.malformed).toEqual([{ key, line: 2, reason: 'not valid JSON' }]);
  });

  it('salvages the lines before a break in a truncated part and reports where it broke', async () => {
    const key = await writePart(
      store,
      'events',
      D,
      'p1',
      Array.from({ length: 2000 }, (_, i) =>
        ev(`e${i}`, `p${i}`, 'cart', '2026-03-10T01:00:00.000Z', { pad: 'x'.repeat(200) }),
      ),
    );
    const whole = await store.get(key);
    await store.put(key, whole.subarray(0, Math.floor(whole.length * 0.6)));
    const result = await build({
      store,
      config: config('audiences:\n  - { id: carts, type: segment, when: { event: cart, within_days: 1 } }'),
      day: D,
    });
    const m = result.audiences[0]!;
    expect(m.counts.selected).toBeGreaterThan(0);
    expect(m.counts.selected).toBeLessThan(2000);
    expect(m.malformed_lines).toBe(1);
    expect(m.malformed[0]).toMatchObject({ key, reason: expect.stringMatching(/^unreadable gzip data/) });
  });

  it('picks up late data on a rebuild (raw parts and person updates in old partitions)', async () => {
    const cfg = config(`never_send: { person: { unsubscribed: true } }
audiences:
  - { id: carts, type: segment, when: { event: cart, within_days: 7 } }
`);
    await writePart(store, 'people', '2026-03-01', 'p1', [
      person('a', '2026-03-01T00:00:00.000Z'),
      person('b', '2026-03-01T00:00:00.000Z'),
    ]);
    await writePart(store, 'events', '2026-03-08', 'p1', [ev('1', 'a', 'cart', '2026-03-08T01:00:00.000Z')]);
    await build({ store, config: cfg, day: D });
    expect(await ids(store, 'carts')).toEqual(['a']);
    // Late arrivals land in old partitions under new part keys.
    await writePart(store, 'events', '2026-03-05', 'p9', [ev('2', 'b', 'cart', '2026-03-05T01:00:00.000Z')]);
    await writePart(store, 'people', '2026-03-06', 'p9', [
      person('a', '2026-03-06T00:00:00.000Z', { unsubscribed: true }),
    ]);
    const again = await build({ store, config: cfg, day: D });
    expect(again.people.new_parts).toEqual(['raw/people/dt=2026-03-06/part-p9-p9.jsonl.gz']);
    expect(await ids(store, 'carts')).toEqual(['b']);
    expect(again.audiences[0]!.counts.excluded).toEqual({ never_send: 1 });
  });

  it('keeps holdout assignment and entered days across days, and shares the control group of a salt', async () => {
    const cfg = config(`audiences:
  - id: one
    type: top_fraction
    when: { event: cart, within_days: 7 }
    score: [{ weight: 1, count: { event: cart } }]
    top_fraction: 1
    holdout: { fraction: 0.3, salt: shared }
  - id: two
    type: top_fraction
    when: { event: view, within_days: 7 }
    score: [{ weight: 1, count: { event: view } }]
    top_fraction: 1
    holdout: { fraction: 0.3, salt: shared }
`);
    const people = Array.from({ length: 60 }, (_, i) => `p${String(i).padStart(2, '0')}`);
    await writePart(store, 'events', '2026-03-09', 'p1', [
      ...people.slice(0, 40).map((p) => ev(`c-${p}`, p, 'cart', '2026-03-09T01:00:00.000Z')),
      ...people.map((p) => ev(`v-${p}`, p, 'view', '2026-03-09T01:00:00.000Z')),
    ]);
    await build({ store, config: cfg, day: '2026-03-09' });
    await writePart(
      store,
      'events',
      D,
      'p1',
      people.slice(20).map((p) => ev(`c2-${p}`, p, 'cart', '2026-03-10T01:00:00.000Z')),
    );
    await build({ store, config: cfg, day: D });

    const dayOne = new Map((await members(store, 'one', '2026-03-09')).map((m) => [m.customer_id, m]));
    const one = await members(store, 'one');
    const two = new Map((await members(store, 'two')).map((m) => [m.customer_id, m]));
    expect(one).toHaveLength(60);
    let held = 0;
    for (const m of one) {
      const expected = isHoldout('shared', m.customer_id, 0.3);
      expect(m.group).toBe(expected ? 'holdout' : 'treatment');
      if (expected) held += 1;
      // Sticky across days, and the same control group in the other audience with the same salt.
      const before = dayOne.get(m.customer_id);
      if (before) expect(m.group).toBe(before.group);
      expect(two.get(m.customer_id)!.group).toBe(m.group);
      expect(m.entered).toBe(before ? '2026-03-09' : D);
    }
    expect(held).toBeGreaterThan(0);
    const manifest = (await readManifest(store, 'one', D))!;
    expect(manifest.entered).toEqual({ carried_over: 40, new: 20 });
    expect(manifest.holdout).toEqual({ fraction: 0.3, salt: 'shared' });
    expect(manifest.counts.holdout).toBe(held);
    expect(manifest.inputs.previous_snapshot_day).toBe('2026-03-09');
    expect(manifest.definition_hash).toMatch(/^[0-9a-f]{64}$/);
  });
});
