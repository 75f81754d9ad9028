import type { AudienceManifest } from '../../src/audiences/manifest.js';
import { type AudienceSyncConfig, parseAudienceSyncConfig } from '../../src/config-file.js';
import { addDays, dayRange, dayStartMs } from '../../src/contract/days.js';
import type { Dataset } from '../../src/contract/records.js';
import type { AlertNotice, AlertSink } from '../../src/health/alerts.js';
import { peopleManifestKey } from '../../src/people/snapshot.js';
import { writeJsonl } from '../../src/storage/jsonl.js';
import { keys } from '../../src/storage/keys.js';
import { type ObjectStore, writeJson } from '../../src/storage/object-store.js';
import type { SyncRunRecord } from '../../src/sync/run-record.js';

/**
 * A store in a known healthy state, written the way the pipeline writes it (raw parts named after
 * stream ids, quarantine lines, people and audience manifests, sync run records), so each test can
 * break exactly one thing and watch exactly one alert fire and resolve.
 */

/** 13:00 UTC: the last complete day is 2026-03-09, and so is the day the refresh should have done. */
export const NOW = new Date('2026-03-10T13:00:00.000Z');
export const DAY = '2026-03-09';
export const AUDIENCE = 'high_intent';
export const DESTINATION = 'meta';
export const VOLUME: Record<Dataset, number> = { events: 200, messages: 150, people: 120 };

export const CONFIG_YAML = `
version: 1
destinations:
  meta: { type: meta, ad_account_id: act_1, access_token: "\${META_ACCESS_TOKEN}" }
audiences:
  - id: ${AUDIENCE}
    type: segment
    when: { event: checkout_started, within_days: 7 }
    sync: [meta]
health:
  volume: { min_baseline: 50 }
  schema: { min_records: 50, new_name_min_records: 10, min_quarantined: 10 }
alerts:
  webhook: { url: "\${ALERT_WEBHOOK_URL}" }
`;

export function testConfig(env: Record<string, string> = {}): AudienceSyncConfig {
  return parseAudienceSyncConfig(CONFIG_YAML, 'health-test.yaml', env).config;
}

const HOUR = 3_600_000;

export type Mutate = (record: Record<string, unknown>, i: number) => Record<string, unknown>;

export function eventRecord(day: string, i: number): Record<string, unknown> {
  const names = ['product_viewed', 'checkout_started', 'order_completed'];
  const ts = new Date(dayStartMs(day) + (i % 20) * HOUR).toISOString();
  return {
    id: `ev-${day}-${i}`,
    customer_id: `c${String(i % 60).padStart(4, '0')}`,
    name: names[i % 3],
    raw_name: names[i % 3],
    ts,
    properties: { value: 10 + (i % 50), currency: 'USD', cart_id: `cart-${i % 40}` },
    received_at: ts,
    source: 'track',
  };
}

export function messageRecord(day: string, i: number): Record<string, unknown> {
  const ts = new Date(dayStartMs(day) + (i % 20) * HOUR).toISOString();
  return {
    id: `msg-${day}-${i}`,
    customer_id: `c${String(i % 60).padStart(4, '0')}`,
    channel: 'email',
    metric: i % 2 ? 'delivered' : 'opened',
    delivery_id: `dlv-${i}`,
    campaign_id: 7,
    ts,
    received_at: ts,
    source: 'webhook',
  };
}

export function personRecord(day: string, i: number): Record<string, unknown> {
  return {
    customer_id: `c${String(i % 60).padStart(4, '0')}`,
    country: 'US',
    unsubscribed: false,
    attributes: { plan: 'pro' },
    ts: new Date(dayStartMs(day) + (i % 20) * HOUR).toISOString(),
  };
}

const MAKERS: Record<Dataset, (day: string, i: number) => Record<string, unknown>> = {
  events: eventRecord,
  messages: messageRecord,
  people: personRecord,
};

let seq = 0;
/** A raw part as the export writes it: named after the stream ids it holds, so its name says when it arrived. */
export async function writeRawPart(
  store: ObjectStore,
  dataset: Dataset,
  day: string,
  arrivedAtMs: number,
  count: number,
  options: { mutate?: Mutate; offset?: number } = {},
): Promise<string> {
  const s = seq++;
  const key = keys.rawPart(dataset, day, `${arrivedAtMs - 60_000}-${s}`, `${arrivedAtMs}-${s}`);
  const offset = options.offset ?? 0;
  const records = Array.from({ length: count }, (_, i) => {
    const r = MAKERS[dataset](day, offset + i);
    return options.mutate ? options.mutate(r, offset + i) : r;
  });
  await writeJsonl(store, key, records);
  return key;
}

export async function writeQuarantinePart(
  store: ObjectStore,
  dataset: Dataset,
  day: string,
  count: number,
  code = 'bad_email',
  rejected = false,
): Promise<void> {
  const lines = Array.from({ length: count }, (_, i) => ({
    dataset,
    rejected,
    reasons: [{ code, path: code === 'bad_timestamp' ? 'ts' : 'email', message: 'not usable' }],
    record: { id: `q-${day}-${i}`, customer_id: `c${i}` },
    received_at: `${day}T12:00:00.000Z`,
  }));
  await writeJsonl(store, keys.quarantinePart(dataset, day, `q${seq++}-${code}`), lines);
}

export interface DayOptions {
  volume?: Partial<Record<Dataset, number>>;
  mutate?: Partial<Record<Dataset, Mutate>>;
  /** Skip the pipeline outputs (people / audience manifests, sync run). */
  rawOnly?: boolean;
  run?: Partial<SyncRunRecord>;
}

