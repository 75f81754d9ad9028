/**
 * Inputs of the sync benchmark, written the way the build stage leaves them, streamed (memory does
 * not grow with the number of people, so 10,000,000 people generate in a small process):
 *
 * - `people/dt=D/people.jsonl.gz`, one person per line in `customer_id` code-point order (the ids
 *   are fixed-width, so index order is code-point order), with its `manifest.json`;
 * - `audiences/<id>/dt=D/members.jsonl.gz` in rank order, with its `manifest.json`. The rank is a
 *   pseudo-random permutation of the people (a Feistel network over the index, walked in rank
 *   order), so rank order is not `customer_id` order, as after a real build.
 *
 * People look like landed data: most have an email (some in mixed case, some with surrounding
 * whitespace), many a phone (E.164 or the country's national format), names, city / region /
 * postal code, a country (a fifth in the EEA), some a mobile advertising id, and Google ad consent
 * as people give it (EEA people mostly granted, some never asked or denying; elsewhere mostly
 * unrecorded). Everyone has at least one identifier every platform can use.
 *
 * Day 2: the lowest-ranked `churn` share of day 1 leaves, as many new people join (the snapshot
 * keeps everyone, leavers included), and a `changed` share of those who stay changed their email
 * (or phone): the engine must remove their old keys and add the new ones.
 */
import { mayAddToGoogle, rowConsent } from '../connectors/core/consent.js';
import type { AudienceManifest } from '../src/audiences/manifest.js';
import type { MemberRecord, PersonRecord } from '../src/contract/records.js';
import { type PeopleSnapshotManifest, peopleManifestKey } from '../src/people/snapshot.js';
import { writeJsonl } from '../src/storage/jsonl.js';
import { keys } from '../src/storage/keys.js';
import { type ObjectStore, writeJson } from '../src/storage/object-store.js';
import type { PlatformId } from './_sync-ipc.js';

export const AUDIENCE = 'bench_audience';
export const DAY1 = '2026-11-27';
export const DAY2 = '2026-11-28';

export interface Scenario {
  /** Audience members on each day (day 1: people 0..n-1). */
  people: number;
  /** Share of day 1's members who leave on day 2 (as many new people join). */
  churn: number;
  /** Share of those who stay whose email (or phone) changed on day 2. */
  changed: number;
  platform: PlatformId;
  seed: number;
}

/** What the platform should see from one day's sync, computed from the inputs alone. */
export interface Expected {
  day: string;
  /** Lines of the members file. */
  members: number;
  /** People in the snapshot. */
  snapshot: number;
  /** People the platform should hold after the sync. */
  desired: number;
  /** People to add, by Google consent group (`adUserData/adPersonalization`; `` elsewhere). */
  adds: Map<string, number>;
  /** People to remove (removals carry no consent). */
  removes: number;
  /** Day 2: people who left, joined, and changed an identifier. */
  left?: number;
  joined?: number;
  changedIds?: number;
}

export async function writeDay1(store: ObjectStore, s: Scenario): Promise<Expected> {
  const n = s.people;
  const perm = new Permutation(n, s.seed);
  const expected: Expected = { day: DAY1, members: n, snapshot: n, desired: 0, adds: new Map(), removes: 0 };
  await writeJsonl(
    store,
    keys.peopleSnapshot(DAY1),
    (function* () {
      for (let i = 0; i < n; i++) {
        const p = personOf(i, s.seed, DAY1, false);
        const group = eligibleGroup(p, s.platform);
        if (group !== undefined) {
          expected.desired += 1;
          expected.adds.set(group, (expected.adds.get(group) ?? 0) + 1);
        }
        yield p;
      }
    })(),
  );
  await writeJsonl(
    store,
    keys.members(AUDIENCE, DAY1),
    (function* (): Generator<MemberRecord> {
      for (let r = 0; r < n; r++) yield member(perm.at(r), r, n, DAY1);
    })(),
  );
  await writeManifests(store, DAY1, null, n, n, n);
  return expected;
}

