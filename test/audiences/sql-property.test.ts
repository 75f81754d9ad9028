import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAudiences } from '../../src/audiences/build.js';
import { readMembers } from '../../src/audiences/members.js';
import { type AudienceSyncConfig, parseAudienceSyncConfig } from '../../src/config-file.js';
import { addDays } from '../../src/contract/days.js';
import type { MemberRecord } from '../../src/contract/records.js';
import type { SnapshotPerson } from '../../src/people/merge.js';
import { readPeopleSnapshot } from '../../src/people/snapshot.js';
import { listKeys, type ObjectStore } from '../../src/storage/object-store.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { writePart } from './fixtures.js';
import { type RawLine, referenceBuild } from './reference.js';

/**
 * Property: on random configurations and random data, the SQL engine's members equal those of a
 * naive record-by-record implementation (reference.ts) — membership, order, scores, groups.
 * Each case is a seed; a failure prints it, and `SEED=<n>` replays that one case.
 */

const D = '2026-03-10';

/** A small deterministic PRNG (mulberry32), so a seed replays a case exactly. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof rng>;

const EVENTS = ['cart', 'view', 'order_completed'];
const CHANNELS = ['email', 'sms'];
const METRICS = ['sent', 'opened', 'clicked'];
// Dyadic values: every sum is exact in doubles whatever the order, so scores compare exactly.
const VALUES: unknown[] = [0, 1, 2.5, 10, -4, '7.25', '12', '3 EUR', null, true, { n: 1 }];

function randomValueMatch(r: Rng): string {
  switch (r.int(6)) {
    case 0:
      return String(r.pick([1, 2.5, 10]));
    case 1:
      return `{ gte: ${r.pick([0, 2, 5])} }`;
    case 2:
      return `{ lt: ${r.pick([3, 8, 11])} }`;
    case 3:
      return `{ ne: ${r.pick(['10', '7.25', 'null'])} }`;
    case 4:
      return `{ in: [${r.pick(['1, 2.5', '"7.25", 10', '"EUR", "USD"'])}] }`;
    default:
      return r.pick(['"12"', 'null', '"EUR"']);
  }
}

function randomLeaf(r: Rng): string {
  const within = r.chance(0.7) ? `, within_days: ${r.pick([1, 3, 7, 20])}` : '';
  const min = r.chance(0.3) ? `, min_count: ${r.pick([1, 2, 3])}` : '';
  switch (r.int(4)) {
    case 0:
    case 1: {
      const where = r.chance(0.4)
        ? `, where: { ${r.pick(['value', 'currency', 'meta.n'])}: ${randomValueMatch(r)} }`
        : '';
      return `{ event: ${r.pick(EVENTS)}${within}${min}${where} }`;
    }
    case 2: {
      const sel = r.chance(0.5)
        ? `{ channel: ${r.pick(CHANNELS)}, metric: ${r.pick(METRICS)} }`
        : `{ metric: ${r.pick(METRICS)}, campaign_id: ${r.pick(['101', '"102"', '{ in: [101, 103] }'])} }`;
      return `{ message: ${sel}${within}${min} }`;
    }
    default:
      return `{ person: { ${r.pick(['country: DE', 'unsubscribed: true', 'attributes.plan: pro', 'attributes.ltv: { gt: 50 }', 'consent.ad_user_data: granted', 'email: null'])} } }`;
  }
}

function randomCondition(r: Rng, depth = 0): string {
  if (depth >= 2 || r.chance(0.5)) return randomLeaf(r);
  const kind = r.pick(['all', 'any', 'not']);
  if (kind === 'not') return `{ not: ${randomCondition(r, depth + 1)} }`;
  const parts = Array.from({ length: 1 + r.int(3) }, () => randomCondition(r, depth + 1));
  return `{ ${kind}: [${parts.join(', ')}] }`;
}

function randomTerm(r: Rng): string {
  const weight = r.pick([1, -1, 0.5, 2, 0.25, -0.125]);
  const within = r.chance(0.5) ? `, within_days: ${r.pick([2, 7, 20])}` : '';
  switch (r.int(5)) {
    case 0:
      return `{ weight: ${weight}, count: { event: ${r.pick(EVENTS)}${within} } }`;
    case 1:
      return `{ weight: ${weight}, count: { message: { metric: ${r.pick(METRICS)} }${within} } }`;
    case 2:
      return `{ weight: ${weight}, days_since: { event: ${r.pick(EVENTS)}${within} } }`;
    default:
      return `{ weight: ${weight}, ${r.pick(['sum', 'max', 'min'])}: { event: ${r.pick(EVENTS)}, property: value${within} } }`;
  }
}

function randomConfig(r: Rng): AudienceSyncConfig {
  const audiences: string[] = [];
  const n = 1 + r.int(3);
  for (let i = 0; i < n; i++) {
    const top = r.chance(0.5);
    const exclude = i > 0 && r.chance(0.4) ? `\n    exclude: [a${r.int(i)}]` : '';
    audiences.push(
      top
        ? `  - id: a${i}
    type: top_fraction
    when: ${randomCondition(r)}
    score: [${Array.from({ length: 1 + r.int(3) }, () => randomTerm(r)).join(', ')}]
    top_fraction: ${r.pick([0.1, 0.5, 0.07, 1])}${r.chance(0.5) ? `\n    holdout: { fraction: ${r.pick([0.2, 0.5])} }` : ''}${exclude}`
        : `  - id: a${i}
    type: segment
    when: ${randomCondition(r)}${exclude}`,
    );
  }
  const neverSend = r.chance(0.5) ? `never_send: ${randomCondition(r)}\n` : '';
  return parseAudienceSyncConfig(
    `version: 1\n${neverSend}audiences:\n${audiences.join('\n')}\n`,
    'random.yaml',
    {},
  ).config;
}

const pad = (n: number) => String(n).padStart(2, '0');

async function writeRandomData(store: ObjectStore, r: Rng): Promise<void> {
  const people = Array.from({ length: 25 }, (_, i) => `c${pad(i)}`);
  const ts = (day: string) => `${day}T${pad(r.int(24))}:${pad(r.int(60))}:00.000Z`;
  const personLines = people.map((id, i) => ({
    customer_id: id,
    ts: '2026-02-01T00:00:00.000Z',
    ...(r.chance(0.7) ? { email: `u${i % 20}@example.com` } : {}),
    ...(r.chance(0.5) ? { cio_id: `cio${i % 15}` } : {}),
    ...(r.chance(0.5) ? { country: r.pick(['DE', 'FR']) } : {}),
    ...(r.chance(0.2) ? { unsubscribed: true } : {}),
    ...(r.chance(0.5) ? { consent: { ad_user_data: r.pick(['granted', 'denied']) } } : {}),
    ...(r.chance(0.6)
      ? { attributes: { plan: r.pick(['pro', 'free']), ltv: r.pick([10, 60, '75', 'n/a']) } }
      : {}),
  }));
  // An alias folds one identity into another.
  personLines.push({ customer_id: 'c01', merged_from: 'visitor-1', ts: '2026-02-02T00:00:00.000Z' } as never);
  await writePart(store, 'people', '2026-02-01', 'p1', personLines);

  const who = () => {
    const k = r.int(10);
    if (k < 7) return { customer_id: r.chance(0.9) ? r.pick(people) : r.pick(['stranger-1', 'visitor-1']) };
    if (k < 9) return { email: `${r.chance(0.5) ? 'U' : 'u'}${r.int(25)}@example.com` };
    return { anonymous_id: 'anon' };
  };
  for (let back = 22; back >= -1; back--) {
    const day = addDays(D, -back);
    const events = [];
    const messages = [];
    for (let i = 0; i < 8; i++) {
      const id = r.chance(0.15) ? `ev-dup-${r.int(6)}` : `ev-${day}-${i}`;
      const t = ts(day);
      events.push({
        id,
        ...who(),
        name: r.pick(EVENTS),
        raw_name: 'x',
        ts: t,
        properties: {
          ...(r.chance(0.8) ? { value: r.pick(VALUES) } : {}),
          ...(r.chance(0.5) ? { currency: r.pick(['EUR', 'USD']) } : {}),
          ...(r.chance(0.2) ? { meta: { n: r.pick([1, 2, '1']) } } : {}),
        },
        received_at: r.chance(0.1) ? 'garbage' : `${day}T${pad(r.int(24))}:00:00.000Z`,
        source: 'test',
      });
    }
    for (let i = 0; i < 6; i++) {
      const w = who();
      messages.push({
        id: r.chance(0.1) ? `msg-dup-${r.int(4)}` : `msg-${day}-${i}`,
        ...(w.anonymous_id ? { cio_id: `cio${r.int(15)}` } : w),
        channel: r.pick(CHANNELS),
        metric: r.pick(METRICS),
        campaign_id: r.pick(['101', '102', '103']),
        ts: ts(day),
        received_at: `${day}T${pad(r.int(24))}:00:00.000Z`,
        source: 'test',
      });
    }
    const lines: (object | string)[] = [...events];
    if (r.chance(0.1)) lines.splice(r.int(lines.length), 0, '{"broken":');
    await writePart(store, 'events', day, `p${r.int(3)}`, lines);
    await writePart(store, 'messages', day, 'p1', messages);
  }
}

async function rawLines(store: ObjectStore, dataset: 'events' | 'messages'): Promise<RawLine[]> {
  const out: RawLine[] = [];
  for (const key of (await listKeys(store, `raw/${dataset}/`)).sort()) {
    const text = gunzipSync(await store.get(key)).toString('utf8');
    text.split('\n').forEach((line, i) => {
      if (line === '') return;
      try {
        const record = JSON.parse(line);
        if (record && typeof record === 'object' && !Array.isArray(record))
          out.push({ key, line: i + 1, record });
      } catch {
        // malformed: not a record for either implementation
      }
    });
  }
  return out;
}

describe('the SQL engine agrees with a naive implementation on random configs and data', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await createFsTestStore();
  });
  afterAll(async () => {
    await t.cleanup();
  });

  it('gives the same members, ranks, scores and groups', async () => {
    const replay = process.env.SEED ? Number(process.env.SEED) : undefined;
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (seed) => {
        const store = t.store;
        await store.delete(await listKeys(store, ''));
        const r = rng(seed);
        const config = randomConfig(r);
        await writeRandomData(store, r);
        await buildAudiences({ store, config, day: D, engine: { threads: 1 } });
        const people: SnapshotPerson[] = [];
        for await (const p of readPeopleSnapshot(store, D)) people.push(p);
        const expected = referenceBuild({
          config,
          day: D,
          people,
          events: await rawLines(store, 'events'),
          messages: await rawLines(store, 'messages'),
        });
        for (const a of config.audiences) {
          const got: MemberRecord[] = [];
          for await (const m of readMembers(store, a.id, D)) got.push(m);
          expect(got, `seed ${seed}, audience ${a.id}`).toEqual(expected.get(a.id));
        }
        cases += 1;
      }),
      { numRuns: replay ? 1 : 40, ...(replay ? { seed: replay, examples: [[replay]] } : {}) },
    );
    expect(cases).toBeGreaterThan(0);
  }, 240_000);
});
