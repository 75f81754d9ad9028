import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { addDays, dayStartMs } from '../../src/contract/days.js';
import type { Finding } from '../../src/health/findings.js';
import { runHealth } from '../../src/health/run.js';
import { ingestKeys } from '../../src/ingest/redis-keys.js';
import { createLogger } from '../../src/log.js';
import { peopleManifestKey } from '../../src/people/snapshot.js';
import { keys } from '../../src/storage/keys.js';
import { writeJson } from '../../src/storage/object-store.js';
import { STORE_KINDS, type TestStore } from '../helpers/stores.js';
import {
  AUDIENCE,
  DAY,
  manifestFor,
  minutesAfter,
  NOW,
  recordingSink,
  seedDay,
  seedHealthy,
  seedToday,
  testConfig,
  writeQuarantinePart,
  writeRawPart,
  writeRun,
} from './fixture.js';

/**
 * Each unhealthy situation, built in a store that is otherwise healthy: exactly one alert fires,
 * a second run at the same state says nothing new, and once the cause is gone exactly that alert
 * resolves.
 */
const silent = createLogger({ level: 'silent' });

describe.each(STORE_KINDS)('health situations ($kind store)', ({ create }) => {
  let t: TestStore;
  let redis: Redis;
  let prefix: string;
  const config = testConfig();

  beforeAll(() => {
    redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
  });
  afterAll(() => redis.quit());

  beforeEach(async () => {
    t = await create();
    prefix = `test-health-${randomBytes(4).toString('hex')}`;
    await seedHealthy(t.store);
  });
  afterEach(async () => {
    await redis.del(
      ...['events', 'messages', 'people'].map((d) => `${prefix}:ingest:stream:${d}`),
      `${prefix}:ingest:pending`,
    );
    await t.cleanup();
  });

  function check(sink: ReturnType<typeof recordingSink>, now: Date = NOW) {
    return runHealth({ store: t.store, config, now, log: silent, sinks: [sink], redis, redisPrefix: prefix });
  }

  /** Fires exactly `id` now, says nothing on a repeat, resolves exactly `id` after `fix`. */
  async function firesOnceThenResolves(
    id: string,
    fix: () => Promise<Date | undefined>,
    expectFinding?: (f: Finding) => void,
  ): Promise<void> {
    const sink = recordingSink();
    const first = await check(sink);
    expect(first.alerts.fired).toEqual([id]);
    const finding = first.report.findings.find((f) => f.id === id)!;
    expect(finding).toBeDefined();
    expectFinding?.(finding);
    expect(sink.notices).toEqual([{ change: 'firing', id }]);

    const again = await check(sink, minutesAfter(NOW, 15));
    expect(again.alerts.fired).toEqual([]);
    expect(again.alerts.resolved).toEqual([]);
    expect(again.alerts.firing.map((a) => a.id)).toEqual([id]);
    expect(sink.notices).toHaveLength(1);

    const later = (await fix()) ?? minutesAfter(NOW, 30);
    const fixed = await check(sink, later);
    expect(fixed.alerts.resolved).toEqual([id]);
    expect(fixed.alerts.fired).toEqual([]);
    expect(fixed.alerts.firing).toEqual([]);
    expect(sink.notices).toEqual([
      { change: 'firing', id },
      { change: 'resolved', id },
    ]);
  }

  /** Writes the next day as healthy (with today's first parts) and returns a clock on it. */
  async function nextDay(mutations: Parameters<typeof seedDay>[2] = {}): Promise<Date> {
    const today = NOW.toISOString().slice(0, 10);
    await seedDay(t.store, today, mutations);
    const tomorrow = new Date(NOW.getTime() + 86_400_000);
    await seedToday(t.store, tomorrow);
    return tomorrow;
  }

  it('raises nothing for a healthy store', async () => {
    const sink = recordingSink();
    const result = await check(sink);
    expect(result.report.findings.filter((f) => f.severity !== 'info')).toEqual([]);
    expect(result.alerts.fired).toEqual([]);
    expect(sink.notices).toEqual([]);
  });

  it('missing files: no new raw events for longer than configured', async () => {
    // Today's events parts never arrived: the newest is yesterday noon, 25 hours ago (limit 3 h).
    await t.store.delete(await keysUnder(keys.rawPrefix('events', NOW.toISOString().slice(0, 10))));
    await firesOnceThenResolves(
      'freshness:events',
      async () => {
        await writeRawPart(
          t.store,
          'events',
          NOW.toISOString().slice(0, 10),
          minutesAfter(NOW, 25).getTime(),
          3,
        );
        return minutesAfter(NOW, 30);
      },
      (f) => {
        expect(f.severity).toBe('critical');
        expect(f.subject).toEqual({ dataset: 'events' });
        expect(f.message).toMatch(/^events: no new raw data for 25 h /);
      },
    );
  });

  it('a volume drop: yesterday has a fifth of the usual events, until the rest arrives late', async () => {
    await t.store.delete(await keysUnder(keys.rawPrefix('events', DAY)));
    await writeRawPart(t.store, 'events', DAY, dayStartMs(DAY) + 12 * 3_600_000, 40);
    await firesOnceThenResolves(
      'volume_drop:events',
      async () => {
        await writeRawPart(t.store, 'events', DAY, minutesAfter(NOW, 20).getTime(), 160, { offset: 40 });
        return undefined;
      },
      (f) => {
        expect(f.severity).toBe('critical');
        expect(f.message).toContain(
          'events: 2026-03-09 has 40 records, 80.0% below the median of the 7 days before (200)',
        );
      },
    );
  });

  it('a renamed field: properties.value becomes properties.amount, until the sender fixes it', async () => {
    await t.store.delete(await keysUnder(keys.rawPrefix('events', DAY)));
    await writeRawPart(t.store, 'events', DAY, dayStartMs(DAY) + 12 * 3_600_000, 200, {
      mutate: (r) => {
        const { value, ...props } = r.properties as Record<string, unknown>;
        return { ...r, properties: { ...props, amount: value } };
      },
    });
    await firesOnceThenResolves(
      'schema_fields:events',
      () => nextDay(),
      (f) => {
        expect(f.severity).toBe('warning');
        expect(f.message).toContain('vanished properties.value (in 0.0% of records, was 100.0%)');
        expect(f.message).toContain('new properties.amount (in 100.0% of records)');
      },
    );
  });

  it('a renamed event: checkout_started arrives as checkout_begun, until the sender fixes it', async () => {
    await t.store.delete(await keysUnder(keys.rawPrefix('events', DAY)));
    await writeRawPart(t.store, 'events', DAY, dayStartMs(DAY) + 12 * 3_600_000, 200, {
      mutate: (r) =>
        r.name === 'checkout_started' ? { ...r, name: 'checkout_begun', raw_name: 'Checkout Begun' } : r,
    });
    await firesOnceThenResolves(
      'event_names:events',
      () => nextDay(),
      (f) => {
        expect(f.message).toMatch(
          /new checkout_begun \(67 records\); no longer seen checkout_started \(median 67 a day\)/,
        );
      },
    );
  });

  it('a jump in the quarantine rate', async () => {
    await writeQuarantinePart(t.store, 'events', DAY, 60, 'bad_timestamp', true);
    await firesOnceThenResolves(
      'quarantine_rate:events',
      () => nextDay(),
      (f) => {
        expect(f.message).toMatch(
          /^events: 23\.8% of the records of 2026-03-09 were quarantined \(median of the 7 days before: 1\.0%\); top reasons: bad_timestamp 60, bad_email 2$/,
        );
      },
    );
  });

  it('a coverage drop: half the members lost their email, until a re-sync restores it', async () => {
    await writeRun(t.store, DAY, { runId: `${DAY}-2`, emailCoverage: 0.45 });
    await firesOnceThenResolves(
      'coverage_drop:meta:high_intent',
      async () => {
        await writeRun(t.store, DAY, { runId: `${DAY}-3`, emailCoverage: 0.9 });
        return undefined;
      },
      (f) => {
        expect(f.subject).toEqual({ audience: AUDIENCE, destination: 'meta' });
        expect(f.message).toBe(
          'high_intent → meta: identifier coverage fell in run 2026-03-09-2: email 45.0% (was 90.0%) (against the median of the 7 runs before)',
        );
      },
    );
  });

  it('a match-rate drop reported by the platform', async () => {
    await writeRun(t.store, DAY, { runId: `${DAY}-2`, match_rate: 0.3 });
    await firesOnceThenResolves('match_rate_drop:meta:high_intent', async () => {
      await writeRun(t.store, DAY, { runId: `${DAY}-3`, match_rate: 0.61 });
      return undefined;
    });
  });

  it('a slow real-time run, until the next one is fast; micro-batches never skew the daily baselines', async () => {
    const realtimeRun = (n: number, p99: number) =>
      writeRun(t.store, DAY, {
        runId: `realtime-remove-${n}`,
        trigger: 'realtime',
        realtime: { people: 3, unresolved: 2, lag_ms: { p50: 900, p95: p99, p99, max: p99 } },
        // A micro-batch names a few people: no coverage, no match rate of its own.
        members: {
          members: 0,
          treatment: 0,
          holdout_excluded: 0,
          not_in_snapshot: 0,
          never_send_excluded: 0,
          no_identifiers: 0,
          consent_excluded: 0,
          desired: 1,
          coverage: {},
        },
        match_rate: null,
      });
    await realtimeRun(1, 185_000);
    await firesOnceThenResolves(
      'realtime_lag:meta:high_intent',
      async () => {
        await realtimeRun(2, 4_200);
        return undefined;
      },
      (f) => {
        expect(f.severity).toBe('warning');
        expect(f.message).toBe(
          'high_intent → meta: real-time changes took 185.0 s (p99) to reach the platform in run realtime-remove-1, over the 120 s limit',
        );
      },
    );
  });

  it('a failing destination, until a later run completes', async () => {
    await writeRun(t.store, DAY, {
      runId: `${DAY}-2`,
      status: 'failed',
      error: { kind: 'auth', code: 190, message: 'Meta access token expired or revoked (190/463)' },
    });
    await firesOnceThenResolves(
      'destination_failing:meta',
      async () => {
        await writeRun(t.store, DAY, { runId: `${DAY}-3` });
        return undefined;
      },
      (f) => {
        expect(f.severity).toBe('critical');
        expect(f.message).toBe(
          'meta: the latest sync failed for high_intent (run 2026-03-09-2, auth 190: Meta access token expired or revoked (190/463))',
        );
      },
    );
  });

  it('a refresh that did not finish: no audience snapshot for the expected day', async () => {
    await t.store.delete([keys.manifest(AUDIENCE, DAY), peopleManifestKey(DAY)]);
    await firesOnceThenResolves(
      'refresh_incomplete:daily',
      async () => {
        await writeJson(t.store, peopleManifestKey(DAY), { version: 1, day: DAY });
        await writeJson(t.store, keys.manifest(AUDIENCE, DAY), manifestFor(DAY));
        return undefined;
      },
      (f) => {
        expect(f.message).toBe(
          'the daily refresh for 2026-03-09 did not finish: no people snapshot; no audience snapshot for high_intent (latest 2026-03-08)',
        );
      },
    );
  });

  it('a people snapshot of a later day covers the expected one (a refresh run early)', async () => {
    await t.store.delete([peopleManifestKey(DAY)]);
    await writeJson(t.store, peopleManifestKey(addDays(DAY, 1)), { version: 1, day: addDays(DAY, 1) });
    const result = await check(recordingSink());
    expect(result.report.findings.map((f) => f.id)).not.toContain('refresh_incomplete:daily');
    expect(result.alerts.fired).toEqual([]);
  });

  it('a stalled export: the oldest buffered record waits too long in Redis', async () => {
    const k = ingestKeys(prefix);
    await redis.xadd(k.stream('messages'), `${NOW.getTime() - 40 * 60_000}-0`, 'v', '1', 'n', '1', 'r', 'x');
    await redis.hset(k.pending, 'messages', 1);
    await firesOnceThenResolves(
      'buffer_stalled:messages',
      async () => {
        await redis.del(k.stream('messages'));
        return undefined;
      },
      (f) =>
        expect(f.message).toMatch(
          /^messages: the oldest buffered record has waited 40 min in Redis \(limit 15 min\)/,
        ),
    );
  });

  async function keysUnder(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for await (const info of t.store.list(prefix)) out.push(info.key);
    return out;
  }

  it('keeps day profiles incremental: a part is read once', async () => {
    const sink = recordingSink();
    await check(sink);
    const profile = JSON.parse((await t.store.get(`health/profiles/events/dt=${DAY}.json`)).toString());
    expect(profile.records).toBe(200);
    expect(profile.raw_parts).toHaveLength(1);
    // A late part is folded in on the next run, without counting the first again.
    await writeRawPart(t.store, 'events', DAY, minutesAfter(NOW, 10).getTime(), 7, { offset: 500 });
    await check(sink, minutesAfter(NOW, 15));
    const updated = JSON.parse((await t.store.get(`health/profiles/events/dt=${DAY}.json`)).toString());
    expect(updated.records).toBe(207);
    expect(updated.raw_parts).toHaveLength(2);
    expect(addDays(DAY, 1)).toBe(NOW.toISOString().slice(0, 10));
  });
});
