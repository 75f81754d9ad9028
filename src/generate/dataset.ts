import { isHoldout } from '../audiences/holdout.js';
import { addDays, dayStartMs, today } from '../contract/days.js';
import { isEea } from '../contract/identifiers.js';
import type { EventRecord, MessageRecord, PersonRecord } from '../contract/records.js';
import { type ObjectStore, writeJson } from '../storage/object-store.js';
import { PartWriter } from './parts.js';
import { Random, ulidLike } from './random.js';

/**
 * A realistic synthetic dataset in the raw layout, deterministic for a seed.
 *
 * - people: an initial identify for everyone on the first day (emails at example.com/.org/.net,
 *   fictional phone ranges: US/CA 555-01xx, GB 07700 900xxx, AU 0491 570xxx), countries, names,
 *   EEA consent, then daily attribute updates, email changes, unsubscribes and deletions;
 * - events: product views, carts, `checkout_started` with value + currency, `order_completed`
 *   (raw names in both Segment Title Case and snake_case, some values as decimal strings, some
 *   events carrying only an email, some anonymous);
 * - messages: Customer.io-shaped activity (email campaigns / broadcasts / newsletters, a win-back
 *   campaign `campaign_id: 501`, SMS, push), some addressed only by email or `cio_id`;
 * - duplicates (re-sent copies received an hour later, in later parts), late parts (records of day D
 *   received two days later), and a few malformed lines.
 *
 * **Known truth for lift.** When a person abandons a checkout (no order the same day), whether they
 * will order in the next 1–10 days is drawn once: probability `p = 0.15 + 0.30 × intent` for people
 * held out of the example audience `high_intent_abandoners` (holdout formula with its salt
 * `cart-recovery-2026q4` and fraction 0.10), and `p × (1 + lift)` (capped at 1) for everyone else —
 * the people the paid audience reaches. So among that audience's members the true relative lift of
 * converting within 14 days is `lift`, diluted only by baseline orders (~0.1–0.3 % a day). The
 * draws and the conversions per group are written to `_generated.json`.
 */