export async function writeDay2(store: ObjectStore, s: Scenario): Promise<Expected> {
  const n = s.people;
  const leave = Math.round(n * s.churn);
  const stay = n - leave;
  const day1 = new Permutation(n, s.seed);
  const day2 = new Permutation(n, s.seed + 1);
  const expected: Expected = {
    day: DAY2,
    members: n,
    snapshot: n + leave,
    desired: 0,
    adds: new Map(),
    removes: 0,
    left: leave,
    joined: leave,
    changedIds: 0,
  };
  const add = (group: string) => expected.adds.set(group, (expected.adds.get(group) ?? 0) + 1);
  await writeJsonl(
    store,
    keys.peopleSnapshot(DAY2),
    (function* () {
      for (let i = 0; i < n + leave; i++) {
        if (i >= n) {
          // Joined today.
          const p = personOf(i, s.seed, DAY2, false);
          const group = eligibleGroup(p, s.platform);
          if (group !== undefined) {
            expected.desired += 1;
            add(group);
          }
          yield p;
          continue;
        }
        const before = personOf(i, s.seed, DAY1, false);
        const wasHeld = eligibleGroup(before, s.platform) !== undefined;
        if (day1.indexOf(i) >= stay) {
          // Left the audience (still a person in the snapshot).
          if (wasHeld) expected.removes += 1;
          yield before;
          continue;
        }
        if (uniform(i, s.seed, SALT.changed) >= s.changed) {
          if (wasHeld) expected.desired += 1;
          yield before;
          continue;
        }
        expected.changedIds = (expected.changedIds ?? 0) + 1;
        const after = personOf(i, s.seed, DAY2, true);
        const group = eligibleGroup(after, s.platform);
        if (wasHeld) expected.removes += 1;
        if (group !== undefined) {
          expected.desired += 1;
          add(group);
        }
        yield after;
      }
    })(),
  );
  await writeJsonl(
    store,
    keys.members(AUDIENCE, DAY2),
    (function* (): Generator<MemberRecord> {
      for (let r = 0; r < n; r++) {
        const slot = day2.at(r);
        const index = slot < stay ? day1.at(slot) : n + (slot - stay);
        yield member(index, r, n, slot < stay ? DAY1 : DAY2);
      }
    })(),
  );
  await writeManifests(store, DAY2, DAY1, n + leave, n, leave);
  return expected;
}

/** The Google consent group of a person the platform should hold, or undefined when it should not. */
function eligibleGroup(p: PersonRecord, platform: PlatformId): string | undefined {
  if (platform !== 'google_ads') return '';
  const consent = rowConsent(p);
  if (!mayAddToGoogle(consent)) return undefined;
  return `${consent.adUserData}/${consent.adPersonalization}`;
}

function member(index: number, rank0: number, n: number, entered: string): MemberRecord {
  return {
    customer_id: customerId(index),
    group: 'treatment',
    score: Math.round(((n - rank0) / n) * 1e6) / 1e4,
    rank: rank0 + 1,
    entered,
  };
}

export function customerId(index: number): string {
  return `cus_${String(index).padStart(9, '0')}`;
}

// --- people ---------------------------------------------------------------------------------

const SALT = {
  country: 1,
  first: 2,
  last: 3,
  email: 4,
  emailCase: 5,
  domain: 6,
  phone: 7,
  phoneFormat: 8,
  digits: 9,
  place: 10,
  maid: 11,
  consent: 12,
  plan: 13,
  changed: 14,
  hour: 15,
} as const;

const FIRST = [
  'Emma',
  'Liam',
  'Olivia',
  'Noah',
  'Ava',
  'Elijah',
  'Sophia',
  'James',
  'Mia',
  'Lucas',
  'Chloé',
  'José',
  'Zoë',
  'Mateo',
  'Léa',
  'Jürgen',
  'Ana',
  'Søren',
  'Hannah',
  'Oliver',
  'Isla',
  'Finn',
];
const LAST = [
  'Smith',
  'Johnson',
  'Williams',
  'Brown',
  'García',
  'Miller',
  'Davis',
  'Martínez',
  'Müller',
  "O'Brien",
  'Schmidt',
  'Dubois',
  'Rossi',
  'Kowalski',
  'Andersson',
  'van der Berg',
  'Nguyen',
];
const DOMAINS = [
  'gmail.com',
  'yahoo.com',
  'outlook.com',
  'icloud.com',
  'hotmail.co.uk',
  'web.de',
  'example.org',
];
const PLANS = ['free', 'basic', 'pro', 'vip'];
const EEA = ['DE', 'FR', 'ES', 'IT', 'NL', 'PL', 'SE', 'IE'];

