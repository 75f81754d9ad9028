import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAudiences } from '../../src/audiences/build.js';
import {
  type AudienceExplanation,
  type ExplainNode,
  type Explanation,
  explainPerson,
  formatExplanation,
  PersonNotFoundError,
} from '../../src/audiences/explain.js';
import { readMembers } from '../../src/audiences/members.js';
import { ConfigError } from '../../src/config/errors.js';
import { type AudienceSyncConfig, parseAudienceSyncConfig } from '../../src/config-file.js';
import type { MemberRecord } from '../../src/contract/records.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { ev, person, writePart } from './fixtures.js';

const D = '2026-03-10';
const PREV = '2026-03-09';
const ENGINE = { threads: 1 };

const CONFIG = `version: 1
never_send:
  any:
    - person: { unsubscribed: true }
    - event: complaint
audiences:
  - id: buyers
    type: segment
    when: { event: order_completed, within_days: 7 }
  - id: engaged
    type: segment
    exclude: [buyers]
    when:
      all:
        - { event: view, within_days: 7, min_count: 2 }
        - any:
            - person: { country: DE }
            - person: { email: { ne: null } }
        - not: { event: refund, within_days: 7 }
  - id: top
    type: top_fraction
    when: { event: cart, within_days: 7 }
    score:
      - { weight: 1, count: { event: cart } }
      - { weight: 0.5, max: { event: cart, property: value } }
    top_fraction: 0.5
    holdout: { fraction: 0.5 }
  # Personal fields in rules: explain shows them only as present / missing.
  - id: contacts
    type: segment
    when:
      any:
        - person: { phone: { ne: null } }
        - person: { first_name: Alice }
        - person: { attributes.contact: { ne: null } }
`;

const ALICE_EMAIL = 'alice.private@example.com';
const ALICE_PHONE = '+4915112345678';

function config(): AudienceSyncConfig {
  return parseAudienceSyncConfig(CONFIG, 'test.yaml', {}).config;
}

const at = (day: string, hour: number) => `${day}T${String(hour).padStart(2, '0')}:00:00.000Z`;

async function members(store: ObjectStore, id: string, day = D): Promise<MemberRecord[]> {
  const out: MemberRecord[] = [];
  for await (const m of readMembers(store, id, day)) out.push(m);
  return out;
}

function audience(e: Explanation, id: string): AudienceExplanation {
  const a = e.audiences.find((x) => x.id === id);
  if (!a) throw new Error(`no audience ${id} in the explanation`);
  return a;
}

/** Every records node of a tree, for looking counts up by event name. */
function recordNodes(n: ExplainNode): Extract<ExplainNode, { kind: 'records' }>[] {
  if (n.kind === 'records') return [n];
  if (n.kind === 'all' || n.kind === 'any') return n.parts.flatMap(recordNodes);
  if (n.kind === 'not') return recordNodes(n.part);
  return [];
}

const EVERYONE = [
  'alice',
  'bob',
  'carol',
  'dave',
  'frank',
  'gina',
  'eve',
  't1',
  't2',
  't3',
  't4',
  't5',
  't6',
];