export interface GenerateOptions {
  store: ObjectStore;
  people: number;
  days: number;
  seed?: number;
  /** True relative conversion lift for reached (treatment) abandoners; default 0.2. */
  lift?: number;
  /** Last day of data (default: yesterday, UTC). */
  endDay?: string;
  /** The holdout the lift is defined against (defaults: the example config's abandoners audience). */
  holdout?: { salt: string; fraction: number };
  /** Lines per part file (default 100,000). */
  partSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface GenerateResult {
  days: { from: string; to: string };
  people: number;
  seed: number;
  lift: number;
  holdout: { salt: string; fraction: number };
  records: { events: number; messages: number; people: number };
  duplicates: number;
  late: number;
  malformed: number;
  parts: number;
  truth: {
    abandonments: { treatment: number; holdout: number };
    scheduled_conversions: { treatment: number; holdout: number };
  };
}

/** The example config's top-fraction audience holdout (`audience-sync.example.yaml`). */
export const EXAMPLE_HOLDOUT = { salt: 'cart-recovery-2026q4', fraction: 0.1 } as const;
const WIN_BACK_CAMPAIGN_ID = '501';
export const GENERATED_KEY = '_generated.json';

const FIRST = [
  'ada',
  'ben',
  'chloe',
  'dmitri',
  'elena',
  'farah',
  'gus',
  'hana',
  'ivan',
  'jules',
  'kofi',
  'lena',
  'mateo',
  'nora',
  'omar',
  'priya',
  'quinn',
  'rosa',
  'sam',
  'tariq',
  'uma',
  'vera',
  'wen',
  'yusuf',
  'zoe',
];
const LAST = [
  'adams',
  'bauer',
  'costa',
  'dubois',
  'evans',
  'fischer',
  'garcia',
  'haddad',
  'ito',
  'jensen',
  'kowalski',
  'lopez',
  'martin',
  'nguyen',
  'okafor',
  'petrov',
  'rossi',
  'silva',
  'tanaka',
  'weber',
];
const DOMAINS = ['example.com', 'example.org', 'example.net'];
const COUNTRIES = ['US', 'GB', 'CA', 'DE', 'FR', 'AU', 'NL', 'ES', 'IT'] as const;
const COUNTRY_CUM = [50, 62, 70, 78, 84, 89, 93, 97, 100];
const CURRENCY: Record<string, string> = { US: 'USD', GB: 'GBP', CA: 'CAD', AU: 'AUD' };
const CITIES: Record<string, string[]> = {
  US: ['Springfield', 'Portland', 'Austin'],
  GB: ['Leeds', 'Bristol'],
  CA: ['Halifax', 'Calgary'],
  DE: ['Köln', 'Leipzig'],
  FR: ['Lyon', 'Nantes'],
  AU: ['Perth', 'Hobart'],
  NL: ['Utrecht'],
  ES: ['Valencia'],
  IT: ['Torino'],
};
const CAMPAIGNS: Partial<MessageRecord>[] = [
  { campaign_id: '101', action_id: '1001', journey_id: 'j_welcome' },
  { campaign_id: '102', action_id: '1002', journey_id: 'j_browse' },
  { broadcast_id: '7', action_id: '2007' },
  { newsletter_id: '12' },
];

export async function generateDataset(options: GenerateOptions): Promise<GenerateResult> {
  const { store } = options;
  const n = options.people;
  const days = options.days;
  if (!Number.isInteger(n) || n < 1) throw new RangeError('people must be a positive whole number');
  if (!Number.isInteger(days) || days < 1) throw new RangeError('days must be a positive whole number');
  const seed = options.seed ?? 1;
  const lift = options.lift ?? 0.2;
  if (!(lift >= -1 && lift <= 10)) throw new RangeError('lift must be between -1 and 10');
  const holdout = options.holdout ?? EXAMPLE_HOLDOUT;
  const endDay = options.endDay ?? addDays(today(), -1);
  const firstDay = addDays(endDay, 1 - days);
  const rnd = new Random(seed);
  const parts = new PartWriter(store, options.partSize ?? 100_000);
  // Late and re-sent copies: part ids two days after the regular parts of the same partition.
  const late = new PartWriter(store, options.partSize ?? 100_000, 2 * 24 * 60);
  const counts = { events: 0, messages: 0, people: 0, duplicates: 0, late: 0, malformed: 0 };
  const truth = {
    abandonments: { treatment: 0, holdout: 0 },
    scheduled_conversions: { treatment: 0, holdout: 0 },
  };

  // Per-person state, compact: the generator must run at a million people.
  const engagement = new Float32Array(n);
  const intent = new Float32Array(n);
  const country = new Uint8Array(n);
  const hasPhone = new Uint8Array(n);
  const subscribed = new Uint8Array(n);
  const deleted = new Uint8Array(n);
  const emailVersion = new Uint16Array(n);
  const lastOrder = new Int32Array(n).fill(-1_000_000);
  const pendingOrder = new Int32Array(n).fill(-1);
  const group = new Int8Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    const u = rnd.next();
    engagement[i] = u * u;
    intent[i] = rnd.next();
    country[i] = COUNTRIES.indexOf(rnd.weighted(COUNTRIES, COUNTRY_CUM));
    hasPhone[i] = rnd.chance(0.6) ? 1 : 0;
    subscribed[i] = 1;
    // About a third bought in the last months before the window (the rest are lapsed or never bought).
    if (rnd.chance(0.35)) lastOrder[i] = -1 - rnd.int(120);
  }

