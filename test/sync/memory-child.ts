/**
 * Two days of one audience's sync in a process of their own, for test/sync/memory.test.ts: the
 * peak V8 heap of the sync must not depend on the audience's size.
 *
 * argv: <platform: meta | google_ads | tiktok> <members: a multiple of 100> <the fake's ready
 * message, JSON> <a temporary folder, removed at the end>. Run with --expose-gc.
 *
 * The inputs of both days are streamed into a filesystem store first (no array of people is ever
 * held): the people snapshot in customer_id order and the members in a scrambled rank order, as a
 * build leaves them. Then the heap is collected and the samplers start (`heapUsed` every 10 ms, and
 * right after a forced collection every 250 ms; the largest of each kept), day 1 uploads everyone
 * and day 2 has 10% of the audience leave and as many join (both in batches of 1,000).
 * The fake platform runs in another process (bench/_fake-platform-server.ts, count-only), so its
 * memory is not counted here. Prints one JSON line on stdout (`MemoryReport`).
 *
 * People by `index % 10`: 0–4 US without recorded consent, 5–6 DE with both consents granted,
 * 7 US with only ad_user_data granted, 8 FR without consent and 9 US with ad_personalization
 * denied — Google may add 0–7 (three consent groups, so three kinds of jobs) and never 8–9; Meta and
 * TikTok take everyone. Every fourth person also has a phone. The leavers of day 2 are the members
 * with `floor(index / 10) % 10 === 3`: a tenth of each kind.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { FakeReady } from '../../bench/_sync-ipc.js';
import { createConnectorContext } from '../../connectors/core/context.js';
import type { AnyConnector } from '../../connectors/core/types.js';
import { googleAdsConnector } from '../../connectors/google-ads/index.js';
import { metaConnector } from '../../connectors/meta/index.js';
import { tiktokConnector } from '../../connectors/tiktok/index.js';
import type { MemberRecord, PersonRecord } from '../../src/contract/records.js';
import { createLogger } from '../../src/log.js';
import { FsObjectStore } from '../../src/storage/fs-store.js';
import { writeJsonl } from '../../src/storage/jsonl.js';
import { keys } from '../../src/storage/keys.js';
import { syncAudience } from '../../src/sync/execute.js';
import type { SyncRunRecord } from '../../src/sync/run-record.js';

const DAY1 = '2026-11-27';
const DAY2 = '2026-11-28';
const AUDIENCE = 'memory_audience';
/** Small batches keep the per-batch share of the heap small next to what a per-member leak would add. */
const BATCH = 1_000;
/** Rank r holds the person at (r * STEP + 13) mod population: a fixed scramble of the ids. */
const STEP = 7_919;
/** Forced collections, for the live heap (every 100 ms made the syncs three times slower). */
const GC_EVERY_MS = 250;

export interface DayReport {
  day: string;
  status: SyncRunRecord['status'];
  plan: SyncRunRecord['plan'];
  members: SyncRunRecord['members'];
  /** Rows the platform accepted, per operation, from the run's batch records. */
  accepted: { add: number; remove: number };
  requests: number;
  seconds: number;
}

export interface MemoryReport {
  platform: string;
  members: number;
  /** V8 heap used right after the forced collection, before the first sync. */
  baselineHeapMiB: number;
  /** The largest V8 heap used, sampled every 10 ms while the two syncs ran (garbage included). */
  peakHeapMiB: number;
  /** The largest V8 heap used right after a forced collection (every 250 ms): what the sync holds. */
  peakLiveHeapMiB: number;
  samples: number;
  collections: number;
  /** Peak resident set of the whole process (inputs generation included, DuckDB's memory included). */
  maxRssMiB: number;
  generateSeconds: number;
  days: DayReport[];
}

const [platform, membersArg, readyArg, root] = process.argv.slice(2) as [string, string, string, string];
const n = Number(membersArg);
if (!Number.isInteger(n) || n < 100 || n % 100 !== 0) throw new Error(`members must be a multiple of 100`);
const ready = JSON.parse(readyArg) as FakeReady;
const leavers = n / 10;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