interface Place {
  city: string;
  region?: string;
  postal: (u: number) => string;
}
const digits = (u: number, width: number) => String(Math.floor(u * 10 ** width)).padStart(width, '0');
const PLACES: Record<string, Place[]> = {
  US: [
    { city: 'New York', region: 'NY', postal: (u) => `100${digits(u, 2)}` },
    { city: 'San Francisco', region: 'CA', postal: (u) => `941${digits(u, 2)}` },
    { city: 'Austin', region: 'TX', postal: (u) => `787${digits(u, 2)}` },
    { city: 'Chicago', region: 'IL', postal: (u) => `606${digits(u, 2)}-${digits((u * 7) % 1, 4)}` },
  ],
  CA: [{ city: 'Toronto', region: 'ON', postal: () => 'M5V 2T6' }],
  GB: [
    { city: 'London', postal: () => 'SW1A 1AA' },
    { city: 'Manchester', postal: () => 'M1 1AE' },
  ],
  DE: [
    { city: 'Berlin', postal: (u) => `10${digits(u, 3)}` },
    { city: 'München', postal: (u) => `80${digits(u, 3)}` },
  ],
  FR: [{ city: 'Paris', postal: (u) => `750${digits(u, 2)}` }],
  ES: [{ city: 'Madrid', postal: (u) => `280${digits(u, 2)}` }],
  IT: [{ city: 'Milano', postal: (u) => `201${digits(u, 2)}` }],
  NL: [{ city: 'Amsterdam', postal: () => '1012 AB' }],
  PL: [{ city: 'Warszawa', postal: () => '00-001' }],
  SE: [{ city: 'Stockholm', postal: () => '111 22' }],
  IE: [{ city: 'Dublin', postal: () => 'D02 X285' }],
};
const US_AREAS = ['212', '415', '312', '617', '206', '303', '404', '512', '702', '818'];

/** A phone number of the country: international form and the national form people type. */
function phoneOf(country: string, u: number, v: number): { e164: string; national: string } {
  const d = (w: number) => digits(u, w);
  switch (country) {
    case 'US':
    case 'CA': {
      const area = country === 'CA' ? '416' : US_AREAS[Math.floor(v * US_AREAS.length)]!;
      const exchange = String(200 + Math.floor(u * 800));
      const line = digits((u * 997) % 1, 4);
      const national = [
        `(${area}) ${exchange}-${line}`,
        `${area}-${exchange}-${line}`,
        `${area}.${exchange}.${line}`,
      ][Math.floor(v * 3)]!;
      return { e164: `+1${area}${exchange}${line}`, national };
    }
    case 'GB':
      return { e164: `+447700${d(6)}`, national: `07700 ${d(6)}` };
    case 'DE':
      return { e164: `+49151${d(8)}`, national: `0151 ${d(8)}` };
    case 'FR': {
      const x = d(8);
      return { e164: `+336${x}`, national: `06 ${x.replace(/(\d\d)(?=\d)/g, '$1 ')}` };
    }
    case 'ES':
      return { e164: `+346${d(8)}`, national: `6${d(8)}` };
    case 'IT':
      return { e164: `+39347${d(7)}`, national: `347 ${d(7)}` };
    case 'NL':
      return { e164: `+316${d(8)}`, national: `06-${d(8)}` };
    case 'PL':
      return { e164: `+48512${d(6)}`, national: `512 ${d(6)}` };
    case 'SE':
      return { e164: `+4670${d(7)}`, national: `070-${d(7)}` };
    default:
      return { e164: `+35387${d(7)}`, national: `087 ${d(7)}` };
  }
}

function countryOf(u: number): string {
  if (u < 0.62) return 'US';
  if (u < 0.7) return 'CA';
  if (u < 0.8) return 'GB';
  return EEA[Math.min(EEA.length - 1, Math.floor((u - 0.8) * 5 * EEA.length))]!;
}

type Consent = NonNullable<PersonRecord['consent']>;
const GRANTED: Consent = { ad_user_data: 'granted', ad_personalization: 'granted' };