  const customerId = (i: number) => `cus_${String(i + 1).padStart(7, '0')}`;
  const cioId = (i: number) => `cio_${(((i + 1) * 2654435761) >>> 0).toString(16).padStart(8, '0')}`;
  const emailOf = (i: number) => {
    const v = emailVersion[i]!;
    const name = `${FIRST[i % FIRST.length]}.${LAST[(i >> 3) % LAST.length]}${i + 1}`;
    return v === 0 ? `${name}@${DOMAINS[i % 3]}` : `${name}.v${v}@${DOMAINS[(i + v) % 3]}`;
  };
  const phoneOf = (i: number, c: string) => {
    const k = String(i % 100).padStart(2, '0');
    if (c === 'US' || c === 'CA') return `+1${c === 'US' ? 212 + (i % 7) * 101 : 416}55501${k}`;
    if (c === 'GB') return `+447700900${String(i % 1000).padStart(3, '0')}`;
    if (c === 'AU') return `+61491570${String(i % 1000).padStart(3, '0')}`;
    return undefined;
  };
  const isTreatment = (i: number) => {
    if (group[i] === -1) group[i] = isHoldout(holdout.salt, customerId(i), holdout.fraction) ? 0 : 1;
    return group[i] === 1;
  };

  for (let d = 0; d < days; d++) {
    const day = addDays(firstDay, d);
    const dayMs = dayStartMs(day);
    const r = rnd.fork(d + 1);
    const at = () => dayMs + r.int(86_400_000);
    const iso = (ms: number) => new Date(ms).toISOString();

    const emit = (
      dataset: 'events' | 'messages' | 'people',
      record: EventRecord | MessageRecord | PersonRecord,
    ) => {
      const line = JSON.stringify(record);
      counts[dataset] += 1;
      if (dataset !== 'people' && r.chance(0.003)) {
        // Late: received two days later, so it lands in a part written after the day was exported.
        counts.late += 1;
        const delayed = {
          ...record,
          received_at: iso(Date.parse(record.ts) + 2 * 86_400_000 + r.int(3_600_000)),
        };
        late.add(dataset, record.ts.slice(0, 10), JSON.stringify(delayed));
        return;
      }
      // The partition is the UTC day of the record's own time (history lands before the window).
      parts.add(dataset, record.ts.slice(0, 10), line);
      if (dataset !== 'people' && r.chance(0.003)) {
        // A re-sent copy (webhook retry, client retry) received an hour later, in a later part.
        counts.duplicates += 1;
        late.add(
          dataset,
          record.ts.slice(0, 10),
          JSON.stringify({
            ...record,
            received_at: iso(Date.parse((record as EventRecord).received_at) + 3_600_000),
          }),
        );
      }
    };
    const received = (ms: number) => iso(ms + 1_000 + r.int(30_000));

    if (d === 0) {
      for (const [dataset, broken] of [
        ['events', '{"id":"broken-line","name":"checkout_started","ts":"20'],
        ['messages', 'not json at all'],
        ['people', '{"customer_id":'],
      ] as const) {
        parts.add(dataset, day, broken);
        counts.malformed += 1;
      }
    }

    // Helpers are made once per day and read the current person from these variables: closures
    // created per person would cost more than the records they write.
    let i = 0;
    let cid = '';
    let c = '';
    let currency = 'USD';
    // --- shopping ------------------------------------------------------------------------------
    const identity = (
      ms: number,
      anonymousOk: boolean,
    ): Pick<EventRecord, 'customer_id' | 'email' | 'anonymous_id'> => {
      const u = r.next();
      if (u < 0.03) return { email: emailOf(i) };
      if (anonymousOk && u < 0.05) return { anonymous_id: `anon_${(ms + i).toString(36)}` };
      return { customer_id: cid };
    };
    const event = (
      name: string,
      rawName: string,
      ms: number,
      properties: Record<string, unknown>,
      anonymousOk = false,
    ) =>
      emit('events', {
        id: ulidLike(ms, r),
        ...identity(ms, anonymousOk),
        name,
        raw_name: rawName,
        ts: iso(ms),
        properties,
        received_at: received(ms),
        source: 'track',
      });
    const order = (ms: number, value: number) => {
      lastOrder[i] = Math.max(lastOrder[i]!, Math.floor((ms - dayMs) / 86_400_000) + d);
      pendingOrder[i] = -1;
      const v = Math.round(value * 100) / 100;
      event('order_completed', r.chance(0.5) ? 'Order Completed' : 'order_completed', ms, {
        order_id: `ord_${ms.toString(36)}${i.toString(36)}`,
        value: r.chance(0.1) ? v.toFixed(2) : v,
        currency,
        products: [{ sku: `sku_${r.int(500)}`, quantity: 1 + r.int(2) }],
      });
    };
    // --- messaging (Customer.io reporting webhooks) ---------------------------------------------
    const messageIdentity = (): Pick<MessageRecord, 'customer_id' | 'email' | 'cio_id'> => {
      const u = r.next();
      if (u < 0.06) return { email: emailOf(i) };
      if (u < 0.1) return { cio_id: cioId(i) };
      return { customer_id: cid };
    };
    const deliver = (channel: string, source: Partial<MessageRecord>, steps: [string, number][]) => {
      let ms = at();
      const delivery = `dlv_${ms.toString(36)}${i.toString(36)}`;
      const who = messageIdentity();
      for (const [metric, p] of steps) {
        if (!r.chance(p)) break;
        const record: MessageRecord = {
          id: ulidLike(ms, r),
          ...who,
          channel,
          metric,
          delivery_id: delivery,
          ...source,
          ts: iso(ms),
          received_at: received(ms),
          source: 'customerio_webhook',
        };
        if (metric === 'clicked') record.href = 'https://shop.example.com/cart';
        emit('messages', record);
        if (metric === 'unsubscribed') {
          subscribed[i] = 0;
          emit('people', { customer_id: cid, unsubscribed: true, ts: iso(ms) });
        }
        ms += 60_000 + r.int(3_600_000);
        if (ms >= dayMs + 86_400_000) break;
      }
    };
    for (i = 0; i < n; i++) {
      cid = customerId(i);
      c = COUNTRIES[country[i]!]!;
      if (d === 0) {
        const ts = iso(at());
        const person: PersonRecord = {
          customer_id: cid,
          email: emailOf(i),
          first_name: FIRST[i % FIRST.length]!.replace(/^./, (s) => s.toUpperCase()),
          last_name: LAST[(i >> 3) % LAST.length]!.replace(/^./, (s) => s.toUpperCase()),
          city: r.pick(CITIES[c]!),
          country: c,
          cio_id: cioId(i),
          ts,
        };
        const phone = hasPhone[i] ? phoneOf(i, c) : undefined;
        if (phone) person.phone = phone;
        else hasPhone[i] = 0;
        if (isEea(c)) {
          const granted = r.chance(0.7) ? 'granted' : 'denied';
          person.consent = { ad_user_data: granted, ad_personalization: r.chance(0.9) ? granted : 'denied' };
        }
        person.attributes = {
          plan: r.chance(0.2) ? 'pro' : 'free',
          signup_source: r.pick(['web', 'ios', 'android']),
        };
        emit('people', person);
        // Their last order before the window, so lapsed-customer rules have history to look at.
        if (lastOrder[i]! < 0 && lastOrder[i]! > -1000) {
          currency = CURRENCY[c] ?? 'EUR';
          order(dayMs + lastOrder[i]! * 86_400_000 + r.int(86_400_000), 20 + r.next() * 200);
        }
      }
      if (deleted[i]) continue;

      // --- profile changes ---------------------------------------------------------------------
      if (d > 0) {
        if (r.chance(0.005)) {
          emit('people', {
            customer_id: cid,
            attributes: {
              plan: r.chance(0.3) ? 'pro' : 'free',
              lifetime_value: Math.round(r.next() * 50000) / 100,
            },
            ts: iso(at()),
          } as PersonRecord);
        }
        if (r.chance(0.0003)) {
          emailVersion[i] = emailVersion[i]! + 1;
          emit('people', { customer_id: cid, email: emailOf(i), ts: iso(at()) });
        }
        if (r.chance(0.0001)) {
          deleted[i] = 1;
          emit('people', { customer_id: cid, deleted: true, ts: iso(at()) });
          continue;
        }
      }

      const e = engagement[i]!;
      currency = CURRENCY[c] ?? 'EUR';
      if (r.chance(0.04 + 0.25 * e)) {
        let ms = at();
        const views = 1 + Math.floor(3 * e * r.next());
        for (let v = 0; v < views; v++) {
          event(
            'product_viewed',
            r.chance(0.5) ? 'Product Viewed' : 'product_viewed',
            ms,
            { sku: `sku_${r.int(500)}` },
            true,
          );
          ms += 20_000 + r.int(120_000);
        }
        if (r.chance(0.35)) {
          event('product_added', 'Product Added', ms, { sku: `sku_${r.int(500)}`, quantity: 1 });
          ms += 30_000;
          if (r.chance(0.15 + 0.3 * intent[i]!) && ms < dayMs + 86_400_000 - 600_000) {
            const value = 20 + r.next() * 230;
            const cart = `cart_${ms.toString(36)}${i.toString(36)}`;
            const v = Math.round(value * 100) / 100;
            event('checkout_started', r.chance(0.5) ? 'Checkout Started' : 'checkout_started', ms, {
              cart_id: cart,
              value: r.chance(0.1) ? v.toFixed(2) : v,
              currency,
            });
            if (r.chance(0.4)) {
              order(ms + 60_000 + r.int(300_000), value);
            } else if (pendingOrder[i]! < d) {
              // An abandonment: draw once whether (and when) this person will come back and buy.
              const treated = isTreatment(i);
              const base = 0.15 + 0.3 * intent[i]!;
              const p = Math.min(1, treated ? base * (1 + lift) : base);
              if (treated) truth.abandonments.treatment += 1;
              else truth.abandonments.holdout += 1;
              if (r.chance(p)) {
                pendingOrder[i] = d + 1 + r.int(10);
                if (treated) truth.scheduled_conversions.treatment += 1;
                else truth.scheduled_conversions.holdout += 1;
              }
            }
          }
        }
      }
      if (pendingOrder[i] === d || r.chance(0.001 + 0.002 * e)) order(at(), 20 + r.next() * 200);

      if (subscribed[i] && r.chance(0.2)) {
        const u = r.next();
        const tail: [string, number][] =
          u < 0.01
            ? [['bounced', 1]]
            : u < 0.0108
              ? [
                  ['delivered', 1],
                  ['spammed', 1],
                ]
              : u < 0.0128
                ? [
                    ['delivered', 1],
                    ['unsubscribed', 1],
                  ]
                : [
                    ['delivered', 1],
                    ['opened', 0.3],
                    ['clicked', 0.15],
                  ];
        deliver('email', r.pick(CAMPAIGNS), [['sent', 1], ...tail]);
      }
      if (subscribed[i] && d - lastOrder[i]! > 45 && r.chance(0.06)) {
        deliver('email', { campaign_id: WIN_BACK_CAMPAIGN_ID, action_id: '5010', journey_id: 'j_winback' }, [
          ['sent', 1],
          ['delivered', 0.98],
          ['opened', 0.35],
          ['clicked', 0.2],
        ]);
      }
      if (hasPhone[i] && r.chance(0.03)) {
        deliver('sms', { broadcast_id: '31' }, [
          ['sent', 1],
          ['delivered', 0.98],
          ['clicked', 0.03],
        ]);
      }
      if (r.chance(0.05 * e)) {
        deliver('push', { campaign_id: '201', action_id: '2010' }, [
          ['sent', 1],
          ['delivered', 0.95],
          ['opened', 0.1],
        ]);
      }
    }
    await parts.flushDay(day);
    options.onProgress?.(d + 1, days);
  }
  await parts.flushAll();
  await late.flushAll();

  const result: GenerateResult = {
    days: { from: firstDay, to: endDay },
    people: n,
    seed,
    lift,
    holdout,
    records: { events: counts.events, messages: counts.messages, people: counts.people },
    duplicates: counts.duplicates,
    late: counts.late,
    malformed: counts.malformed,
    parts: parts.written.length + late.written.length,
    truth,
  };
  await writeJson(store, GENERATED_KEY, result);
  return result;
}