try {
  const store = new FsObjectStore(join(root, 'store'));
  const generateStarted = performance.now();
  await writeInputs(store);
  const generateSeconds = (performance.now() - generateStarted) / 1000;
  const { connector, ctx } = destination();

  gc();
  gc();
  const baseline = process.memoryUsage().heapUsed;
  let peak = baseline;
  let livePeak = baseline;
  let samples = 0;
  let collections = 0;
  const sample = () => {
    const used = process.memoryUsage().heapUsed;
    samples += 1;
    if (used > peak) peak = used;
  };
  const collect = () => {
    sample();
    gc();
    collections += 1;
    const live = process.memoryUsage().heapUsed;
    if (live > livePeak) livePeak = live;
  };
  const sampler = setInterval(sample, 10);
  const collector = setInterval(collect, GC_EVERY_MS);
  const days: DayReport[] = [];
  try {
    for (const day of [DAY1, DAY2]) {
      const started = performance.now();
      const record = await syncAudience({
        store,
        audienceId: AUDIENCE,
        day,
        destination: connector.id,
        connector,
        ctx,
        mode: { kind: 'audience' },
        runId: day,
        finalizeWaitMs: 10 * 60_000,
        log: createLogger({ level: 'silent' }),
      });
      sample();
      const accepted = { add: 0, remove: 0 };
      for (const b of record.batches) if (b.op === 'add' || b.op === 'remove') accepted[b.op] += b.accepted;
      days.push({
        day,
        status: record.status,
        plan: record.plan,
        members: record.members,
        accepted,
        requests: record.requests,
        seconds: (performance.now() - started) / 1000,
      });
    }
  } finally {
    clearInterval(sampler);
    clearInterval(collector);
  }
  const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
  const report: MemoryReport = {
    platform,
    members: n,
    baselineHeapMiB: mib(baseline),
    peakHeapMiB: mib(peak),
    peakLiveHeapMiB: mib(livePeak),
    samples,
    collections,
    maxRssMiB: mib(process.resourceUsage().maxRSS * 1024),
    generateSeconds: Math.round(generateSeconds * 100) / 100,
    days,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
} finally {
  await rm(root, { recursive: true, force: true });
}

// --- inputs ---------------------------------------------------------------------------------------

function customerId(index: number): string {
  // Fixed width: index order is code-point order.
  return `m${String(index).padStart(8, '0')}`;
}

function personOf(index: number): PersonRecord {
  const kind = index % 10;
  const p: PersonRecord = {
    customer_id: customerId(index),
    email: `shopper${index}@example.com`,
    country: kind === 5 || kind === 6 ? 'DE' : kind === 8 ? 'FR' : 'US',
    ts: '2026-11-26T10:00:00.000Z',
  };
  if (index % 4 === 0) p.phone = `+1415${String(index % 10_000_000).padStart(7, '0')}`;
  if (kind === 5 || kind === 6) p.consent = { ad_user_data: 'granted', ad_personalization: 'granted' };
  else if (kind === 7) p.consent = { ad_user_data: 'granted' };
  else if (kind === 9) p.consent = { ad_personalization: 'denied' };
  return p;
}

function leaves(index: number): boolean {
  return index < n && Math.floor(index / 10) % 10 === 3;
}

/** Members in a scrambled rank order: the indexes of 0..population-1 that `keep` lets through. */
function* members(population: number, day: string, keep: (index: number) => boolean) {
  if (population % STEP === 0) throw new Error(`${population} people: pick another step`);
  let rank = 0;
  for (let r = 0; r < population; r++) {
    const index = (r * STEP + 13) % population;
    if (!keep(index)) continue;
    rank += 1;
    const m: MemberRecord = {
      customer_id: customerId(index),
      group: 'treatment',
      score: 0,
      rank,
      entered: day,
    };
    yield m;
  }
}

function* people(count: number) {
  for (let i = 0; i < count; i++) yield personOf(i);
}

async function writeInputs(store: FsObjectStore): Promise<void> {
  await writeJsonl(store, keys.peopleSnapshot(DAY1), people(n));
  await writeJsonl(
    store,
    keys.members(AUDIENCE, DAY1),
    members(n, DAY1, () => true),
  );
  // Day 2: the snapshot keeps everyone (leavers included) and adds the joiners n..n+leavers-1.
  await writeJsonl(store, keys.peopleSnapshot(DAY2), people(n + leavers));
  await writeJsonl(
    store,
    keys.members(AUDIENCE, DAY2),
    members(n + leavers, DAY2, (index) => !leaves(index)),
  );
}

// --- the destination ------------------------------------------------------------------------------

function destination(): { connector: AnyConnector; ctx: ReturnType<typeof createConnectorContext> } {
  const log = createLogger({ level: 'silent' });
  const sleep = async () => {};
  if (platform === 'meta') {
    return {
      connector: metaConnector,
      ctx: createConnectorContext(metaConnector, {
        destination: 'meta',
        config: { type: 'meta', ad_account_id: 'act_1234', access_token: ready.token, batch_size: BATCH },
        env: { META_GRAPH_URL: ready.url },
        log,
        sleep,
      }),
    };
  }
  if (platform === 'google_ads') {
    const g = ready.google!;
    return {
      connector: googleAdsConnector,
      ctx: createConnectorContext(googleAdsConnector, {
        destination: 'google',
        config: {
          type: 'google_ads',
          customer_id: '1234567890',
          developer_token: g.developer_token,
          client_id: g.client_id,
          client_secret: g.client_secret,
          refresh_token: g.refresh_token,
          poll_interval_seconds: 5,
          batch_size: BATCH,
        },
        env: { GOOGLE_ADS_API_URL: ready.url, GOOGLE_OAUTH_TOKEN_URL: ready.tokenUrl! },
        log,
        sleep,
      }),
    };
  }
  if (platform === 'tiktok') {
    return {
      connector: tiktokConnector,
      ctx: createConnectorContext(tiktokConnector, {
        destination: 'tiktok',
        config: {
          type: 'tiktok',
          advertiser_id: ready.advertiserId ?? '7000000000',
          access_token: ready.token,
          batch_size: BATCH,
        },
        env: { TIKTOK_API_URL: ready.url },
        log,
        sleep,
      }),
    };
  }
  throw new Error(`unknown platform ${platform}`);
}