/** Ad consent as people give it: EEA people are asked, elsewhere it is mostly not recorded. */
function consentOf(country: string, u: number): Consent | undefined {
  if (EEA.includes(country)) {
    if (u < 0.72) return GRANTED;
    if (u < 0.87) return undefined; // never asked: not added by Google's rules
    if (u < 0.95) return { ad_user_data: 'granted', ad_personalization: 'denied' };
    return { ad_user_data: 'denied' };
  }
  if (u < 0.68) return undefined;
  if (u < 0.9) return GRANTED;
  if (u < 0.96) return { ad_user_data: 'granted' };
  return { ad_personalization: 'denied' };
}

/** Person `index` as the snapshot of `day` holds it; `changed`: with a new email (or phone). */
export function personOf(index: number, seed: number, day: string, changed: boolean): PersonRecord {
  const u = (salt: number) => uniform(index, seed, salt);
  const country = countryOf(u(SALT.country));
  const first = FIRST[Math.floor(u(SALT.first) * FIRST.length)]!;
  const last = LAST[Math.floor(u(SALT.last) * LAST.length)]!;
  const hasEmail = u(SALT.email) < 0.93;
  const phone = phoneOf(country, u(SALT.digits), u(SALT.phoneFormat));
  // Without an email, a phone in international form: everyone keeps a key every platform uses.
  const phoneForm = u(SALT.phone);
  const phoneValue = !hasEmail || phoneForm < 0.3 ? phone.e164 : phoneForm < 0.6 ? phone.national : undefined;
  const places = PLACES[country]!;
  const place = places[Math.floor(u(SALT.place) * places.length)]!;
  const p: PersonRecord = {
    customer_id: customerId(index),
    ts: `${day}T${String(Math.floor(u(SALT.hour) * 24)).padStart(2, '0')}:17:03.000Z`,
  };
  if (hasEmail) {
    const local = `${ascii(first)}.${ascii(last)}${index}${changed ? '.new' : ''}`;
    const domain = DOMAINS[Math.floor(u(SALT.domain) * DOMAINS.length)]!;
    const style = u(SALT.emailCase);
    // Landed data, not cleaned: some addresses in mixed case, some with whitespace around them.
    p.email =
      style < 0.15
        ? `${cap(local)}@${cap(domain)}`
        : style < 0.2
          ? ` ${local.toLowerCase()}@${domain} `
          : `${local.toLowerCase()}@${domain}`;
  }
  if (phoneValue !== undefined) {
    // A changed person without an email changed their phone.
    p.phone = changed && !hasEmail ? phoneOf(country, (u(SALT.digits) * 31) % 1, 0).e164 : phoneValue;
  }
  p.first_name = first;
  p.last_name = last;
  p.city = place.city;
  if (place.region) p.region = place.region;
  p.postal_code = place.postal((u(SALT.place) * 13) % 1);
  p.country = country;
  if (u(SALT.maid) < 0.22) p.maid = uuid(index, seed);
  const consent = consentOf(country, u(SALT.consent));
  if (consent) p.consent = consent;
  p.attributes = {
    plan: PLANS[Math.floor(u(SALT.plan) * PLANS.length)]!,
    lifetime_value: Math.round(u(SALT.plan) * 250_000) / 100,
    orders: Math.floor(u(SALT.plan) * 40),
  };
  return p;
}

function ascii(name: string): string {
  return name
    .normalize('NFD')
    .replace(/[^A-Za-z]/g, '')
    .toLowerCase();
}

function cap(s: string): string {
  return s.replace(/(^|[.@])([a-z])/g, (_, a: string, b: string) => a + b.toUpperCase());
}

