import { addDays } from '../../src/contract/days.js';
import { expectedGroup } from '../../src/measure/assignment.js';
import { writeJsonl } from '../../src/storage/jsonl.js';
import { keys } from '../../src/storage/keys.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { writeJson } from '../../src/storage/object-store.js';

/** Seeded PRNG (mulberry32): the same seed gives the same data on every machine. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface MemberLine {
  customer_id: string;
  group: 'treatment' | 'holdout';
  score: number;
  rank: number;
  entered: string;
}

export interface EventLine {
  id: string;
  customer_id?: string;
  email?: string;
  anonymous_id?: string;
  name: string;
  raw_name: string;
  ts: string;
  properties: Record<string, unknown>;
  received_at: string;
  source: string;
}

export function event(
  fields: Partial<EventLine> & { id: string; ts: string },
  properties: Record<string, unknown> = {},
): EventLine {
  return {
    name: 'order_completed',
    raw_name: 'Order Completed',
    properties,
    received_at: fields.ts,
    source: 'test',
    ...fields,
  };
}

export function member(
  customerId: string,
  group: 'treatment' | 'holdout',
  entered: string,
  rank = 1,
): MemberLine {
  return { customer_id: customerId, group, score: 1, rank, entered };
}

export async function writeSnapshot(
  store: ObjectStore,
  audienceId: string,
  day: string,
  members: MemberLine[],
  manifest: Record<string, unknown> | null = null,
): Promise<void> {
  await writeJsonl(store, keys.members(audienceId, day), members);
  if (manifest) await writeJson(store, keys.manifest(audienceId, day), manifest);
}

/** Writes events into their `dt=` partition (the UTC day of `ts`), one part per day. */
export async function writeEvents(store: ObjectStore, events: EventLine[], part = '1-0'): Promise<void> {
  const byDay = new Map<string, EventLine[]>();
  for (const e of events) {
    const day = e.ts.slice(0, 10);
    byDay.set(day, [...(byDay.get(day) ?? []), e]);
  }
  for (const [day, list] of byDay) await writeJsonl(store, keys.rawPart('events', day, part, part), list);
}

export interface Scenario {
  audienceId: string;
  salt: string;
  fraction: number;
  firstDay: string;
  /** Entry days; people enter evenly over them. */
  entryDays: number;
  /** Days each stay lasts (the person shows up in that many daily snapshots). */
  stayDays: number;
  people: number;
  windowDays: number;
  holdoutRate: number;
  /** Injected absolute lift: treatment converts at holdoutRate + lift. */
  lift: number;
  seed: number;
}

export interface ScenarioTruth {
  treatment: { people: number; converters: number; revenue: number };
  holdout: { people: number; converters: number; revenue: number };
  lastDay: string;
}

/**
 * Writes daily member snapshots (each stay repeated over `stayDays` snapshots with its `entered`
 * carried over) and order events with a known injected lift, plus noise that must not count:
 * orders on the entry day itself, orders after the window, other event names, and orders of
 * people outside the audience. Returns the exact counts the report must find.
 */
export async function writeScenario(store: ObjectStore, s: Scenario): Promise<ScenarioTruth> {
  const random = rng(s.seed);
  const truth: ScenarioTruth = {
    treatment: { people: 0, converters: 0, revenue: 0 },
    holdout: { people: 0, converters: 0, revenue: 0 },
    lastDay: addDays(s.firstDay, s.entryDays - 1 + s.stayDays - 1),
  };
  const snapshots = new Map<string, MemberLine[]>();
  const events: EventLine[] = [];
  let eventId = 0;
  const at = (day: string, ms: number) => new Date(Date.parse(`${day}T00:00:00.000Z`) + ms).toISOString();
  for (let i = 0; i < s.people; i++) {
    const id = `c${String(i).padStart(6, '0')}`;
    const entered = addDays(s.firstDay, i % s.entryDays);
    const group = expectedGroup(s.salt, s.fraction, id);
    for (let k = 0; k < s.stayDays; k++) {
      const day = addDays(entered, k);
      const list = snapshots.get(day) ?? [];
      list.push(member(id, group, entered, list.length + 1));
      snapshots.set(day, list);
    }
    truth[group].people += 1;
    const rate = group === 'treatment' ? s.holdoutRate + s.lift : s.holdoutRate;
    if (random() < rate) {
      // Inside the window: any instant from the start of the day after entry to just before its end.
      const offset = Math.floor(random() * s.windowDays * 86_400_000);
      const value = Math.round(20 + random() * 180);
      events.push(
        event(
          { id: `e${eventId++}`, customer_id: id, ts: at(addDays(entered, 1), offset) },
          { value, currency: 'USD' },
        ),
      );
      truth[group].converters += 1;
      truth[group].revenue += value;
    }
    // Noise: never counted.
    if (random() < 0.2)
      events.push(
        event({ id: `e${eventId++}`, customer_id: id, ts: at(entered, 3_600_000) }, { value: 999 }),
      );
    if (random() < 0.2) {
      events.push(
        event(
          { id: `e${eventId++}`, customer_id: id, ts: at(addDays(entered, 1 + s.windowDays), 60_000) },
          { value: 999 },
        ),
      );
    }
    if (random() < 0.3) {
      events.push(
        event({
          id: `e${eventId++}`,
          customer_id: id,
          name: 'checkout_started',
          ts: at(addDays(entered, 2), 5_000),
        }),
      );
    }
  }
  for (let d = 0; d < s.entryDays; d++) {
    events.push(
      event({ id: `e${eventId++}`, customer_id: `outsider${d}`, ts: at(addDays(s.firstDay, d + 1), 1000) }),
    );
  }
  for (const [day, list] of snapshots) {
    await writeSnapshot(store, s.audienceId, day, list, {
      audience: s.audienceId,
      holdout: { fraction: s.fraction, salt: s.salt },
    });
  }
  await writeEvents(store, events);
  return truth;
}