/** One complete day: raw parts (arrived at noon of the day), a little quarantine, and the refresh's outputs. */
export async function seedDay(store: ObjectStore, day: string, options: DayOptions = {}): Promise<void> {
  for (const dataset of ['events', 'messages', 'people'] as const) {
    const count = options.volume?.[dataset] ?? VOLUME[dataset];
    const mutate = options.mutate?.[dataset];
    await writeRawPart(store, dataset, day, dayStartMs(day) + 12 * HOUR, count, mutate ? { mutate } : {});
  }
  await writeQuarantinePart(store, 'events', day, 2);
  if (options.rawOnly) return;
  await writeJson(store, peopleManifestKey(day), { version: 1, day, people: 60 });
  await writeJson(store, keys.manifest(AUDIENCE, day), manifestFor(day));
  await writeRun(store, day, options.run ?? {});
}

/** A healthy history: 8 complete days up to DAY, and today's first parts arrived 5 minutes ago. */
export async function seedHealthy(store: ObjectStore, now: Date = NOW): Promise<void> {
  const last = addDays(now.toISOString().slice(0, 10), -1);
  for (const day of dayRange(addDays(last, -7), last)) await seedDay(store, day);
  await seedToday(store, now);
}

/** Today's partial partitions: a few records per dataset, arrived 5 minutes before `now`. */
export async function seedToday(store: ObjectStore, now: Date): Promise<void> {
  const day = now.toISOString().slice(0, 10);
  for (const dataset of ['events', 'messages', 'people'] as const) {
    await writeRawPart(store, dataset, day, now.getTime() - 5 * 60_000, 5, { offset: 10_000 });
  }
}

export async function writeRun(
  store: ObjectStore,
  day: string,
  overrides: Partial<SyncRunRecord> & { runId?: string; emailCoverage?: number } = {},
): Promise<SyncRunRecord> {
  const { runId, emailCoverage, ...rest } = overrides;
  const eligible = 100;
  const withEmail = Math.round((emailCoverage ?? 0.9) * eligible);
  const record: SyncRunRecord = {
    run_id: runId ?? day,
    audience_id: AUDIENCE,
    destination: DESTINATION,
    connector: 'meta',
    api_version: 'v24.0',
    day,
    mode: 'diff',
    dry_run: false,
    status: 'completed',
    started_at: `${day}T06:00:00.000Z`,
    updated_at: `${day}T06:05:00.000Z`,
    finished_at: `${day}T06:05:00.000Z`,
    platform_audience_id: '23850000000001',
    plan: {
      desired: 100,
      ledger: 100,
      add: 3,
      remove: 2,
      changed: 0,
      unchanged: 97,
      after: 100,
      left: 2,
      requests: 2,
      batch_size: 10_000,
    },
    members: {
      members: 110,
      treatment: 100,
      holdout_excluded: 10,
      not_in_snapshot: 0,
      never_send_excluded: 0,
      no_identifiers: 0,
      consent_excluded: 0,
      desired: 100,
      coverage: { email: withEmail, phone: 70, external_id: 100 },
    },
    guards: [],
    batches: [],
    requests: 3,
    rejected_by_code: {},
    rejected_sample: [],
    unattributed: [],
    platform: { platformAudienceId: '23850000000001', size: 1000, matchRate: 0.6, raw: {} },
    match_rate: 0.6,
    retries: 0,
    timings_ms: { plan: 10, push: 50, total: 70 },
    ...rest,
  };
  await writeJson(store, keys.syncRun(DESTINATION, AUDIENCE, record.run_id), record);
  return record;
}

export function manifestFor(day: string): AudienceManifest {
  return {
    version: 1,
    audience: AUDIENCE,
    type: 'segment',
    day,
    run_id: `build-${day}`,
    created_at: `${day}T06:01:00.000Z`,
    definition_hash: 'x'.repeat(64),
    lookback_days: 7,
    window: { from: addDays(day, -6), to: day },
    inputs: {
      people_snapshot: keys.peopleSnapshot(day),
      parts: { events: [], messages: [] },
      excluded_audiences: [],
      previous_snapshot_day: addDays(day, -1),
    },
    records_scanned: 1000,
    records: {
      events: { lines: 1000, relevant: 300, duplicates: 0, unresolved: 0 },
      messages: { lines: 0, relevant: 0, duplicates: 0, unresolved: 0 },
    },
    unresolved_identities: 0,
    malformed_lines: 0,
    malformed: [],
    counts: {
      universe: 200,
      matched: 110,
      excluded: {},
      removed: 0,
      eligible: 110,
      selected: 110,
      treatment: 110,
      holdout: 0,
    },
    top_fraction: null,
    holdout: { fraction: 0, salt: AUDIENCE },
    score: null,
    entered: { carried_over: 100, new: 10 },
    timings: { snapshot_seconds: 0.5, scan_seconds: 2, evaluate_seconds: 0.3, write_seconds: 0.2 },
    members_key: keys.members(AUDIENCE, day),
  };
}

/** A sink that remembers what it was told. */
export function recordingSink(name = 'test'): AlertSink & { notices: { change: string; id: string }[] } {
  const notices: { change: string; id: string }[] = [];
  return {
    name,
    minSeverity: 'warning',
    notices,
    async send(notice: AlertNotice) {
      notices.push({ change: notice.change, id: notice.alert.id });
    },
  };
}

export function minutesAfter(date: Date, minutes: number): Date {
  return new Date(date.getTime() + minutes * 60_000);
}