function uuid(index: number, seed: number): string {
  const hex = (salt: number) =>
    mix(index, seed * 131 + salt)
      .toString(16)
      .padStart(8, '0');
  const h = hex(100) + hex(101) + hex(102) + hex(103);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

// --- manifests ------------------------------------------------------------------------------

/**
 * The manifests a build writes next to the snapshot and the members. The CLI's `sync --date D`
 * reads neither today (it opens the objects of D directly), but a day counts as built only with
 * its manifest (`latestBuiltDay`, `latestSnapshotDay`), so `plan`, `sync` without `--date` and
 * the health checks find these days as they would find built ones.
 */
async function writeManifests(
  store: ObjectStore,
  day: string,
  baseDay: string | null,
  people: number,
  members: number,
  newPeople: number,
): Promise<void> {
  const now = new Date().toISOString();
  const peopleManifest: PeopleSnapshotManifest = {
    version: 1,
    day,
    run_id: `bench-${day}`,
    created_at: now,
    base_day: baseDay,
    folded: {},
    new_parts: [],
    people,
    updated_people: newPeople,
    new_people: newPeople,
    updates_read: newPeople,
    updates_rejected: {},
    deleted: 0,
    unsubscribed: 0,
    malformed_lines: 0,
    malformed: [],
    seconds: 0,
  };
  await writeJson(store, peopleManifestKey(day), peopleManifest);
  const audienceManifest: AudienceManifest = {
    version: 1,
    audience: AUDIENCE,
    type: 'segment',
    day,
    run_id: `bench-${day}`,
    created_at: now,
    definition_hash: 'bench',
    lookback_days: 30,
    window: { from: day, to: day },
    inputs: {
      people_snapshot: keys.peopleSnapshot(day),
      parts: { events: [], messages: [] },
      excluded_audiences: [],
      previous_snapshot_day: baseDay,
    },
    records_scanned: 0,
    records: {
      events: { lines: 0, relevant: 0, duplicates: 0, unresolved: 0 },
      messages: { lines: 0, relevant: 0, duplicates: 0, unresolved: 0 },
    },
    unresolved_identities: 0,
    malformed_lines: 0,
    malformed: [],
    counts: {
      universe: people,
      matched: members,
      excluded: {},
      removed: 0,
      eligible: members,
      selected: members,
      treatment: members,
      holdout: 0,
    },
    top_fraction: null,
    holdout: { fraction: 0, salt: 'bench' },
    score: null,
    entered: { carried_over: members - (baseDay ? newPeople : members), new: baseDay ? newPeople : members },
    timings: { snapshot_seconds: 0, scan_seconds: 0, evaluate_seconds: 0, write_seconds: 0 },
    members_key: keys.members(AUDIENCE, day),
  };
  await writeJson(store, keys.manifest(AUDIENCE, day), audienceManifest);
}

// --- pseudo-randomness ----------------------------------------------------------------------

/** A 32-bit mix of two integers (murmur3's finalizer over a golden-ratio combination). */
function mix(a: number, b: number): number {
  let h = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Uniform in [0, 1), fixed by (index, seed, salt). */
function uniform(index: number, seed: number, salt: number): number {
  return mix(index, seed * 1009 + salt) / 4294967296;
}

/**
 * A pseudo-random permutation of 0..n-1 computed one element at a time: a four-round Feistel
 * network over the next even power of two, cycle-walked into range. `at(rank)` is the index at a
 * rank, `indexOf(index)` the rank of an index; neither holds more than a few numbers.
 */
export class Permutation {
  private readonly half: number;
  private readonly mask: number;
  private readonly keys: number[];

  constructor(
    readonly n: number,
    seed: number,
  ) {
    if (n < 1 || n > 2 ** 30) throw new Error(`permutation size ${n} out of range`);
    let bits = 2;
    while (2 ** bits < n) bits += 1;
    if (bits % 2 === 1) bits += 1;
    this.half = bits / 2;
    this.mask = 2 ** this.half - 1;
    this.keys = [0, 1, 2, 3].map((k) => mix(seed, 0x51ed + k));
  }

  private f(x: number, key: number): number {
    return mix(x, key) & this.mask;
  }

  private forward(x: number): number {
    let l = x >>> this.half;
    let r = x & this.mask;
    for (const key of this.keys) {
      const next = l ^ this.f(r, key);
      l = r;
      r = next;
    }
    return ((l << this.half) | r) >>> 0;
  }

  private backward(x: number): number {
    let l = x >>> this.half;
    let r = x & this.mask;
    for (let k = this.keys.length - 1; k >= 0; k--) {
      const previous = r ^ this.f(l, this.keys[k]!);
      r = l;
      l = previous;
    }
    return ((l << this.half) | r) >>> 0;
  }

  at(rank: number): number {
    let x = this.forward(rank);
    while (x >= this.n) x = this.forward(x);
    return x;
  }

  indexOf(index: number): number {
    let x = this.backward(index);
    while (x >= this.n) x = this.backward(x);
    return x;
  }
}