describe('explainPerson', () => {
  let t: TestStore;
  let store: ObjectStore;
  /** Explanations of day D computed before D was built (recomputed from the raw data). */
  const before = new Map<string, Explanation>();

  beforeAll(async () => {
    t = await createFsTestStore();
    store = t.store;
    const p = (id: string, fields: Record<string, unknown> = {}) =>
      person(id, '2026-03-01T00:00:00.000Z', fields as never);
    await writePart(store, 'people', '2026-03-01', 'p1', [
      p('alice', {
        country: 'DE',
        email: ALICE_EMAIL,
        phone: ALICE_PHONE,
        first_name: 'Alice',
        attributes: { contact: ALICE_EMAIL },
      }),
      p('bob', { country: 'FR', email: 'bob@example.com' }),
      p('carol', { country: 'DE' }),
      p('dave', { country: 'DE', unsubscribed: true }),
      p('frank', { country: 'DE' }),
      p('gina', { country: 'FR' }),
      p('eve', { country: 'FR' }),
      // eve-old was merged into eve: its records count for eve.
      { customer_id: 'eve', merged_from: 'eve-old', ts: '2026-03-02T00:00:00.000Z' },
      ...['t1', 't2', 't3', 't4', 't5', 't6'].map((id) => p(id)),
    ]);
    let n = 0;
    const e = (who: string, name: string, day: string, props: Record<string, unknown> = {}) =>
      ev(`r${n++}`, who, name, at(day, 10 + (n % 10)), props);
    await writePart(store, 'events', PREV, 'p1', [
      e('alice', 'view', PREV),
      e('alice', 'view', PREV),
      e('t4', 'cart', PREV, { value: 100 }),
    ]);
    await writePart(store, 'events', D, 'p1', [
      e('alice', 'view', D),
      e('bob', 'view', D),
      e('bob', 'view', D),
      e('carol', 'view', D),
      e('carol', 'view', D),
      e('carol', 'order_completed', D),
      e('dave', 'view', D),
      e('dave', 'view', D),
      e('frank', 'view', D),
      e('frank', 'view', D),
      e('frank', 'complaint', D),
      e('gina', 'view', D),
      e('gina', 'view', D),
      e('eve-old', 'cart', D, { value: 40 }),
      e('t1', 'cart', D, { value: 10 }),
      e('t2', 'cart', D, { value: 10 }),
      e('t2', 'cart', D, { value: 20 }),
      e('t3', 'cart', D, { value: 5 }),
      e('t3', 'cart', D, { value: 5 }),
      e('t3', 'cart', D, { value: 5 }),
      e('t5', 'cart', D, { value: 1 }),
      e('t5', 'cart', D, { value: 1 }),
      e('t6', 'cart', D, { value: '30' }),
    ]);
    // The day before is built (entered carries over from it); D is not, yet.
    await buildAudiences({ store, config: config(), day: PREV, engine: ENGINE });
    for (const id of EVERYONE)
      before.set(
        id,
        await explainPerson({ store, config: config(), day: D, customerId: id, engine: ENGINE }),
      );
    await buildAudiences({ store, config: config(), day: D, engine: ENGINE });
  }, 120_000);
  afterAll(async () => {
    await t.cleanup();
  });

  it('agrees with the build: member ⇔ selected, with the same rank, score, group and entered', async () => {
    for (const id of ['buyers', 'engaged', 'top']) {
      const built = new Map((await members(store, id)).map((m) => [m.customer_id, m]));
      expect(built.size).toBeGreaterThan(0);
      for (const who of EVERYONE) {
        const a = audience(before.get(who)!, id);
        const m = built.get(who);
        expect(a.selected, `${who} in ${id}`).toBe(m !== undefined);
        if (m) expect(a.member).toEqual({ rank: m.rank, score: m.score, group: m.group, entered: m.entered });
        else expect(a.member).toBeNull();
        expect(a.selection.selected).toBe(built.size);
      }
    }
  });

  it('explains all / any / not with the counts seen, and a personal field only as present', async () => {
    const alice = audience(before.get('alice')!, 'engaged');
    expect(alice).toMatchObject({ matched: true, eligible: true, selected: true, in_universe: true });
    // Two views the day before and one on D, in the window D-6..D.
    expect(alice.member).toMatchObject({ entered: PREV, group: 'treatment' });
    const root = alice.condition;
    expect(root.kind).toBe('all');
    if (root.kind !== 'all') return;
    expect(root.matched).toBe(true);
    const [views, any, not] = root.parts;
    expect(views).toMatchObject({
      kind: 'records',
      matched: true,
      count: 3,
      min_count: 2,
      source: { dataset: 'events', event: 'view', window: { days: 7, from: '2026-03-04', to: D } },
    });
    expect(any).toMatchObject({
      kind: 'any',
      matched: true,
      parts: [
        {
          kind: 'person',
          matched: true,
          fields: [{ field: 'country', test: 'DE', value: 'DE', present: true, matched: true }],
        },
        {
          kind: 'person',
          matched: true,
          fields: [{ field: 'email', present: true, matched: true, personal: true }],
        },
      ],
    });
    expect(not).toMatchObject({
      kind: 'not',
      matched: true,
      part: { kind: 'records', matched: false, count: 0, source: { event: 'refund' } },
    });

    // bob: FR, but has an email; gina: FR and no email, so `any` fails.
    const bob = audience(before.get('bob')!, 'engaged');
    expect(bob).toMatchObject({ matched: true, selected: true });
    const gina = audience(before.get('gina')!, 'engaged');
    expect(gina).toMatchObject({ matched: false, eligible: false, selected: false, member: null });
    expect(gina.condition).toMatchObject({
      kind: 'all',
      matched: false,
      parts: [
        { matched: true, count: 2 },
        {
          kind: 'any',
          matched: false,
          parts: [
            { fields: [{ field: 'country', value: 'FR', matched: false }] },
            { fields: [{ field: 'email', present: false, matched: false, personal: true }] },
          ],
        },
        { kind: 'not', matched: true },
      ],
    });
    const text = formatExplanation(before.get('gina')!).join('\n');
    expect(text).toMatch(/audience engaged \(segment\): not selected: the condition does not hold/);
    expect(text).toMatch(/✗ person:/);
  });

  it('names the audience that excluded a person', async () => {
    const carol = before.get('carol')!;
    expect(audience(carol, 'buyers')).toMatchObject({ selected: true, matched: true });
    expect(audience(carol, 'engaged')).toMatchObject({
      matched: true,
      excluded_by: ['buyers'],
      never_send: false,
      eligible: false,
      selected: false,
    });
    expect(formatExplanation(carol).join('\n')).toMatch(/not selected: removed by audience buyers/);
  });

  it('shows never_send with its tree, by a person field and by a record', async () => {
    const dave = before.get('dave')!;
    expect(dave.never_send).toMatchObject({
      matched: true,
      condition: {
        kind: 'any',
        matched: true,
        parts: [
          { kind: 'person', matched: true, fields: [{ field: 'unsubscribed', value: true, matched: true }] },
          { kind: 'records', matched: false, count: 0, source: { event: 'complaint' } },
        ],
      },
    });
    expect(audience(dave, 'engaged')).toMatchObject({ matched: true, never_send: true, selected: false });
    const frank = before.get('frank')!;
    expect(frank.never_send?.matched).toBe(true);
    expect(recordNodes(frank.never_send!.condition)[0]).toMatchObject({ count: 1, matched: true });
    expect(audience(frank, 'engaged')).toMatchObject({ never_send: true, eligible: false, selected: false });
    expect(before.get('alice')!.never_send?.matched).toBe(false);
  });

  it('shows the score term by term, the cut and the rank of a top_fraction member', async () => {
    const t6 = audience(before.get('t6')!, 'top');
    // Eligible: t1..t6 and eve (through eve-old): 7, so ceil(0.5 × 7) = 4 are selected.
    expect(t6.selection).toEqual({ eligible: 7, selected: 4, top_fraction: 0.5, cut_score: 12 });
    expect(t6.score).toEqual({
      value: 16,
      terms: [
        {
          kind: 'count',
          weight: 1,
          value: 1,
          contribution: 1,
          source: { dataset: 'events', event: 'cart', window: { days: 7, from: '2026-03-04', to: D } },
        },
        {
          kind: 'max',
          weight: 0.5,
          property: 'value',
          value: 30,
          contribution: 15,
          source: { dataset: 'events', event: 'cart', window: { days: 7, from: '2026-03-04', to: D } },
        },
      ],
    });
    expect(t6).toMatchObject({ selected: true, member: { rank: 3, score: 16, entered: D } });
    // t4 was selected the day before: entered carries over.
    expect(audience(before.get('t4')!, 'top').member).toMatchObject({ rank: 1, score: 51, entered: PREV });
    // Below the cut: eligible, scored, not selected.
    const t1 = audience(before.get('t1')!, 'top');
    expect(t1).toMatchObject({ eligible: true, selected: false, member: null, score: { value: 6 } });
    expect(formatExplanation(before.get('t1')!).join('\n')).toMatch(/not selected: below the cut/);
    // Not in the audience's condition at all: still scored, outside the universe is said so.
    expect(audience(before.get('alice')!, 'top')).toMatchObject({ in_universe: true, matched: false });
  });

  it('reports the holdout group of a member, as the build assigns it', async () => {
    const built = await members(store, 'top');
    const groups = new Set(built.map((m) => m.group));
    expect(groups).toEqual(new Set(['treatment', 'holdout']));
    for (const m of built) {
      const a = audience(before.get(m.customer_id)!, 'top');
      expect(a.member?.group).toBe(m.group);
      expect(a.holdout).toEqual({ fraction: 0.5 });
    }
  });

  it('resolves an alias to the person it was merged into', async () => {
    const e = await explainPerson({ store, config: config(), customerId: 'eve-old', engine: ENGINE });
    expect(e).toMatchObject({ day: D, customer_id: 'eve', requested_id: 'eve-old', in_snapshot: true });
    expect(audience(e, 'top')).toMatchObject({ selected: true, member: { rank: 2, score: 21 } });
    expect(before.get('eve')!.requested_id).toBeUndefined();
  });

  it('explains one audience with the audiences it excludes, requested first', async () => {
    const e = await explainPerson({
      store,
      config: config(),
      customerId: 'carol',
      audienceId: 'engaged',
      engine: ENGINE,
    });
    expect(e.day).toBe(D); // the latest built day of the audience
    expect(e.audiences.map((a) => [a.id, a.requested])).toEqual([
      ['engaged', true],
      ['buyers', false],
    ]);
    expect(e.audiences[0]).toEqual(audience(before.get('carol')!, 'engaged'));
    await expect(
      explainPerson({ store, config: config(), customerId: 'carol', audienceId: 'nope', engine: ENGINE }),
    ).rejects.toBeInstanceOf(ConfigError);
  });

  it('throws PersonNotFoundError for an id with no profile and no records', async () => {
    const error = await explainPerson({
      store,
      config: config(),
      day: D,
      customerId: 'ghost',
      engine: ENGINE,
    }).catch((x: unknown) => x);
    expect(error).toBeInstanceOf(PersonNotFoundError);
    expect((error as Error).message).toBe(`customer "ghost" is not in the people snapshot of ${D}`);
    // An email given as the id is not echoed.
    const byEmail = await explainPerson({
      store,
      config: config(),
      day: D,
      customerId: ALICE_EMAIL,
      engine: ENGINE,
    }).catch((x: unknown) => x);
    expect(byEmail).toBeInstanceOf(PersonNotFoundError);
    expect((byEmail as Error).message).not.toContain(ALICE_EMAIL);
  });

  it('never shows an email, phone or name, in JSON or in text', async () => {
    for (const who of ['alice', 'bob']) {
      const e = before.get(who)!;
      const json = JSON.stringify(e);
      const text = formatExplanation(e).join('\n');
      for (const s of [json, text]) {
        expect(s).not.toContain(ALICE_EMAIL);
        expect(s).not.toContain(ALICE_PHONE);
        expect(s).not.toContain('bob@example.com');
        expect(s).not.toContain('Alice');
        expect(s).not.toContain('@');
      }
    }
  });
});
