import { ingestKeys } from '../../ingest/redis-keys.js';
import type { CheckContext } from '../context.js';
import { duration, type Finding, findingId } from '../findings.js';
import { hasAnyRawPart, newestRawPart } from '../parts.js';

/** No new raw parts for a dataset for longer than `health.freshness.<dataset>` minutes. */
export async function checkFreshness(ctx: CheckContext): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const dataset of ctx.datasets) {
    const maxMinutes = ctx.config.health.freshness[dataset];
    if (maxMinutes === null) continue;
    const limitMs = maxMinutes * 60_000;
    const lookbackDays = Math.ceil(maxMinutes / 1440) + 1;
    const newest = await newestRawPart(ctx.store, dataset, ctx.now, lookbackDays);
    if (!newest) {
      if (!(await hasAnyRawPart(ctx.store, dataset))) {
        findings.push({
          id: findingId('freshness', dataset),
          severity: 'info',
          kind: 'freshness',
          subject: { dataset },
          message: `${dataset}: no raw data has ever arrived (nothing to be late yet)`,
        });
        continue;
      }
      findings.push({
        id: findingId('freshness', dataset),
        severity: 'critical',
        kind: 'freshness',
        subject: { dataset },
        message: `${dataset}: no new raw data in the last ${lookbackDays + 1} days of partitions (limit ${duration(limitMs)})`,
        details: { limit_minutes: maxMinutes, age_minutes: null },
      });
      continue;
    }
    const ageMs = ctx.now.getTime() - newest.arrivedAtMs;
    if (ageMs > limitMs) {
      findings.push({
        id: findingId('freshness', dataset),
        severity: 'critical',
        kind: 'freshness',
        subject: { dataset },
        message:
          `${dataset}: no new raw data for ${duration(ageMs)} (limit ${duration(limitMs)}); ` +
          `the newest part arrived ${new Date(newest.arrivedAtMs).toISOString()}`,
        details: { limit_minutes: maxMinutes, age_minutes: Math.round(ageMs / 60_000) },
      });
    }
  }
  return findings;
}

/** The oldest record still waiting in a Redis buffer is older than `health.buffer.max_age_minutes`. */
export async function checkBuffers(ctx: CheckContext): Promise<Finding[]> {
  const redis = ctx.redis;
  if (!redis) return [];
  const k = ingestKeys(ctx.redisPrefix);
  const limitMs = ctx.config.health.buffer.max_age_minutes * 60_000;
  const findings: Finding[] = [];
  for (const dataset of ctx.datasets) {
    const oldest = await oldestBufferedMs(redis, k.stream(dataset));
    if (oldest === undefined) continue;
    const ageMs = ctx.now.getTime() - oldest;
    if (ageMs <= limitMs) continue;
    const pending = Number((await redis.hget(k.pending, dataset)) ?? 0);
    findings.push({
      id: findingId('buffer_stalled', dataset),
      severity: 'critical',
      kind: 'buffer_stalled',
      subject: { dataset },
      message:
        `${dataset}: the oldest buffered record has waited ${duration(ageMs)} in Redis (limit ${duration(limitMs)}); ` +
        `the export is not draining the buffer (${pending} records waiting)`,
      details: { age_minutes: Math.round(ageMs / 60_000), pending },
    });
  }
  return findings;
}

/** Milliseconds of the first stream entry (stream ids are `<ms>-<seq>`), or undefined when empty. */
export async function oldestBufferedMs(
  redis: {
    xrange(key: string, start: string, end: string, count: 'COUNT', n: number): Promise<[string, string[]][]>;
  },
  stream: string,
): Promise<number | undefined> {
  const first = await redis.xrange(stream, '-', '+', 'COUNT', 1);
  const id = first[0]?.[0];
  if (!id) return undefined;
  const ms = Number(id.split('-')[0]);
  return Number.isFinite(ms) ? ms : undefined;
}
