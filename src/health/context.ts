import type { Redis } from 'ioredis';
import type { AudienceSyncConfig } from '../config-file.js';
import { addDays, today } from '../contract/days.js';
import { DATASETS, type Dataset } from '../contract/records.js';
import type { ObjectStore } from '../storage/object-store.js';
import { type DayProfile, profileDay } from './profile.js';

/** What every check reads: the store, the configuration, the clock, and (optionally) Redis. */
export type HealthConfig = Pick<AudienceSyncConfig, 'audiences' | 'health' | 'schedule'> &
  Partial<Pick<AudienceSyncConfig, 'traits' | 'score_tables' | 'never_send'>>;

export interface HealthCheckInput {
  store: ObjectStore;
  config: HealthConfig;
  /** The check's clock (tests move it); default now. */
  now?: Date;
  /** The ingest Redis, for buffer checks; without it those checks are skipped. */
  redis?: Redis;
  /** Key prefix of the ingest buffer (default `audience-sync`). */
  redisPrefix?: string;
  datasets?: readonly Dataset[];
}

export interface DatasetProfiles {
  day: DayProfile;
  /** The baseline days before `day`, oldest first. */
  baseline: DayProfile[];
}

export interface CheckContext {
  store: ObjectStore;
  config: HealthConfig;
  now: Date;
  redis?: Redis;
  redisPrefix?: string;
  datasets: readonly Dataset[];
  /** The last complete UTC day: volume and drift compare whole days. */
  day: string;
  profiles(dataset: Dataset): Promise<DatasetProfiles>;
}

export function checkContext(input: HealthCheckInput): CheckContext {
  const now = input.now ?? new Date();
  const day = addDays(today(now), -1);
  const cache = new Map<Dataset, Promise<DatasetProfiles>>();
  const baselineDays = input.config.health.volume.baseline_days;
  const profiles = (dataset: Dataset) => {
    let p = cache.get(dataset);
    if (!p) {
      p = (async () => {
        const days = Array.from({ length: baselineDays + 1 }, (_, i) => addDays(day, i - baselineDays));
        // Sequential: on S3 each profile is a handful of requests, and parallel reads of whole
        // partitions would multiply memory for no real gain.
        const loaded: DayProfile[] = [];
        for (const d of days) loaded.push((await profileDay(input.store, dataset, d, { now })).profile);
        return { day: loaded[loaded.length - 1]!, baseline: loaded.slice(0, -1) };
      })();
      cache.set(dataset, p);
    }
    return p;
  };
  return {
    store: input.store,
    config: input.config,
    now,
    ...(input.redis ? { redis: input.redis } : {}),
    ...(input.redisPrefix ? { redisPrefix: input.redisPrefix } : {}),
    datasets: input.datasets ?? DATASETS,
    day,
    profiles,
  };
}

/** The last complete day in a time zone at `now` (the day a scheduled refresh works on). */
export function lastCompleteDayIn(timeZone: string, now: Date): string {
  const local = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(now);
  return addDays(local, -1);
}
